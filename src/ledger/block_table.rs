//! [`BlockTable`]: where a task's folded blocks are kept — the orchestrator's [`BlockMap`]
//! (fast updates, ~176 bytes per block) or a reader's compact table
//! ([`CompactBlocks`](super::compact_state::CompactBlocks), ~16 bytes per block). The one fold
//! over record kinds ([`LedgerState::apply`](super::LedgerState::apply)) changes blocks only
//! through this trait, and every change of an entry is a [`BlockEntry`] method, so a block
//! reads the same whichever table holds it.

use super::block_map::BlockMap;
use super::state::{BlockEntry, BlockState};

/// A task's blocks by id.
pub trait BlockTable: Default {
    /// A table that favours memory over speed (a reader's): the fold then decodes snapshots
    /// while reading them instead of reading them whole first.
    const COMPACT: bool;

    /// The state of block `id`, if the table holds it.
    fn state_of(&self, id: u64) -> Option<BlockState>;

    /// A copy of the entry of block `id`, if the table holds it.
    fn entry(&self, id: u64) -> Option<BlockEntry>;

    /// Adds block `id`, which the table does not hold yet.
    fn insert(&mut self, id: u64, entry: BlockEntry);

    /// Applies `step` to the entry of block `id`: `None` if the table does not hold it, else
    /// what `step` returned. A step that returns `None` leaves the entry as it was.
    fn change(
        &mut self,
        id: u64,
        step: impl FnOnce(&mut BlockEntry) -> Option<BlockState>,
    ) -> Option<Option<BlockState>>;

    /// Applies [`BlockEntry::reset_budget`] to every entry.
    fn reset_budget(&mut self);

    /// Calls `visit` with every block held and its entry (arbitrary order).
    fn visit(&self, visit: &mut dyn FnMut(u64, &BlockEntry));
}

impl BlockTable for BlockMap<BlockEntry> {
    const COMPACT: bool = false;

    #[inline]
    fn state_of(&self, id: u64) -> Option<BlockState> {
        self.get(&id).map(BlockEntry::state)
    }

    fn entry(&self, id: u64) -> Option<BlockEntry> {
        self.get(&id).cloned()
    }

    #[inline]
    fn insert(&mut self, id: u64, entry: BlockEntry) {
        BlockMap::insert(self, id, entry);
    }

    #[inline]
    fn change(
        &mut self,
        id: u64,
        step: impl FnOnce(&mut BlockEntry) -> Option<BlockState>,
    ) -> Option<Option<BlockState>> {
        self.get_mut(&id).map(step)
    }

    fn reset_budget(&mut self) {
        self.values_mut().for_each(BlockEntry::reset_budget);
    }

    fn visit(&self, visit: &mut dyn FnMut(u64, &BlockEntry)) {
        for (&id, e) in self {
            visit(id, e);
        }
    }
}
