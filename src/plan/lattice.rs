//! One axis of a block grid as a lattice of intervals `[base + k·step, base + k·step + len)`,
//! `k ∈ [0, count)`, and the range of `k` whose interval meets a query interval.

use std::ops::Range;

/// Floor division for signed integers with a positive divisor.
pub(crate) fn div_floor(a: i64, b: i64) -> i64 {
    a.div_euclid(b)
}

/// Ceiling division for signed integers with a positive divisor.
pub(crate) fn div_ceil(a: i64, b: i64) -> i64 {
    -((-a).div_euclid(b))
}

/// Evenly spaced, equally long intervals along one axis.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Lattice {
    pub base: i64,
    pub step: i64,
    pub len: i64,
    pub count: i64,
}

impl Lattice {
    /// Indices `k` whose (unclipped) interval intersects `[a, b)`; a superset of those whose
    /// clipped interval does, since clipping only shrinks.
    pub fn meeting(&self, a: i64, b: i64) -> Range<i64> {
        if a >= b || self.len <= 0 {
            return 0..0;
        }
        // base + k·step < b  and  base + k·step + len > a
        let first = div_floor(a - self.len - self.base, self.step) + 1;
        let last = div_ceil(b - self.base, self.step) - 1;
        first.max(0)..(last + 1).min(self.count).max(first.max(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn division_rounding() {
        assert_eq!(div_floor(-7, 2), -4);
        assert_eq!(div_ceil(-7, 2), -3);
        assert_eq!(div_ceil(7, 2), 4);
        assert_eq!(div_floor(7, 2), 3);
    }

    proptest! {
        #[test]
        fn meeting_matches_brute_force(base in -50i64..50, step in 1i64..10, len in 1i64..25,
                                        count in 0i64..20, a in -80i64..150, w in 0i64..40) {
            let lat = Lattice { base, step, len, count };
            let b = a + w;
            let expected: Vec<i64> = (0..count)
                .filter(|k| {
                    let lo = base + k * step;
                    lo.max(a) < (lo + len).min(b)
                })
                .collect();
            let got: Vec<i64> = lat.meeting(a, b).collect();
            prop_assert_eq!(got, expected);
        }
    }
}
