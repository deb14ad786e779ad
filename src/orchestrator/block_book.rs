//! The blocks' book: this epoch's journal and the ready set, kept in step.
//!
//! Every record the orchestrator writes goes through here. The invariant it keeps: the ready
//! set learns an outcome or a loss only after the journal commit that made it durable (the
//! verdicts wait in between), so a done block releases its dependents only once a crash can
//! no longer forget it. Also the group commit, and the run's ownership, snapshots and end.

use super::decide::{judge_loss, judge_outcome, RetryLimits, Verdict};
use super::error::OrchestratorError;
use super::run_log;
use crate::backend::LaunchedAgent;
use crate::ledger::{
    now_us, BlockState, Journal, LedgerState, OrchestratorRecord, Outcome, RunEndReason,
};
use crate::plan::Plan;
use crate::schedule::{Known, PhaseCounts, ReadySet};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Most records one group commit waits for before it commits anyway.
const MAX_GROUP_COMMIT: usize = 1024;

/// Something committed this iteration that the ready set must learn after the commit.
enum PendingVerdict {
    /// A report on an attempt.
    Outcome {
        task: u32,
        block: u64,
        outcome: Outcome,
    },
    /// An attempt lost without a report.
    Loss {
        task: u32,
        block: u64,
        charged: bool,
    },
}

impl PendingVerdict {
    fn task(&self) -> u32 {
        match self {
            PendingVerdict::Outcome { task, .. } | PendingVerdict::Loss { task, .. } => *task,
        }
    }
}

/// The journal and the ready set of a run.
pub struct BlockBook {
    journal: Journal,
    ready: ReadySet,
    plan: Arc<Plan>,
    /// Per task.
    limits: Vec<RetryLimits>,
    /// Outcomes and losses appended since the last commit, applied to the ready set after it.
    verdicts: Vec<PendingVerdict>,
    /// When the oldest uncommitted record was appended.
    pending_since: Option<Instant>,
    /// Some block changed in this run (else the end needs no new snapshot).
    blocks_changed: bool,
    /// Log file of the last failed attempt per block (for the summary).
    failure_logs: HashMap<(u32, u64), String>,
}

impl BlockBook {
    /// The book of a run that starts from `journal`'s folded state: a resume gives failed
    /// blocks (and so their orphans) a fresh set of attempts; the ready set knows the blocks
    /// the ledger shows done, skipped or in flight.
    pub fn start(
        mut journal: Journal,
        plan: Arc<Plan>,
        limits: Vec<RetryLimits>,
    ) -> Result<Self, OrchestratorError> {
        let has_failed = journal
            .state()
            .tasks()
            .iter()
            .any(|t| t.blocks().any(|(_, e)| e.state() == BlockState::Failed));
        if has_failed {
            journal.append(OrchestratorRecord::RetryBudgetReset { time_us: now_us() })?;
            journal.commit()?;
        }
        let ready = {
            let state = journal.state();
            let known = state.tasks().iter().enumerate().flat_map(|(task, t)| {
                t.blocks().filter_map(move |(id, e)| {
                    let known = match e.state() {
                        BlockState::Done => Known::Done,
                        BlockState::Skipped => Known::Skipped,
                        BlockState::Assigned => Known::Running,
                        _ => return None,
                    };
                    Some((task, id, known))
                })
            });
            ReadySet::from_known(
                Arc::clone(&plan),
                known.filter(|&(task, _, _)| task < plan.len()),
            )
        };
        Ok(Self {
            journal,
            ready,
            plan,
            limits,
            verdicts: Vec::new(),
            pending_since: None,
            blocks_changed: false,
            failure_logs: HashMap::new(),
        })
    }

    /// The committed ledger state (with this iteration's appended records applied).
    pub fn state(&self) -> &LedgerState {
        self.journal.state()
    }

    /// This orchestrator's ownership epoch.
    pub fn epoch(&self) -> u64 {
        self.journal.epoch()
    }

    /// The plan.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The plan, shared.
    pub fn shared_plan(&self) -> &Arc<Plan> {
        &self.plan
    }

    /// Phase counts of `task`.
    pub fn counts(&self, task: usize) -> PhaseCounts {
        self.ready.counts(task)
    }

    /// Phase counts of every task.
    pub fn all_counts(&self) -> Vec<PhaseCounts> {
        (0..self.plan.len()).map(|t| self.ready.counts(t)).collect()
    }

    /// Ready blocks of `task`.
    pub fn ready_count(&self, task: usize) -> u64 {
        self.ready.ready_count(task)
    }

    /// True when every block is settled.
    pub fn all_settled(&self) -> bool {
        self.ready.all_settled()
    }

