//! When a secret is due. Pure functions of the schedule, the last rotation (as the store records
//! it) and the current time, so a restarted daemon decides exactly as the previous one would.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::Schedule;

/// What the schedule says about now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Rotate now; `reason` is for the log line.
    Due { reason: String },
    /// Not now; the next time the schedule may make it due, where known.
    NotDue { next: Option<DateTime<Utc>> },
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// The latest time of `schedule` at or before `now` (cron times are whole seconds).
fn latest_slot(schedule: &croner::Cron, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    schedule
        .find_previous_occurrence(&now, true)
        .ok()
        .filter(|t| *t <= now)
}

/// The first time of `schedule` strictly after `now`.
fn next_slot(schedule: &croner::Cron, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    schedule
        .find_next_occurrence(&now, false)
        .ok()
        .filter(|t| *t > now)
}

/// Decides whether a secret last rotated at `last` (`None`: the store records no time at all) is
/// due at `now`.
///
/// * `every`: the scheduled times are `last + k·every` (k ≥ 1); due once the first has passed.
/// * `cron`: due when the latest scheduled time at or before `now` is after `last`.
/// * `window`: only within this long after the latest scheduled time; a missed window waits for
///   the next scheduled time.
pub fn decide(
    schedule: &Schedule,
    window: Option<Duration>,
    last: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Decision {
    let window = window.map(chrono_duration);
    match schedule {
        Schedule::Every(every) => {
            let Some(last) = last else {
                return Decision::Due {
                    reason: "the store records no rotation time".into(),
                };
            };
            let every = chrono_duration(*every);
            let first = last + every;
            if now < first {
                return Decision::NotDue { next: Some(first) };
            }
            let Some(window) = window else {
                return Decision::Due {
                    reason: format!("last rotated {last}, due since {first}"),
                };
            };
            let (elapsed, step) = (
                (now - last).num_milliseconds().max(0),
                every.num_milliseconds().max(1),
            );
            let slot = last + chrono::Duration::milliseconds((elapsed / step) * step);
            if now < slot + window {
                Decision::Due {
                    reason: format!("last rotated {last}, inside the window that opened at {slot}"),
                }
            } else {
                Decision::NotDue {
                    next: Some(slot + every),
                }
            }
        }
        Schedule::Cron(cron) => {
            let next = next_slot(cron, now);
            let Some(slot) = latest_slot(cron, now) else {
                return Decision::NotDue { next };
            };
            if last.is_some_and(|l| l >= slot) {
                return Decision::NotDue { next };
            }
            if window.is_some_and(|w| now >= slot + w) {
                return Decision::NotDue { next };
            }
            Decision::Due {
                reason: match last {
                    Some(l) => format!("scheduled at {slot}, last rotated {l}"),
                    None => format!("scheduled at {slot}, the store records no rotation time"),
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }
    fn cron(expr: &str) -> Schedule {
        Schedule::Cron(Box::new(crate::config::parse_cron(expr).unwrap()))
    }
    fn due(d: &Decision) -> bool {
        matches!(d, Decision::Due { .. })
    }

    #[test]
    fn every_is_due_once_the_interval_has_passed() {
        let s = Schedule::Every(Duration::from_secs(3600));
        let last = t("2030-01-01T00:00:00Z");
        assert_eq!(
            decide(&s, None, Some(last), t("2030-01-01T00:59:59Z")),
            Decision::NotDue {
                next: Some(t("2030-01-01T01:00:00Z"))
            }
        );
        assert!(due(&decide(
            &s,
            None,
            Some(last),
            t("2030-01-01T01:00:00Z")
        )));
        assert!(due(&decide(
            &s,
            None,
            Some(last),
            t("2030-03-01T00:00:00Z")
        )));
        assert!(due(&decide(&s, None, None, t("2030-01-01T00:00:00Z"))));
    }

    #[test]
    fn every_with_a_window_waits_for_the_next_slot_when_missed() {
        let s = Schedule::Every(Duration::from_secs(3600));
        let w = Some(Duration::from_secs(600));
        let last = t("2030-01-01T00:00:00Z");
        assert!(due(&decide(&s, w, Some(last), t("2030-01-01T01:09:59Z"))));
        assert_eq!(
            decide(&s, w, Some(last), t("2030-01-01T01:10:00Z")),
            Decision::NotDue {
                next: Some(t("2030-01-01T02:00:00Z"))
            }
        );
        assert!(due(&decide(&s, w, Some(last), t("2030-01-01T02:05:00Z"))));
    }

    #[test]
    fn every_accepts_sub_second_intervals() {
        let s = Schedule::Every(Duration::from_millis(200));
        let last = t("2030-01-01T00:00:00Z");
        assert!(!due(&decide(
            &s,
            None,
            Some(last),
            t("2030-01-01T00:00:00.150Z")
        )));
        assert!(due(&decide(
            &s,
            None,
            Some(last),
            t("2030-01-01T00:00:00.200Z")
        )));
    }

    #[test]
    fn cron_is_due_after_a_scheduled_time_that_follows_the_last_rotation() {
        // Every day at 03:00:00 UTC.
        let s = cron("0 0 3 * * *");
        let last = t("2030-01-01T03:00:05Z");
        assert_eq!(
            decide(&s, None, Some(last), t("2030-01-02T02:59:59Z")),
            Decision::NotDue {
                next: Some(t("2030-01-02T03:00:00Z"))
            }
        );
        assert!(due(&decide(
            &s,
            None,
            Some(last),
            t("2030-01-02T03:00:00Z")
        )));
        assert!(due(&decide(
            &s,
            None,
            Some(last),
            t("2030-01-02T09:00:00Z")
        )));
        // Rotated after today's slot: nothing until tomorrow.
        assert!(!due(&decide(
            &s,
            None,
            Some(t("2030-01-02T03:00:01Z")),
            t("2030-01-02T09:00:00Z")
        )));
    }

    #[test]
    fn cron_window_skips_missed_slots() {
        let s = cron("0 0 3 * * *");
        let w = Some(Duration::from_secs(4 * 3600));
        let last = t("2030-01-01T03:00:05Z");
        assert!(due(&decide(&s, w, Some(last), t("2030-01-02T06:59:59Z"))));
        assert_eq!(
            decide(&s, w, Some(last), t("2030-01-02T07:00:00Z")),
            Decision::NotDue {
                next: Some(t("2030-01-03T03:00:00Z"))
            }
        );
        assert!(due(&decide(&s, w, None, t("2030-01-03T03:30:00Z"))));
    }

    #[test]
    fn cron_slot_includes_now_exactly() {
        let s = cron("*/2 * * * * *");
        let now = t("2030-01-01T00:00:10Z");
        assert!(due(&decide(&s, None, Some(t("2030-01-01T00:00:09Z")), now)));
        assert!(!due(&decide(&s, None, Some(now), now)));
    }

    /// The next scheduled time after `now` (not due: the last rotation is recent).
    fn next_after(expr: &str, now: &str) -> DateTime<Utc> {
        let s = cron(expr);
        match decide(&s, None, Some(t(now)), t(now)) {
            Decision::NotDue { next: Some(next) } => next,
            other => panic!("{expr} at {now}: {other:?}"),
        }
    }

    #[test]
    fn five_field_cron_is_posix_monday_is_1() {
        // 2030-01-01 is a Tuesday; the next Monday is 2030-01-07.
        assert_eq!(
            next_after("0 3 * * 1", "2030-01-01T00:00:00Z"),
            t("2030-01-07T03:00:00Z")
        );
        assert_eq!(
            next_after("0 3 * * Mon", "2030-01-01T00:00:00Z"),
            t("2030-01-07T03:00:00Z")
        );
        // 0 and 7 are Sunday (2030-01-06).
        for sunday in ["0 3 * * 0", "0 3 * * 7", "0 3 * * Sun"] {
            assert_eq!(
                next_after(sunday, "2030-01-01T00:00:00Z"),
                t("2030-01-06T03:00:00Z"),
                "{sunday}"
            );
        }
        // Due on Monday at 03:00 UTC, and not on Sunday at 03:00.
        let s = cron("0 3 * * 1");
        let last = Some(t("2029-12-31T12:00:00Z"));
        assert!(due(&decide(&s, None, last, t("2030-01-07T03:00:00Z"))));
        assert!(!due(&decide(&s, None, last, t("2030-01-06T03:00:00Z"))));
    }

    #[test]
    fn six_field_cron_has_seconds_first_and_posix_weekdays() {
        assert_eq!(
            next_after("0 0 3 * * 1", "2030-01-01T00:00:00Z"),
            t("2030-01-07T03:00:00Z")
        );
        assert_eq!(
            next_after("30 15 3 * * Mon", "2030-01-01T00:00:00Z"),
            t("2030-01-07T03:15:30Z")
        );
        // Seven fields: a year last.
        assert_eq!(
            next_after("0 0 3 * * 1 2031", "2030-01-01T00:00:00Z"),
            t("2031-01-06T03:00:00Z")
        );
    }

    #[test]
    fn cron_slots_ignore_sub_second_parts_of_now() {
        let s = cron("*/2 * * * * *");
        let now = t("2030-01-01T00:00:10.750Z");
        assert!(due(&decide(&s, None, Some(t("2030-01-01T00:00:09Z")), now)));
        assert_eq!(
            decide(&s, None, Some(now), now),
            Decision::NotDue {
                next: Some(t("2030-01-01T00:00:12Z"))
            }
        );
    }
}
