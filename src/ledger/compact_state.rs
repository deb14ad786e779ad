//! [`CompactState`]: a reader's fold of a ledger, the orchestrator's
//! [`LedgerState`](super::LedgerState) with each task's blocks in a [`CompactBlocks`] table
//! (about 16 bytes per block, a `Vec` sorted by block id) instead of a map (~176). It decodes
//! the same snapshots and folds records through the same
//! [`LedgerState::apply`](super::LedgerState::apply), so everything reads the same here as
//! there: blocks, counts, init results, workers, epochs.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::block_map::BlockMap;
use super::block_table::BlockTable;
use super::state::{BlockEntry, BlockState, LedgerState};

/// The folded ledger as `status` and `report` read it (read-only: never written back).
pub type CompactState = LedgerState<CompactBlocks>;

/// One block in 8 bytes (16 with its id): the worker of the last assignment, the last attempt,
/// the infrastructure returns, and the failures in the budget (5 bits) with the state
/// (3 bits). State [`FULL`] means the whole entry is in `full` (it has an error message, or a
/// field does not fit).
#[derive(Clone, Copy, Debug)]
struct Cell {
    worker: u32,
    last_attempt: u16,
    infra: u8,
    failures_state: u8,
}

const FULL: u8 = 7;
const STATE_BITS: u32 = 3;
const NO_WORKER: u32 = u32::MAX;

impl Cell {
    fn pack(e: &BlockEntry) -> Option<Self> {
        if e.last_error().is_some() || e.last_worker() == Some(NO_WORKER) {
            return None;
        }
        let failures = u8::try_from(e.failures_in_budget())
            .ok()
            .filter(|&f| f < 1 << (8 - STATE_BITS))?;
        Some(Self {
            worker: e.last_worker().unwrap_or(NO_WORKER),
            last_attempt: u16::try_from(e.last_attempt()).ok()?,
            infra: u8::try_from(e.infra_returns()).ok()?,
            failures_state: failures << STATE_BITS | e.state() as u8,
        })
    }

    /// The state code: a `BlockState` as `u8`, or [`FULL`].
    fn state(self) -> u8 {
        self.failures_state & ((1 << STATE_BITS) - 1)
    }

    fn unpack(self) -> BlockEntry {
        let state = match self.state() {
            0 => BlockState::Pending,
            1 => BlockState::Assigned,
            2 => BlockState::Done,
            3 => BlockState::Skipped,
            _ => BlockState::Failed,
        };
        BlockEntry::from_parts(
            state,
            u32::from(self.last_attempt),
            u32::from(self.failures_state >> STATE_BITS),
            u32::from(self.infra),
            (self.worker != NO_WORKER).then_some(self.worker),
        )
    }

    fn full() -> Self {
        Self {
            worker: NO_WORKER,
            last_attempt: 0,
            infra: 0,
            failures_state: FULL,
        }
    }
}

/// The blocks of one task: `sorted` by id, plus blocks added since the last merge in `recent`,
/// plus whole entries for the few blocks that do not pack into a cell (those with an error
/// message).
#[derive(Debug, Default)]
pub struct CompactBlocks {
    sorted: Vec<(u64, Cell)>,
    recent: BlockMap<Cell>,
    full: BlockMap<BlockEntry>,
}

impl CompactBlocks {
    fn get(&self, id: u64) -> Option<BlockEntry> {
        let cell = self.cell(id)?;
        if cell.state() == FULL {
            return self.full.get(&id).cloned();
        }
        Some(cell.unpack())
    }

    fn put(&mut self, id: u64, entry: BlockEntry) {
        let cell = match Cell::pack(&entry) {
            Some(c) => {
                self.full.remove(&id);
                c
            }
            None => {
                self.full.insert(id, entry);
                Cell::full()
            }
        };
        match self.sorted.binary_search_by_key(&id, |&(b, _)| b) {
            Ok(i) => self.sorted[i].1 = cell,
            Err(_) => {
                self.recent.insert(id, cell);
                if self.recent.len() > (self.sorted.len() / 8).max(4096) {
                    self.merge();
                }
            }
        }
    }

