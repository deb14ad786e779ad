//! n-dimensional integer geometry: [`Coordinate`] and [`Roi`] (region of interest).
//!
//! Semantics follow daisy/funlib: a ROI is `offset` + `shape`, its end is exclusive, and all
//! arithmetic is on integer world units. Coordinates are small inline arrays so that planning
//! millions of blocks never allocates per block.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::ops::{Add, Index, IndexMut, Mul, Sub};

/// Largest number of dimensions blockorch supports (the spec asks for at least 6).
pub const MAX_DIMS: usize = 8;

/// An n-dimensional integer point or extent (n ≤ [`MAX_DIMS`]), stored inline.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Coordinate {
    len: u8,
    values: [i64; MAX_DIMS],
}

impl Coordinate {
    /// Builds a coordinate from a slice; panics if it has more than [`MAX_DIMS`] entries
    /// (task validation rejects such input before it gets here).
    pub fn new(values: &[i64]) -> Self {
        assert!(values.len() <= MAX_DIMS, "at most {MAX_DIMS} dimensions");
        let mut out = Self {
            len: values.len() as u8,
            values: [0; MAX_DIMS],
        };
        out.values[..values.len()].copy_from_slice(values);
        out
    }

    /// A coordinate of `dims` copies of `value`.
    pub fn splat(value: i64, dims: usize) -> Self {
        let mut out = Self::new(&[]);
        out.len = dims as u8;
        out.values[..dims].iter_mut().for_each(|v| *v = value);
        out
    }

    /// Number of dimensions.
    pub fn dims(&self) -> usize {
        self.len as usize
    }

    /// The values as a slice.
    pub fn as_slice(&self) -> &[i64] {
        &self.values[..self.len as usize]
    }

    /// Applies `f` axis by axis to `self` and `other` (same dimensionality).
    pub fn zip_with(&self, other: &Self, f: impl Fn(i64, i64) -> i64) -> Self {
        debug_assert_eq!(self.len, other.len);
        let mut out = *self;
        for d in 0..self.dims() {
            out.values[d] = f(self.values[d], other.values[d]);
        }
        out
    }

    /// Applies `f` to every axis.
    pub fn map(&self, f: impl Fn(i64) -> i64) -> Self {
        let mut out = *self;
        for d in 0..self.dims() {
            out.values[d] = f(self.values[d]);
        }
        out
    }

    /// Product of all entries (the number of cells of an extent), saturating at `u128::MAX`.
    pub fn product(&self) -> u128 {
        self.as_slice()
            .iter()
            .fold(1u128, |acc, &v| acc.saturating_mul(v.max(0) as u128))
    }

    /// Comma-separated values, e.g. `0,0,-4` (the form used in worker argv placeholders).
    pub fn to_csv(&self) -> String {
        let parts: Vec<String> = self.as_slice().iter().map(|v| v.to_string()).collect();
        parts.join(",")
    }
}

impl Index<usize> for Coordinate {
    type Output = i64;
    fn index(&self, d: usize) -> &i64 {
        &self.as_slice()[d]
    }
}

impl IndexMut<usize> for Coordinate {
    fn index_mut(&mut self, d: usize) -> &mut i64 {
        let len = self.len as usize;
        &mut self.values[..len][d]
    }
}

impl Add for Coordinate {
    type Output = Coordinate;
    fn add(self, rhs: Self) -> Self {
        self.zip_with(&rhs, |a, b| a + b)
    }
}

impl Sub for Coordinate {
    type Output = Coordinate;
    fn sub(self, rhs: Self) -> Self {
        self.zip_with(&rhs, |a, b| a - b)
    }
}

impl Mul for Coordinate {
    type Output = Coordinate;
    fn mul(self, rhs: Self) -> Self {
        self.zip_with(&rhs, |a, b| a * b)
    }
}

impl fmt::Debug for Coordinate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_slice())
    }
}

impl fmt::Display for Coordinate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({})", self.to_csv())
    }
}

impl Serialize for Coordinate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.as_slice().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Coordinate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let values = Vec::<i64>::deserialize(d)?;
        if values.len() > MAX_DIMS {
            return Err(serde::de::Error::custom(format!(
                "at most {MAX_DIMS} dimensions are supported, got {}",
                values.len()
            )));
        }
        Ok(Coordinate::new(&values))
    }
}

/// An axis-aligned box: `offset` (begin, inclusive) and `shape` (extent); end is exclusive.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Roi {
    /// First cell of the region.
    pub offset: Coordinate,
    /// Extent per axis; a region with any extent ≤ 0 is empty.
    pub shape: Coordinate,
}

impl Roi {
    /// A region from its offset and shape.
    pub fn new(offset: Coordinate, shape: Coordinate) -> Self {
        debug_assert_eq!(offset.dims(), shape.dims());
        Self { offset, shape }
    }

    /// A region from its begin and (exclusive) end.
    pub fn from_bounds(begin: Coordinate, end: Coordinate) -> Self {
        Self::new(begin, end - begin)
    }

