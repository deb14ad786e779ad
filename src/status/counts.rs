//! [`LedgerPhases`]: the block counts of a ledger's folded state — the one definition that
//! `blockorch status` and `submit`'s end-of-run summary share, so that both give the same
//! numbers for the same ledger.
//!
//! A block is failed only when the ledger records its last attempt as failed, and orphaned only
//! when it depends (transitively) on such a block. A block that never ran is pending, also when
//! its task stopped (its init step failed, its workers kept failing to start): the task's stop
//! reason says why, the counts do not pretend the blocks failed.

use std::sync::Arc;

use super::model::{BlockCounts, CellState};
use crate::ledger::{BlockState, FoldedState};
use crate::plan::{Block, Plan};
use crate::schedule::{BlockPhase, Known, ReadySet};

/// The phase of every block as a ledger records it; orphans are computed only when some block
/// failed (otherwise there are none and no per-block table is built).
pub struct LedgerPhases {
    plan: Arc<Plan>,
    ready: Option<ReadySet>,
}

impl LedgerPhases {
    /// The phases of `plan`'s blocks in `state`.
    pub fn new(plan: Arc<Plan>, state: &(impl FoldedState + ?Sized)) -> Self {
        Self::with_lookup(plan, state.total_counts().failed > 0, |task, id| {
            state.block_state(task as u32, id)
        })
    }

    /// The phases of `plan`'s blocks given each block's recorded state (`None`: the ledger does
    /// not mention it) and whether some block failed (then orphans are computed).
    pub fn with_lookup(
        plan: Arc<Plan>,
        any_failed: bool,
        recorded: impl Fn(usize, u64) -> Option<BlockState>,
    ) -> Self {
        let ready = any_failed.then(|| {
            ReadySet::new(Arc::clone(&plan), |task, id| match recorded(task, id)? {
                BlockState::Done => Some(Known::Done),
                BlockState::Skipped => Some(Known::Skipped),
                BlockState::Failed => Some(Known::Failed),
                BlockState::Assigned => Some(Known::Running),
                BlockState::Pending => None,
            })
        });
        Self { plan, ready }
    }

    /// The plan.
    pub fn plan(&self) -> &Arc<Plan> {
        &self.plan
    }

    /// Whether orphans were computed (some block failed).
    pub fn orphans_computed(&self) -> bool {
        self.ready.is_some()
    }

    /// The counts of task `task` in `state` (the state these phases were made from), where
    /// `occupied` of its assigned blocks hold a worker slot (running) and the rest wait in
    /// queues. `total` is the sum of the other fields.
    pub fn task_counts(
        &self,
        state: &(impl FoldedState + ?Sized),
        task: usize,
        occupied: u64,
    ) -> BlockCounts {
        let c = state.counts(task as u32);
        let total = u64::try_from(self.plan.task(task).num_blocks()).unwrap_or(u64::MAX);
        let orphaned = self.ready.as_ref().map_or(0, |r| r.counts(task).orphaned);
        let settled = c.done + c.skipped + c.assigned + c.failed + orphaned;
        BlockCounts {
            total,
            done: c.done,
            skipped: c.skipped,
            running: c.assigned.min(occupied),
            queued: c.assigned.saturating_sub(occupied),
            failed: c.failed,
            orphaned,
            pending: total.saturating_sub(settled),
        }
    }

    /// The state of one block of `task` as the map shows it.
    pub fn cell_state(
        &self,
        state: &(impl FoldedState + ?Sized),
        task: usize,
        block: &Block,
    ) -> CellState {
        self.cell_state_of(task, block, state.block_state(task as u32, block.id))
    }

    /// The state of one block of `task` as the map shows it, given its recorded state.
    pub fn cell_state_of(
        &self,
        task: usize,
        block: &Block,
        recorded: Option<BlockState>,
    ) -> CellState {
        if let Some(ready) = &self.ready {
            return match ready.phase(task, block) {
                BlockPhase::Waiting | BlockPhase::Ready => CellState::Pending,
                BlockPhase::Running => CellState::Running,
                BlockPhase::Done => CellState::Done,
                BlockPhase::Skipped => CellState::Skipped,
                BlockPhase::Failed => CellState::Failed,
                BlockPhase::Orphaned => CellState::Orphaned,
            };
        }
        match recorded {
            None | Some(BlockState::Pending) => CellState::Pending,
            Some(BlockState::Assigned) => CellState::Running,
            Some(BlockState::Done) => CellState::Done,
            Some(BlockState::Skipped) => CellState::Skipped,
            Some(BlockState::Failed) => CellState::Failed,
        }
    }

    /// The ids of `task`'s failed blocks in `state`, smallest first, at most `limit`.
    pub fn failed_blocks(
        state: &(impl FoldedState + ?Sized),
        task: usize,
        limit: usize,
    ) -> Vec<u64> {
        let mut ids = Vec::new();
        if state.counts(task as u32).failed > 0 {
            state.visit_blocks(task as u32, &mut |id, e| {
                if e.state() == BlockState::Failed {
                    ids.push(id);
                }
            });
        }
        ids.sort_unstable();
        ids.truncate(limit);
        ids
    }
}
