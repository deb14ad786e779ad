//! The agent table: every agent of the run, the blocks in flight with each and the records
//! queued for their inboxes. It reads the agents' outboxes, learns from the backend which
//! jobs ended, retires agents that are gone (returning their blocks), hands out ready blocks,
//! launches and stops agents, and writes the inboxes.
//!
//! Invariant: an agent's inbox only ever carries assignments that are already durable in the
//! journal ([`AgentTable::flush_inboxes`] commits first).

use super::agent::Agent;
use super::block_book::BlockBook;
use super::decide::loss_from_job_end;
use super::error::OrchestratorError;
use super::inbox_writers::flush_all;
use super::jobs::Jobs;
use super::options::SubmitOptions;
use super::probe_schedule::{expected_report_gap, OpBudget, ProbePolicy, REOPEN_EXTRA_OPS};
use super::run_log;
use super::task_table::TaskTable;
use crate::backend::{JobEnd, JobStatus, LaunchedAgent};
use crate::ledger::{FailureKind, Ledger, OutboxRecord, OutboxSummary, WorkerId};
use std::time::{Duration, Instant};

/// The agents of a run.
pub struct AgentTable {
    agents: Vec<Agent>,
    /// The ledger the agents' outboxes and inboxes are in.
    ledger: Ledger,
    /// When outboxes are looked at.
    policy: ProbePolicy,
    /// How many looks the run may still take now.
    budget: OpBudget,
    /// Threads that write inboxes at once.
    inbox_writers: usize,
}

impl AgentTable {
    /// The table of `agents` (those adopted from an earlier orchestrator) in `ledger`, whose
    /// outboxes are looked at by `policy`.
    pub fn new(ledger: Ledger, agents: Vec<Agent>, policy: ProbePolicy) -> Self {
        Self {
            agents,
            ledger,
            policy,
            budget: OpBudget::new(policy.budget, Instant::now()),
            inbox_writers: 1,
        }
    }

    /// Writes inboxes with up to `writers` threads at once (a shared file system).
    pub fn with_inbox_writers(mut self, writers: usize) -> Self {
        self.inbox_writers = writers.max(1);
        self
    }

    /// What the outbox schedule adds to the hand-out round trip: a round of looks over the
    /// agents that take blocks, at the budget.
    pub fn polling_latency(&self) -> Duration {
        let busy = self.agents.iter().filter(|a| a.accepts_blocks()).count();
        self.policy.round_at_budget(busy)
    }

    /// The backend identities of the agents that are not retired.
    pub fn live(&self) -> Vec<LaunchedAgent> {
        self.agents
            .iter()
            .filter(|a| !a.retired)
            .map(|a| a.launched.clone())
            .collect()
    }

    /// The backend identities of the agents whose job the backend has not seen end, retired
    /// or not.
    pub fn jobs_not_ended(&self) -> Vec<LaunchedAgent> {
        self.agents
            .iter()
            .filter(|a| a.job_end.is_none())
            .map(|a| a.launched.clone())
            .collect()
    }

    /// How many agents' jobs the backend has not seen end.
    pub fn count_jobs_not_ended(&self) -> usize {
        self.agents.iter().filter(|a| a.job_end.is_none()).count()
    }

    /// Per task (of `tasks`), how many handed-out blocks can be running now: at most one per
    /// slot of the agents that started (the rest wait in their queues).
    pub fn occupied_slots(&self, tasks: usize) -> Vec<u64> {
        let mut out = vec![0u64; tasks];
        for agent in self.agents.iter().filter(|a| a.said_hello && !a.retired) {
            if let Some(n) = out.get_mut(agent.task()) {
                *n += (agent.in_flight.len() as u64).min(u64::from(agent.slots));
            }
        }
        out
    }