    /// The log of the last failed attempt of a block seen in this run (relative to the
    /// ledger, as the agent reported it).
    pub fn failure_log(&self, task: u32, block: u64) -> Option<&str> {
        self.failure_logs.get(&(task, block)).map(String::as_str)
    }

    /// Takes the next ready block of `task` and appends its assignment to `worker`: the
    /// block id and the attempt (the fencing token), or `None` if no block is ready.
    pub fn assign_next(
        &mut self,
        task: usize,
        worker: u32,
    ) -> Result<Option<(u64, u32)>, OrchestratorError> {
        let Some(block) = self.ready.pop_ready(task) else {
            return Ok(None);
        };
        let t = task as u32;
        // A block is popped at most once per iteration, so the committed state's next
        // attempt is exact even with this iteration's assignments still uncommitted.
        let attempt = self.journal.state().next_attempt(t, block.id);
        self.journal.append(OrchestratorRecord::Assigned {
            task: t,
            block: block.id,
            attempt,
            worker,
            time_us: now_us(),
        })?;
        self.blocks_changed = true;
        Ok(Some((block.id, attempt)))
    }

    /// Records `worker`'s report on an attempt, unless fencing rejects it (not the block's
    /// current attempt, or not this worker's). True if it is accepted and the block is done
    /// or skipped.
    pub fn record_report(
        &mut self,
        worker: u32,
        (task, block, attempt): (u32, u64, u32),
        outcome: Outcome,
        log_path: String,
    ) -> Result<bool, OrchestratorError> {
        if !self
            .journal
            .state()
            .accepts_report(task, block, attempt, worker)
        {
            return Ok(false);
        }
        let finished = !matches!(outcome, Outcome::Failed { .. });
        if !finished {
            self.failure_logs.insert((task, block), log_path);
        }
        self.blocks_changed = true;
        self.journal.append(OrchestratorRecord::Finished {
            task,
            block,
            attempt,
            worker,
            outcome: outcome.clone(),
            time_us: now_us(),
        })?;
        self.verdicts.push(PendingVerdict::Outcome {
            task,
            block,
            outcome,
        });
        Ok(finished)
    }

    /// Records that an attempt is taken back without a report (if it is still current).
    pub fn return_attempt(
        &mut self,
        task: u32,
        block: u64,
        attempt: u32,
        reason: &str,
        charged: bool,
    ) -> Result<(), OrchestratorError> {
        let current = self.journal.state().block(task, block).is_some_and(|e| {
            e.last_attempt() == attempt && e.state() == crate::ledger::BlockState::Assigned
        });
        if !current {
            return Ok(());
        }
        self.blocks_changed = true;
        self.journal.append(OrchestratorRecord::Returned {
            task,
            block,
            attempt,
            reason: reason.to_string(),
            counts_against_block: charged,
            time_us: now_us(),
        })?;
        self.verdicts.push(PendingVerdict::Loss {
            task,
            block,
            charged,
        });
        Ok(())
    }

    /// Registers launched agents as workers (an agent registered already keeps its index),
    /// with one commit for all: registrations must be in the state before assignments name
    /// the worker, and on a shared file system a commit per agent would delay the first
    /// hand-out of a large launch by their sum. Returns their indices, in order.
    pub fn register_workers(
        &mut self,
        launched: &[LaunchedAgent],
        backend: &str,
    ) -> Result<Vec<u32>, OrchestratorError> {
        let mut next = self.journal.state().next_worker_index();
        let mut indices = Vec::with_capacity(launched.len());
        for agent in launched {
            if let Some(index) = self.journal.state().find_worker(&agent.worker_id) {
                indices.push(index);
                continue;
            }
            let index = next;
            next += 1;
            self.journal.append(OrchestratorRecord::WorkerRegistered {
                index,
                worker_id: agent.worker_id.clone(),
                backend: backend.to_string(),
                job_id: agent.job_id.clone(),
                time_us: now_us(),
            })?;
            self.journal.append(OrchestratorRecord::WorkerServes {
                worker: index,
                task: agent.task as u32,
                time_us: now_us(),
            })?;
            indices.push(index);
        }
        self.commit()?;
        Ok(indices)
    }

    /// Records that worker `index` ended.
    pub fn worker_ended(&mut self, index: u32, reason: &str) -> Result<(), OrchestratorError> {
        self.journal.append(OrchestratorRecord::WorkerEnded {
            worker: index,
            reason: reason.to_string(),
            time_us: now_us(),
        })?;
        Ok(())
    }

    /// Records how a task's init step went.
    pub fn task_init(
        &mut self,
        task: usize,
        ok: bool,
        output_tail: String,
    ) -> Result<(), OrchestratorError> {
        self.journal.append(OrchestratorRecord::TaskInit {
            task: task as u32,
            ok,
            output_tail,
            time_us: now_us(),
        })?;
        Ok(())
    }

