//! The run: one `submit` and its loop (see `docs/design/run-loop.md`). The state has owners
//! (the blocks' book, the task table, the agent table, the scheduler's jobs); the loop only
//! passes borrows between them, and ends the run.

use super::agent_table::AgentTable;
use super::block_book::BlockBook;
use super::error::OrchestratorError;
use super::jobs::Jobs;
use super::options::SubmitOptions;
use super::progress::Progress;
use super::report::RunReport;
use super::run_log;
use super::status_recorder::StatusRecorder;
use super::task_table::TaskTable;
use crate::ledger::{Ledger, RunEndReason, HEARTBEAT_INTERVAL};
use crate::schedule::PhaseCounts;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One `submit`: everything the loop needs.
pub struct Run {
    opts: SubmitOptions,
    ledger: Ledger,
    /// The journal and the ready set.
    book: BlockBook,
    /// The task file and the per-task runtimes (init steps, launch policy).
    tasks: TaskTable,
    /// The agents, their blocks in flight and their inboxes.
    agents: AgentTable,
    /// The backend: launches, polls, cancels.
    jobs: Jobs,
    progress: Progress,
    /// Records the status report for `status` now and then.
    status: StatusRecorder,
    last_snapshot: Instant,
    last_heartbeat: Instant,
    interrupted: Arc<AtomicBool>,
}

impl Run {
    /// The run of these owners (built by `prepare`).
    pub(super) fn new(
        opts: SubmitOptions,
        ledger: Ledger,
        book: BlockBook,
        tasks: TaskTable,
        agents: AgentTable,
        jobs: Jobs,
        interrupted: Arc<AtomicBool>,
    ) -> Self {
        let names = tasks.file().tasks.iter().map(|t| t.name.clone()).collect();
        let progress = Progress::new(opts.progress, names, &book.all_counts());
        Self {
            opts,
            ledger,
            book,
            tasks,
            agents,
            jobs,
            progress,
            status: StatusRecorder::new(),
            last_snapshot: Instant::now(),
            last_heartbeat: Instant::now(),
            interrupted,
        }
    }

    /// Phase counts of every task.
    pub fn counts(&self) -> Vec<PhaseCounts> {
        self.book.all_counts()
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
                let occupied = self.agents.occupied_slots(self.tasks.len());
                self.progress.update(&counts, &occupied);
            }
            if self.book.all_settled() && !self.tasks.any_init_running() {
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
        let (book, tasks, agents, jobs) = (
            &mut self.book,
            &mut self.tasks,
            &mut self.agents,
            &mut self.jobs,
        );
        let arrivals = agents.read_outboxes(book, tasks)?;
        let mut busy = arrivals;
        busy |= agents.poll_backend(jobs)?;
        busy |= agents.retire_dead(book, tasks, jobs, &self.opts)?;
        busy |= tasks.poll_inits(book)?;
        busy |= tasks.fail_stopped_tasks(book);
        busy |= agents.hand_out(book, tasks, &self.opts)?;
        busy |= book.group_commit(arrivals, self.opts.commit_every)?;
        tasks.start_inits(book);
        tasks.log_ends(book);
        agents.launch(tasks, jobs, book)?;
        agents.stop_idle(book, tasks);
        if book.pending_records() == 0 {
            // Inboxes only ever carry assignments that are already durable.
            agents.flush_inboxes(book)?;
        }
        Ok(busy)
    }

    /// Heartbeat, ownership check and snapshots.
    fn housekeeping(&mut self) -> Result<(), OrchestratorError> {
        if self.last_heartbeat.elapsed() >= HEARTBEAT_INTERVAL {
            self.last_heartbeat = Instant::now();
            self.book.keep_ownership()?;
        }
        self.status
            .record_if_due(&self.ledger, &self.book, &self.tasks, &self.agents);
        if self.last_snapshot.elapsed() >= self.opts.snapshot_every {
            self.last_snapshot = Instant::now();
            self.book.snapshot()?;
        }
        Ok(())
    }

    /// The summary of the run as it stands.
    fn report(&self) -> RunReport {
        RunReport::build(&self.book, &self.tasks, self.ledger.root())
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
        let message = report.end_message();
        self.book.end(reason, &message)?;
        run_log::run_ended(crate::status::reason_name(reason), &message);
        Ok(report)
    }

    /// Ctrl-C: agents give their blocks back, nothing is lost, the run can be resumed.
    fn stop_interrupted(mut self) -> Result<RunReport, OrchestratorError> {
        self.shut_down_agents(true)?;
        // The bars stay, at the counts the summary gives (blocks finished while the agents
        // stopped included).
        let counts = self.counts();
        let occupied = self.agents.occupied_slots(self.tasks.len());
        self.progress.stop(&counts, &occupied);
        let mut report = self.report();
        report.interrupted = true;
        self.book.end(RunEndReason::Interrupted, "interrupted")?;
        run_log::run_ended(
            "interrupted",
            "interrupted: run the same submit again to resume",
        );
        Ok(report)
    }

    /// The scheduler stayed unreachable past the bound: ask it (once more) to cancel the
    /// agents, record why the run ended, and hand the error back. In-flight blocks stay in
    /// flight in the ledger; the resume reconciles them.
    fn stop_unreachable(mut self, err: OrchestratorError) -> OrchestratorError {
        self.progress.finish();
        self.jobs.cancel(&self.agents.live());
        if let Err(journal) = self.book.end(RunEndReason::Error, &err.to_string()) {
            tracing::warn!("cannot record the end of the run: {journal}");
        }
        err
    }

    /// Stops every agent (Stop when the run is complete; SIGTERM through the backend when
    /// interrupted so they give their blocks back) and waits for them to leave.
    fn shut_down_agents(&mut self, interrupted: bool) -> Result<(), OrchestratorError> {
        if interrupted {
            self.jobs.cancel(&self.agents.live());
        } else {
            self.agents.stop_all("run finished");
            self.agents.flush_inboxes(&mut self.book)?;
        }
        // Wait until the backend sees every agent's job/process gone (a Bye is an agent's last
        // record, but its job may still be finishing): the run must not end with workers of it
        // still in the scheduler. Bounded by `shutdown_wait`; polls at the shortest interval.
        let deadline = Instant::now() + self.opts.shutdown_wait;
        self.jobs.poll_eagerly();
        loop {
            self.agents.read_outboxes(&mut self.book, &mut self.tasks)?;
            self.agents.poll_backend(&mut self.jobs)?;
            self.jobs.reset_interval();
            if self.agents.count_jobs_not_ended() == 0 || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Never leave workers of this run behind in the scheduler.
        let leftover = self.agents.jobs_not_ended();
        if !leftover.is_empty() {
            tracing::warn!(
                "{} worker(s) still running {:?} after the run: cancelling them",
                leftover.len(),
                self.opts.shutdown_wait
            );
            self.jobs.cancel(&leftover);
        }
        let reason = if interrupted {
            "run interrupted"
        } else {
            "run finished"
        };
        self.agents
            .retire_all(reason, &mut self.book, &mut self.tasks)?;
        self.book.commit()?;
        Ok(())
    }
}