    fn merge(&mut self) {
        self.sorted.reserve(self.recent.len());
        self.sorted.extend(self.recent.drain());
        self.sorted.sort_unstable_by_key(|&(b, _)| b);
        self.recent = BlockMap::default();
    }

    fn ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self.sorted.iter().map(|&(b, _)| b).collect();
        ids.extend(self.recent.keys());
        ids
    }

    fn cell(&self, id: u64) -> Option<Cell> {
        match self.sorted.binary_search_by_key(&id, |&(b, _)| b) {
            Ok(i) => Some(self.sorted[i].1),
            Err(_) => self.recent.get(&id).copied(),
        }
    }
}

impl BlockTable for CompactBlocks {
    const COMPACT: bool = true;

    fn state_of(&self, id: u64) -> Option<BlockState> {
        let cell = self.cell(id)?;
        if cell.state() == FULL {
            return self.full.get(&id).map(BlockEntry::state);
        }
        Some(cell.unpack().state())
    }

    fn entry(&self, id: u64) -> Option<BlockEntry> {
        self.get(id)
    }

    fn insert(&mut self, id: u64, entry: BlockEntry) {
        self.put(id, entry);
    }

    fn change(
        &mut self,
        id: u64,
        step: impl FnOnce(&mut BlockEntry) -> Option<BlockState>,
    ) -> Option<Option<BlockState>> {
        let mut e = self.get(id)?;
        let new = step(&mut e);
        if new.is_some() {
            self.put(id, e);
        }
        Some(new)
    }

    fn reset_budget(&mut self) {
        for id in self.ids() {
            if let Some(mut e) = self.get(id) {
                e.reset_budget();
                self.put(id, e);
            }
        }
    }

    fn visit(&self, visit: &mut dyn FnMut(u64, &BlockEntry)) {
        let mut one = |id: u64, cell: Cell| match cell.state() {
            FULL => {
                if let Some(e) = self.full.get(&id) {
                    visit(id, e);
                }
            }
            _ => visit(id, &cell.unpack()),
        };
        for &(id, cell) in &self.sorted {
            one(id, cell);
        }
        for (&id, &cell) in &self.recent {
            one(id, cell);
        }
    }
}

