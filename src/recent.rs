//! [`RecentMean`]: an exponentially weighted mean of recent durations. The agent sizes how
//! many blocks a program holds by it, the orchestrator how many blocks an agent holds.

use std::time::Duration;

/// An exponentially weighted mean of recent durations (the newest weighs [`RecentMean::WEIGHT`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct RecentMean {
    mean_seconds: Option<f64>,
}

impl RecentMean {
    /// Weight of the newest observation.
    pub const WEIGHT: f64 = 0.1;

    /// Adds one observed duration.
    pub fn add(&mut self, d: Duration) {
        self.add_seconds(d.as_secs_f64());
    }

    /// Adds one observed duration in seconds (negative and non-finite values count as 0).
    pub fn add_seconds(&mut self, x: f64) {
        let x = if x.is_finite() { x.max(0.0) } else { 0.0 };
        self.mean_seconds = Some(match self.mean_seconds {
            None => x,
            Some(m) => m + Self::WEIGHT * (x - m),
        });
    }

    /// The mean, once anything was observed.
    pub fn seconds(&self) -> Option<f64> {
        self.mean_seconds
    }

    /// The one of `self` and `other` with the shorter mean (what has been observed wins over
    /// nothing).
    pub fn shorter(self, other: RecentMean) -> RecentMean {
        match (self.mean_seconds, other.mean_seconds) {
            (Some(a), Some(b)) if b < a => other,
            (None, Some(_)) => other,
            _ => self,
        }
    }

    /// How many durations of this mean fit in `span`, between `min` and `max`; `min` until
    /// something was observed.
    pub fn count_within(&self, span: Duration, min: usize, max: usize) -> usize {
        match self.mean_seconds {
            None => min,
            Some(m) if m <= 0.0 => max,
            Some(m) => ((span.as_secs_f64() / m) as usize).clamp(min, max.max(min)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_recent_values_and_clamps() {
        let mut r = RecentMean::default();
        assert_eq!(r.count_within(Duration::from_millis(2), 1, 32), 1);
        r.add(Duration::from_micros(20));
        assert_eq!(r.count_within(Duration::from_millis(2), 1, 32), 32);
        for _ in 0..100 {
            r.add(Duration::from_millis(50));
        }
        assert_eq!(r.count_within(Duration::from_millis(2), 1, 32), 1);
        for _ in 0..300 {
            r.add(Duration::from_micros(500));
        }
        let n = r.count_within(Duration::from_millis(2), 1, 32);
        assert!((3..=4).contains(&n), "{n}");
        r.add_seconds(f64::NAN);
        assert!(r.seconds().unwrap() < 0.0005);
    }

    #[test]
    fn shorter_picks_the_smaller_observed_mean() {
        let none = RecentMean::default();
        let mut long = RecentMean::default();
        long.add_seconds(2.0);
        let mut short = RecentMean::default();
        short.add_seconds(0.5);
        assert_eq!(long.shorter(short).seconds(), Some(0.5));
        assert_eq!(short.shorter(long).seconds(), Some(0.5));
        assert_eq!(none.shorter(long).seconds(), Some(2.0));
        assert_eq!(long.shorter(none).seconds(), Some(2.0));
        assert_eq!(none.shorter(none).seconds(), None);
    }
}
