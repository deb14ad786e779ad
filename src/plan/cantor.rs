//! daisy's block ids: the n-dimensional Cantor number of a block's grid coordinates.
//!
//! `id = Σ_{k=1..n} C(s_k + k − 1, k)` with `s_k = x_0 + … + x_{k−1}`; ids are sparse.

use crate::geometry::Coordinate;

/// Binomial coefficient C(a, k) for small k, `None` on overflow of u128.
fn binomial(a: u128, k: u32) -> Option<u128> {
    if (k as u128) > a {
        return Some(0);
    }
    let mut result: u128 = 1;
    for i in 0..k as u128 {
        // result * (a - i) is divisible by (i + 1) because it is C(a, i+1) * (i+1).
        result = result.checked_mul(a - i)? / (i + 1);
    }
    Some(result)
}

/// The Cantor id of non-negative grid coordinates, `None` if it does not fit in u64.
pub fn cantor_id(coords: &Coordinate) -> Option<u64> {
    let mut sum: u128 = 0;
    let mut id: u128 = 0;
    for (k, &x) in coords.as_slice().iter().enumerate() {
        debug_assert!(x >= 0, "grid coordinates are non-negative");
        sum += x as u128;
        let k = k as u32 + 1;
        id = id.checked_add(binomial(sum + k as u128 - 1, k)?)?;
    }
    u64::try_from(id).ok()
}

/// The grid coordinates (of `dims` axes) whose Cantor id is `id` (inverse of [`cantor_id`]).
pub fn cantor_coords(id: u64, dims: usize) -> Coordinate {
    let mut coords = Coordinate::splat(0, dims);
    let mut rest = id as u128;
    // Peel off the highest term: the largest s with C(s + k - 1, k) <= rest is s_k.
    let mut upper_sum: Option<u128> = None;
    for k in (1..=dims as u32).rev() {
        let term = |s: u128| binomial(s + k as u128 - 1, k).unwrap_or(u128::MAX);
        // C(s + k - 1, k) ≈ s^k / k!, so s ≈ (rest · k!)^(1/k): start just below that guess
        // and step to the exact answer (a few evaluations instead of a binary search).
        let factorial: f64 = (1..=k).map(f64::from).product();
        let guess = ((rest as f64) * factorial).powf(1.0 / f64::from(k));
        let mut lo = (guess as u128).saturating_sub(k as u128 + 1);
        while term(lo) > rest {
            lo -= 1;
        }
        while term(lo + 1) <= rest {
            lo += 1;
        }
        let s_k = lo;
        rest -= term(s_k);
        if let Some(upper) = upper_sum {
            coords[k as usize] = (upper - s_k) as i64;
        }
        upper_sum = Some(s_k);
    }
    if let Some(s1) = upper_sum {
        coords[0] = s1 as i64;
    }
    coords
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_ids() {
        assert_eq!(cantor_id(&Coordinate::new(&[7])), Some(7));
        // 2-D: (x0+x1)(x0+x1+1)/2 + x0
        assert_eq!(cantor_id(&Coordinate::new(&[2, 3])), Some(5 * 6 / 2 + 2));
        assert_eq!(cantor_id(&Coordinate::new(&[0, 0, 0])), Some(0));
        // 3-D: C(x0,1) + C(x0+x1+1,2) + C(x0+x1+x2+2,3)
        assert_eq!(cantor_id(&Coordinate::new(&[1, 2, 3])), Some(1 + 6 + 56));
    }

    #[test]
    fn overflow_is_reported() {
        assert_eq!(
            cantor_id(&Coordinate::new(&[i64::MAX / 2, i64::MAX / 2])),
            None
        );
    }

    #[test]
    fn ids_are_a_bijection_on_small_grids() {
        let mut seen = std::collections::HashSet::new();
        for a in 0..12 {
            for b in 0..12 {
                for c in 0..12 {
                    let x = Coordinate::new(&[a, b, c]);
                    let id = cantor_id(&x).unwrap();
                    assert!(seen.insert(id), "duplicate id {id}");
                    assert_eq!(cantor_coords(id, 3), x);
                }
            }
        }
    }

    proptest! {
        #[test]
        fn inverse_round_trips(v in proptest::collection::vec(0i64..5000, 1..7)) {
            let x = Coordinate::new(&v);
            // Large 6-D grids legitimately overflow u64 ids; the planner rejects those.
            let Some(id) = cantor_id(&x) else { return Ok(()) };
            prop_assert_eq!(cantor_coords(id, v.len()), x);
        }
    }
}
