//! The scheduler's side of a run: launching, polling and cancelling the agents' jobs through
//! the backend, polling at an adaptive interval, and ending the run when scheduler calls keep
//! failing for longer than the outage bound.

use super::error::OrchestratorError;
use super::options::SubmitOptions;
use super::outage::SchedulerOutage;
use crate::backend::{Backend, BackendError, JobStatus, LaunchRequest, LaunchedAgent};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The backend of a run, with what every launch request carries and the poll timing.
pub struct Jobs {
    backend: Box<dyn Backend>,
    /// Name every job of the run carries.
    run_name: String,
    /// The ledger directory (absolute).
    ledger: PathBuf,
    /// Working directory of the tasks' programs.
    workdir: PathBuf,
    /// Shortest and longest time between polls (`backend_poll`, `max_backend_poll`).
    min_interval: Duration,
    max_interval: Duration,
    /// The current interval: the shortest after a change, growing by half while nothing
    /// changes.
    interval: Duration,
    last_poll: Instant,
    /// Scheduler calls failing in a row (bounded by `scheduler_outage_limit`).
    outage: SchedulerOutage,
    /// The agent scale every launched agent is given.
    agent_scale: u32,
}

impl Jobs {
    /// Jobs of the run `run_name` on `backend`; the first poll is due at once.
    pub fn new(
        backend: Box<dyn Backend>,
        run_name: String,
        ledger: PathBuf,
        workdir: PathBuf,
        opts: &SubmitOptions,
    ) -> Self {
        Self {
            backend,
            run_name,
            ledger,
            workdir,
            min_interval: opts.backend_poll,
            max_interval: opts.max_backend_poll,
            interval: opts.backend_poll,
            last_poll: Instant::now() - Duration::from_secs(3600),
            outage: SchedulerOutage::new(opts.scheduler_outage_limit),
            agent_scale: 1,
        }
    }

    /// Gives every agent launched from now on the agent scale `scale`.
    pub fn set_agent_scale(&mut self, scale: u32) {
        self.agent_scale = scale.max(1);
    }

    /// The backend's name (recorded with each worker).
    pub fn backend_name(&self) -> &'static str {
        self.backend.name()
    }

    /// Worker program slots per agent of a task with `num_workers`.
    pub fn slots_per_agent(&self, num_workers: u32) -> u32 {
        self.backend.slots_per_agent(num_workers)
    }

    /// Tells the backend about agents of an earlier orchestrator.
    pub fn adopt(&mut self, agents: &[LaunchedAgent]) {
        self.backend.adopt(agents);
    }

    /// Asks the backend to cancel `agents`; a failure is only a warning.
    pub fn cancel(&mut self, agents: &[LaunchedAgent]) {
        if let Err(err) = self.backend.cancel(agents) {
            tracing::warn!("{err}");
        }
    }

    /// True if a poll is due (and counts it as done from now).
    pub fn poll_due(&mut self) -> bool {
        if self.last_poll.elapsed() < self.interval {
            return false;
        }
        self.last_poll = Instant::now();
        true
    }

    /// Makes polls due at once and at the shortest interval (the end of a run).
    pub fn poll_eagerly(&mut self) {
        self.interval = self.min_interval;
        self.last_poll = Instant::now() - self.interval;
    }

    /// Back to the shortest interval.
    pub fn reset_interval(&mut self) {
        self.interval = self.min_interval;
    }

    /// The state of every job of `agents`, or `None` if the scheduler did not answer (a
    /// warning; retried at the next poll). Fails once the scheduler stayed unreachable past
    /// the outage bound.
    pub fn poll(
        &mut self,
        agents: &[LaunchedAgent],
    ) -> Result<Option<Vec<JobStatus>>, OrchestratorError> {
        match self.backend.poll(agents) {
            Ok(statuses) => {
                self.outage.succeeded();
                Ok(Some(statuses))
            }
            Err(err) => {
                tracing::warn!("{err}; retrying at the next poll");
                let message = crate::backend::command::error_chain(&err);
                self.outage.failed(Instant::now(), &message)?;
                Ok(None)
            }
        }
    }

    /// After a poll that answered: the shortest interval if a job `changed`, else a longer
    /// one (half as long again, at most `max_backend_poll`).
    pub fn adapt_interval(&mut self, changed: bool) {
        self.interval = if changed {
            self.min_interval
        } else {
            (self.interval * 3 / 2).min(self.max_interval)
        };
    }

    /// Launches `count` agents of `slots` slots for `task` (`task_name`) in `epoch`.
    ///
    /// The outer error ends the run: a script that cannot be written (bad input: every retry
    /// would fail alike), or a scheduler unreachable past the outage bound. The inner error is
    /// a failed launch for the task's launch policy to judge.
    pub fn launch(
        &mut self,
        task: usize,
        task_name: &str,
        count: u32,
        slots: u32,
        epoch: u64,
    ) -> Result<Result<Vec<LaunchedAgent>, BackendError>, OrchestratorError> {
        let request = LaunchRequest {
            task,
            task_name: task_name.to_string(),
            count,
            slots_per_agent: slots,
            ledger: self.ledger.clone(),
            run_name: self.run_name.clone(),
            epoch,
            workdir: self.workdir.clone(),
            agent_scale: self.agent_scale,
        };
        match self.backend.launch(&request) {
            Ok(launched) => {
                self.outage.succeeded();
                Ok(Ok(launched))
            }
            Err(err @ BackendError::Script { .. }) => Err(err.into()),
            Err(err) => {
                // Launches that keep failing (controller down, a refused submission) end the
                // run after the outage bound instead of retrying forever.
                let message = crate::backend::command::error_chain(&err);
                self.outage.failed(Instant::now(), &message)?;
                Ok(Err(err))
            }
        }
    }
}
