//! Giving ready blocks to agents, starting agents and init steps, and stopping idle agents.

use super::agents::Agent;
use super::error::OrchestratorError;
use super::init_runner::InitRun;
use super::run::{InitPhase, Run};
use crate::backend::LaunchRequest;
use crate::ledger::{now_us, InboxRecord, LogReader, LogWriter, OrchestratorRecord, WorkerId};
use std::time::Instant;

/// Launches in a row of one task that may fail with a local I/O error (e.g. a full disk
/// while preparing a worker directory) before the run fails with the cause.
const MAX_LAUNCH_IO_FAILURES: u32 = 5;

impl Run {
    /// Assigns ready blocks to agents with free capacity. True if any was assigned.
    ///
    /// Only agents that are running (said Hello) get blocks: a job still waiting in the
    /// scheduler's queue must not hold blocks that running agents could do. Blocks go round
    /// robin, one per agent and round, and no agent holds more than its fair share of its
    /// task's ready and in-flight blocks (at least its slots), so that a short queue is spread
    /// over every agent — also over those still starting — instead of filling the first
    /// agents' prefetch while the others get nothing and are stopped.
    pub(super) fn hand_out(&mut self) -> Result<bool, OrchestratorError> {
        let mut any = false;
        let mut fair: Vec<(u64, u64)> = vec![(0, 0); self.tasks.len()];
        for agent in self.agents.iter().filter(|a| a.accepts_blocks()) {
            let (pool, agents) = &mut fair[agent.task()];
            *pool += agent.in_flight.len() as u64;
            *agents += 1;
        }
        let share: Vec<usize> = fair
            .iter()
            .enumerate()
            .map(|(task, &(in_flight, agents))| {
                let pool = in_flight + self.ready.ready_count(task);
                pool.div_ceil(agents.max(1)) as usize
            })
            .collect();
        let mut open: Vec<usize> = (0..self.agents.len())
            .filter(|&i| {
                let task = self.agents[i].task();
                self.agents[i].accepts_blocks()
                    && self.agents[i].said_hello
                    && matches!(self.tasks[task].init, InitPhase::Ok)
                    && self.tasks[task].fatal.is_none()
            })
            .collect();
        let prefetch: Vec<u32> = self
            .tasks
            .iter()
            .map(|t| self.opts.prefetch_for(&t.block_seconds))
            .collect();
        while !open.is_empty() {
            let mut still_open = Vec::with_capacity(open.len());
            for i in open {
                let task = self.agents[i].task();
                let agent = &self.agents[i];
                let limit = share[task].max(agent.slots as usize);
                if agent.free_capacity(prefetch[task]) == 0 || agent.in_flight.len() >= limit {
                    continue;
                }
                let Some(block) = self.ready.pop_ready(task) else {
                    continue;
                };
                let t = task as u32;
                // A block is popped at most once per iteration, so the committed state's next
                // attempt is exact even with this iteration's assignments still uncommitted.
                let attempt = self.journal.state().next_attempt(t, block.id);
                let worker = self.agents[i].index;
                self.journal.append(OrchestratorRecord::Assigned {
                    task: t,
                    block: block.id,
                    attempt,
                    worker,
                    time_us: now_us(),
                })?;
                self.blocks_changed = true;
                let agent = &mut self.agents[i];
                agent.in_flight.insert((t, block.id, attempt));
                agent.outgoing.push(InboxRecord::Assign {
                    task: t,
                    block: block.id,
                    attempt,
                    time_us: now_us(),
                });
                any = true;
                still_open.push(i);
            }
            open = still_open;
        }
        Ok(any)
    }

