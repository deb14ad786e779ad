//! The state of a run as folded from the orchestrator logs: per task, per block, the fencing
//! attempt and the outcome; tasks' init results; the worker table; the epochs.
//!
//! [`LedgerState::apply`] is the one gate through which state changes, and the one place
//! where fencing is decided.

use serde::{Deserialize, Serialize};

use super::block_map::BlockMap;
use super::block_table::BlockTable;
use super::records::{OrchestratorRecord, Outcome, RunEndReason};

/// Task indexes at or above this are invalid (a guard against allocating for a bogus index).
const MAX_TASKS: u32 = 1 << 16;

/// Lifecycle of a block. Blocks never mentioned in the ledger are pending.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BlockState {
    /// Waiting to be assigned (never tried, or returned by an infrastructure event).
    #[default]
    Pending,
    /// Handed to a worker as its `last_attempt`.
    Assigned,
    /// Processed. Terminal.
    Done,
    /// The check said it was already done. Terminal.
    Skipped,
    /// The last attempt failed; the orchestrator retries while the budget allows.
    Failed,
}

/// What the ledger knows about one block.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockEntry {
    state: BlockState,
    last_attempt: u32,
    failures_in_budget: u32,
    infra_returns: u32,
    last_worker: Option<u32>,
    last_error: Option<String>,
}

impl BlockEntry {
    /// Current state.
    pub fn state(&self) -> BlockState {
        self.state
    }
    /// Highest attempt number handed out (monotonic across epochs; the fencing token).
    pub fn last_attempt(&self) -> u32 {
        self.last_attempt
    }
    /// Failed attempts since the last retry-budget reset.
    pub fn failures_in_budget(&self) -> u32 {
        self.failures_in_budget
    }
    /// Attempts returned by infrastructure events (not counted against the block).
    pub fn infra_returns(&self) -> u32 {
        self.infra_returns
    }
    /// Worker index of the last assignment.
    pub fn last_worker(&self) -> Option<u32> {
        self.last_worker
    }
    /// Message of the last failure.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// The entry an `Assigned` record creates for a block the ledger did not mention; `None`
    /// (stale) for attempt 0.
    pub(crate) fn first_assignment(attempt: u32, worker: u32) -> Option<Self> {
        (attempt != 0).then(|| Self {
            state: BlockState::Assigned,
            last_attempt: attempt,
            last_worker: Some(worker),
            ..Self::default()
        })
    }

    /// The entry with these fields and no error (for compact stores).
    pub(crate) fn from_parts(
        state: BlockState,
        last_attempt: u32,
        failures_in_budget: u32,
        infra_returns: u32,
        last_worker: Option<u32>,
    ) -> Self {
        Self {
            state,
            last_attempt,
            failures_in_budget,
            infra_returns,
            last_worker,
            last_error: None,
        }
    }

    /// An `Assigned` record for this block: returns the state it left, or `None` (stale) for
    /// a done or skipped block or an attempt not above the last one.
    pub(crate) fn assign(&mut self, attempt: u32, worker: u32) -> Option<BlockState> {
        if matches!(self.state, BlockState::Done | BlockState::Skipped)
            || attempt <= self.last_attempt
        {
            return None;
        }
        let old = self.state;
        self.state = BlockState::Assigned;
        self.last_attempt = attempt;
        self.last_worker = Some(worker);
        Some(old)
    }

    /// A `Finished` record: returns the new state, or `None` (stale) unless the block is
    /// assigned as `attempt` to `worker`.
    pub(crate) fn finish(
        &mut self,
        attempt: u32,
        worker: u32,
        outcome: &Outcome,
    ) -> Option<BlockState> {
        if self.state != BlockState::Assigned
            || self.last_attempt != attempt
            || self.last_worker != Some(worker)
        {
            return None;
        }
        let new = match outcome {
            Outcome::Done => BlockState::Done,
            Outcome::Skipped => BlockState::Skipped,
            Outcome::Failed { kind, message } => {
                self.failures_in_budget += 1;
                self.last_error = Some(format!("{kind}: {message}"));
                BlockState::Failed
            }
        };
        self.state = new;
        Some(new)
    }

