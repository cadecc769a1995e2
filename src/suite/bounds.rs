//! The bounds every number in a suite, a target and the command line must keep. A value
//! outside them is a mistake named before anything runs; and the time arithmetic that uses
//! them saturates anyway, so a value that slipped past (a default changed, a test) can never
//! panic a run or a sandbox handler.
//!
//! The same figures are in `schemas/suite.schema.json` and `schemas/target.schema.json`
//! (a test keeps them in step).

use std::time::Duration;

/// The longest duration anything waits, lives or sleeps: one day. A go-live run is minutes;
/// a day leaves room for any legitimate token lifetime or timeout and keeps every deadline
/// and timestamp far from overflow.
pub const MAX_DURATION_S: f64 = 86_400.0;
/// The most of anything a step counts (calls to wait for, faults to serve).
pub const MAX_COUNT: u64 = 10_000;
/// The most repetitions of a load scenario that run at once: each holds a few connections
/// open, and a thousand shoppers at once is already far past what a go-live assessment needs.
pub const MAX_CONCURRENCY: u64 = 1_000;
/// The largest injected delay, in milliseconds (one day).
pub const MAX_DELAY_MS: u64 = 86_400_000;
/// Provider clocks run at most ten times slower than real time; any speed-up is allowed.
pub const MAX_TIME_SCALE: f64 = 10.0;

/// A number of seconds as a `Duration`, never panicking: NaN and negatives are zero, values
/// above [`MAX_DURATION_S`] are cut to it.
pub fn duration_s(seconds: f64) -> Duration {
    let s = if seconds.is_nan() {
        0.0
    } else {
        seconds.clamp(0.0, MAX_DURATION_S)
    };
    Duration::from_secs_f64(s)
}

/// Why `value` is not a duration in (0, MAX] (or [0, MAX] with `zero_ok`), if it is not.
pub fn check_duration_s(value: f64, zero_ok: bool) -> Result<f64, String> {
    let low_ok = if zero_ok { value >= 0.0 } else { value > 0.0 };
    if value.is_finite() && low_ok && value <= MAX_DURATION_S {
        Ok(value)
    } else {
        Err(format!(
            "{} is not a number of seconds {} and at most {} (one day)",
            shown(value),
            if zero_ok { "from 0" } else { "above 0" },
            MAX_DURATION_S
        ))
    }
}

/// Why `value` is not a time scale in (0, 10], if it is not.
pub fn check_time_scale(value: f64) -> Result<f64, String> {
    if value.is_finite() && value > 0.0 && value <= MAX_TIME_SCALE {
        Ok(value)
    } else {
        Err(format!(
            "{} is not a time scale above 0 and at most {MAX_TIME_SCALE} (1 is real time, 0.1 runs provider clocks ten times faster)",
            shown(value)
        ))
    }
}

fn shown(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value.is_infinite() {
        "infinity".into()
    } else if value.abs() >= 1e9 {
        format!("{value:e}")
    } else {
        value.to_string()
    }
}

/// `--wait-timeout` on the command line: seconds above 0, at most a day.
pub fn parse_duration_arg(text: &str) -> Result<f64, String> {
    let v: f64 = text.trim().parse().map_err(|_| {
        format!(
            "`{}` is not a number of seconds",
            super::yaml::cut(text, 40)
        )
    })?;
    check_duration_s(v, false)
}

/// `--time-scale` on the command line: above 0, at most 10.
pub fn parse_time_scale_arg(text: &str) -> Result<f64, String> {
    let v: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{}` is not a number", super::yaml::cut(text, 40)))?;
    check_time_scale(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_saturate_instead_of_panicking() {
        assert_eq!(duration_s(f64::NAN), Duration::ZERO);
        assert_eq!(duration_s(-1.0), Duration::ZERO);
        assert_eq!(duration_s(1e300), Duration::from_secs(86_400));
        assert_eq!(duration_s(f64::INFINITY), Duration::from_secs(86_400));
        assert_eq!(duration_s(1.5), Duration::from_millis(1500));
    }

    #[test]
    fn command_line_numbers_are_bounded() {
        for bad in ["-1", "nan", "inf", "0", "1e300", "x"] {
            assert!(parse_duration_arg(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_duration_arg("2.5"), Ok(2.5));
        for bad in ["0", "-1", "nan", "inf", "10.5", "NaN"] {
            assert!(parse_time_scale_arg(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_time_scale_arg("10"), Ok(10.0));
        assert_eq!(parse_time_scale_arg("0.01"), Ok(0.01));
    }

    /// The schemas state the same bounds as this module.
    #[test]
    fn the_schemas_state_these_bounds() {
        let suite: serde_json::Value =
            serde_json::from_str(super::super::load::SUITE_SCHEMA).unwrap();
        let target: serde_json::Value =
            serde_json::from_str(super::super::load::TARGET_SCHEMA).unwrap();
        let settings = &suite["properties"]["settings"]["properties"];
        for key in ["token_lifetime_s", "wait_timeout_s", "request_timeout_s"] {
            assert_eq!(settings[key]["maximum"], MAX_DURATION_S, "{key}");
        }
        assert_eq!(settings["time_scale"]["maximum"], MAX_TIME_SCALE);
        let step = &suite["$defs"]["step"]["properties"];
        assert_eq!(
            step["wait_for"]["properties"]["timeout_s"]["maximum"],
            MAX_DURATION_S
        );
        assert_eq!(
            step["wait_for"]["properties"]["count"]["maximum"],
            MAX_COUNT
        );
        assert_eq!(
            step["probe_order"]["properties"]["settle_s"]["maximum"],
            MAX_DURATION_S
        );
        let scenario = &suite["$defs"]["scenario"]["properties"];
        assert_eq!(scenario["repeat"]["maximum"], MAX_COUNT);
        assert_eq!(scenario["concurrency"]["maximum"], MAX_CONCURRENCY);
        assert_eq!(
            target["properties"]["ready"]["properties"]["timeout_s"]["maximum"],
            MAX_DURATION_S
        );
    }
}
