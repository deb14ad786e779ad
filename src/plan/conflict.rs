//! Same-task conflict ordering (`read_write_conflict`).
//!
//! Blocks are coloured into levels by their grid coordinates modulo `radius + 1` per axis, so
//! two blocks of one level never conflict. Every conflicting pair is joined by a direct edge
//! from the lower level to the higher one: the graph is acyclic, conflicting blocks never run
//! at once, and the longest chain has at most as many blocks as there are levels (daisy's
//! level count). See `docs/design/planning.md`.

use super::task_plan::{Block, GridBox, TaskPlan};
use crate::geometry::Coordinate;

impl TaskPlan {
    /// Levels per axis: `radius + 1` (1 on axes without conflicts).
    pub fn level_moduli(&self) -> Coordinate {
        self.conflict_radius().map(|k| k + 1)
    }

    /// Number of levels, daisy's `num_levels` (product of the per-axis moduli).
    pub fn num_levels(&self) -> u64 {
        self.level_moduli().product() as u64
    }

    /// The level of the block at `coords` (mixed radix of the residues, first axis highest).
    pub fn level_of(&self, coords: &Coordinate) -> u64 {
        let moduli = self.level_moduli();
        (0..self.dims()).fold(0u64, |level, d| {
            level * moduli[d] as u64 + coords[d].rem_euclid(moduli[d]) as u64
        })
    }

    /// True if one block's read ROI meets the other's write ROI (they must not run at once).
    pub fn blocks_conflict(&self, a: &Block, b: &Block) -> bool {
        self.spec().read_write_conflict
            && a.coords != b.coords
            && (a.read_roi.intersects(&b.write_roi) || b.read_roi.intersects(&a.write_roi))
    }

    /// Calls `f` for every block that conflicts with `block` and sits in a lower level
    /// (`earlier = true`: the block's conflict dependencies) or a higher one (its dependents).
    pub fn for_each_conflict(&self, block: &Block, earlier: bool, mut f: impl FnMut(Block)) {
        let radius = self.conflict_radius();
        if radius.as_slice().iter().all(|&k| k == 0) {
            return;
        }
        let own_level = self.level_of(&block.coords);
        let neighbourhood = GridBox {
            lo: block.coords - radius,
            hi: block.coords + radius.map(|k| k + 1),
        }
        .clipped_to(self);
        for coords in neighbourhood.iter() {
            let level = self.level_of(&coords);
            if level == own_level || (level < own_level) != earlier {
                continue;
            }
            let other = self.block_at(coords);
            if self.blocks_conflict(block, &other) {
                f(other);
            }
        }
    }

    /// Size of the largest level: the most blocks that may run at once.
    pub fn max_parallel_blocks(&self) -> u128 {
        let moduli = self.level_moduli();
        let counts = self.grid_shape();
        (0..self.dims()).fold(1u128, |acc, d| {
            acc * (counts[d] as u128).div_ceil(moduli[d] as u128)
        })
    }

    /// Number of levels that hold at least one block.
    pub fn non_empty_levels(&self) -> u64 {
        if self.num_blocks() == 0 {
            return 0;
        }
        let moduli = self.level_moduli();
        let counts = self.grid_shape();
        (0..self.dims()).fold(1u64, |acc, d| acc * moduli[d].min(counts[d]) as u64)
    }
}

#[cfg(test)]
mod tests {
    use crate::geometry::{Coordinate, Roi};
    use crate::plan::{BlockwiseSpec, Fit, TaskPlan};
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn spec(
        dims: usize,
        total: i64,
        lo: &[i64],
        hi: &[i64],
        w: i64,
        fit: Fit,
        conflict: bool,
    ) -> BlockwiseSpec {
        let lo = Coordinate::new(&lo[..dims]);
        let hi = Coordinate::new(&hi[..dims]);
        let w = Coordinate::splat(w, dims);
        BlockwiseSpec {
            total_roi: Roi::new(Coordinate::splat(-7, dims), Coordinate::splat(total, dims)),
            read_roi: Roi::new(Coordinate::splat(0, dims), lo + w + hi),
            write_roi: Roi::new(lo, w),
            fit,
            read_write_conflict: conflict,
        }
    }

