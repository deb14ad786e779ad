//! [`CompactState`]: a reader's fold of a ledger that keeps only the blocks and the worker
//! table, in about 24 bytes per block (a `Vec` sorted by block id) instead of the ~176 of the
//! orchestrator's [`LedgerState`](super::LedgerState) map. It decodes the same snapshots and
//! applies the same per-block transitions ([`BlockEntry`]'s methods), so a block reads the
//! same here as there.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::block_map::BlockMap;
use super::fold::FoldInto;
use super::records::OrchestratorRecord;
use super::state::{BlockEntry, BlockState, EpochEntry, StateCounts, TaskInitStatus, WorkerEntry};

/// The folded blocks and workers of a ledger (what `status --blocks` needs), read-only.
///
/// Field order and types mirror `LedgerState`, so that a snapshot decodes into either.
#[derive(Debug, Default, Deserialize)]
pub struct CompactState {
    tasks: Vec<CompactTask>,
    workers: Vec<WorkerEntry>,
    #[allow(dead_code)]
    epochs: Vec<EpochEntry>,
    #[allow(dead_code)]
    stale_reports: u64,
    #[allow(dead_code)]
    invalid_records: u64,
    #[allow(dead_code)]
    budget_resets: u32,
}

#[derive(Debug, Default, Deserialize)]
struct CompactTask {
    #[allow(dead_code)]
    init: Option<TaskInitStatus>,
    blocks: CompactBlocks,
    counts: StateCounts,
}

/// One block in a few bytes: `state == FULL` means the whole entry is in `full` (it has an
/// error message, or a field does not fit).
#[derive(Clone, Copy, Debug)]
struct Cell {
    last_attempt: u32,
    worker: u32,
    failures: u16,
    infra: u16,
    state: u8,
}

const FULL: u8 = u8::MAX;
const NO_WORKER: u32 = u32::MAX;

impl Cell {
    fn pack(e: &BlockEntry) -> Option<Self> {
        if e.last_error().is_some() || e.last_worker() == Some(NO_WORKER) {
            return None;
        }
        Some(Self {
            last_attempt: e.last_attempt(),
            worker: e.last_worker().unwrap_or(NO_WORKER),
            failures: u16::try_from(e.failures_in_budget()).ok()?,
            infra: u16::try_from(e.infra_returns()).ok()?,
            state: e.state() as u8,
        })
    }

    fn unpack(self) -> BlockEntry {
        let state = match self.state {
            0 => BlockState::Pending,
            1 => BlockState::Assigned,
            2 => BlockState::Done,
            3 => BlockState::Skipped,
            _ => BlockState::Failed,
        };
        BlockEntry::from_parts(
            state,
            self.last_attempt,
            u32::from(self.failures),
            u32::from(self.infra),
            (self.worker != NO_WORKER).then_some(self.worker),
        )
    }

    fn full() -> Self {
        Self {
            last_attempt: 0,
            worker: NO_WORKER,
            failures: 0,
            infra: 0,
            state: FULL,
        }
    }
}

/// The blocks of one task: `sorted` by id, plus blocks added since the last merge in `recent`,
/// plus whole entries for the few blocks that do not pack into a [`Cell`].
#[derive(Debug, Default)]
struct CompactBlocks {
    sorted: Vec<(u64, Cell)>,
    recent: BlockMap<Cell>,
    full: BlockMap<BlockEntry>,
}

