//! Log lines on stderr: text for people (colored only on a terminal and never with NO_COLOR) or
//! JSON lines (`--log-format json` / ROTOR_LOG_FORMAT=json). RUST_LOG overrides the level.

use std::io::IsTerminal;
use std::sync::OnceLock;

use tracing_subscriber::EnvFilter;

use crate::args::LogFormat;

static FORMAT: OnceLock<LogFormat> = OnceLock::new();

/// Whether log lines are JSON: then the CLI writes nothing else on stderr that is not JSON
/// (no progress lines, no banner), so a log pipeline can parse every line.
pub fn is_json() -> bool {
    FORMAT.get() == Some(&LogFormat::Json)
}

/// Whether NO_COLOR (<https://no-color.org>) asks for no colors: set and not empty.
pub fn no_color() -> bool {
    no_color_in(std::env::var_os("NO_COLOR"))
}

fn no_color_in(value: Option<std::ffi::OsString>) -> bool {
    value.is_some_and(|v| !v.is_empty())
}

/// The level when RUST_LOG is not set.
fn default_level(verbose: u8, long_running: bool) -> &'static str {
    match verbose {
        // A daemon's decisions are its output: log them by default.
        0 if long_running => "info",
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    }
}

/// Installs the global subscriber (once, at start).
pub fn init(verbose: u8, long_running: bool, format: LogFormat) {
    let _ = FORMAT.set(format);
    let default = default_level(verbose, long_running);
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    match format {
        // One object per line: timestamp, level and the event's fields (message included).
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_ansi(false)
            .init(),
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal() && !no_color())
            .init(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_color_means_set_and_not_empty() {
        assert!(!no_color_in(None));
        assert!(!no_color_in(Some("".into())));
        assert!(no_color_in(Some("1".into())));
        assert!(
            no_color_in(Some("0".into())),
            "any non-empty value disables colors"
        );
    }

    #[test]
    fn default_levels() {
        assert_eq!(default_level(0, false), "warn");
        assert_eq!(default_level(0, true), "info");
        assert_eq!(default_level(2, false), "debug");
        assert_eq!(default_level(5, true), "trace");
    }
}
