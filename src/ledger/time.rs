//! Wall-clock helpers: microseconds since the UNIX epoch and their human rendering.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Current wall-clock time in microseconds since the UNIX epoch (0 if the clock is before 1970).
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Age of a timestamp relative to `now_us`; a timestamp in the future (clock skew) has age zero.
pub fn age(time_us: u64, now_us: u64) -> Duration {
    Duration::from_micros(now_us.saturating_sub(time_us))
}

/// Renders microseconds since the UNIX epoch as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn format_utc(time_us: u64) -> String {
    let secs = (time_us / 1_000_000) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Renders a duration compactly for messages: `850ms`, `42s`, `3m07s`, `5h02m`.
pub fn format_age(age: Duration) -> String {
    let s = age.as_secs();
    if s == 0 {
        format!("{}ms", age.as_millis())
    } else if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{}h{:02}m", s / 3600, (s / 60) % 60)
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day) (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = (z - era * 146_097) as u64;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe as i64 + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
        // 2000-02-29 12:34:56 UTC (a leap day) = 951827696 s.
        assert_eq!(format_utc(951_827_696_000_000), "2000-02-29 12:34:56 UTC");
        // 2024-12-31 23:59:59 UTC = 1735689599 s.
        assert_eq!(format_utc(1_735_689_599_999_999), "2024-12-31 23:59:59 UTC");
    }

    #[test]
    fn ages_render_and_clamp() {
        assert_eq!(age(10, 5), Duration::ZERO);
        assert_eq!(format_age(Duration::from_millis(850)), "850ms");
        assert_eq!(format_age(Duration::from_secs(42)), "42s");
        assert_eq!(format_age(Duration::from_secs(187)), "3m07s");
        assert_eq!(format_age(Duration::from_secs(5 * 3600 + 120)), "5h02m");
    }
}