    /// Looks at the outboxes that are due (most overdue first, while the budget lasts) and
    /// handles their new records. True if any arrived.
    pub fn read_outboxes(
        &mut self,
        book: &mut BlockBook,
        tasks: &mut TaskTable,
    ) -> Result<bool, OrchestratorError> {
        let now = Instant::now();
        let mut due: Vec<usize> = (0..self.agents.len())
            .filter(|&i| !self.agents[i].retired && self.agents[i].probe.due(now))
            .collect();
        due.sort_by_key(|&i| self.agents[i].probe.next());
        let mut any = false;
        for i in due {
            if !self.budget.try_take(now) {
                break;
            }
            any |= self.look(i, book, tasks, now)?;
        }
        Ok(any)
    }

    /// One look at agent `i`'s outbox (an `fstat` of the open file, a read only if it grew;
    /// a reopen after misses in a row); schedules the next. True if records arrived.
    fn look(
        &mut self,
        i: usize,
        book: &mut BlockBook,
        tasks: &mut TaskTable,
        now: Instant,
    ) -> Result<bool, OrchestratorError> {
        let policy = self.policy;
        let agent = &mut self.agents[i];
        let polled = if agent.probe.take_reopen(now, &policy) {
            self.budget.charge(REOPEN_EXTRA_OPS);
            agent.outbox.poll_fresh()?
        } else {
            agent.outbox.poll()?
        };
        agent.last_probe = now;
        if polled.records.is_empty() {
            agent.probe.miss(now, &policy);
            return Ok(false);
        }
        agent.last_seen = now;
        let only_life = polled.records.iter().all(|r| {
            matches!(
                r,
                OutboxRecord::Heartbeat { .. } | OutboxRecord::Started { .. }
            )
        });
        for record in polled.records {
            self.handle_outbox_record(i, record, book, tasks)?;
        }
        let gap = self.expected_gap(i, tasks).unwrap_or(policy.max_gap);
        // Signs of life while a report is awaited do not bring the next look forward.
        let agent = &mut self.agents[i];
        if only_life && !agent.in_flight.is_empty() {
            agent.probe.alive(now, &policy);
        } else {
            agent.probe.hit(now, gap, &policy);
        }
        Ok(true)
    }

    /// When agent `i`'s next record is expected (`None`: only its heartbeat is).
    fn expected_gap(&self, i: usize, tasks: &TaskTable) -> Option<Duration> {
        let agent = &self.agents[i];
        if !agent.said_hello || agent.stop_sent {
            // Its Hello, or its Bye, is due.
            return Some(self.policy.min_gap);
        }
        expected_report_gap(
            agent.in_flight.len(),
            agent.slots,
            tasks.block_seconds(agent.task()),
            &self.policy,
        )
    }

    fn handle_outbox_record(
        &mut self,
        i: usize,
        record: OutboxRecord,
        book: &mut BlockBook,
        tasks: &mut TaskTable,
    ) -> Result<(), OrchestratorError> {
        let agent = &mut self.agents[i];
        agent.summary.fold(record.clone());
        match record {
            OutboxRecord::Hello {
                host, pid, slots, ..
            } => {
                agent.said_hello = true;
                agent.slots = slots.max(1);
                agent.host_pid = Some((host, pid));
            }
            OutboxRecord::Heartbeat { .. } | OutboxRecord::Started { .. } => {}
            OutboxRecord::Finished {
                task,
                block,
                attempt,
                outcome,
                log_path,
                stats,
            } => {
                agent.in_flight.remove(&(task, block, attempt));
                let slot_s = agent
                    .last_end_us
                    .filter(|&prev| stats.end_us > prev)
                    .map(|prev| (stats.end_us - prev) as f64 / 1e6 * f64::from(agent.slots));
                agent.last_end_us = agent.last_end_us.max(Some(stats.end_us));
                tasks.record_wall_time(task, stats.wall_s, slot_s);
                if book.record_report(agent.index, (task, block, attempt), outcome, log_path)? {
                    agent.finished_any = true;
                }
            }
            OutboxRecord::Abandoned {
                task,
                block,
                attempt,
                reason,
                ..
            } => {
                agent.in_flight.remove(&(task, block, attempt));
                agent.leaving = true;
                book.return_attempt(task, block, attempt, &reason, false)?;
            }
            OutboxRecord::Bye { reason, .. } => {
                agent.bye = Some(reason);
            }
        }
        Ok(())
    }

