//! Where a block stands in the current run.

use serde::Serialize;

/// A block's phase in the scheduler (one byte per block in memory).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[repr(u8)]
#[serde(rename_all = "snake_case")]
pub enum BlockPhase {
    /// Some dependency is not finished yet.
    Waiting = 0,
    /// Every dependency is finished: may be handed out.
    Ready = 1,
    /// Handed out to a worker (or in flight from an earlier run, not yet reconciled).
    Running = 2,
    /// Processed successfully.
    Done = 3,
    /// The check command said it was already done.
    Skipped = 4,
    /// Failed permanently (retries used up).
    Failed = 5,
    /// Depends (transitively) on a failed block: will not run in this run.
    Orphaned = 6,
}

impl BlockPhase {
    /// Done or skipped: dependents may proceed.
    pub fn is_finished_ok(self) -> bool {
        matches!(self, BlockPhase::Done | BlockPhase::Skipped)
    }

    /// Failed or orphaned: dependents are orphaned.
    pub fn is_dead(self) -> bool {
        matches!(self, BlockPhase::Failed | BlockPhase::Orphaned)
    }

    pub(crate) fn from_u8(v: u8) -> BlockPhase {
        match v {
            0 => BlockPhase::Waiting,
            1 => BlockPhase::Ready,
            2 => BlockPhase::Running,
            3 => BlockPhase::Done,
            4 => BlockPhase::Skipped,
            5 => BlockPhase::Failed,
            _ => BlockPhase::Orphaned,
        }
    }
}

/// How many blocks of a task are in each phase.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PhaseCounts {
    /// All blocks of the task.
    pub total: u64,
    /// Waiting for dependencies.
    pub waiting: u64,
    /// Ready to hand out.
    pub ready: u64,
    /// Handed out, not finished.
    pub running: u64,
    /// Processed successfully.
    pub done: u64,
    /// Already done according to the check command.
    pub skipped: u64,
    /// Failed permanently.
    pub failed: u64,
    /// Blocked by a failed dependency.
    pub orphaned: u64,
}

impl PhaseCounts {
    pub(crate) fn slot(&mut self, phase: BlockPhase) -> &mut u64 {
        match phase {
            BlockPhase::Waiting => &mut self.waiting,
            BlockPhase::Ready => &mut self.ready,
            BlockPhase::Running => &mut self.running,
            BlockPhase::Done => &mut self.done,
            BlockPhase::Skipped => &mut self.skipped,
            BlockPhase::Failed => &mut self.failed,
            BlockPhase::Orphaned => &mut self.orphaned,
        }
    }

    /// Blocks that will not change any more in this run.
    pub fn settled(&self) -> u64 {
        self.done + self.skipped + self.failed + self.orphaned
    }

    /// True when nothing is waiting, ready or running.
    pub fn is_settled(&self) -> bool {
        self.settled() == self.total
    }
}