impl CompactBlocks {
    fn get(&self, id: u64) -> Option<BlockEntry> {
        let cell = match self.sorted.binary_search_by_key(&id, |&(b, _)| b) {
            Ok(i) => self.sorted[i].1,
            Err(_) => *self.recent.get(&id)?,
        };
        if cell.state == FULL {
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

impl CompactState {
    /// Entry of one block, if the ledger mentions it.
    pub fn block(&self, task: u32, block: u64) -> Option<BlockEntry> {
        self.tasks.get(task as usize)?.blocks.get(block)
    }

    /// Counts per state of one task (blocks the ledger mentions).
    pub fn counts(&self, task: u32) -> StateCounts {
        self.tasks
            .get(task as usize)
            .map(|t| t.counts)
            .unwrap_or_default()
    }

    /// The ids of every block of `task` the ledger mentions (unordered).
    pub fn block_ids(&self, task: u32) -> Vec<u64> {
        self.tasks
            .get(task as usize)
            .map(|t| t.blocks.ids())
            .unwrap_or_default()
    }

    /// The worker table, by worker index.
    pub fn workers(&self) -> &[WorkerEntry] {
        &self.workers
    }

    /// Counts summed over all tasks.
    pub fn total_counts(&self) -> StateCounts {
        StateCounts::sum(self.tasks.iter().map(|t| t.counts))
    }

    fn task_mut(&mut self, task: u32) -> Option<&mut CompactTask> {
        let i = task as usize;
        if i >= 1 << 16 {
            return None;
        }
        if i >= self.tasks.len() {
            self.tasks.resize_with(i + 1, CompactTask::default);
        }
        Some(&mut self.tasks[i])
    }
}

impl FoldInto for CompactState {
    /// Applies the records that change blocks or the worker table, as `LedgerState::apply`
    /// does; the rest (epochs, init results) is not kept.
    fn fold(&mut self, record: &OrchestratorRecord) {
        use OrchestratorRecord as R;
        match record {
            R::WorkerRegistered { index, .. } if *index as usize == self.workers.len() => {
                self.workers.extend(WorkerEntry::registered(record));
            }
            R::Assigned {
                task,
                block,
                attempt,
                worker,
                ..
            } => {
                if *worker as usize >= self.workers.len() {
                    return;
                }
                let Some(t) = self.task_mut(*task) else {
                    return;
                };
                match t.blocks.get(*block) {
                    None => {
                        if let Some(e) = BlockEntry::first_assignment(*attempt, *worker) {
                            t.blocks.put(*block, e);
                            t.counts.assigned += 1;
                        }
                    }
                    Some(mut e) => {
                        if let Some(old) = e.assign(*attempt, *worker) {
                            t.blocks.put(*block, e);
                            t.counts.move_one(old, BlockState::Assigned);
                        }
                    }
                }
            }
            R::Finished {
                task,
                block,
                attempt,
                worker,
                outcome,
                ..
            } => self.change(*task, *block, |e| e.finish(*attempt, *worker, outcome)),
            R::Returned {
                task,
                block,
                attempt,
                reason,
                counts_against_block,
                ..
            } => self.change(*task, *block, |e| {
                e.give_back(*attempt, reason, *counts_against_block)
            }),
            R::RetryBudgetReset { .. } => {
                for t in &mut self.tasks {
                    for id in t.blocks.ids() {
                        if let Some(mut e) = t.blocks.get(id) {
                            e.reset_budget();
                            t.blocks.put(id, e);
                        }
                    }
                    t.counts.reset_budget();
                }
            }
            _ => {}
        }
    }
}

impl CompactState {
    /// Applies a transition of an assigned block (`Finished`, `Returned`).
    fn change(
        &mut self,
        task: u32,
        block: u64,
        step: impl FnOnce(&mut BlockEntry) -> Option<BlockState>,
    ) {
        let Some(t) = self.tasks.get_mut(task as usize) else {
            return;
        };
        let Some(mut e) = t.blocks.get(block) else {
            return;
        };
        if let Some(new) = step(&mut e) {
            t.blocks.put(block, e);
            t.counts.move_one(BlockState::Assigned, new);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::frame::codec;
    use crate::ledger::records::{FailureKind, Outcome};
    use crate::ledger::LedgerState;
    use bincode::Options;

    /// The same records folded into both states give the same entries, also after the compact
    /// one merges its recent blocks and after a snapshot round trip.
    #[test]
    fn compact_fold_matches_ledger_state() {
        let mut full = LedgerState::new();
        let mut compact = CompactState::default();
        let mut both = |r: OrchestratorRecord| {
            full.apply(&r);
            compact.fold(&r);
        };
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
        both(OrchestratorRecord::RetryBudgetReset { time_us: 0 });
        let bytes = codec().serialize(&full).unwrap();
        let decoded: CompactState = codec().deserialize(&bytes).unwrap();
        for state in [&compact, &decoded] {
            assert_eq!(state.counts(0), full.task(0).unwrap().counts());
            assert_eq!(state.block_ids(0).len(), 10_000);
            for (id, e) in full.task(0).unwrap().blocks() {
                assert_eq!(state.block(0, id).as_ref(), Some(e), "block {id}");
            }
            assert_eq!(state.block(0, 1), None);
            assert_eq!(state.workers(), full.workers());
        }
    }
}