    /// Asks the backend about every agent whose job has not ended (when a poll is due). True
    /// if any agent's job ended.
    pub fn poll_backend(&mut self, jobs: &mut Jobs) -> Result<bool, OrchestratorError> {
        if !jobs.poll_due() {
            return Ok(false);
        }
        // Retired agents too: a worker that said goodbye may still be a job in the queue, and
        // the run only ends once its jobs are gone.
        let live: Vec<usize> = (0..self.agents.len())
            .filter(|&i| self.agents[i].job_end.is_none())
            .collect();
        if live.is_empty() {
            return Ok(false);
        }
        let launched: Vec<_> = live
            .iter()
            .map(|&i| self.agents[i].launched.clone())
            .collect();
        let Some(statuses) = jobs.poll(&launched)? else {
            return Ok(false);
        };
        let mut changed = false;
        let now = Instant::now();
        for (&i, status) in live.iter().zip(statuses) {
            let agent = &mut self.agents[i];
            let was_running = agent.running_since.is_some();
            let ended = agent.learn_status(status);
            if let (true, true, Some((end, _))) = (ended, agent.retired, &agent.job_end) {
                // Retired on its Bye: the scheduler's word on its job comes after.
                run_log::job_ended_after_bye(&agent.launched, end);
            }
            changed |= ended;
            if !was_running && agent.running_since.is_some() && !agent.said_hello {
                // Its job started: its Hello is due now, however long it was queued.
                agent
                    .probe
                    .expect_within(now, self.policy.min_gap, &self.policy);
            }
        }
        jobs.adapt_interval(changed);
        Ok(changed)
    }