    /// A `Returned` record: returns the new state, or `None` (stale) unless the block is
    /// assigned as `attempt`.
    pub(crate) fn give_back(
        &mut self,
        attempt: u32,
        reason: &str,
        counts_against_block: bool,
    ) -> Option<BlockState> {
        if self.state != BlockState::Assigned || self.last_attempt != attempt {
            return None;
        }
        let new = if counts_against_block {
            self.failures_in_budget += 1;
            self.last_error = Some(reason.to_string());
            BlockState::Failed
        } else {
            self.infra_returns += 1;
            BlockState::Pending
        };
        self.state = new;
        Some(new)
    }

    /// A `RetryBudgetReset`: no failures in the budget, failed blocks pending again.
    pub(crate) fn reset_budget(&mut self) {
        self.failures_in_budget = 0;
        if self.state == BlockState::Failed {
            self.state = BlockState::Pending;
        }
    }
}

/// Number of blocks of a task in each state (blocks never mentioned are not counted).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateCounts {
    /// Pending blocks that the ledger mentions (returned ones).
    pub pending: u64,
    /// Assigned blocks.
    pub assigned: u64,
    /// Done blocks.
    pub done: u64,
    /// Skipped blocks.
    pub skipped: u64,
    /// Failed blocks.
    pub failed: u64,
}

impl StateCounts {
    /// Count of blocks in `state`.
    pub fn get(&self, state: BlockState) -> u64 {
        match state {
            BlockState::Pending => self.pending,
            BlockState::Assigned => self.assigned,
            BlockState::Done => self.done,
            BlockState::Skipped => self.skipped,
            BlockState::Failed => self.failed,
        }
    }

    /// The sum of `counts`.
    pub(crate) fn sum(counts: impl Iterator<Item = StateCounts>) -> Self {
        counts.fold(Self::default(), |mut sum, c| {
            sum.pending += c.pending;
            sum.assigned += c.assigned;
            sum.done += c.done;
            sum.skipped += c.skipped;
            sum.failed += c.failed;
            sum
        })
    }

    /// A `RetryBudgetReset`: failed blocks become pending.
    pub(crate) fn reset_budget(&mut self) {
        self.pending += self.failed;
        self.failed = 0;
    }

    /// Moves one block from `from` to `to`.
    pub(crate) fn move_one(&mut self, from: BlockState, to: BlockState) {
        *self.slot(from) -= 1;
        *self.slot(to) += 1;
    }

    fn slot(&mut self, state: BlockState) -> &mut u64 {
        match state {
            BlockState::Pending => &mut self.pending,
            BlockState::Assigned => &mut self.assigned,
            BlockState::Done => &mut self.done,
            BlockState::Skipped => &mut self.skipped,
            BlockState::Failed => &mut self.failed,
        }
    }
}

/// Result of a task's init step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskInitStatus {
    /// Whether it succeeded.
    pub ok: bool,
    /// Last lines of its output.
    pub output_tail: String,
    /// When it finished.
    pub time_us: u64,
}

/// State of one task; `B` holds its blocks (the orchestrator's map by default).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskState<B = BlockMap<BlockEntry>> {
    init: Option<TaskInitStatus>,
    blocks: B,
    counts: StateCounts,
}

impl<B> TaskState<B> {
    /// Init result, if init ran.
    pub fn init(&self) -> Option<&TaskInitStatus> {
        self.init.as_ref()
    }
    /// Counts per state.
    pub fn counts(&self) -> StateCounts {
        self.counts
    }
    /// The blocks the ledger mentions.
    pub fn table(&self) -> &B {
        &self.blocks
    }
}

impl TaskState {
    /// Entry of a block, if the ledger mentions it.
    pub fn block(&self, block: u64) -> Option<&BlockEntry> {
        self.blocks.get(&block)
    }
    /// Every block the ledger mentions (arbitrary order).
    pub fn blocks(&self) -> impl Iterator<Item = (u64, &BlockEntry)> + '_ {
        self.blocks.iter().map(|(&id, e)| (id, e))
    }
}

/// A worker registered in the ledger.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerEntry {
    /// String id (directory under `workers/`).
    pub worker_id: String,
    /// Backend name.
    pub backend: String,
    /// Scheduler job id.
    pub job_id: Option<String>,
    /// When it was registered.
    pub registered_us: u64,
    /// Why and when it ended, once it did.
    pub ended: Option<(String, u64)>,
    /// The task it serves, when recorded (`WorkerServes`).
    pub task: Option<u32>,
}

