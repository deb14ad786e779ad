//! The most blocks one run may have: the orchestrator keeps a few bytes per block in memory
//! (the ready set's phase byte, dependency counter and queue slot, about 21 bytes per block
//! measured at the start of a 10^7-block run) plus a ledger-state entry per block it has
//! settled (about 64–128 bytes), so a plan that `plan` can describe lazily may still be too
//! large to run. `submit` checks this before it writes anything.

use super::error::PlanError;
use super::multi::Plan;

/// The most blocks, summed over all tasks, that one `submit` accepts (10^8: about 2 GB of
/// memory at the start of the run and up to about 12 GB once every block is settled).
pub const MAX_BLOCKS_PER_RUN: u64 = 100_000_000;

/// Refuses a plan with more than [`MAX_BLOCKS_PER_RUN`] blocks, naming the largest task.
pub fn check_run_size(plan: &Plan) -> Result<(), PlanError> {
    let blocks = |t: usize| u64::try_from(plan.task(t).num_blocks()).unwrap_or(u64::MAX);
    let total = (0..plan.len()).fold(0u64, |sum, t| sum.saturating_add(blocks(t)));
    if total <= MAX_BLOCKS_PER_RUN {
        return Ok(());
    }
    let largest = (0..plan.len()).max_by_key(|&t| blocks(t)).unwrap_or(0);
    Err(PlanError::TooManyBlocks {
        task: plan.name(largest).to_string(),
        task_blocks: blocks(largest),
        total,
        limit: MAX_BLOCKS_PER_RUN,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::{Coordinate, Roi};
    use crate::plan::{BlockwiseSpec, Fit};

    fn line(name: &str, blocks: i64) -> (String, BlockwiseSpec) {
        let roi = |offset: i64, shape: i64| {
            Roi::new(Coordinate::new(&[offset]), Coordinate::new(&[shape]))
        };
        let spec = BlockwiseSpec {
            total_roi: roi(0, blocks),
            read_roi: roi(0, 1),
            write_roi: roi(0, 1),
            fit: Fit::Valid,
            read_write_conflict: false,
        };
        (name.to_string(), spec)
    }

    #[test]
    fn the_limit_counts_every_task_and_names_the_largest() {
        let limit = MAX_BLOCKS_PER_RUN as i64;
        let fits = Plan::new(
            vec![line("a", limit - 10), line("b", 10)],
            vec![vec![], vec![]],
        );
        assert_eq!(check_run_size(&fits.unwrap()), Ok(()));
        let over = Plan::new(
            vec![line("a", 11), line("b", limit - 10)],
            vec![vec![], vec![]],
        );
        let err = check_run_size(&over.unwrap()).unwrap_err();
        assert_eq!(
            err,
            PlanError::TooManyBlocks {
                task: "b".into(),
                task_blocks: MAX_BLOCKS_PER_RUN - 10,
                total: MAX_BLOCKS_PER_RUN + 1,
                limit: MAX_BLOCKS_PER_RUN,
            }
        );
        assert!(err.to_string().contains("100000000"), "{err}");
    }
}