    /// Agents that are gone get their unfinished blocks returned and are retired. True if
    /// any was retired.
    pub fn retire_dead(
        &mut self,
        book: &mut BlockBook,
        tasks: &mut TaskTable,
        jobs: &mut Jobs,
        opts: &SubmitOptions,
    ) -> Result<bool, OrchestratorError> {
        let mut any = false;
        for i in 0..self.agents.len() {
            let agent = &self.agents[i];
            if agent.retired {
                continue;
            }
            // Judged at the last look: a look that the schedule or the budget delayed does
            // not make an agent silent.
            let silent = agent.said_hello
                && agent.last_probe.saturating_duration_since(agent.last_seen)
                    > opts.agent_silence_limit;
            let no_hello = !agent.said_hello
                && agent
                    .running_since
                    .is_some_and(|t| t.elapsed() > opts.hello_timeout);
            let (reason, charged, kind) = if let Some(bye) = &agent.bye {
                // Bye is an agent's last record: everything it will ever report came before.
                (
                    format!("worker {} left: {bye}", agent.launched.worker_id),
                    false,
                    None,
                )
            } else if let Some((end, when)) = &agent.job_end {
                // The ledger may lag the scheduler: give the last records time to arrive.
                if when.elapsed() < opts.loss_grace {
                    continue;
                }
                if agent.silence_cancels > 0 {
                    // Cancelled or killed by us for its silence: the blocks are not to blame.
                    (
                        format!(
                            "worker {} ended ({end:?}) after it fell silent",
                            agent.launched.worker_id
                        ),
                        false,
                        None,
                    )
                } else {
                    let (charged, kind) = loss_from_job_end(end);
                    (
                        format!("worker {} job ended: {end:?}", agent.launched.worker_id),
                        charged,
                        kind,
                    )
                }
            } else if silent && agent.ends_through_backend() {
                // Silence is no proof of death: a stopped or hung agent may still have
                // programs writing. It is cancelled through the backend and its blocks go
                // back when the backend says it ended (the branch above); cancelled again
                // after another silence limit (the local backend then kills it outright).
                let due = agent
                    .silence_cancelled_at
                    .is_none_or(|t| t.elapsed() > opts.agent_silence_limit);
                if due && agent.silence_cancels < 2 {
                    let launched = agent.launched.clone();
                    let count = agent.silence_cancels + 1;
                    let agent = &mut self.agents[i];
                    agent.silence_cancels = count;
                    agent.silence_cancelled_at = Some(Instant::now());
                    agent.leaving = true;
                    let killed = count > 1 && agent.kill_own_child_here();
                    tracing::warn!(
                        "worker {} wrote nothing for {:?}: {}; its blocks go back once its end \
                         is confirmed",
                        launched.worker_id,
                        opts.agent_silence_limit,
                        match (count, killed) {
                            (1, _) => "cancelled it",
                            (_, true) => "killed it",
                            _ => "cancelled it again",
                        }
                    );
                    if !killed {
                        jobs.cancel(&[launched]);
                    }
                }
                continue;
            } else if silent {
                // An adopted local agent: no backend can end it or say it ended. Its
                // leftover programs on this host are killed before its blocks go back.
                (
                    format!(
                        "worker {} silent for {:?}",
                        agent.launched.worker_id, opts.agent_silence_limit
                    ),
                    false,
                    None,
                )
            } else if no_hello {
                // Registered but never started serving (e.g. it could not write its outbox on
                // a full disk; an adopted one may have died unseen): the cluster's fault.
                let launched = agent.launched.clone();
                let reason = format!(
                    "worker {} did not say hello within {:?}",
                    launched.worker_id, opts.hello_timeout
                );
                let unqueryable = agent.adopted && launched.job_id.is_none();
                jobs.cancel(&[launched]);
                if unqueryable {
                    // A local agent of an earlier orchestrator without a Hello has no pid to
                    // watch: nothing will ever say more about it, so the end of the run does
                    // not wait for it.
                    self.agents[i].job_end = Some((JobEnd::Vanished, Instant::now()));
                }
                tracing::warn!("{reason}: cancelled it, a new one replaces it");
                (reason, false, None)
            } else {
                continue;
            };
            any = true;
            self.retire(i, &reason, (charged, kind), book, tasks)?;
        }
        Ok(any)
    }

    /// Retires every agent that is not retired yet (the end of the run).
    pub fn retire_all(
        &mut self,
        reason: &str,
        book: &mut BlockBook,
        tasks: &mut TaskTable,
    ) -> Result<(), OrchestratorError> {
        for i in 0..self.agents.len() {
            if !self.agents[i].retired {
                self.retire(i, reason, (false, None), book, tasks)?;
            }
        }
        Ok(())
    }

