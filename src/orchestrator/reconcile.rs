//! Turning what agents write and what the scheduler says into ledger records: reports,
//! give-backs, and the blocks of agents that are gone.

use super::decide::{judge_loss, judge_outcome, loss_from_job_end, Verdict};
use super::error::OrchestratorError;
use super::run::Run;
use crate::backend::{JobEnd, JobStatus};
use crate::ledger::{
    hostname, now_us, pid_alive, FailureKind, InboxRecord, OrchestratorRecord, OutboxRecord,
    Outcome,
};
use std::time::{Duration, Instant};

/// Something committed this iteration that the ready set must learn after the commit.
pub(crate) enum PendingVerdict {
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

impl Run {
    /// Reads every live agent's new outbox records. True if any arrived.
    pub(super) fn read_outboxes(&mut self) -> Result<bool, OrchestratorError> {
        let mut any = false;
        for i in 0..self.agents.len() {
            if self.agents[i].retired {
                continue;
            }
            let polled = self.agents[i].outbox.poll()?;
            if polled.records.is_empty() {
                continue;
            }
            any = true;
            self.agents[i].last_seen = Instant::now();
            for record in polled.records {
                self.handle_outbox_record(i, record)?;
            }
        }
        Ok(any)
    }

    fn handle_outbox_record(
        &mut self,
        i: usize,
        record: OutboxRecord,
    ) -> Result<(), OrchestratorError> {
        let worker = self.agents[i].index;
        match record {
            OutboxRecord::Hello {
                host, pid, slots, ..
            } => {
                let agent = &mut self.agents[i];
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
                self.agents[i].in_flight.remove(&(task, block, attempt));
                if let Some(t) = self.tasks.get_mut(task as usize) {
                    t.block_seconds.add_seconds(stats.wall_s);
                }
                if !self
                    .journal
                    .state()
                    .accepts_report(task, block, attempt, worker)
                {
                    return Ok(());
                }
                if matches!(outcome, Outcome::Failed { .. }) {
                    self.failure_logs.insert((task, block), log_path);
                } else {
                    self.agents[i].finished_any = true;
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
            }
            OutboxRecord::Abandoned {
                task,
                block,
                attempt,
                reason,
                ..
            } => {
                self.agents[i].in_flight.remove(&(task, block, attempt));
                self.agents[i].leaving = true;
                self.return_attempt(task, block, attempt, &reason, false)?;
            }
            OutboxRecord::Bye { reason, .. } => {
                self.agents[i].bye = Some(reason);
            }
        }
        Ok(())
    }

    /// Records that an attempt is taken back without a report (if it is still current).
    pub(super) fn return_attempt(
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

    /// Asks the backend about every live agent (at the backend's interval). True if any
    /// agent's job ended.
    pub(super) fn poll_backend(&mut self) -> Result<bool, OrchestratorError> {
        if self.last_backend_poll.elapsed() < self.backend_interval {
            return Ok(false);
        }
        self.last_backend_poll = Instant::now();
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
        let statuses = match self.backend.poll(&launched) {
            Ok(s) => {
                self.scheduler_outage.succeeded();
                s
            }
            Err(err) => {
                tracing::warn!("{err}; retrying at the next poll");
                let message = crate::backend::command::error_chain(&err);
                self.scheduler_outage.failed(Instant::now(), &message)?;
                return Ok(false);
            }
        };
        let mut changed = false;
        for (&i, status) in live.iter().zip(statuses) {
            if matches!(status, JobStatus::Running | JobStatus::Unknown(_)) {
                self.agents[i]
                    .running_since
                    .get_or_insert_with(Instant::now);
            }
            match status {
                JobStatus::Ended(end) => {
                    self.agents[i].job_end = Some((end, Instant::now()));
                    changed = true;
                }
                JobStatus::Unknown(_) => {
                    // Not ours to query (adopted from an earlier orchestrator): judge by pid.
                    let agent = &self.agents[i];
                    if let Some((host, pid)) = &agent.host_pid {
                        if *host == hostname() && !pid_alive(*pid) {
                            self.agents[i].job_end = Some((JobEnd::Vanished, Instant::now()));
                            changed = true;
                        }
                    }
                }
                JobStatus::Queued | JobStatus::Running | JobStatus::Suspended => {}
            }
        }
        self.backend_interval = if changed {
            self.opts.backend_poll
        } else {
            (self.backend_interval * 3 / 2).min(self.opts.max_backend_poll)
        };
        Ok(changed)
    }

    /// Agents that are gone get their unfinished blocks returned and are retired. True if
    /// any was retired.
    pub(super) fn retire_dead_agents(&mut self) -> Result<bool, OrchestratorError> {
        let mut any = false;
        for i in 0..self.agents.len() {
            let agent = &self.agents[i];
            if agent.retired {
                continue;
            }
            let silent =
                agent.said_hello && agent.last_seen.elapsed() > self.opts.agent_silence_limit;
            let no_hello = !agent.said_hello
                && agent
                    .running_since
                    .is_some_and(|t| t.elapsed() > self.opts.hello_timeout);
            let (reason, charged, kind) = if let Some(bye) = &agent.bye {
                // Bye is an agent's last record: everything it will ever report came before.
                (
                    format!("worker {} left: {bye}", agent.launched.worker_id),
                    false,
                    None,
                )
            } else if let Some((end, when)) = &agent.job_end {
                // The ledger may lag the scheduler: give the last records time to arrive.
                if when.elapsed() < self.opts.loss_grace {
                    continue;
                }
                let (charged, kind) = loss_from_job_end(end);
                (
                    format!("worker {} job ended: {end:?}", agent.launched.worker_id),
                    charged,
                    kind,
                )
            } else if silent {
                (
                    format!(
                        "worker {} silent for {:?}",
                        agent.launched.worker_id, self.opts.agent_silence_limit
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
                    launched.worker_id, self.opts.hello_timeout
                );
                let unqueryable = agent.adopted && launched.job_id.is_none();
                if let Err(err) = self.backend.cancel(&[launched]) {
                    tracing::warn!("{err}");
                }
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
            self.retire(i, &reason, charged, kind)?;
        }
        Ok(any)
    }

    /// Returns an agent's unfinished attempts and records that it ended.
    pub(super) fn retire(
        &mut self,
        i: usize,
        reason: &str,
        charged: bool,
        kind: Option<FailureKind>,
    ) -> Result<(), OrchestratorError> {
        // Its assignments of a pending group commit must be in the state before they can be
        // returned (fencing checks the committed state).
        if self.journal.pending_records() > 0 {
            self.commit_journal()?;
        }
        // An agent that ended without its Bye on this host may have left programs running
        // (killed outright, it could not stop them): its blocks go back only once they are
        // gone, or a block would run twice at once.
        let agent = &self.agents[i];
        let here = agent
            .host_pid
            .as_ref()
            .is_none_or(|(h, _)| *h == hostname());
        if agent.bye.is_none() && here {
            crate::worker::stop_leftover_programs(self.ledger.root(), &agent.launched.worker_id);
        }
        // Read what it wrote last before deciding about its blocks.
        let polled = self.agents[i].outbox.poll()?;
        for record in polled.records {
            self.handle_outbox_record(i, record)?;
        }
        let in_flight: Vec<_> = std::mem::take(&mut self.agents[i].in_flight)
            .into_iter()
            .collect();
        // Only the attempt(s) that were actually running are to blame; queued ones are not.
        for (task, block, attempt) in in_flight {
            let message = match kind {
                Some(kind) => format!("{kind}: {reason}"),
                None => reason.to_string(),
            };
            self.return_attempt(task, block, attempt, &message, charged)?;
        }
        let agent = &mut self.agents[i];
        agent.retired = true;
        let task = agent.task();
        let agent_finished_any = agent.finished_any;
        let gave_up = !agent.adopted
            && agent
                .bye
                .as_deref()
                .is_some_and(|b| b.starts_with("gave up"));
        // An adopted agent usually leaves because its own orchestrator died: that is no sign
        // that launching agents fails, so it must not delay this run's launches.
        let ended_badly = !agent.finished_any && !agent.stop_sent && !agent.adopted;
        // Ended by the cluster (walltime, preemption, node failure, a cancellation or signal
        // from outside): a replacement is normal on a run of days, not a failed start.
        let by_cluster = agent
            .job_end
            .as_ref()
            .is_some_and(|(end, _)| end.blame() == crate::backend::Blame::Infrastructure)
            || agent
                .bye
                .as_deref()
                .is_some_and(|b| b.starts_with("walltime") || b.starts_with("agent terminated"));
        if gave_up {
            let why = agent.bye.clone().unwrap_or_default();
            self.tasks[task].fatal.get_or_insert(format!(
                "the worker program of task {:?} keeps crashing ({why})",
                self.file.tasks[task].name
            ));
        }
        let rt = &mut self.tasks[task];
        if agent_finished_any {
            rt.failed_starts_in_a_row = 0;
        } else if ended_badly && !by_cluster {
            rt.failed_starts_in_a_row += 1;
        }
        if ended_badly {
            rt.consecutive_agent_failures += 1;
            let backoff =
                Duration::from_millis(500) * 2u32.pow(rt.consecutive_agent_failures.min(7));
            rt.next_launch_after = Instant::now() + backoff.min(Duration::from_secs(60));
        } else {
            rt.consecutive_agent_failures = 0;
        }
        self.journal.append(OrchestratorRecord::WorkerEnded {
            worker: self.agents[i].index,
            reason: reason.to_string(),
            time_us: now_us(),
        })?;
        tracing::info!("{reason}");
        Ok(())
    }

    /// Applies this iteration's committed outcomes and losses to the ready set.
    pub(super) fn apply_verdicts(&mut self) {
        for verdict in std::mem::take(&mut self.verdicts) {
            let (task, block_id, verdict) = match verdict {
                PendingVerdict::Outcome {
                    task,
                    block,
                    outcome,
                } => {
                    let failures = self.block_failures(task, block);
                    (
                        task,
                        block,
                        judge_outcome(&outcome, failures, self.tasks[task as usize].limits),
                    )
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
                    (
                        task,
                        block,
                        judge_loss(charged, failures, infra, self.tasks[task as usize].limits),
                    )
                }
            };
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

    fn block_failures(&self, task: u32, block: u64) -> u32 {
        self.journal
            .state()
            .block(task, block)
            .map_or(0, |e| e.failures_in_budget())
    }

    /// Stops every agent (Stop when the run is complete; SIGTERM through the backend when
    /// interrupted so they give their blocks back) and waits for them to leave.
    pub(super) fn shut_down_agents(&mut self, interrupted: bool) -> Result<(), OrchestratorError> {
        let live: Vec<usize> = (0..self.agents.len())
            .filter(|&i| !self.agents[i].retired)
            .collect();
        if interrupted {
            let launched: Vec<_> = live
                .iter()
                .map(|&i| self.agents[i].launched.clone())
                .collect();
            if let Err(err) = self.backend.cancel(&launched) {
                tracing::warn!("{err}");
            }
        } else {
            for &i in &live {
                self.send_stop(i, "run finished");
            }
            self.flush_inboxes()?;
        }
        // Wait until the backend sees every agent's job/process gone (a Bye is an agent's last
        // record, but its job may still be finishing): the run must not end with workers of it
        // still in the scheduler. Bounded by `shutdown_wait`; polls at the shortest interval.
        let deadline = Instant::now() + self.opts.shutdown_wait;
        self.backend_interval = self.opts.backend_poll;
        self.last_backend_poll = Instant::now() - self.backend_interval;
        loop {
            self.read_outboxes()?;
            self.poll_backend()?;
            self.backend_interval = self.opts.backend_poll;
            let waiting = (0..self.agents.len())
                .filter(|&i| self.agents[i].job_end.is_none())
                .count();
            if waiting == 0 || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Never leave workers of this run behind in the scheduler.
        let leftover: Vec<_> = self
            .agents
            .iter()
            .filter(|a| a.job_end.is_none())
            .map(|a| a.launched.clone())
            .collect();
        if !leftover.is_empty() {
            tracing::warn!(
                "{} worker(s) still running {:?} after the run: cancelling them",
                leftover.len(),
                self.opts.shutdown_wait
            );
            if let Err(err) = self.backend.cancel(&leftover) {
                tracing::warn!("{err}");
            }
        }
        for i in 0..self.agents.len() {
            if !self.agents[i].retired {
                let reason = if interrupted {
                    "run interrupted"
                } else {
                    "run finished"
                };
                self.retire(i, reason, false, None)?;
            }
        }
        self.commit_journal()?;
        Ok(())
    }

    /// Queues a `Stop` for agent `i`.
    pub(super) fn send_stop(&mut self, i: usize, reason: &str) {
        let agent = &mut self.agents[i];
        if !agent.stop_sent && !agent.retired {
            agent.stop_sent = true;
            agent.outgoing.push(InboxRecord::Stop {
                reason: reason.to_string(),
            });
        }
    }
}