impl WorkerEntry {
    /// The entry a `WorkerRegistered` record adds (`None` for other records).
    pub(crate) fn registered(record: &OrchestratorRecord) -> Option<Self> {
        match record {
            OrchestratorRecord::WorkerRegistered {
                worker_id,
                backend,
                job_id,
                time_us,
                ..
            } => Some(Self {
                worker_id: worker_id.clone(),
                backend: backend.clone(),
                job_id: job_id.clone(),
                registered_us: *time_us,
                ended: None,
                task: None,
            }),
            _ => None,
        }
    }
}

/// One orchestrator epoch seen in the logs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochEntry {
    /// Epoch number.
    pub epoch: u64,
    /// Orchestrator host.
    pub host: String,
    /// Orchestrator pid.
    pub pid: u32,
    /// When it started.
    pub started_us: u64,
    /// How its run ended, if it recorded that.
    pub ended: Option<(RunEndReason, String, u64)>,
}

/// What [`LedgerState::apply`] did with a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// The state changed.
    Changed,
    /// A report or assignment for a superseded attempt, or for a block already done/skipped:
    /// ignored (counted in [`LedgerState::stale_reports`]).
    Stale,
    /// A record that refers to something unknown (e.g. an unregistered worker): ignored
    /// (counted in [`LedgerState::invalid_records`]).
    Invalid,
}

/// The folded state of a ledger; `B` holds each task's blocks: the orchestrator's map by
/// default, a compact table in [`CompactState`](super::CompactState) (what `status` and
/// `report` read). Both fold through the same [`apply`](Self::apply).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerState<B = BlockMap<BlockEntry>> {
    tasks: Vec<TaskState<B>>,
    workers: Vec<WorkerEntry>,
    epochs: Vec<EpochEntry>,
    stale_reports: u64,
    invalid_records: u64,
    budget_resets: u32,
}

impl LedgerState {
    /// The empty state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Entry of one block.
    pub fn block(&self, task: u32, block: u64) -> Option<&BlockEntry> {
        self.task(task)?.block(block)
    }

    /// The attempt number to use for the next assignment of a block.
    pub fn next_attempt(&self, task: u32, block: u64) -> u32 {
        self.block(task, block).map_or(1, |e| e.last_attempt + 1)
    }

    /// Whether a worker's report of `attempt` would count (the fencing check of `Finished`);
    /// the orchestrator uses it to avoid logging stale reports.
    pub fn accepts_report(&self, task: u32, block: u64, attempt: u32, worker: u32) -> bool {
        self.block(task, block).is_some_and(|e| {
            e.state == BlockState::Assigned
                && e.last_attempt == attempt
                && e.last_worker == Some(worker)
        })
    }
}

impl<B: BlockTable> LedgerState<B> {
    /// Applies one orchestrator record. Fencing: an assignment must carry an attempt above
    /// every earlier one; a `Finished` counts only for the block's current attempt, from the
    /// worker it was assigned to, while the block is assigned; a `Returned` only for the
    /// current attempt while assigned. Done and skipped blocks never change again.
    pub fn apply(&mut self, record: &OrchestratorRecord) -> Applied {
        let applied = self.apply_inner(record);
        match applied {
            Applied::Changed => {}
            Applied::Stale => self.stale_reports += 1,
            Applied::Invalid => self.invalid_records += 1,
        }
        applied
    }