    /// Returns agent `i`'s unfinished attempts (charged to the blocks or not, with the
    /// failure kind to record) and records that it ended.
    fn retire(
        &mut self,
        i: usize,
        reason: &str,
        (charged, kind): (bool, Option<FailureKind>),
        book: &mut BlockBook,
        tasks: &mut TaskTable,
    ) -> Result<(), OrchestratorError> {
        // Its assignments of a pending group commit must be in the state before they can be
        // returned (fencing checks the committed state).
        if book.pending_records() > 0 {
            book.commit()?;
        }
        // An agent that ended without its Bye on this host may have left programs running
        // (killed outright, it could not stop them): its blocks go back only once they are
        // gone, or a block would run twice at once.
        if self.agents[i].may_have_left_programs_here() {
            crate::worker::stop_leftover_programs(
                self.ledger.root(),
                &self.agents[i].launched.worker_id,
            );
        }
        // Read what it wrote last before deciding about its blocks (reopened: on NFS this
        // revalidates at once what an open descriptor's attribute cache may still hide) —
        // unless its Bye was read: Bye is its last record, nothing can follow it.
        if self.agents[i].bye.is_none() {
            let polled = self.agents[i].outbox.poll_fresh()?;
            for record in polled.records {
                self.handle_outbox_record(i, record, book, tasks)?;
            }
        }
        let in_flight: Vec<_> = std::mem::take(&mut self.agents[i].in_flight)
            .into_iter()
            .collect();
        let returned = in_flight.len();
        // Only the attempt(s) that were actually running are to blame; queued ones are not.
        for (task, block, attempt) in in_flight {
            let message = match kind {
                Some(kind) => format!("{kind}: {reason}"),
                None => reason.to_string(),
            };
            book.return_attempt(task, block, attempt, &message, charged)?;
        }
        let agent = &mut self.agents[i];
        agent.retired = true;
        tasks.agent_ended(
            agent.task(),
            agent.end_for_launches(),
            agent.gave_up(),
            Instant::now(),
        );
        book.worker_ended(agent.index, reason)?;
        run_log::worker_ended(
            &tasks.spec(agent.task()).name,
            &agent.launched,
            agent.job_end.as_ref().map(|(end, _)| end),
            reason,
            returned,
        );
        Ok(())
    }

    /// Assigns ready blocks to agents with free capacity. True if any was assigned.
    ///
    /// Only agents that are running (said Hello) get blocks: a job still waiting in the
    /// scheduler's queue must not hold blocks that running agents could do. Blocks go round
    /// robin, one per agent and round, and no agent holds more than its fair share of its
    /// task's ready and in-flight blocks (at least its slots), so that a short queue is spread
    /// over every agent — also over those still starting — instead of filling the first
    /// agents' prefetch while the others get nothing and are stopped.
    pub fn hand_out(
        &mut self,
        book: &mut BlockBook,
        tasks: &TaskTable,
        opts: &SubmitOptions,
    ) -> Result<bool, OrchestratorError> {
        let mut any = false;
        let mut fair: Vec<(u64, u64)> = vec![(0, 0); tasks.len()];
        for agent in self.agents.iter().filter(|a| a.accepts_blocks()) {
            let (pool, agents) = &mut fair[agent.task()];
            *pool += agent.in_flight.len() as u64;
            *agents += 1;
        }
        let share: Vec<usize> = fair
            .iter()
            .enumerate()
            .map(|(task, &(in_flight, agents))| {
                let pool = in_flight + book.ready_count(task);
                pool.div_ceil(agents.max(1)) as usize
            })
            .collect();
        let mut open: Vec<usize> = (0..self.agents.len())
            .filter(|&i| {
                let agent = &self.agents[i];
                agent.accepts_blocks() && agent.said_hello && tasks.takes_blocks(agent.task())
            })
            .collect();
        let polling = self.polling_latency();
        let prefetch: Vec<u32> = (0..tasks.len())
            .map(|t| tasks.prefetch(t, opts, polling))
            .collect();
        let mut given = Vec::new();
        while !open.is_empty() {
            let mut still_open = Vec::with_capacity(open.len());
            for i in open {
                let agent = &mut self.agents[i];
                let task = agent.task();
                let limit = share[task].max(agent.slots as usize);
                if agent.free_capacity(prefetch[task]) == 0 || agent.in_flight.len() >= limit {
                    continue;
                }
                let Some((block, attempt)) = book.assign_next(task, agent.index)? else {
                    continue;
                };
                agent.assign(task as u32, block, attempt);
                any = true;
                given.push(i);
                still_open.push(i);
            }
            open = still_open;
        }
        // A report is expected from each of them by one block time at the latest.
        let now = Instant::now();
        for i in given {
            if let Some(gap) = self.expected_gap(i, tasks) {
                self.agents[i].probe.expect_within(now, gap, &self.policy);
            }
        }
        Ok(any)
    }

