//! [`LogHistogram`]: quantiles of millions of values in a few kilobytes. Buckets grow by
//! 2^(1/16) (16 per doubling), so a quantile is reported with a relative error below 4.5 %
//! (always rounded up to its bucket's upper edge); count, minimum and maximum are exact.

use serde::Serialize;

/// Buckets per doubling.
const PER_OCTAVE: f64 = 16.0;

/// A fixed-size histogram of positive values on a logarithmic scale between `lowest` and
/// `lowest × 2^octaves`; values below go to the first bucket (their quantiles read as
/// `lowest`), above to the last (read as the exact maximum).
#[derive(Clone, Debug, PartialEq)]
pub struct LogHistogram {
    lowest: f64,
    counts: Vec<u64>,
    count: u64,
    min: f64,
    max: f64,
}

/// Count and quantiles of a histogram.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Quantiles {
    /// Values seen.
    pub count: u64,
    /// Median (within +4.5 %).
    pub p50: f64,
    /// 95th percentile (within +4.5 %).
    pub p95: f64,
    /// Largest value (exact).
    pub max: f64,
}

impl LogHistogram {
    /// A histogram of values from `lowest` to `lowest × 2^octaves`.
    pub fn new(lowest: f64, octaves: u32) -> Self {
        Self {
            lowest,
            counts: vec![0; (f64::from(octaves) * PER_OCTAVE) as usize + 1],
            count: 0,
            min: f64::INFINITY,
            max: 0.0,
        }
    }

    /// Seconds from 1 µs to about 12 days.
    pub fn seconds() -> Self {
        Self::new(1e-6, 40)
    }

    /// Bytes from 1 KiB to 1 PiB.
    pub fn bytes() -> Self {
        Self::new(1024.0, 40)
    }

    /// Adds one value (negative and NaN values count as the lowest).
    pub fn add(&mut self, value: f64) {
        let value = if value.is_nan() { 0.0 } else { value.max(0.0) };
        let i = if value <= self.lowest {
            0
        } else {
            ((value / self.lowest).log2() * PER_OCTAVE).ceil() as usize
        };
        let last = self.counts.len() - 1;
        self.counts[i.min(last)] += 1;
        self.count += 1;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
    }

    /// The upper edge of the bucket holding the `q`-quantile, within the exact min and max.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0;
        for (i, &n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                let edge = self.lowest * (i as f64 / PER_OCTAVE).exp2();
                return Some(edge.clamp(self.min, self.max));
            }
        }
        Some(self.max)
    }

    /// Count, median, 95th percentile and maximum; `None` when empty.
    pub fn quantiles(&self) -> Option<Quantiles> {
        Some(Quantiles {
            count: self.count,
            p50: self.quantile(0.5)?,
            p95: self.quantile(0.95)?,
            max: self.max,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_the_stated_error() {
        let mut h = LogHistogram::seconds();
        for i in 1..=10_000u32 {
            h.add(f64::from(i) / 1000.0); // 1 ms … 10 s, uniform
        }
        let q = h.quantiles().unwrap();
        assert_eq!(q.count, 10_000);
        assert_eq!(q.max, 10.0);
        for (got, want) in [(q.p50, 5.0), (q.p95, 9.5)] {
            assert!(got >= want && got <= want * 1.045, "{got} vs {want}");
        }
    }

    #[test]
    fn empty_and_out_of_range() {
        assert_eq!(LogHistogram::bytes().quantiles(), None);
        let mut h = LogHistogram::bytes();
        h.add(10.0);
        h.add(1e18);
        let q = h.quantiles().unwrap();
        // Below the range: reported as the lowest edge.
        assert_eq!((q.count, q.p50, q.max), (2, 1024.0, 1e18));
    }
}