    fn apply_inner(&mut self, record: &OrchestratorRecord) -> Applied {
        use OrchestratorRecord as R;
        match record {
            R::EpochStarted {
                epoch,
                host,
                pid,
                time_us,
                sealed: _,
            } => {
                self.epochs.push(EpochEntry {
                    epoch: *epoch,
                    host: host.clone(),
                    pid: *pid,
                    started_us: *time_us,
                    ended: None,
                });
                Applied::Changed
            }
            R::TaskInit {
                task,
                ok,
                output_tail,
                time_us,
            } => {
                if *task >= MAX_TASKS {
                    return Applied::Invalid;
                }
                self.task_mut(*task).init = Some(TaskInitStatus {
                    ok: *ok,
                    output_tail: output_tail.clone(),
                    time_us: *time_us,
                });
                Applied::Changed
            }
            R::WorkerRegistered { index, .. } => {
                if *index as usize != self.workers.len() {
                    return Applied::Invalid;
                }
                self.workers.extend(WorkerEntry::registered(record));
                Applied::Changed
            }
            R::WorkerServes { worker, task, .. } => match self.workers.get_mut(*worker as usize) {
                Some(w) if w.task.is_none() => {
                    w.task = Some(*task);
                    Applied::Changed
                }
                Some(_) => Applied::Stale,
                None => Applied::Invalid,
            },
            R::WorkerEnded {
                worker,
                reason,
                time_us,
            } => match self.workers.get_mut(*worker as usize) {
                Some(w) if w.ended.is_none() => {
                    w.ended = Some((reason.clone(), *time_us));
                    Applied::Changed
                }
                Some(_) => Applied::Stale,
                None => Applied::Invalid,
            },
            R::Assigned {
                task,
                block,
                attempt,
                worker,
                time_us: _,
            } => {
                if *worker as usize >= self.workers.len() || *task >= MAX_TASKS {
                    return Applied::Invalid;
                }
                let t = self.task_mut(*task);
                match t.blocks.change(*block, |e| e.assign(*attempt, *worker)) {
                    None => {
                        let Some(entry) = BlockEntry::first_assignment(*attempt, *worker) else {
                            return Applied::Stale;
                        };
                        t.blocks.insert(*block, entry);
                        t.counts.assigned += 1;
                        Applied::Changed
                    }
                    Some(None) => Applied::Stale,
                    Some(Some(old)) => {
                        t.counts.move_one(old, BlockState::Assigned);
                        Applied::Changed
                    }
                }
            }
            R::Finished {
                task,
                block,
                attempt,
                worker,
                outcome,
                time_us: _,
            } => {
                let Some(t) = self.tasks.get_mut(*task as usize) else {
                    return Applied::Stale;
                };
                let Some(Some(new)) = t
                    .blocks
                    .change(*block, |e| e.finish(*attempt, *worker, outcome))
                else {
                    return Applied::Stale;
                };
                t.counts.move_one(BlockState::Assigned, new);
                Applied::Changed
            }
            R::Returned {
                task,
                block,
                attempt,
                reason,
                counts_against_block,
                time_us: _,
            } => {
                let Some(t) = self.tasks.get_mut(*task as usize) else {
                    return Applied::Stale;
                };
                let Some(Some(new)) = t.blocks.change(*block, |e| {
                    e.give_back(*attempt, reason, *counts_against_block)
                }) else {
                    return Applied::Stale;
                };
                t.counts.move_one(BlockState::Assigned, new);
                Applied::Changed
            }
            R::RetryBudgetReset { time_us: _ } => {
                for t in &mut self.tasks {
                    t.blocks.reset_budget();
                    t.counts.reset_budget();
                }
                self.budget_resets += 1;
                Applied::Changed
            }
            R::RunEnded {
                reason,
                message,
                time_us,
            } => match self.epochs.last_mut() {
                Some(e) => {
                    e.ended = Some((*reason, message.clone(), *time_us));
                    Applied::Changed
                }
                None => Applied::Invalid,
            },
        }
    }

    fn task_mut(&mut self, task: u32) -> &mut TaskState<B> {
        let i = task as usize;
        if i >= self.tasks.len() {
            self.tasks.resize_with(i + 1, TaskState::default);
        }
        &mut self.tasks[i]
    }

    /// State of every task the ledger mentions, by task index.
    pub fn tasks(&self) -> &[TaskState<B>] {
        &self.tasks
    }

    /// State of one task.
    pub fn task(&self, task: u32) -> Option<&TaskState<B>> {
        self.tasks.get(task as usize)
    }

    /// Counts per state of one task (blocks the ledger mentions).
    pub fn counts(&self, task: u32) -> StateCounts {
        self.task(task).map(TaskState::counts).unwrap_or_default()
    }

    /// The recorded state of one block, if the ledger mentions it.
    pub fn block_state(&self, task: u32, block: u64) -> Option<BlockState> {
        self.task(task)?.blocks.state_of(block)
    }

    /// A copy of the entry of one block, if the ledger mentions it.
    pub fn entry(&self, task: u32, block: u64) -> Option<BlockEntry> {
        self.task(task)?.blocks.entry(block)
    }

