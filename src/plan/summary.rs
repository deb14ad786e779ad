//! A per-task planning summary computed in O(dims), whatever the number of blocks.

use super::fit::Fit;
use super::multi::Plan;
use crate::geometry::Roi;
use serde::Serialize;

/// What `blockorch plan` reports about one task.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct TaskSummary {
    /// Task name.
    pub task: String,
    /// Border policy.
    pub fit: Fit,
    /// Blocks per axis.
    pub grid_shape: Vec<i64>,
    /// Total number of blocks.
    pub num_blocks: u128,
    /// Blocks whose ROIs are exactly the task's read/write shapes inside the totals.
    pub full_blocks: u128,
    /// Border blocks that stick out (`overhang`) or were cut (`shrink`).
    pub border_blocks: u128,
    /// daisy's number of conflict levels.
    pub levels: u64,
    /// Levels holding at least one block.
    pub non_empty_levels: u64,
    /// The most blocks that may run at once (size of the largest level).
    pub max_parallel_blocks: u128,
    /// Region all blocks together may write.
    pub total_write_roi: Roi,
    /// Names of the upstream tasks.
    pub upstream_tasks: Vec<String>,
}

impl Plan {
    /// The summary of task `index`.
    pub fn summary(&self, index: usize) -> TaskSummary {
        let plan = self.task(index);
        let spec = plan.spec();
        let counts = plan.grid_shape();
        let mut full: u128 = 1;
        for d in 0..plan.dims() {
            let mut interior = counts[d];
            if counts[d] > 0 && spec.fit != Fit::Valid {
                // Only the last block of an axis can leave the totals.
                let last_read_end = spec.total_roi.offset[d]
                    + (counts[d] - 1) * spec.write_roi.shape[d]
                    + spec.read_roi.shape[d];
                if last_read_end > spec.total_roi.end()[d] {
                    interior -= 1;
                }
            }
            full *= interior.max(0) as u128;
        }
        TaskSummary {
            task: self.name(index).to_string(),
            fit: spec.fit,
            grid_shape: counts.as_slice().to_vec(),
            num_blocks: plan.num_blocks(),
            full_blocks: full,
            border_blocks: plan.num_blocks() - full,
            levels: plan.num_levels(),
            non_empty_levels: plan.non_empty_levels(),
            max_parallel_blocks: plan.max_parallel_blocks(),
            total_write_roi: plan.total_write_roi(),
            upstream_tasks: self
                .upstream_of(index)
                .iter()
                .map(|&u| self.name(u).to_string())
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::geometry::{Coordinate, Roi};
    use crate::plan::{BlockwiseSpec, Fit, Plan};

    #[test]
    fn border_counts_match_enumeration() {
        for fit in [Fit::Valid, Fit::Overhang, Fit::Shrink] {
            let c = |v: &[i64]| Coordinate::new(v);
            let spec = BlockwiseSpec {
                total_roi: Roi::new(c(&[0, 0]), c(&[100, 37])),
                read_roi: Roi::new(c(&[0, 0]), c(&[10, 10])),
                write_roi: Roi::new(c(&[1, 1]), c(&[8, 8])),
                fit,
                read_write_conflict: true,
            };
            let plan = Plan::new(vec![("t".into(), spec)], vec![vec![]]).unwrap();
            let s = plan.summary(0);
            let full = plan
                .task(0)
                .blocks()
                .filter(|b| {
                    b.read_roi.shape == spec.read_roi.shape && spec.total_roi.contains(&b.read_roi)
                })
                .count() as u128;
            assert_eq!(s.full_blocks, full, "{fit}");
            assert_eq!(s.full_blocks + s.border_blocks, s.num_blocks);
            assert_eq!(s.levels, 4);
        }
    }
}