    fn fit_strategy() -> impl Strategy<Value = Fit> {
        prop_oneof![Just(Fit::Valid), Just(Fit::Overhang), Just(Fit::Shrink)]
    }

    proptest! {
        /// Every conflicting pair is ordered by a direct edge, edges only go up in level
        /// (so the graph is acyclic) and dependencies/dependents are mirror images.
        #[test]
        fn conflicting_pairs_are_ordered(dims in 1usize..4, total in 10i64..40,
                                          lo in proptest::collection::vec(0i64..9, 3),
                                          hi in proptest::collection::vec(0i64..9, 3),
                                          w in 2i64..7, fit in fit_strategy(), conflict: bool) {
            let plan = TaskPlan::new(&spec(dims, total, &lo, &hi, w, fit, conflict)).unwrap();
            prop_assume!(plan.num_blocks() <= 400, "keep the O(n^2) check small");
            let blocks: Vec<_> = plan.blocks().collect();
            let mut deps: HashMap<u64, Vec<u64>> = HashMap::new();
            let mut dependents: HashMap<u64, Vec<u64>> = HashMap::new();
            for b in &blocks {
                let level = plan.level_of(&b.coords);
                plan.for_each_conflict(b, true, |d| {
                    assert!(plan.level_of(&d.coords) < level);
                    deps.entry(b.id).or_default().push(d.id);
                });
                plan.for_each_conflict(b, false, |d| dependents.entry(d.id).or_default().push(b.id));
            }
            for a in &blocks {
                for b in &blocks {
                    let conflict = plan.blocks_conflict(a, b);
                    let a_after_b = deps.get(&a.id).is_some_and(|v| v.contains(&b.id));
                    let b_after_a = deps.get(&b.id).is_some_and(|v| v.contains(&a.id));
                    prop_assert_eq!(conflict, a_after_b != b_after_a);
                    prop_assert!(!(a_after_b && b_after_a));
                }
            }
            for (k, mut v) in deps.clone() { v.sort(); let mut w = dependents.get(&k).cloned().unwrap_or_default(); w.sort(); prop_assert_eq!(v, w); }
            for (k, mut v) in dependents { v.sort(); let mut w = deps.get(&k).cloned().unwrap_or_default(); w.sort(); prop_assert_eq!(v, w); }
        }

        /// Every cell of the total write region is written by exactly one block (valid and
        /// shrink cover it completely; valid may leave a remainder uncovered at the end).
        #[test]
        fn write_rois_tile_without_overlap(dims in 1usize..4, total in 10i64..30,
                                            lo in proptest::collection::vec(0i64..6, 3),
                                            hi in proptest::collection::vec(0i64..6, 3),
                                            w in 2i64..7, fit in fit_strategy()) {
            let plan = TaskPlan::new(&spec(dims, total, &lo, &hi, w, fit, true)).unwrap();
            prop_assume!(plan.num_blocks() <= 2000);
            let mut written: HashMap<Vec<i64>, u32> = HashMap::new();
            for b in plan.blocks() {
                prop_assert!(b.read_roi.contains(&b.write_roi));
                if fit != Fit::Overhang {
                    prop_assert!(plan.spec().total_roi.contains(&b.read_roi));
                }
                let r = b.write_roi;
                let cells = crate::plan::task_plan::GridBox { lo: r.begin(), hi: r.end() };
                for cell in cells.iter() {
                    *written.entry(cell.as_slice().to_vec()).or_default() += 1;
                }
            }
            prop_assert!(written.values().all(|&n| n == 1));
            if fit == Fit::Shrink {
                prop_assert_eq!(written.len() as u128, plan.total_write_roi().shape.product());
            }
        }
    }
}
