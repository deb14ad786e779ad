//! [`FoldedState`]: what readers of a folded ledger ask of it — a block's state, a task's
//! counts and init result, the workers, the epochs — whether the state is a
//! [`CompactState`](super::CompactState) read from disk or the orchestrator's own
//! [`LedgerState`] lent by reference (its status recorder builds a status report from memory
//! without copying the state).

use super::block_table::BlockTable;
use super::state::{BlockEntry, BlockState, EpochEntry, LedgerState, StateCounts};
use super::state::{TaskInitStatus, WorkerEntry};

/// Read access to a folded ledger.
pub trait FoldedState {
    /// The recorded state of one block, if the ledger mentions it.
    fn block_state(&self, task: u32, block: u64) -> Option<BlockState>;
    /// Counts per state of one task (blocks the ledger mentions).
    fn counts(&self, task: u32) -> StateCounts;
    /// Counts summed over all tasks.
    fn total_counts(&self) -> StateCounts;
    /// The init result of one task, if its init ran.
    fn init(&self, task: u32) -> Option<&TaskInitStatus>;
    /// The worker table, by worker index.
    fn workers(&self) -> &[WorkerEntry];
    /// Epochs in the order their logs were folded.
    fn epochs(&self) -> &[EpochEntry];
    /// Calls `visit` with every block of `task` the ledger mentions (arbitrary order).
    fn visit_blocks(&self, task: u32, visit: &mut dyn FnMut(u64, &BlockEntry));
}

impl<B: BlockTable> FoldedState for LedgerState<B> {
    fn block_state(&self, task: u32, block: u64) -> Option<BlockState> {
        LedgerState::block_state(self, task, block)
    }
    fn counts(&self, task: u32) -> StateCounts {
        LedgerState::counts(self, task)
    }
    fn total_counts(&self) -> StateCounts {
        LedgerState::total_counts(self)
    }
    fn init(&self, task: u32) -> Option<&TaskInitStatus> {
        self.task(task)?.init()
    }
    fn workers(&self) -> &[WorkerEntry] {
        LedgerState::workers(self)
    }
    fn epochs(&self) -> &[EpochEntry] {
        LedgerState::epochs(self)
    }
    fn visit_blocks(&self, task: u32, visit: &mut dyn FnMut(u64, &BlockEntry)) {
        if let Some(t) = self.task(task) {
            t.table().visit(visit);
        }
    }
}

impl<S: FoldedState + ?Sized> FoldedState for &S {
    fn block_state(&self, task: u32, block: u64) -> Option<BlockState> {
        (**self).block_state(task, block)
    }
    fn counts(&self, task: u32) -> StateCounts {
        (**self).counts(task)
    }
    fn total_counts(&self) -> StateCounts {
        (**self).total_counts()
    }
    fn init(&self, task: u32) -> Option<&TaskInitStatus> {
        (**self).init(task)
    }
    fn workers(&self) -> &[WorkerEntry] {
        (**self).workers()
    }
    fn epochs(&self) -> &[EpochEntry] {
        (**self).epochs()
    }
    fn visit_blocks(&self, task: u32, visit: &mut dyn FnMut(u64, &BlockEntry)) {
        (**self).visit_blocks(task, visit)
    }
}