    /// Writes queued inbox records. Called only after the journal commit that made the
    /// matching assignments durable.
    pub(super) fn flush_inboxes(&mut self) -> Result<(), OrchestratorError> {
        if self.journal.pending_records() > 0 {
            // Never let an inbox get ahead of the journal.
            self.commit_journal()?;
        }
        let epoch = self.journal.epoch();
        for agent in &mut self.agents {
            // An adopted agent gets this epoch's inbox at once, even with nothing to say: it
            // waits for it to follow the new orchestrator (and leaves if none appears).
            if agent.outgoing.is_empty() && !(agent.adopted && agent.inbox.is_none()) {
                continue;
            }
            if agent.inbox.is_none() {
                let id = WorkerId::new(agent.launched.worker_id.clone())?;
                let path = self.ledger.inbox_path(&id, epoch);
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(|source| {
                        crate::ledger::LedgerError::Io {
                            action: "create directory",
                            path: dir.to_path_buf(),
                            source,
                        }
                    })?;
                }
                agent.inbox = Some(LogWriter::open_append(path)?);
            }
            let inbox = agent.inbox.as_mut().expect("opened above");
            for record in agent.outgoing.drain(..) {
                inbox.append(&record)?;
            }
            inbox.commit()?;
        }
        Ok(())
    }

    /// Starts the init step of every task that has a ready block and has not run it.
    pub(super) fn start_inits(&mut self) {
        for task in 0..self.tasks.len() {
            if !matches!(self.tasks[task].init, InitPhase::NotStarted)
                || self.ready.ready_count(task) == 0
            {
                continue;
            }
            let spec = &self.file.tasks[task];
            let Some(init) = &spec.init else {
                self.tasks[task].init = InitPhase::Ok;
                continue;
            };
            let log = self
                .ledger
                .root()
                .join("tasks")
                .join(&spec.name)
                .join("init.log");
            self.tasks[task].init = InitPhase::Running(InitRun::start(
                init,
                &spec.name,
                &self.workdir,
                self.ledger.root(),
                log,
            ));
        }
    }

    /// Records finished init steps; a failed one makes its task fatal. True if any finished.
    pub(super) fn poll_inits(&mut self) -> Result<bool, OrchestratorError> {
        let mut any = false;
        for task in 0..self.tasks.len() {
            let InitPhase::Running(run) = &self.tasks[task].init else {
                continue;
            };
            let Some(result) = run.poll() else {
                continue;
            };
            any = true;
            self.journal.append(OrchestratorRecord::TaskInit {
                task: task as u32,
                ok: result.ok,
                output_tail: result.output_tail.clone(),
                time_us: now_us(),
            })?;
            if result.ok {
                self.tasks[task].init = InitPhase::Ok;
            } else {
                self.tasks[task].init = InitPhase::Ok;
                self.tasks[task].fatal = Some(format!(
                    "init.command of task {:?} failed: {}",
                    self.file.tasks[task].name, result.output_tail
                ));
            }
        }
        Ok(any)
    }

    /// Fails the ready blocks of tasks that cannot go on (their dependents are orphaned).
    pub(super) fn fail_fatal_tasks(&mut self) -> bool {
        let mut any = false;
        for task in 0..self.tasks.len() {
            if self.tasks[task].fatal.is_none() {
                continue;
            }
            while let Some(block) = self.ready.pop_ready(task) {
                self.ready.fail(task, &block);
                any = true;
            }
        }
        any
    }

    /// Launches agents for tasks that have work and fewer live agents than they may have.
    pub(super) fn launch_agents(&mut self) -> Result<(), OrchestratorError> {
        for task in 0..self.tasks.len() {
            let rt = &self.tasks[task];
            if rt.fatal.is_some()
                || !matches!(rt.init, InitPhase::Ok)
                || self.ready.ready_count(task) == 0
                || Instant::now() < rt.next_launch_after
            {
                continue;
            }
            let spec = &self.file.tasks[task];
            let slots = self.backend.slots_per_agent(spec.num_workers);
            let max_agents = spec.num_workers.div_ceil(slots);
            let live = self
                .agents
                .iter()
                .filter(|a| a.task() == task && a.holds_a_worker_place())
                .count() as u32;
            let queued: u64 = self.ready.ready_count(task);
            let wanted = max_agents.min(live + queued.div_ceil(slots as u64) as u32);
            if live >= wanted {
                continue;
            }
            if rt.failed_starts_in_a_row >= rt.max_failed_starts {
                if rt.fatal.is_none() && live == 0 {
                    self.tasks[task].fatal = Some(format!(
                        "task {:?} stopped: {} workers in a row ended without finishing a block \
                         (the limit is --max-failed-starts {}; raise it if the workers are \
                         fine but slow to get going); see the worker logs under {}",
                        spec.name,
                        rt.failed_starts_in_a_row,
                        rt.max_failed_starts,
                        self.ledger.root().join("workers").display()
                    ));
                }
                continue;
            }
            let count = wanted - live;
            let request = LaunchRequest {
                task,
                task_name: spec.name.clone(),
                count,
                slots_per_agent: slots,
                ledger: self.ledger.root().to_path_buf(),
                run_name: self.run_name.clone(),
                epoch: self.journal.epoch(),
                workdir: self.workdir.clone(),
            };
            let launched = match self.backend.launch(&request) {
                Ok(l) => {
                    self.scheduler_outage.succeeded();
                    l
                }
                // A script that cannot be written is bad input: every retry would fail alike.
                Err(err @ crate::backend::BackendError::Script { .. }) => return Err(err.into()),
                Err(err) => {
                    // Launches that keep failing (controller down, a refused submission)
                    // end the run after the outage bound instead of retrying forever.
                    let message = crate::backend::command::error_chain(&err);
                    self.scheduler_outage.failed(Instant::now(), &message)?;
                    let rt = &mut self.tasks[task];
                    if err.is_io() {
                        rt.launch_io_failures += 1;
                    }
                    // Retrying cannot cure a permission error; a transient I/O error gets a
                    // few tries (a scheduler that refuses or does not answer keeps its back-off).
                    if err.is_permanent() || rt.launch_io_failures >= MAX_LAUNCH_IO_FAILURES {
                        return Err(err.into());
                    }
                    let cause = std::error::Error::source(&err)
                        .map(|s| format!(": {s}"))
                        .unwrap_or_default();
                    tracing::warn!("{err}{cause}; retrying");
                    rt.consecutive_agent_failures += 1;
                    rt.next_launch_after = Instant::now()
                        + std::time::Duration::from_secs(
                            2u64.pow(rt.consecutive_agent_failures.min(5)),
                        );
                    continue;
                }
            };
            self.tasks[task].launch_io_failures = 0;
            for agent in launched {
                self.register_agent(agent, slots)?;
            }
        }
        Ok(())
    }

    /// Adds an agent to the table and the ledger's worker registry.
    pub(super) fn register_agent(
        &mut self,
        launched: crate::backend::LaunchedAgent,
        slots: u32,
    ) -> Result<usize, OrchestratorError> {
        let id = WorkerId::new(launched.worker_id.clone())?;
        let index = match self.journal.state().find_worker(&launched.worker_id) {
            Some(index) => index,
            None => {
                let index = self.journal.state().next_worker_index();
                self.journal.append(OrchestratorRecord::WorkerRegistered {
                    index,
                    worker_id: launched.worker_id.clone(),
                    backend: self.backend.name().to_string(),
                    job_id: launched.job_id.clone(),
                    time_us: now_us(),
                })?;
                self.journal.append(OrchestratorRecord::WorkerServes {
                    worker: index,
                    task: launched.task as u32,
                    time_us: now_us(),
                })?;
                // Registrations must be in the state before assignments name the worker.
                self.commit_journal()?;
                index
            }
        };
        let outbox = LogReader::new(self.ledger.outbox_path(&id));
        self.agents.push(Agent::new(index, launched, slots, outbox));
        Ok(self.agents.len() - 1)
    }

    /// Sends `Stop` to agents of tasks with nothing left to hand out.
    pub(super) fn stop_idle_agents(&mut self) -> Result<(), OrchestratorError> {
        // Reports read but not committed yet (group commit) are not in the ready set: a failed
        // attempt among them is about to be requeued, so its task is not finished.
        let undecided: std::collections::HashSet<u32> = self
            .verdicts
            .iter()
            .map(|v| match v {
                super::reconcile::PendingVerdict::Outcome { task, .. }
                | super::reconcile::PendingVerdict::Loss { task, .. } => *task,
            })
            .collect();
        for i in 0..self.agents.len() {
            let task = self.agents[i].task();
            let counts = self.ready.counts(task);
            let nothing_left =
                counts.ready == 0 && counts.waiting == 0 && !undecided.contains(&(task as u32));
            if (nothing_left || self.tasks[task].fatal.is_some())
                && self.agents[i].in_flight.is_empty()
                && !self.agents[i].stop_sent
                && !self.agents[i].retired
            {
                self.send_stop(i, "no more blocks for this task");
            }
        }
        Ok(())
    }
}
