//! Durations in task files: `90` or `1.5` (seconds) or strings such as `"90s"`, `"10m"`, `"2h"`,
//! `"1h30m"`, `"500ms"`; serialised back as seconds so canonical task files compare equal.

use serde::de::{self, Deserializer, Visitor};
use serde::Serializer;
use std::fmt;
use std::time::Duration;
use thiserror::Error;

/// Accepted forms, appended to every duration error so the fix is on screen.
const FORMS: &str = "write seconds as a number (90 or 1.5) or a string such as \"90s\", \"10m\", \
                     \"2h\", \"1h30m\" or \"500ms\"";

/// Longest accepted duration: 2^32 seconds (about 136 years); beyond is surely a mistake.
const MAX_SECONDS: u64 = 1 << 32;

/// Units from largest to smallest, with their length in nanoseconds.
const UNITS: &[(&str, u128)] = &[
    ("d", 86_400_000_000_000),
    ("h", 3_600_000_000_000),
    ("m", 60_000_000_000),
    ("s", 1_000_000_000),
    ("ms", 1_000_000),
];

/// Why a duration value was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DurationError {
    /// A string without any number, e.g. `""`.
    #[error("invalid duration {0}: it is empty; {FORMS}")]
    Empty(String),
    /// A number without a unit inside a string, e.g. `"90"` or `"1h30"`.
    #[error("invalid duration {value}: {number} has no unit; {FORMS}")]
    MissingUnit {
        /// The whole value, quoted.
        value: String,
        /// The number that lacks a unit.
        number: String,
    },
    /// A unit other than `d`, `h`, `m`, `s`, `ms`.
    #[error("invalid duration {value}: unknown unit {unit:?} (units are d, h, m, s, ms); {FORMS}")]
    UnknownUnit {
        /// The whole value, quoted.
        value: String,
        /// The unit found.
        unit: String,
    },
    /// Units repeated or out of order, e.g. `"30m1h"`.
    #[error(
        "invalid duration {value}: units must go from largest to smallest, each at most once \
         (like \"1h30m\"); {FORMS}"
    )]
    UnitOrder {
        /// The whole value, quoted.
        value: String,
    },
    /// Something that is not a number where a number belongs.
    #[error("invalid duration {value}: expected a number at {at:?}; {FORMS}")]
    BadNumber {
        /// The whole value, quoted.
        value: String,
        /// The text where a number was expected.
        at: String,
    },
    /// Zero or negative.
    #[error("must be > 0, got {0}; leave the field out for no limit")]
    NotPositive(String),
    /// Longer than 2^32 seconds.
    #[error("duration {0} is too long (at most {MAX_SECONDS} seconds)")]
    TooLong(String),
}

/// Parses a duration string such as `"1h30m"` or `"500ms"` (surrounding and separating spaces
/// are allowed: `"1h 30m"`).
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let quoted = quote(text);
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(DurationError::Empty(quoted));
    }
    let mut total_nanos: u128 = 0;
    let mut next_unit = 0; // index into UNITS of the largest unit still allowed
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_len);
        if number.is_empty() {
            return Err(DurationError::BadNumber {
                value: quoted,
                at: rest.to_owned(),
            });
        }
        let after = after.trim_start();
        let unit_len = after
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        if unit.is_empty() {
            return Err(DurationError::MissingUnit {
                value: quoted,
                number: number.to_owned(),
            });
        }
        let Some(index) = UNITS.iter().position(|(name, _)| *name == unit) else {
            return Err(DurationError::UnknownUnit {
                value: quoted,
                unit: unit.to_owned(),
            });
        };
        if index < next_unit {
            return Err(DurationError::UnitOrder { value: quoted });
        }
        next_unit = index + 1;
        let nanos =
            scaled_nanos(number, UNITS[index].1).ok_or_else(|| DurationError::BadNumber {
                value: quoted.clone(),
                at: rest.to_owned(),
            })?;
        total_nanos = total_nanos.saturating_add(nanos);
        rest = after.trim_start();
    }
    from_nanos(total_nanos, &quoted)
}

/// Converts a JSON number of seconds.
pub fn duration_from_seconds(seconds: f64) -> Result<Duration, DurationError> {
    let shown = seconds.to_string();
    if seconds.is_nan() || seconds <= 0.0 {
        return Err(DurationError::NotPositive(shown));
    }
    if seconds > MAX_SECONDS as f64 {
        return Err(DurationError::TooLong(shown));
    }
    Duration::try_from_secs_f64(seconds).map_err(|_| DurationError::TooLong(shown))
}

/// `number` (digits with an optional fraction) times `unit_nanos`, exactly; `None` if malformed.
fn scaled_nanos(number: &str, unit_nanos: u128) -> Option<u128> {
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if (whole.is_empty() && fraction.is_empty()) || fraction.contains('.') || whole.len() > 20 {
        return None;
    }
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let fraction = &fraction[..fraction.len().min(18)];
    let fraction_value: u128 = if fraction.is_empty() {
        0
    } else {
        fraction.parse().ok()?
    };
    let fraction_nanos = fraction_value * unit_nanos / 10u128.pow(fraction.len() as u32);
    whole.checked_mul(unit_nanos)?.checked_add(fraction_nanos)
}

fn from_nanos(nanos: u128, quoted: &str) -> Result<Duration, DurationError> {
    if nanos == 0 {
        return Err(DurationError::NotPositive(quoted.to_owned()));
    }
    let seconds = nanos / 1_000_000_000;
    if seconds > MAX_SECONDS as u128 {
        return Err(DurationError::TooLong(quoted.to_owned()));
    }
    Ok(Duration::new(
        seconds as u64,
        (nanos % 1_000_000_000) as u32,
    ))
}

