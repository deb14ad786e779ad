//! The run: state of one `submit`, and its loop (see `docs/design/run-loop.md`).

use super::agents::Agent;
use super::decide::{RetryLimits, DEFAULT_INFRA_RETRIES};
use super::error::OrchestratorError;
use super::init_runner::InitRun;
use super::options::SubmitOptions;
use super::progress::Progress;
use super::report::RunReport;
use crate::backend::Backend;
use crate::ledger::{Journal, Ledger, OrchestratorRecord, RunEndReason};
use crate::plan::Plan;
use crate::recent::RecentMean;
use crate::schedule::{PhaseCounts, ReadySet};
use crate::task::TaskFile;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Most records one group commit waits for before it commits anyway.
const MAX_GROUP_COMMIT: usize = 1024;

/// Where a task's init step stands.
pub(super) enum InitPhase {
    /// Not started (the task has no ready block yet, or no init command).
    NotStarted,
    /// Running in the background.
    Running(InitRun),
    /// Done (or not needed).
    Ok,
}

/// Per-task bookkeeping of the run loop.
pub(super) struct TaskRuntime {
    pub init: InitPhase,
    pub limits: RetryLimits,
    /// Launches in a row whose worker ended without finishing a block, not by the cluster's
    /// doing (failed to start, crashed before its first block).
    pub failed_starts_in_a_row: u32,
    /// The bound on `failed_starts_in_a_row` that stops the task.
    pub max_failed_starts: u32,
    pub consecutive_agent_failures: u32,
    /// Launches in a row that failed with a local I/O error (bounded by
    /// `MAX_LAUNCH_IO_FAILURES`, then the run fails with the cause).
    pub launch_io_failures: u32,
    pub next_launch_after: Instant,
    /// Set when the task cannot go on (init failed, worker program crashes at start-up).
    pub fatal: Option<String>,
    /// Recent attempts' wall time (sizes how many blocks an agent holds).
    pub block_seconds: RecentMean,
}

/// One `submit`: everything the loop needs.
pub struct Run {
    pub(super) opts: SubmitOptions,
    pub(super) file: TaskFile,
    pub(super) plan: Arc<Plan>,
    pub(super) ledger: Ledger,
    pub(super) journal: Journal,
    pub(super) ready: ReadySet,
    pub(super) backend: Box<dyn Backend>,
    pub(super) agents: Vec<Agent>,
    pub(super) tasks: Vec<TaskRuntime>,
    pub(super) progress: Progress,
    pub(super) workdir: PathBuf,
    pub(super) run_name: String,
    /// Log file of the last failed attempt per block (for the summary).
    pub(super) failure_logs: HashMap<(u32, u64), String>,
    /// Outcomes and losses committed in this iteration, applied to the ready set after commit.
    pub(super) verdicts: Vec<super::reconcile::PendingVerdict>,
    pub(super) last_backend_poll: Instant,
    pub(super) backend_interval: Duration,
    /// Scheduler calls failing in a row (bounded by `scheduler_outage_limit`).
    pub(super) scheduler_outage: super::outage::SchedulerOutage,
    pub(super) last_snapshot: Instant,
    pub(super) last_heartbeat: Instant,
    /// When the oldest uncommitted journal record was appended.
    pub(super) pending_since: Option<Instant>,
    /// Some block changed in this run (else the end needs no new snapshot).
    pub(super) blocks_changed: bool,
    pub(super) interrupted: Arc<AtomicBool>,
}

impl Run {
    /// Phase counts of every task.
    pub fn counts(&self) -> Vec<PhaseCounts> {
        (0..self.plan.len()).map(|t| self.ready.counts(t)).collect()
    }

    pub(super) fn task_runtime(file: &TaskFile, task: usize) -> TaskRuntime {
        let spec = &file.tasks[task];
        TaskRuntime {
            init: if spec.init.is_some() {
                InitPhase::NotStarted
            } else {
                InitPhase::Ok
            },
            limits: RetryLimits {
                max_retries: spec.max_retries,
                infra_retries: DEFAULT_INFRA_RETRIES,
            },
            failed_starts_in_a_row: 0,
            max_failed_starts: 0,
            consecutive_agent_failures: 0,
            launch_io_failures: 0,
            next_launch_after: Instant::now(),
            fatal: None,
            block_seconds: RecentMean::default(),
        }
    }

    /// Per task, how many handed-out blocks can be running now: at most one per slot of the
    /// agents that started (the rest wait in their queues).
    fn occupied_slots(&self) -> Vec<u64> {
        let mut out = vec![0u64; self.tasks.len()];
        for agent in self.agents.iter().filter(|a| a.said_hello && !a.retired) {
            if let Some(n) = out.get_mut(agent.task()) {
                *n += (agent.in_flight.len() as u64).min(u64::from(agent.slots));
            }
        }
        out
    }

    /// Drives the run to its end and reports how it went.
    pub fn drive(mut self) -> Result<RunReport, OrchestratorError> {
        let mut sleep = Duration::from_millis(1);
        loop {
            if self.interrupted.load(Ordering::SeqCst) {
                return self.stop_interrupted();
            }
            let busy = match self.step() {
                Ok(busy) => busy,
                Err(err @ OrchestratorError::SchedulerUnreachable { .. }) => {
                    return Err(self.stop_unreachable(err));
                }
                Err(err) => return Err(err),
            };
            if self.progress.due() {
                let counts = self.counts();
                let occupied = self.occupied_slots();
                self.progress.update(&counts, &occupied);
            }
            if self.ready.all_settled() && !self.any_init_running() {
                return self.finish();
            }
            self.housekeeping()?;
            if busy {
                // Work is flowing: a short nap instead of a spin leaves the CPU to the
                // workers and lets more reports gather for the next group commit.
                sleep = Duration::from_millis(1);
                std::thread::sleep(Duration::from_micros(250));
            } else {
                std::thread::sleep(sleep);
                sleep = (sleep * 2).min(self.opts.idle_sleep);
            }
        }
    }