    /// The ids of every block of `task` the ledger mentions (unordered).
    pub fn block_ids(&self, task: u32) -> Vec<u64> {
        let mut ids = Vec::new();
        if let Some(t) = self.task(task) {
            t.blocks.visit(&mut |id, _| ids.push(id));
        }
        ids
    }

    /// Every assigned block as `(task, block, attempt, worker)` (one pass over all blocks).
    pub fn assigned_blocks(&self) -> Vec<(u32, u64, u32, u32)> {
        let mut out = Vec::new();
        for (ti, t) in self.tasks.iter().enumerate() {
            if t.counts.assigned == 0 {
                continue;
            }
            t.blocks.visit(&mut |b, e| {
                if e.state == BlockState::Assigned {
                    out.push((
                        ti as u32,
                        b,
                        e.last_attempt,
                        e.last_worker.unwrap_or(u32::MAX),
                    ));
                }
            });
        }
        out.sort_unstable();
        out
    }

    /// The worker table, by worker index.
    pub fn workers(&self) -> &[WorkerEntry] {
        &self.workers
    }

    /// Index of a worker by its string id (linear scan).
    pub fn find_worker(&self, worker_id: &str) -> Option<u32> {
        self.workers
            .iter()
            .position(|w| w.worker_id == worker_id)
            .map(|i| i as u32)
    }

    /// Index the next `WorkerRegistered` must use.
    pub fn next_worker_index(&self) -> u32 {
        self.workers.len() as u32
    }

    /// Epochs in the order their logs were folded.
    pub fn epochs(&self) -> &[EpochEntry] {
        &self.epochs
    }

    /// Reports and assignments ignored by fencing.
    pub fn stale_reports(&self) -> u64 {
        self.stale_reports
    }

    /// Records ignored because they referred to something unknown.
    pub fn invalid_records(&self) -> u64 {
        self.invalid_records
    }

    /// Number of retry-budget resets.
    pub fn budget_resets(&self) -> u32 {
        self.budget_resets
    }

