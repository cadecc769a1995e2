//! `local_time`: the request's local date and time (KontoCloud's `localDate` `YYYY-MM-DD`
//! and `localTime` `HHMMSS`) are well-formed and near the real clock. "Local" means the
//! merchant's time zone, so any whole-quarter-hour offset from UTC between −12 h and +14 h is
//! accepted; what is left over must be within the allowed skew.
//!
//! The suite gives the forms (`date_pattern`, `time_pattern`); a value of that form is read
//! as year, month, day and hour, minute, second in that order, whatever separates them
//! (`2024-05-01` or `20240501`, `103000` or `10:30:00`).

use std::borrow::Cow;

use regex::Regex;
use serde::Deserialize;

use super::field::{first_of, Fields};
use super::pattern::Pattern;
use super::{BuildContext, Finding, Kind, Rule};
use crate::journal::Exchange;

pub const KIND: Kind = Kind {
    name: "local_time",
    summary: "local date/time fields are well-formed and near the real clock (any time zone)",
    build,
};

#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Params {
    /// Where the request carries its local date; the first locator with a value counts.
    date: Fields,
    /// Where the request carries its local time; the first locator with a value counts.
    time: Fields,
    /// A regex the local date must match (KontoCloud's `YYYY-MM-DD`: `^\d{4}-\d{2}-\d{2}$`).
    date_pattern: String,
    /// A regex the local time must match (KontoCloud's `HHMMSS`: `^\d{6}$`).
    time_pattern: String,
    /// How far from the real clock the local time may be, in seconds, once the time zone's
    /// whole-quarter-hour offset is taken off.
    #[serde(default = "skew")]
    max_skew_s: f64,
    /// Only requests of these operations (default: every API call of the integration).
    #[serde(default)]
    operations: Option<Vec<String>>,
}

fn skew() -> f64 {
    300.0
}

struct LocalTime {
    params: Params,
    date_re: Pattern,
    time_re: Pattern,
    requests: super::Requests,
    worst_skew_s: f64,
}

fn build(ctx: &BuildContext) -> Result<Box<dyn Rule>, String> {
    let params: Params = ctx.params()?;
    let date_re = Regex::new(&params.date_pattern).map_err(|e| format!("`date_pattern`: {e}"))?;
    let time_re = Regex::new(&params.time_pattern).map_err(|e| format!("`time_pattern`: {e}"))?;
    Ok(Box::new(LocalTime {
        params,
        date_re: Pattern::new(date_re),
        time_re: Pattern::new(time_re),
        requests: Default::default(),
        worst_skew_s: 0.0,
    }))
}

/// Seconds between the local date/time and the UTC instant, after removing the nearest
/// time-zone offset; None when the values do not parse. The date's digits are read as
/// year, month, day (8 digits) and the time's as hour, minute, second (6), separators aside.
fn skew_s(date: &str, time: &str, utc: &str) -> Option<f64> {
    let local = civil_seconds(digits::<8>(date.as_bytes())?, digits::<6>(time.as_bytes())?)?;
    let diff = local as f64 - utc_seconds(utc)?;
    let quarter = 900.0;
    let offset = (diff / quarter).round().clamp(-12.0 * 4.0, 14.0 * 4.0) * quarter;
    Some((diff - offset).abs())
}

/// Seconds since 1970 of a date and time of day taken as UTC, from their digits (year, month,
/// day; hour, minute, second); None when they are no real date and time.
fn civil_seconds(d: [u8; 8], t: [u8; 6]) -> Option<i64> {
    let number = |ds: &[u8]| ds.iter().fold(0u32, |n, d| n * 10 + u32::from(*d));
    let month = time::Month::try_from(u8::try_from(number(&d[4..6])).ok()?).ok()?;
    let day = time::Date::from_calendar_date(
        i32::try_from(number(&d[..4])).ok()?,
        month,
        u8::try_from(number(&d[6..])).ok()?,
    )
    .ok()?;
    let clock = time::Time::from_hms(
        u8::try_from(number(&t[..2])).ok()?,
        u8::try_from(number(&t[2..4])).ok()?,
        u8::try_from(number(&t[4..])).ok()?,
    )
    .ok()?;
    Some(
        time::PrimitiveDateTime::new(day, clock)
            .assume_utc()
            .unix_timestamp(),
    )
}