    /// One iteration; true if anything happened.
    fn step(&mut self) -> Result<bool, OrchestratorError> {
        let arrivals = self.read_outboxes()?;
        let mut busy = arrivals;
        busy |= self.poll_backend()?;
        busy |= self.retire_dead_agents()?;
        busy |= self.poll_inits()?;
        busy |= self.fail_fatal_tasks();
        busy |= self.hand_out()?;
        let pending = self.journal.pending_records();
        if pending > 0 {
            let since = *self.pending_since.get_or_insert_with(Instant::now);
            // Group commit: while reports keep arriving, gather them for up to
            // `commit_every`; commit at once when the burst is over.
            let due = !arrivals
                || since.elapsed() >= self.opts.commit_every
                || pending >= MAX_GROUP_COMMIT;
            if due {
                self.commit_journal()?;
                busy = true;
            }
        }
        self.start_inits();
        self.launch_agents()?;
        self.stop_idle_agents()?;
        if self.journal.pending_records() == 0 {
            // Inboxes only ever carry assignments that are already durable.
            self.flush_inboxes()?;
        }
        Ok(busy)
    }

    /// Makes every appended record durable (one fsync), then lets the ready set learn the
    /// outcomes they carry.
    pub(super) fn commit_journal(&mut self) -> Result<(), OrchestratorError> {
        self.journal.commit()?;
        self.pending_since = None;
        self.apply_verdicts();
        Ok(())
    }

    fn any_init_running(&self) -> bool {
        self.tasks
            .iter()
            .any(|t| matches!(t.init, InitPhase::Running(_)))
    }

    /// Heartbeat, ownership check and snapshots.
    fn housekeeping(&mut self) -> Result<(), OrchestratorError> {
        if self.last_heartbeat.elapsed() >= Duration::from_secs(2) {
            self.last_heartbeat = Instant::now();
            if !self.journal.ownership().still_owner()? {
                return Err(OrchestratorError::Superseded {
                    epoch: self.journal.epoch(),
                });
            }
            self.journal.ownership().heartbeat()?;
        }
        if self.last_snapshot.elapsed() >= self.opts.snapshot_every {
            self.last_snapshot = Instant::now();
            self.snapshot()?;
        }
        Ok(())
    }

    /// Commits, then writes a snapshot. A snapshot is only a cache of the logs: failing to
    /// write one (read-only or full `snapshots/`) is a warning, never the end of the run; a
    /// failed commit is an error.
    fn snapshot(&mut self) -> Result<(), OrchestratorError> {
        self.journal.commit()?;
        if let Err(err) = self.journal.write_snapshot() {
            tracing::warn!(
                "cannot write a snapshot ({}); the run goes on (snapshots only make loading \
                 faster, the logs hold the history)",
                crate::backend::command::error_chain(&err)
            );
        }
        Ok(())
    }

    /// Every block settled: stop the agents, record the end, report.
    fn finish(mut self) -> Result<RunReport, OrchestratorError> {
        self.progress.finish();
        self.shut_down_agents(false)?;
        let report = self.report();
        let reason = if report.all_ok() {
            RunEndReason::Completed
        } else {
            RunEndReason::BlocksFailed
        };
        self.end_journal(reason, "run finished")?;
        Ok(report)
    }

    /// Ctrl-C: agents give their blocks back, nothing is lost, the run can be resumed.
    fn stop_interrupted(mut self) -> Result<RunReport, OrchestratorError> {
        self.progress.finish();
        self.shut_down_agents(true)?;
        let mut report = self.report();
        report.interrupted = true;
        self.end_journal(RunEndReason::Interrupted, "interrupted")?;
        Ok(report)
    }

    /// The scheduler stayed unreachable past the bound: ask it (once more) to cancel the
    /// agents, record why the run ended, and hand the error back. In-flight blocks stay in
    /// flight in the ledger; the resume reconciles them.
    fn stop_unreachable(mut self, err: OrchestratorError) -> OrchestratorError {
        self.progress.finish();
        let live: Vec<_> = self
            .agents
            .iter()
            .filter(|a| !a.retired)
            .map(|a| a.launched.clone())
            .collect();
        if let Err(cancel) = self.backend.cancel(&live) {
            tracing::warn!("{cancel}");
        }
        if let Err(journal) = self.end_journal(RunEndReason::Error, &err.to_string()) {
            tracing::warn!("cannot record the end of the run: {journal}");
        }
        err
    }

    fn end_journal(
        &mut self,
        reason: RunEndReason,
        message: &str,
    ) -> Result<(), OrchestratorError> {
        self.journal.append(OrchestratorRecord::RunEnded {
            reason,
            message: message.to_string(),
            time_us: crate::ledger::now_us(),
        })?;
        self.journal.commit()?;
        if self.blocks_changed {
            self.snapshot()?;
        }
        self.journal.ownership().release()?;
        Ok(())
    }
}