    /// Writes queued inbox records, after committing the journal if anything is pending, so
    /// an inbox never gets ahead of the journal.
    pub fn flush_inboxes(&mut self, book: &mut BlockBook) -> Result<(), OrchestratorError> {
        if book.pending_records() > 0 {
            book.commit()?;
        }
        let epoch = book.epoch();
        flush_all(&mut self.agents, &self.ledger, epoch, self.inbox_writers)?;
        Ok(())
    }

    /// Launches agents for tasks that have work and fewer live agents than they may have.
    pub fn launch(
        &mut self,
        tasks: &mut TaskTable,
        jobs: &mut Jobs,
        book: &mut BlockBook,
    ) -> Result<(), OrchestratorError> {
        for task in 0..tasks.len() {
            let ready = book.ready_count(task);
            if !tasks.may_launch(task, ready, Instant::now()) {
                continue;
            }
            let slots = jobs.slots_per_agent(tasks.spec(task).num_workers);
            let live = self
                .agents
                .iter()
                .filter(|a| a.task() == task && a.holds_a_worker_place())
                .count() as u32;
            let Some(count) = tasks.launches_wanted(task, live, ready, slots) else {
                continue;
            };
            let launched =
                match jobs.launch(task, &tasks.spec(task).name, count, slots, book.epoch())? {
                    Ok(launched) => launched,
                    Err(err) => {
                        tasks.launch_failed(task, err, Instant::now())?;
                        continue;
                    }
                };
            tasks.launched(task);
            for agent in &launched {
                run_log::worker_launched(&tasks.spec(task).name, jobs.backend_name(), agent, slots);
            }
            self.register(launched, slots, book, jobs)?;
        }
        Ok(())
    }

    /// Adds launched agents to the table and the ledger's worker registry.
    fn register(
        &mut self,
        launched: Vec<LaunchedAgent>,
        slots: u32,
        book: &mut BlockBook,
        jobs: &Jobs,
    ) -> Result<(), OrchestratorError> {
        let ids = launched
            .iter()
            .map(|a| WorkerId::new(a.worker_id.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        let indices = book.register_workers(&launched, jobs.backend_name())?;
        for ((agent, id), index) in launched.into_iter().zip(ids).zip(indices) {
            let outbox = self.ledger.outbox_path(&id);
            self.agents.push(Agent::new(index, agent, slots, &outbox));
        }
        Ok(())
    }

    /// Sends `Stop` to agents with nothing in flight whose task has nothing left to hand out
    /// or has stopped.
    pub fn stop_idle(&mut self, book: &BlockBook, tasks: &TaskTable) {
        let undecided = book.undecided_tasks();
        for agent in &mut self.agents {
            let task = agent.task();
            let counts = book.counts(task);
            let nothing_left =
                counts.ready == 0 && counts.waiting == 0 && !undecided.contains(&(task as u32));
            if (nothing_left || tasks.fatal(task).is_some())
                && agent.in_flight.is_empty()
                && !agent.stop_sent
                && !agent.retired
            {
                agent.queue_stop("no more blocks for this task");
                agent
                    .probe
                    .expect_within(Instant::now(), self.policy.min_gap, &self.policy);
            }
        }
    }

    /// What the table knows of the worker registered as `index`: its outbox summary and the
    /// scheduler's last word on its job.
    pub fn known(&self, index: u32) -> Option<(&OutboxSummary, Option<&JobStatus>)> {
        let agent = self.agents.iter().rev().find(|a| a.index == index)?;
        Some((&agent.summary, agent.job_status.as_ref()))
    }

    /// Queues `Stop` for every agent that is not retired; their `Bye` is looked for soon.
    pub fn stop_all(&mut self, reason: &str) {
        let now = Instant::now();
        for agent in &mut self.agents {
            agent.queue_stop(reason);
            agent
                .probe
                .expect_within(now, self.policy.min_gap, &self.policy);
        }
    }
}
