//! How long to wait between two status queries: short after a change, backing off while
//! nothing changes, always between a minimum and a maximum.

use std::time::Duration;

/// An adaptive poll interval. After a poll that saw a change the interval drops to `min`;
/// after each quiet poll it grows by `factor` up to `max`. Iterating yields the intervals of
/// successive quiet polls.
#[derive(Clone, Debug, PartialEq)]
pub struct PollInterval {
    min: Duration,
    max: Duration,
    factor: f64,
    current: Duration,
}

impl PollInterval {
    /// Starts at `min`, grows ×1.5 per quiet poll up to `max` (`max` is raised to `min` if
    /// smaller).
    pub fn new(min: Duration, max: Duration) -> Self {
        Self::with_factor(min, max, 1.5)
    }

    /// Like [`PollInterval::new`] with a growth factor (at least 1).
    pub fn with_factor(min: Duration, max: Duration, factor: f64) -> Self {
        let max = max.max(min);
        Self {
            min,
            max,
            factor: factor.max(1.0),
            current: min,
        }
    }

    /// The defaults for a real cluster: 5 s after a change, up to 60 s when quiet (well below
    /// SLURM's default MinJobAge of 300 s).
    pub fn cluster_default() -> Self {
        Self::new(Duration::from_secs(5), Duration::from_secs(60))
    }

    /// The interval to wait now.
    pub fn current(&self) -> Duration {
        self.current
    }

    /// Records the outcome of a poll and returns the interval to wait before the next one.
    pub fn observe(&mut self, changed: bool) -> Duration {
        self.current = if changed {
            self.min
        } else {
            self.current.mul_f64(self.factor).clamp(self.min, self.max)
        };
        self.current
    }

    /// Back to the minimum (e.g. after launching new workers).
    pub fn reset(&mut self) {
        self.current = self.min;
    }
}

impl Iterator for PollInterval {
    type Item = Duration;

    /// The current interval, then the next one as if the poll saw no change.
    fn next(&mut self) -> Option<Duration> {
        let now = self.current;
        self.observe(false);
        Some(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backs_off_and_snaps_back() {
        let ms = Duration::from_millis;
        let mut p = PollInterval::with_factor(ms(100), ms(1000), 2.0);
        let quiet: Vec<_> = p.clone().take(6).collect();
        assert_eq!(
            quiet,
            [ms(100), ms(200), ms(400), ms(800), ms(1000), ms(1000)]
        );
        assert_eq!(p.observe(false), ms(200));
        assert_eq!(p.observe(false), ms(400));
        assert_eq!(p.observe(true), ms(100));
        p.observe(false);
        p.reset();
        assert_eq!(p.current(), ms(100));
    }

    #[test]
    fn bounds_are_sane() {
        let p = PollInterval::with_factor(Duration::from_secs(5), Duration::from_secs(1), 0.5);
        assert_eq!(
            p.clone().take(3).collect::<Vec<_>>(),
            vec![Duration::from_secs(5); 3]
        );
        assert_eq!(
            PollInterval::cluster_default().current(),
            Duration::from_secs(5)
        );
    }
}