    /// Counts summed over all tasks.
    pub fn total_counts(&self) -> StateCounts {
        StateCounts::sum(self.tasks.iter().map(|t| t.counts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::records::FailureKind;

    fn register(s: &mut LedgerState, n: u32) {
        for i in 0..n {
            s.apply(&OrchestratorRecord::WorkerRegistered {
                index: i,
                worker_id: format!("w{i}"),
                backend: "local".into(),
                job_id: None,
                time_us: 0,
            });
        }
    }
    fn assigned(block: u64, attempt: u32, worker: u32) -> OrchestratorRecord {
        OrchestratorRecord::Assigned {
            task: 0,
            block,
            attempt,
            worker,
            time_us: 0,
        }
    }
    fn finished(block: u64, attempt: u32, worker: u32, outcome: Outcome) -> OrchestratorRecord {
        OrchestratorRecord::Finished {
            task: 0,
            block,
            attempt,
            worker,
            outcome,
            time_us: 0,
        }
    }
    fn returned(block: u64, attempt: u32, counts: bool) -> OrchestratorRecord {
        OrchestratorRecord::Returned {
            task: 0,
            block,
            attempt,
            reason: "node failure".into(),
            counts_against_block: counts,
            time_us: 0,
        }
    }
    fn failed() -> Outcome {
        Outcome::Failed {
            kind: FailureKind::BlockError,
            message: "exit 1".into(),
        }
    }

    #[test]
    fn late_report_of_superseded_attempt_is_ignored() {
        let mut s = LedgerState::new();
        register(&mut s, 2);
        assert_eq!(s.apply(&assigned(7, 1, 0)), Applied::Changed);
        assert_eq!(s.apply(&returned(7, 1, false)), Applied::Changed);
        assert_eq!(s.apply(&assigned(7, 2, 1)), Applied::Changed);
        // Worker 0 reports attempt 1 late: ignored, even as success.
        assert_eq!(s.apply(&finished(7, 1, 0, Outcome::Done)), Applied::Stale);
        assert_eq!(s.block(0, 7).unwrap().state(), BlockState::Assigned);
        // The current attempt from the wrong worker is ignored too.
        assert_eq!(s.apply(&finished(7, 2, 0, Outcome::Done)), Applied::Stale);
        assert_eq!(s.apply(&finished(7, 2, 1, failed())), Applied::Changed);
        let e = s.block(0, 7).unwrap();
        assert_eq!(
            (e.state(), e.failures_in_budget(), e.infra_returns()),
            (BlockState::Failed, 1, 1)
        );
        assert_eq!(e.last_error(), Some("block error: exit 1"));
        assert_eq!(s.stale_reports(), 2);
    }

    #[test]
    fn done_is_terminal_and_counted_once() {
        let mut s = LedgerState::new();
        register(&mut s, 1);
        s.apply(&assigned(1, 1, 0));
        assert_eq!(s.apply(&finished(1, 1, 0, Outcome::Done)), Applied::Changed);
        // Duplicate report, a return, a re-assignment and a reset change nothing.
        assert_eq!(s.apply(&finished(1, 1, 0, Outcome::Done)), Applied::Stale);
        assert_eq!(s.apply(&finished(1, 1, 0, failed())), Applied::Stale);
        assert_eq!(s.apply(&returned(1, 1, true)), Applied::Stale);
        assert_eq!(s.apply(&assigned(1, 2, 0)), Applied::Stale);
        s.apply(&OrchestratorRecord::RetryBudgetReset { time_us: 0 });
        assert_eq!(s.block(0, 1).unwrap().state(), BlockState::Done);
        let c = s.task(0).unwrap().counts();
        assert_eq!((c.done, c.assigned, c.pending, c.failed), (1, 0, 0, 0));
    }

    #[test]
    fn attempts_must_increase() {
        let mut s = LedgerState::new();
        register(&mut s, 1);
        assert_eq!(s.apply(&assigned(3, 0, 0)), Applied::Stale);
        assert!(
            s.block(0, 3).is_none(),
            "a stale assignment must not create an entry"
        );
        s.apply(&assigned(3, 5, 0));
        assert_eq!(s.apply(&assigned(3, 5, 0)), Applied::Stale);
        assert_eq!(s.apply(&assigned(3, 4, 0)), Applied::Stale);
        assert_eq!(s.next_attempt(0, 3), 6);
        assert_eq!(s.next_attempt(0, 99), 1);
        assert!(s.accepts_report(0, 3, 5, 0));
        assert!(!s.accepts_report(0, 3, 4, 0));
        // Unknown worker.
        assert_eq!(s.apply(&assigned(4, 1, 9)), Applied::Invalid);
    }

    #[test]
    fn budget_reset_makes_failed_pending() {
        let mut s = LedgerState::new();
        register(&mut s, 1);
        s.apply(&assigned(1, 1, 0));
        s.apply(&returned(1, 1, true));
        s.apply(&assigned(2, 1, 0));
        s.apply(&finished(2, 1, 0, failed()));
        assert_eq!(s.task(0).unwrap().counts().failed, 2);
        s.apply(&OrchestratorRecord::RetryBudgetReset { time_us: 0 });
        let c = s.task(0).unwrap().counts();
        assert_eq!((c.failed, c.pending), (0, 2));
        let e = s.block(0, 1).unwrap();
        assert_eq!(
            (e.state(), e.failures_in_budget()),
            (BlockState::Pending, 0)
        );
        assert_eq!(e.last_error(), Some("node failure"));
    }

    #[test]
    fn counts_match_entries() {
        let mut s = LedgerState::new();
        register(&mut s, 3);
        for b in 0..100u64 {
            s.apply(&assigned(b, 1, (b % 3) as u32));
            match b % 4 {
                0 => s.apply(&finished(b, 1, (b % 3) as u32, Outcome::Done)),
                1 => s.apply(&finished(b, 1, (b % 3) as u32, Outcome::Skipped)),
                2 => s.apply(&returned(b, 1, false)),
                _ => Applied::Changed,
            };
        }
        let t = s.task(0).unwrap();
        for state in [
            BlockState::Pending,
            BlockState::Assigned,
            BlockState::Done,
            BlockState::Skipped,
            BlockState::Failed,
        ] {
            let n = t.blocks().filter(|(_, e)| e.state() == state).count() as u64;
            assert_eq!(t.counts().get(state), n, "{state:?}");
        }
        assert_eq!(s.assigned_blocks().len(), 25);
    }
}