    /// Fails every ready block of `task` (its dependents are orphaned). True if any.
    pub fn fail_ready(&mut self, task: usize) -> bool {
        let mut any = false;
        while let Some(block) = self.ready.pop_ready(task) {
            self.ready.fail(task, &block);
            any = true;
        }
        any
    }

    /// Records appended and not committed yet.
    pub fn pending_records(&self) -> usize {
        self.journal.pending_records()
    }

    /// Tasks with an outcome or loss not yet applied to the ready set (read, not committed
    /// yet): a failed attempt among them is about to be requeued, so the task is not
    /// finished.
    pub fn undecided_tasks(&self) -> HashSet<u32> {
        self.verdicts.iter().map(PendingVerdict::task).collect()
    }

    /// Group commit: while reports keep `arriving`, records gather for up to `commit_every`
    /// (or [`MAX_GROUP_COMMIT`] records); once the burst is over they are committed at once.
    /// True if it committed.
    pub fn group_commit(
        &mut self,
        arriving: bool,
        commit_every: Duration,
    ) -> Result<bool, OrchestratorError> {
        let pending = self.journal.pending_records();
        if pending == 0 {
            return Ok(false);
        }
        let since = *self.pending_since.get_or_insert_with(Instant::now);
        let due = !arriving || since.elapsed() >= commit_every || pending >= MAX_GROUP_COMMIT;
        if due {
            self.commit()?;
        }
        Ok(due)
    }

    /// Makes every appended record durable (one fsync), then lets the ready set learn the
    /// outcomes they carry.
    pub fn commit(&mut self) -> Result<(), OrchestratorError> {
        self.journal.commit()?;
        self.pending_since = None;
        self.apply_verdicts();
        Ok(())
    }

    /// Applies the committed outcomes and losses to the ready set.
    fn apply_verdicts(&mut self) {
        for verdict in std::mem::take(&mut self.verdicts) {
            let (task, block_id, verdict, charged) = match verdict {
                PendingVerdict::Outcome {
                    task,
                    block,
                    outcome,
                } => {
                    let failures = self
                        .journal
                        .state()
                        .block(task, block)
                        .map_or(0, |e| e.failures_in_budget());
                    let limits = self.limits[task as usize];
                    (task, block, judge_outcome(&outcome, failures, limits), true)
                }
                PendingVerdict::Loss {
                    task,
                    block,
                    charged,
                } => {
                    let (failures, infra) = self
                        .journal
                        .state()
                        .block(task, block)
                        .map_or((0, 0), |e| (e.failures_in_budget(), e.infra_returns()));
                    let limits = self.limits[task as usize];
                    let verdict = judge_loss(charged, failures, infra, limits);
                    (task, block, verdict, charged)
                }
            };
            if !matches!(verdict, Verdict::Finish { .. }) {
                if let Some(entry) = self.journal.state().block(task, block_id) {
                    run_log::attempt_failed(
                        self.plan.name(task as usize),
                        block_id,
                        entry.last_attempt(),
                        entry.last_error().unwrap_or("failed"),
                        charged,
                        &verdict,
                    );
                }
            }
            let t = task as usize;
            let Some(block) = self.plan.task(t).block_by_id(block_id) else {
                continue;
            };
            match verdict {
                Verdict::Finish { skipped } => {
                    self.ready.finish(t, &block, skipped);
                }
                Verdict::Retry => self.ready.requeue(t, &block),
                Verdict::Fail => {
                    self.ready.fail(t, &block);
                }
            }
        }
    }

    /// Fails with [`OrchestratorError::Superseded`] if a newer orchestrator took the ledger
    /// over; else renews this one's heartbeat.
    pub fn keep_ownership(&mut self) -> Result<(), OrchestratorError> {
        if !self.journal.ownership().still_owner()? {
            return Err(OrchestratorError::Superseded {
                epoch: self.journal.epoch(),
            });
        }
        // Already checked: the heartbeat alone (one listing of owners/ per beat, not two).
        self.journal
            .ownership()
            .heartbeat_at(crate::ledger::now_us())?;
        Ok(())
    }

    /// The plan, shared.
    pub fn plan_arc(&self) -> Arc<Plan> {
        Arc::clone(&self.plan)
    }

    /// This orchestrator as `status` shows the owner (alive: it is the one asking).
    pub fn owner_status(&self) -> crate::ledger::OwnerStatus {
        let own = self.journal.ownership();
        crate::ledger::OwnerStatus {
            epoch: own.epoch(),
            host: own.host().to_string(),
            pid: own.pid(),
            since_us: own.since_us(),
            heartbeat_us: Some(crate::ledger::now_us()),
            released: false,
            pid_alive: Some(true),
            agent_scale: Some(own.agent_scale()),
        }
    }

