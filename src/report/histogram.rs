//! [`LogHistogram`]: a fixed-size histogram on a logarithmic scale (block wall times, peak
//! memory), with approximate quantiles read back from its bins.

/// A histogram of positive values with `per_decade` bins per factor of 10 from `min` up.
#[derive(Clone, Debug, PartialEq)]
pub struct LogHistogram {
    min: f64,
    per_decade: u32,
    counts: Vec<u64>,
    below: u64,
    max: f64,
    total: u64,
}

impl LogHistogram {
    /// Bins from `min` to `min × 10^decades`; smaller values count in `below`, larger ones
    /// in the last bin.
    pub fn new(min: f64, decades: u32, per_decade: u32) -> Self {
        Self {
            min,
            per_decade,
            counts: vec![0; (decades * per_decade) as usize],
            below: 0,
            max: 0.0,
            total: 0,
        }
    }

    /// Wall-clock seconds: 1 µs to 10^6 s.
    pub fn seconds() -> Self {
        Self::new(1e-6, 12, 5)
    }

    /// Bytes: 1 MB to 10 TB.
    pub fn bytes() -> Self {
        Self::new(1e6, 7, 5)
    }

    /// Counts `value` (negative or NaN values are ignored).
    pub fn add(&mut self, value: f64) {
        if value.is_nan() || value < 0.0 {
            return;
        }
        self.total += 1;
        self.max = self.max.max(value);
        if value < self.min {
            self.below += 1;
            return;
        }
        let i = ((value / self.min).log10() * f64::from(self.per_decade)) as usize;
        let last = self.counts.len() - 1;
        self.counts[i.min(last)] += 1;
    }

    /// The lower edge of bin `i` (`i = bins()` gives the upper edge of the last).
    pub fn edge(&self, i: usize) -> f64 {
        self.min * 10f64.powf(i as f64 / f64::from(self.per_decade))
    }

    /// The bin counts.
    pub fn counts(&self) -> &[u64] {
        &self.counts
    }

    /// Values below the first bin.
    pub fn below(&self) -> u64 {
        self.below
    }

    /// How many values were counted.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The largest value counted.
    pub fn max(&self) -> f64 {
        self.max
    }

    /// The upper edge of the bin holding the `q` quantile (0 < q ≤ 1), never above the
    /// largest value: an upper bound within one bin (a factor of 10^(1/per_decade)).
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.total == 0 {
            return None;
        }
        let want = ((q * self.total as f64).ceil() as u64).max(1);
        let mut seen = self.below;
        if seen >= want {
            return Some(self.min.min(self.max));
        }
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= want {
                return Some(self.edge(i + 1).min(self.max));
            }
        }
        Some(self.max)
    }

    /// The range of bins holding any value (`None` when empty).
    pub fn occupied(&self) -> Option<(usize, usize)> {
        let first = self.counts.iter().position(|&c| c > 0)?;
        let last = self.counts.iter().rposition(|&c| c > 0)?;
        Some((first, last))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_bound_the_true_values_within_one_bin() {
        let mut h = LogHistogram::seconds();
        for i in 1..=1000 {
            h.add(f64::from(i) * 0.01); // 0.01 s .. 10 s
        }
        assert_eq!(h.total(), 1000);
        let p50 = h.quantile(0.5).unwrap();
        assert!((5.0..=5.0 * 10f64.powf(0.2)).contains(&p50), "{p50}");
        assert_eq!(h.quantile(1.0), Some(10.0));
        let (a, b) = h.occupied().unwrap();
        assert!(h.edge(a) <= 0.01 && h.edge(b + 1) > 10.0);
        assert!((h.edge(0) - 1e-6).abs() < 1e-12);
    }

    #[test]
    fn out_of_range_values_are_kept() {
        let mut h = LogHistogram::bytes();
        h.add(10.0);
        h.add(1e15);
        h.add(-1.0);
        assert_eq!((h.below(), h.total()), (1, 2));
        assert_eq!(*h.counts().last().unwrap(), 1);
    }
}