impl<'de> Deserialize<'de> for CompactBlocks {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Blocks;
        impl<'de> Visitor<'de> for Blocks {
            type Value = CompactBlocks;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map from block id to block entry")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<CompactBlocks, A::Error> {
                let mut out = CompactBlocks::default();
                out.sorted.reserve_exact(map.size_hint().unwrap_or(0));
                while let Some((id, entry)) = map.next_entry::<u64, BlockEntry>()? {
                    let cell = Cell::pack(&entry).unwrap_or_else(|| {
                        out.full.insert(id, entry);
                        Cell::full()
                    });
                    out.sorted.push((id, cell));
                }
                out.sorted.sort_unstable_by_key(|&(b, _)| b);
                Ok(out)
            }
        }
        deserializer.deserialize_map(Blocks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::frame::codec;
    use crate::ledger::records::{FailureKind, OrchestratorRecord, Outcome};
    use bincode::Options;

    #[test]
    fn a_block_takes_16_bytes() {
        assert_eq!(std::mem::size_of::<(u64, Cell)>(), 16);
    }

    /// The same records folded into both states give the same entries, init results, workers,
    /// epochs and tallies, also after the compact one merges its recent blocks and after a
    /// snapshot round trip.
    #[test]
    fn compact_fold_matches_ledger_state() {
        let mut full = LedgerState::new();
        let mut compact = CompactState::default();
        let mut both = |r: OrchestratorRecord| {
            assert_eq!(compact.apply(&r), full.apply(&r), "{r:?}");
        };
        both(OrchestratorRecord::EpochStarted {
            epoch: 1,
            host: "h".into(),
            pid: 7,
            time_us: 5,
            sealed: Vec::new(),
        });
        both(OrchestratorRecord::TaskInit {
            task: 1,
            ok: false,
            output_tail: "boom".into(),
            time_us: 6,
        });
        for i in 0..3 {
            both(OrchestratorRecord::WorkerRegistered {
                index: i,
                worker_id: format!("w{i}"),
                backend: "local".into(),
                job_id: None,
                time_us: 0,
            });
        }
        for b in (0..10_000u64).rev() {
            let w = (b % 3) as u32;
            both(OrchestratorRecord::Assigned {
                task: 0,
                block: b * 7,
                attempt: 1,
                worker: w,
                time_us: 0,
            });
            let outcome = match b % 5 {
                0 => Outcome::Failed {
                    kind: FailureKind::BlockError,
                    message: format!("exit {b}"),
                },
                1 => Outcome::Skipped,
                _ => Outcome::Done,
            };
            if b % 7 == 3 {
                both(OrchestratorRecord::Returned {
                    task: 0,
                    block: b * 7,
                    attempt: 1,
                    reason: "node failure".into(),
                    counts_against_block: b % 2 == 0,
                    time_us: 0,
                });
            } else if b % 11 != 4 {
                both(OrchestratorRecord::Finished {
                    task: 0,
                    block: b * 7,
                    attempt: 1,
                    worker: w,
                    outcome,
                    time_us: 0,
                });
            }
        }
        // Fields too large for a cell: 300 infrastructure returns, attempt 70,000.
        for attempt in 1..=300 {
            both(OrchestratorRecord::Assigned {
                task: 0,
                block: 1_000_003,
                attempt,
                worker: 1,
                time_us: 0,
            });
            both(OrchestratorRecord::Returned {
                task: 0,
                block: 1_000_003,
                attempt,
                reason: "preempted".into(),
                counts_against_block: false,
                time_us: 0,
            });
        }
        both(OrchestratorRecord::Assigned {
            task: 0,
            block: 1_000_010,
            attempt: 70_000,
            worker: 2,
            time_us: 0,
        });
        both(OrchestratorRecord::RetryBudgetReset { time_us: 0 });
        for worker in [1, 1, 9] {
            both(OrchestratorRecord::WorkerServes {
                worker,
                task: 0,
                time_us: 8,
            });
            both(OrchestratorRecord::WorkerEnded {
                worker,
                reason: "exited".into(),
                time_us: 9,
            });
        }
        both(OrchestratorRecord::RunEnded {
            reason: crate::ledger::RunEndReason::BlocksFailed,
            message: "some failed".into(),
            time_us: 10,
        });
        let bytes = codec().serialize(&full).unwrap();
        let decoded: CompactState = codec().deserialize(&bytes).unwrap();
        for state in [&compact, &decoded] {
            assert_eq!(state.counts(0), full.task(0).unwrap().counts());
            assert_eq!(state.block_ids(0).len(), 10_002);
            for (id, e) in full.task(0).unwrap().blocks() {
                assert_eq!(state.entry(0, id).as_ref(), Some(e), "block {id}");
                assert_eq!(state.block_state(0, id), Some(e.state()), "block {id}");
            }
            assert_eq!(state.entry(0, 1), None);
            assert_eq!(state.entry(0, 1_000_003).unwrap().infra_returns(), 300);
            assert_eq!(state.entry(0, 1_000_010).unwrap().last_attempt(), 70_000);
            assert_eq!(state.workers(), full.workers());
            assert_eq!(state.epochs(), full.epochs());
            assert_eq!(state.task(1).unwrap().init(), full.task(1).unwrap().init());
            assert_eq!(
                (state.stale_reports(), state.invalid_records()),
                (full.stale_reports(), full.invalid_records())
            );
            assert_eq!(state.budget_resets(), 1);
            assert_eq!(state.assigned_blocks(), full.assigned_blocks());
        }
    }
}