    /// Commits (and lets the ready set learn what the commit made durable, as every commit
    /// does: nothing else would apply it once nothing is pending), then writes a snapshot. A
    /// snapshot is only a cache of the logs: failing to write one (read-only or full
    /// `snapshots/`) is a warning, never the end of the run; a failed commit is an error.
    pub fn snapshot(&mut self) -> Result<(), OrchestratorError> {
        self.commit()?;
        if let Err(err) = self.journal.write_snapshot() {
            tracing::warn!(
                "cannot write a snapshot ({}); the run goes on (snapshots only make loading \
                 faster, the logs hold the history)",
                crate::backend::command::error_chain(&err)
            );
        }
        Ok(())
    }

    /// Records the end of the run (`RunEnded`), writes a last snapshot if any block changed,
    /// and releases the ledger.
    pub fn end(&mut self, reason: RunEndReason, message: &str) -> Result<(), OrchestratorError> {
        self.journal.append(OrchestratorRecord::RunEnded {
            reason,
            message: message.to_string(),
            time_us: now_us(),
        })?;
        self.journal.commit()?;
        if self.blocks_changed {
            self.snapshot()?;
        }
        self.journal.ownership().release()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{ClaimOptions, Ledger};
    use crate::task::parse_task_file;

    /// A claimed ledger of one task of two independent blocks, with worker 0 registered.
    fn book(dir: &std::path::Path) -> (BlockBook, u32) {
        let text = r#"{"name": "t", "total_roi": {"offset": [0], "shape": [20]},
            "read_roi": {"offset": [0], "shape": [10]}, "write_roi": {"offset": [0], "shape": [10]},
            "read_write_conflict": false, "num_workers": 1, "worker": {"command": ["true"]}}"#;
        let file = parse_task_file("t.json", text).unwrap();
        let plan = Arc::new(file.plan().unwrap());
        let ledger = Ledger::create_or_open(dir.join("l"), &file.canonical_json()).unwrap();
        let ownership = ledger.claim(&ClaimOptions::default()).unwrap();
        let journal = Journal::start(&ledger, &ownership).unwrap();
        let limits = file.tasks.iter().map(RetryLimits::of_task).collect();
        let mut book = BlockBook::start(journal, plan, limits).unwrap();
        let agent = LaunchedAgent {
            worker_id: "w-0".into(),
            job_id: None,
            task: 0,
        };
        let worker = book.register_workers(&[agent], "local").unwrap()[0];
        (book, worker)
    }

    #[test]
    fn the_ready_set_learns_a_report_only_after_its_commit_and_fencing_rejects_stale_ones() {
        let dir = tempfile::tempdir().unwrap();
        let (mut book, worker) = book(dir.path());
        assert_eq!(book.counts(0).ready, 2);
        let (block, attempt) = book.assign_next(0, worker).unwrap().unwrap();
        assert_eq!(attempt, 1);
        book.commit().unwrap();
        assert!(!book
            .record_report(
                worker,
                (0, block, attempt + 1),
                Outcome::Done,
                String::new()
            )
            .unwrap());
        assert_eq!(book.pending_records(), 0, "a stale report writes nothing");
        assert!(book
            .record_report(worker, (0, block, attempt), Outcome::Done, String::new())
            .unwrap());
        assert_eq!(book.counts(0).done, 0, "not durable yet");
        assert_eq!(book.undecided_tasks(), HashSet::from([0]));
        assert!(book.group_commit(false, Duration::from_secs(60)).unwrap());
        assert_eq!(book.counts(0).done, 1);
        assert!(book.undecided_tasks().is_empty());
    }

    #[test]
    fn a_snapshot_between_a_report_and_its_group_commit_does_not_strand_the_verdict() {
        let dir = tempfile::tempdir().unwrap();
        let (mut book, worker) = book(dir.path());
        let (block, attempt) = book.assign_next(0, worker).unwrap().unwrap();
        book.commit().unwrap();
        book.record_report(worker, (0, block, attempt), Outcome::Done, String::new())
            .unwrap();
        // Reports still arriving: the group commit waits, and the snapshot commits instead.
        assert!(!book.group_commit(true, Duration::from_secs(60)).unwrap());
        book.snapshot().unwrap();
        assert_eq!(book.pending_records(), 0);
        // Nothing is left to commit, so no later commit would apply it: the snapshot must.
        assert_eq!(book.counts(0).done, 1);
        assert!(book.undecided_tasks().is_empty());
    }
}