fn quote(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

/// Serde adapter for `Option<Duration>`: reads every accepted form (and `null` as `None`).
pub(crate) fn deserialize_opt<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Duration>, D::Error> {
    struct OptionalDuration;

    impl<'de> Visitor<'de> for OptionalDuration {
        type Value = Option<Duration>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a duration (seconds as a number, or a string like \"10m\")")
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            if v > MAX_SECONDS {
                return Err(E::custom(DurationError::TooLong(v.to_string())));
            }
            if v == 0 {
                return Err(E::custom(DurationError::NotPositive(v.to_string())));
            }
            Ok(Some(Duration::from_secs(v)))
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            match u64::try_from(v) {
                Ok(v) => self.visit_u64(v),
                Err(_) => Err(E::custom(DurationError::NotPositive(v.to_string()))),
            }
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            duration_from_seconds(v).map(Some).map_err(E::custom)
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            parse_duration(v).map(Some).map_err(E::custom)
        }
    }

    d.deserialize_option(OptionalDuration)
}

/// Serde adapter for `Option<Duration>`: whole seconds as an integer, otherwise a float.
pub(crate) fn serialize_opt<S: Serializer>(
    value: &Option<Duration>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match value {
        None => s.serialize_none(),
        Some(d) if d.subsec_nanos() == 0 => s.serialize_u64(d.as_secs()),
        Some(d) => s.serialize_f64(d.as_secs_f64()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Duration {
        parse_duration(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    #[test]
    fn accepts_every_documented_form() {
        assert_eq!(ok("90s"), Duration::from_secs(90));
        assert_eq!(ok("10m"), Duration::from_secs(600));
        assert_eq!(ok("2h"), Duration::from_secs(7200));
        assert_eq!(ok("1h30m"), Duration::from_secs(5400));
        assert_eq!(ok("500ms"), Duration::from_millis(500));
        assert_eq!(ok("1d2h3m4s5ms"), Duration::new(93_784, 5_000_000));
        assert_eq!(ok(" 1h 30m "), Duration::from_secs(5400));
        assert_eq!(ok("1.5h"), Duration::from_secs(5400));
        assert_eq!(ok("0.25s"), Duration::from_millis(250));
        assert_eq!(ok(".5m"), Duration::from_secs(30));
    }

    #[test]
    fn rejects_malformed_strings_with_the_reason() {
        let err = |t: &str| parse_duration(t).unwrap_err();
        assert!(matches!(err("90"), DurationError::MissingUnit { .. }));
        assert!(matches!(err("1h30"), DurationError::MissingUnit { .. }));
        assert!(matches!(err("10x"), DurationError::UnknownUnit { ref unit, .. } if unit == "x"));
        assert!(
            matches!(err("10 min"), DurationError::UnknownUnit { ref unit, .. } if unit == "min")
        );
        assert!(matches!(err("30m1h"), DurationError::UnitOrder { .. }));
        assert!(matches!(err("1m1m"), DurationError::UnitOrder { .. }));
        assert!(matches!(err(""), DurationError::Empty(_)));
        assert!(matches!(err("h"), DurationError::BadNumber { .. }));
        assert!(matches!(err("-5s"), DurationError::BadNumber { .. }));
        assert!(matches!(err("1.2.3s"), DurationError::BadNumber { .. }));
        assert!(matches!(err("0s"), DurationError::NotPositive(_)));
        assert!(matches!(
            err("99999999999999999999d"),
            DurationError::TooLong(_)
        ));
        assert!(
            err("10x").to_string().contains("\"1h30m\""),
            "message lists the accepted forms"
        );
    }

    #[test]
    fn numbers_are_seconds() {
        assert_eq!(
            duration_from_seconds(1.5).unwrap(),
            Duration::from_millis(1500)
        );
        assert!(matches!(
            duration_from_seconds(0.0),
            Err(DurationError::NotPositive(_))
        ));
        assert!(matches!(
            duration_from_seconds(-3.0),
            Err(DurationError::NotPositive(_))
        ));
        assert!(matches!(
            duration_from_seconds(1e300),
            Err(DurationError::TooLong(_))
        ));
    }

    #[derive(serde::Deserialize, serde::Serialize, PartialEq, Debug)]
    struct Holder {
        #[serde(
            default,
            deserialize_with = "deserialize_opt",
            serialize_with = "serialize_opt"
        )]
        t: Option<Duration>,
    }

    #[test]
    fn serde_round_trip_as_seconds() {
        let parse = |s: &str| serde_json::from_str::<Holder>(s).map(|h| h.t);
        assert_eq!(
            parse(r#"{"t": 90}"#).unwrap(),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            parse(r#"{"t": 1.5}"#).unwrap(),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            parse(r#"{"t": "1h30m"}"#).unwrap(),
            Some(Duration::from_secs(5400))
        );
        assert_eq!(parse(r#"{"t": null}"#).unwrap(), None);
        assert_eq!(parse(r#"{}"#).unwrap(), None);
        assert!(parse(r#"{"t": -1}"#)
            .unwrap_err()
            .to_string()
            .contains("must be > 0"));
        assert!(parse(r#"{"t": true}"#).is_err());
        let whole = Holder {
            t: Some(Duration::from_secs(600)),
        };
        assert_eq!(serde_json::to_string(&whole).unwrap(), r#"{"t":600}"#);
        let frac = Holder {
            t: Some(Duration::from_millis(500)),
        };
        assert_eq!(serde_json::to_string(&frac).unwrap(), r#"{"t":0.5}"#);
        let none = Holder { t: None };
        assert_eq!(serde_json::to_string(&none).unwrap(), r#"{"t":null}"#);
    }
}