/// Seconds since 1970 of an RFC 3339 instant. The journal's own form
/// (`2024-05-01T10:00:00.123456789Z`) is read digit by digit: judging reads the instant of every
/// request, and the general parser cost a tenth of all judging. Any other form goes to it.
fn utc_seconds(utc: &str) -> Option<f64> {
    journal_instant(utc.as_bytes()).or_else(|| {
        let t = time::OffsetDateTime::parse(utc, &time::format_description::well_known::Rfc3339)
            .ok()?;
        Some(t.unix_timestamp_nanos() as f64 / 1e9)
    })
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z`, or None.
fn journal_instant(b: &[u8]) -> Option<f64> {
    let (head, fraction) = b.strip_suffix(b"Z")?.split_at_checked(19)?;
    let shape = head.iter().enumerate().all(|(i, c)| match i {
        4 | 7 => *c == b'-',
        10 => *c == b'T',
        13 | 16 => *c == b':',
        _ => c.is_ascii_digit(),
    });
    if !shape {
        return None;
    }
    let fraction = match fraction {
        [] => &[][..],
        [b'.', decimals @ ..]
            if !decimals.is_empty() && decimals.iter().all(u8::is_ascii_digit) =>
        {
            decimals
        }
        _ => return None,
    };
    let whole = civil_seconds(digits::<8>(&head[..10])?, digits::<6>(&head[11..])?)?;
    let (part, _) = fraction.iter().take(9).fold((0.0, 0.1), |(sum, unit), d| {
        (sum + f64::from(d - b'0') * unit, unit / 10.0)
    });
    Some(whole as f64 + part)
}

/// The decimal digits of `s` (whatever separates them) when there are exactly `N`.
fn digits<const N: usize>(s: &[u8]) -> Option<[u8; N]> {
    let mut out = [0u8; N];
    let mut n = 0;
    for b in s.iter().copied().filter(u8::is_ascii_digit) {
        *out.get_mut(n)? = b - b'0';
        n += 1;
    }
    (n == N).then_some(out)
}

/// What is wrong with a request's local date and time. Put into words only for the offenders
/// a rule keeps: traffic with a wrong clock breaks the rule on every request. The values are
/// the request's own, not copies.
enum Problem<'a> {
    Missing,
    DateForm(Cow<'a, str>),
    TimeForm(Cow<'a, str>),
    NotReal(Cow<'a, str>, Cow<'a, str>),
    Skewed(Cow<'a, str>, Cow<'a, str>, f64),
}

impl Rule for LocalTime {
    fn call(&mut self, ex: &Exchange, op: &str) {
        if !super::in_scope(&self.params.operations, op) {
            return;
        }
        self.requests.checked += 1;
        let date = first_of(self.params.date.list(), ex).map(|(v, _)| v);
        let time = first_of(self.params.time.list(), ex).map(|(v, _)| v);
        let problem = match (date, time) {
            (None, _) | (_, None) => Some(Problem::Missing),
            (Some(d), Some(t)) => {
                if !self.date_re.is_match(&d) {
                    Some(Problem::DateForm(d))
                } else if !self.time_re.is_match(&t) {
                    Some(Problem::TimeForm(t))
                } else {
                    match skew_s(&d, &t, &ex.at) {
                        None => Some(Problem::NotReal(d, t)),
                        Some(s) if s > self.params.max_skew_s => Some(Problem::Skewed(d, t, s)),
                        Some(s) => {
                            self.worst_skew_s = self.worst_skew_s.max(s);
                            None
                        }
                    }
                }
            }
        };
        if let Some(p) = problem {
            let (date_re, time_re, max_skew_s) =
                (&self.date_re, &self.time_re, self.params.max_skew_s);
            self.requests.broke(ex.seq, || {
                let p = match p {
                    Problem::Missing => "no local date or time".to_string(),
                    Problem::DateForm(d) => format!(
                        "local date `{d}` is not of the form `{}`",
                        date_re.as_str()
                    ),
                    Problem::TimeForm(t) => format!(
                        "local time `{t}` is not of the form `{}`",
                        time_re.as_str()
                    ),
                    Problem::NotReal(d, t) => format!("`{d} {t}` is not a real date and time"),
                    Problem::Skewed(d, t, s) => format!(
                        "`{d} {t}` is {s:.0} s away from the real clock in any time zone (at most {max_skew_s:.0} s)"
                    ),
                };
                format!("{}: {p}", ex.brief())
            });
        }
    }

    fn finish(self: Box<Self>) -> Vec<Finding> {
        self.requests.verdict(
            "no request of the operations in scope was made",
            format!(
                "{} requests with well-formed local date and time, at most {:.0} s off",
                self.requests.checked, self.worst_skew_s
            ),
            "requests had a wrong local date or time",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::skew_s;
    use crate::checks::testing::*;
    use serde_json::json;

    #[test]
    fn any_time_zone_is_fair_but_not_a_wrong_clock() {
        let at = "2024-05-01T10:00:00Z";
        assert_eq!(skew_s("2024-05-01", "100000", at), Some(0.0));
        assert_eq!(skew_s("2024-05-01", "123010", at), Some(10.0)); // UTC+2:30, 10 s off
        assert_eq!(skew_s("2024-04-30", "233000", at), Some(0.0)); // UTC-10:30
        assert!(skew_s("2024-05-01", "100700", at).unwrap() > 300.0);
        assert_eq!(skew_s("2024-02-30", "100000", at), None);
        // Other providers' forms read the same digits.
        assert_eq!(skew_s("20240501", "12:30:10", at), Some(10.0));
        assert_eq!(skew_s("2024-05-01", "10:00", at), None);
    }

    #[test]
    fn the_journals_instants_read_as_rfc_3339_reads_them() {
        use super::{journal_instant, utc_seconds};
        for at in [
            "2024-05-01T10:00:00Z",
            "2026-12-01T19:57:34.63766993Z",
            "2024-02-29T23:59:59.999999999Z",
            "1999-12-31T00:00:00.5Z",
        ] {
            let general =
                time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
                    .unwrap();
            let expected = general.unix_timestamp_nanos() as f64 / 1e9;
            let read = journal_instant(at.as_bytes()).unwrap();
            assert!((read - expected).abs() < 1e-6, "{at}: {read} vs {expected}");
        }
        // Other forms go to the general parser; impossible dates read as nothing.
        assert!(journal_instant(b"2024-05-01T12:00:00+02:00").is_none());
        assert_eq!(
            utc_seconds("2024-05-01T12:00:00+02:00"),
            utc_seconds("2024-05-01T10:00:00Z")
        );
        assert_eq!(journal_instant(b"2024-02-30T10:00:00Z"), None);
        assert_eq!(journal_instant(b"2024-05-01T10:00:00.Z"), None);
        assert_eq!(utc_seconds("yesterday"), None);
    }

    #[test]
    fn formats_are_checked() {
        let params = json!({
            "date": "body:/localDate",
            "time": "body:/localTime",
            "date_pattern": r"^\d{4}-\d{2}-\d{2}$",
            "time_pattern": r"^\d{6}$",
        });
        let ex = api(
            "i",
            "POST",
            "/i",
            r#"{"localDate":"2024-05-01","localTime":"10:00:00"}"#,
        )
        .wall("2024-05-01T10:00:00Z");
        check("local_time", params)
            .on(vec![ex])
            .failed()
            .says("10:00:00");
    }
}
