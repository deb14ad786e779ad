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
use crate::ledger::{BlockState, LedgerState};
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
    pub fn new(plan: Arc<Plan>, state: &LedgerState) -> Self {
        Self::with_lookup(plan, state.total_counts().failed > 0, |task, id| {
            state.block(task as u32, id).map(|e| e.state())
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
    pub fn task_counts(&self, state: &LedgerState, task: usize, occupied: u64) -> BlockCounts {
        let c = state
            .task(task as u32)
            .map(|s| s.counts())
            .unwrap_or_default();
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
    pub fn cell_state(&self, state: &LedgerState, task: usize, block: &Block) -> CellState {
        let recorded = state.block(task as u32, block.id).map(|e| e.state());
        self.cell_state_of(task, block, recorded)
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
    pub fn failed_blocks(state: &LedgerState, task: usize, limit: usize) -> Vec<u64> {
        let Some(t) = state.task(task as u32) else {
            return Vec::new();
        };
        let mut ids: Vec<u64> = t
            .blocks()
            .filter(|(_, e)| e.state() == BlockState::Failed)
            .map(|(id, _)| id)
            .collect();
        ids.sort_unstable();
        ids.truncate(limit);
        ids
    }
}
