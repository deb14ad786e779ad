//! [`TimeBins`]: counts over time in a fixed number of bins whose width doubles as the
//! covered span grows, so memory stays the same whatever the run's length or size.

/// Bins per series.
pub const TIME_BINS: usize = 240;

/// Counts per series (e.g. per task) over time, from a fixed start.
#[derive(Clone, Debug, PartialEq)]
pub struct TimeBins {
    start_us: u64,
    width_us: u64,
    last_us: u64,
    counts: Vec<Vec<u64>>,
}

impl TimeBins {
    /// Empty bins for `series` series from `start_us` (earlier times count in the first bin).
    pub fn new(start_us: u64, series: usize) -> Self {
        Self {
            start_us,
            width_us: 1_000,
            last_us: start_us,
            counts: vec![vec![0; TIME_BINS]; series],
        }
    }

    /// Adds `n` to `series` at `time_us`, widening the bins first if it lies beyond them.
    pub fn add(&mut self, series: usize, time_us: u64, n: u64) {
        let Some(_) = self.counts.get(series) else {
            return;
        };
        while time_us >= self.start_us + self.width_us * TIME_BINS as u64 {
            self.double();
        }
        self.last_us = self.last_us.max(time_us);
        let bin = (time_us.saturating_sub(self.start_us) / self.width_us) as usize;
        self.counts[series][bin] += n;
    }

    /// Halves the resolution: bin `i` becomes the sum of bins `2i` and `2i + 1`.
    fn double(&mut self) {
        for row in &mut self.counts {
            for i in 0..TIME_BINS {
                row[i] = if 2 * i + 1 < TIME_BINS {
                    row[2 * i] + row[2 * i + 1]
                } else {
                    0
                };
            }
        }
        self.width_us *= 2;
    }

    /// The start of the first bin.
    pub fn start_us(&self) -> u64 {
        self.start_us
    }

    /// The width of one bin.
    pub fn width_us(&self) -> u64 {
        self.width_us
    }

    /// The latest time added (the start when nothing was).
    pub fn last_us(&self) -> u64 {
        self.last_us
    }

    /// Bins actually used: up to the one holding the latest time.
    pub fn used(&self) -> usize {
        ((self.last_us - self.start_us) / self.width_us) as usize + 1
    }

    /// The counts of one series, bin by bin (only the used bins).
    pub fn series(&self, series: usize) -> &[u64] {
        &self.counts[series][..self.used()]
    }

    /// How many series.
    pub fn series_count(&self) -> usize {
        self.counts.len()
    }

    /// Total count of a series.
    pub fn total(&self, series: usize) -> u64 {
        self.counts[series].iter().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widening_keeps_every_count_and_order() {
        let mut bins = TimeBins::new(1_000_000, 2);
        for i in 0..10_000u64 {
            bins.add((i % 2) as usize, 1_000_000 + i * 997_000, 1);
        }
        assert_eq!(bins.total(0) + bins.total(1), 10_000);
        assert!(bins.used() <= TIME_BINS);
        // Uniform arrivals: every full bin holds about the same count.
        let s = bins.series(0);
        let (lo, hi) = (s[..s.len() - 1].iter().min(), s.iter().max());
        assert!(hi.unwrap() - lo.unwrap() <= 1, "{s:?}");
        assert!(bins.last_us() >= 1_000_000 + 9_999 * 997_000);
    }

    #[test]
    fn early_times_fall_into_the_first_bin() {
        let mut bins = TimeBins::new(5_000, 1);
        bins.add(0, 10, 3);
        bins.add(7, 10, 3); // no such series: ignored
        assert_eq!(bins.series(0), &[3]);
    }
}