    /// Number of dimensions.
    pub fn dims(&self) -> usize {
        self.offset.dims()
    }

    /// First cell (same as the offset).
    pub fn begin(&self) -> Coordinate {
        self.offset
    }

    /// One past the last cell per axis.
    pub fn end(&self) -> Coordinate {
        self.offset + self.shape
    }

    /// True when some axis has extent ≤ 0.
    pub fn is_empty(&self) -> bool {
        self.shape.as_slice().iter().any(|&s| s <= 0)
    }

    /// True when the two regions share at least one cell.
    pub fn intersects(&self, other: &Roi) -> bool {
        (0..self.dims()).all(|d| {
            self.offset[d].max(other.offset[d]) < self.end()[d].min(other.end()[d])
                && self.shape[d] > 0
                && other.shape[d] > 0
        })
    }

    /// The common part of two regions (empty shape clamped to 0 where they do not overlap).
    pub fn intersect(&self, other: &Roi) -> Roi {
        let begin = self.offset.zip_with(&other.offset, i64::max);
        let end = self.end().zip_with(&other.end(), i64::min);
        let end = end.zip_with(&begin, i64::max);
        Roi::from_bounds(begin, end)
    }

    /// True when `other` lies completely inside `self` (an empty `other` is contained).
    pub fn contains(&self, other: &Roi) -> bool {
        other.is_empty()
            || (0..self.dims())
                .all(|d| self.offset[d] <= other.offset[d] && other.end()[d] <= self.end()[d])
    }

    /// The region moved by `by`.
    pub fn shift(&self, by: Coordinate) -> Roi {
        Roi::new(self.offset + by, self.shape)
    }

    /// The region grown by `lo` before its begin and `hi` after its end (negative shrinks).
    pub fn grow(&self, lo: Coordinate, hi: Coordinate) -> Roi {
        Roi::from_bounds(self.offset - lo, self.end() + hi)
    }

    /// `offset:shape` with comma-separated integers, e.g. `0,0,-4:10,10,8`.
    pub fn to_arg(&self) -> String {
        format!("{}:{}", self.offset.to_csv(), self.shape.to_csv())
    }
}

impl fmt::Debug for Roi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:?}+{:?}]", self.offset, self.shape)
    }
}

impl fmt::Display for Roi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}..{})", self.begin().to_csv(), self.end().to_csv())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn c(v: &[i64]) -> Coordinate {
        Coordinate::new(v)
    }

    #[test]
    fn roi_bounds_and_intersection() {
        let a = Roi::new(c(&[0, 0]), c(&[10, 10]));
        let b = Roi::new(c(&[5, -5]), c(&[10, 10]));
        assert_eq!(a.end(), c(&[10, 10]));
        assert!(a.intersects(&b));
        assert_eq!(a.intersect(&b), Roi::new(c(&[5, 0]), c(&[5, 5])));
        let touching = Roi::new(c(&[10, 0]), c(&[3, 3]));
        assert!(!a.intersects(&touching), "end is exclusive");
        assert!(a.intersect(&touching).is_empty());
    }

    #[test]
    fn roi_arg_form() {
        let r = Roi::new(c(&[0, 0, -4]), c(&[10, 10, 8]));
        assert_eq!(r.to_arg(), "0,0,-4:10,10,8");
    }

    #[test]
    fn coordinate_json_round_trip_and_limit() {
        let v: Coordinate = serde_json::from_str("[1,-2,3]").unwrap();
        assert_eq!(v, c(&[1, -2, 3]));
        assert_eq!(serde_json::to_string(&v).unwrap(), "[1,-2,3]");
        let too_many = serde_json::from_str::<Coordinate>("[1,1,1,1,1,1,1,1,1]");
        assert!(too_many.unwrap_err().to_string().contains("at most 8"));
    }

    fn roi_strategy(dims: usize) -> impl Strategy<Value = Roi> {
        (
            proptest::collection::vec(-50i64..50, dims),
            proptest::collection::vec(0i64..30, dims),
        )
            .prop_map(|(o, s)| Roi::new(Coordinate::new(&o), Coordinate::new(&s)))
    }

    proptest! {
        #[test]
        fn intersection_is_contained_in_both(a in roi_strategy(3), b in roi_strategy(3)) {
            let i = a.intersect(&b);
            prop_assert!(a.contains(&i) && b.contains(&i));
            prop_assert_eq!(a.intersects(&b), !i.is_empty());
            prop_assert_eq!(a.intersects(&b), b.intersects(&a));
        }

        #[test]
        fn grow_then_shrink_is_identity(a in roi_strategy(2), lo in 0i64..5, hi in 0i64..5) {
            let lo = Coordinate::splat(lo, 2);
            let hi = Coordinate::splat(hi, 2);
            prop_assert_eq!(a.grow(lo, hi).grow(lo.map(|v| -v), hi.map(|v| -v)), a);
        }
    }
}
