//! The emulator's clock and the UTC periods key limits and guardrail budgets reset on.

use chrono::{DateTime, Datelike, NaiveDate, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// When a key's limit resets (midnight UTC; weeks Monday–Sunday).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LimitReset {
    Daily,
    Weekly,
    Monthly,
}

impl LimitReset {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "daily" => Some(LimitReset::Daily),
            "weekly" => Some(LimitReset::Weekly),
            "monthly" => Some(LimitReset::Monthly),
            _ => None,
        }
    }
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            LimitReset::Daily => "daily",
            LimitReset::Weekly => "weekly",
            LimitReset::Monthly => "monthly",
        }
    }
}

/// Usage accumulated in one UTC period (day, ISO week, month), identified by the period's first day.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub(crate) struct PeriodUsage {
    pub start: Option<NaiveDate>,
    pub amount: f64,
}

impl PeriodUsage {
    pub(crate) fn current(&self, start: NaiveDate) -> f64 {
        if self.start == Some(start) {
            self.amount
        } else {
            0.0
        }
    }
    pub(crate) fn add(&mut self, start: NaiveDate, amount: f64) {
        if self.start != Some(start) {
            self.start = Some(start);
            self.amount = 0.0;
        }
        self.amount += amount;
    }
}

pub(crate) fn day_start(now: DateTime<Utc>) -> NaiveDate {
    now.date_naive()
}
pub(crate) fn week_start(now: DateTime<Utc>) -> NaiveDate {
    let d = now.date_naive();
    d - chrono::Days::new(u64::from(d.weekday().num_days_from_monday()))
}
pub(crate) fn month_start(now: DateTime<Utc>) -> NaiveDate {
    let d = now.date_naive();
    d.with_day(1).unwrap_or(d)
}

/// When a `reset` period that contains `now` ends (midnight UTC), RFC 3339.
pub(crate) fn next_reset(reset: LimitReset, now: DateTime<Utc>) -> String {
    let next = match reset {
        LimitReset::Daily => day_start(now) + chrono::Days::new(1),
        LimitReset::Weekly => week_start(now) + chrono::Days::new(7),
        LimitReset::Monthly => month_start(now) + chrono::Months::new(1),
    };
    rfc3339(next.and_time(chrono::NaiveTime::MIN).and_utc())
}

/// RFC 3339 in UTC with a `Z`, fractional seconds only when there are any.
pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// The current time, to the millisecond (what timestamps in responses carry).
pub(crate) fn now() -> DateTime<Utc> {
    use chrono::SubsecRound;
    Utc::now().trunc_subsecs(3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn period_usage_resets_on_a_new_period() {
        let mut p = PeriodUsage::default();
        let d1 = NaiveDate::from_ymd_opt(2026, 1, 5).unwrap_or_default();
        let d2 = NaiveDate::from_ymd_opt(2026, 1, 6).unwrap_or_default();
        p.add(d1, 1.5);
        p.add(d1, 1.0);
        assert_eq!(p.current(d1), 2.5);
        assert_eq!(p.current(d2), 0.0);
        p.add(d2, 0.5);
        assert_eq!(p.current(d2), 0.5);
    }

    #[test]
    fn weeks_start_on_monday() {
        let sunday =
            DateTime::parse_from_rfc3339("2026-11-29T23:00:00Z").map(|d| d.with_timezone(&Utc));
        let sunday = sunday.unwrap_or_default();
        assert_eq!(
            week_start(sunday),
            NaiveDate::from_ymd_opt(2026, 11, 23).unwrap_or_default()
        );
    }
}
