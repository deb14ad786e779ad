//! The agent's decisions: [`AgentState::handle_event`] takes one [`Event`] and returns the
//! [`Action`]s to carry out. No I/O and no processes here, so every rule is unit-tested.

use super::events::{Action, AttemptKey, Event, Job, Now, ProcId, ProcKind};
use super::pipeline::{depth, refill};
use super::polling::Holding;
use super::program::Exit;
use super::shutdown::Shutdown;
use super::slot::{Attempt, KillReason, Phase, Program, Slot};
use super::stagger::Stagger;
use super::walltime::{block_fits, DurationMean};
use super::wire::{parse_report_about, BlockMessage, ReportStatus};
use crate::ledger::{AttemptStats, FailureKind, OutboxRecord, Outcome};
use crate::recent::RecentMean;
use std::collections::{HashSet, VecDeque};
use std::time::Duration;

mod checker;
mod pipes;
mod post_checks;
mod processes;
mod time_limits;

/// The fixed facts and limits the decisions depend on.
#[derive(Clone, Debug)]
pub struct Policy {
    /// Worker id (for `Hello`).
    pub worker_id: String,
    /// Host name (for `Hello`).
    pub host: String,
    /// Agent pid (for `Hello`).
    pub pid: u32,
    /// Scheduler job id (for `Hello`).
    pub backend_job: Option<String>,
    /// Number of slots.
    pub slots: u32,
    /// One process per block instead of a persistent program per slot.
    pub per_block: bool,
    /// The task has a check command.
    pub has_check: bool,
    /// The check command is a persistent check program (one per slot, fed blocks on stdin).
    pub persistent_check: bool,
    /// Longest time one attempt may take.
    pub timeout: Option<Duration>,
    /// Longest time a fresh persistent program may take to get ready (`None`: `timeout`).
    pub startup_timeout: Option<Duration>,
    /// Short blocks may be written ahead into a persistent program's stdin.
    pub write_ahead: bool,
    /// Program deaths in a row (per slot) that make the agent give up.
    pub max_program_crashes: u32,
    /// Time between heartbeats.
    pub heartbeat_interval: Duration,
    /// The first heartbeat's share of the interval (agents started together write apart).
    pub stagger: Stagger,
    /// End of the job's walltime (seconds since the UNIX epoch).
    pub deadline_unix: Option<f64>,
    /// Safety margin before the deadline.
    pub deadline_margin: Duration,
    /// How long a program may take to exit after its stdin was closed.
    pub exit_wait: Duration,
    /// Per slot, the log path reported in `Finished` (relative to the ledger).
    pub log_paths: Vec<String>,
}

/// Everything the agent knows about its blocks, slots and programs.
#[derive(Debug)]
pub struct AgentState {
    policy: Policy,
    slots: Vec<Slot>,
    queue: VecDeque<Job>,
    seen: HashSet<AttemptKey>,
    next_proc: u64,
    shutdown: Option<Shutdown>,
    next_heartbeat: Option<std::time::Instant>,
    durations: DurationMean,
    recent: RecentMean,
    spawn_failures: u32,
    done: bool,
}

fn tail_suffix(tail: &str) -> String {
    if tail.is_empty() {
        String::new()
    } else {
        format!("; its stderr ended with:\n{tail}")
    }
}

fn failed(kind: FailureKind, message: String) -> Outcome {
    Outcome::Failed { kind, message }
}

impl AgentState {
    /// A fresh agent.
    pub fn new(policy: Policy) -> Self {
        let slots = (0..policy.slots.max(1)).map(|_| Slot::default()).collect();
        Self {
            policy,
            slots,
            queue: VecDeque::new(),
            seen: HashSet::new(),
            next_proc: 0,
            shutdown: None,
            next_heartbeat: None,
            durations: DurationMean::default(),
            recent: RecentMean::default(),
            spawn_failures: 0,
            done: false,
        }
    }

    /// The slots (for inspection in tests and logs).
    #[cfg(test)]
    pub fn slots(&self) -> &[Slot] {
        &self.slots
    }

    /// Blocks waiting for a slot.
    #[cfg(test)]
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    #[cfg(test)]
    pub fn is_busy(&self) -> bool {
        !self.queue.is_empty()
            || self
                .slots
                .iter()
                .any(|s| s.attempt.is_some() || !s.post.is_empty())
    }

    /// The first actions: `Hello` and, for persistent programs, one program per slot (so a
    /// model loads while the first assignment is on its way).
    pub fn start(&mut self, now: Now) -> Vec<Action> {
        let mut out = vec![Action::Record(OutboxRecord::Hello {
            worker_id: self.policy.worker_id.clone(),
            host: self.policy.host.clone(),
            pid: self.policy.pid,
            backend_job: self.policy.backend_job.clone(),
            slots: self.slots.len() as u32,
            time_us: now.unix_us,
        })];
        self.next_heartbeat = Some(
            now.at
                + self
                    .policy
                    .stagger
                    .first_gap(self.policy.heartbeat_interval),
        );
        for i in 0..self.slots.len() {
            self.ensure_program(i, now, &mut out);
        }
        out
    }

    /// Decides what to do about `event`.
    pub fn handle_event(&mut self, event: Event, now: Now) -> Vec<Action> {
        let mut out = Vec::new();
        if self.done {
            return out;
        }
        match event {
            Event::Assign(key, message) => self.on_assign(key, message, now, &mut out),
            Event::Revoke(key) => self.on_revoke(key, now, &mut out),
            Event::Stop(reason) => self.escalate(Shutdown::Drain(reason), now, &mut out),
            Event::OrchestratorGone(why) => {
                self.escalate(Shutdown::OrchestratorGone(why), now, &mut out)
            }
            Event::Signal(sig) => self.escalate(Shutdown::Signal(sig), now, &mut out),
            Event::LedgerUnwritable(why) => {
                self.escalate(Shutdown::LedgerUnwritable(why), now, &mut out)
            }
            Event::Report { proc, line, usage } => {
                self.on_report(proc, &line, &usage, now, &mut out)
            }
            Event::Ready(proc) => self.on_ready(proc, now),
            Event::ReportClosed(proc) => self.on_report_closed(proc, now, &mut out),
            Event::Exited {
                proc,
                exit,
                stderr_tail,
            } => self.on_exited(proc, exit, &stderr_tail, now, &mut out),
            Event::SpawnFailed { proc, error } => self.on_spawn_failed(proc, &error, now, &mut out),
            Event::SendFailed { proc, error } => {
                if let Some(i) = self.slot_running(proc) {
                    let msg = format!("cannot give the block to the worker program: {error}");
                    self.kill_attempt(i, KillReason::Protocol(msg), now, &mut out);
                }
            }
            Event::Tick => self.on_tick(now, &mut out),
        }
        self.dispatch(now, &mut out);
        self.maybe_exit(now, &mut out);
        out
    }

    fn new_proc(&mut self) -> ProcId {
        self.next_proc += 1;
        ProcId(self.next_proc)
    }

    fn reports(&self) -> bool {
        self.shutdown.as_ref().is_none_or(Shutdown::reports)
    }

    /// The slot whose attempt is in the program phase with `proc`.
    fn slot_running(&self, proc: ProcId) -> Option<usize> {
        self.slots.iter().position(|s| {
            s.attempt
                .as_ref()
                .is_some_and(|a| a.phase == Phase::Run(proc))
        })
    }

    fn ensure_program(&mut self, i: usize, now: Now, out: &mut Vec<Action>) -> Option<ProcId> {
        if self.policy.per_block {
            return None;
        }
        match self.slots[i].program {
            Program::Up(p) => Some(p),
            Program::Absent => {
                let proc = self.new_proc();
                self.slots[i].program = Program::Up(proc);
                self.slots[i].program_started = Some(now.at);
                self.slots[i].program_ready = false;
                out.push(Action::Spawn {
                    slot: i as u32,
                    proc,
                    kind: ProcKind::Program,
                });
                Some(proc)
            }
            Program::Closing { .. } | Program::Killed { .. } => None,
        }
    }

    fn on_assign(
        &mut self,
        key: AttemptKey,
        message: Result<Box<BlockMessage>, String>,
        now: Now,
        out: &mut Vec<Action>,
    ) {
        if !self.seen.insert(key) {
            return; // re-sent by a newer epoch's orchestrator
        }
        let message = match message {
            Ok(m) => m,
            Err(problem) => {
                if self.reports() {
                    out.push(self.finished_record(
                        key,
                        failed(FailureKind::BlockError, problem),
                        now.unix_us,
                        now.unix_us,
                        None,
                        None,
                        None,
                        0,
                    ));
                }
                return;
            }
        };
        if let Some(s) = &self.shutdown {
            if !s.runs_queue() {
                if s.reports() {
                    out.push(abandoned(key, s.give_back_reason(), now));
                }
                return;
            }
        }
        self.queue.push_back(Job {
            key,
            message: *message,
        });
    }

    fn on_revoke(&mut self, key: AttemptKey, now: Now, out: &mut Vec<Action>) {
        self.queue.retain(|j| j.key != key);
        if let Some(i) = self
            .slots
            .iter()
            .position(|s| s.piped.iter().any(|j| j.key == key))
        {
            // It is in the program's stdin already: only stopping the program keeps it from
            // running. The running block goes back to the orchestrator, the others are
            // queued again when the program has ended.
            self.slots[i].piped.retain(|j| j.key != key);
            let why = "a block queued behind it was revoked".to_owned();
            let reason = KillReason::GiveBack(self.reports().then_some(why));
            self.kill_attempt(i, reason, now, out);
            return;
        }
        if let Some(i) = self
            .slots
            .iter()
            .position(|s| s.check_ahead.iter().any(|(j, _)| j.key == key))
        {
            // Its pre-check is in the check program's stdin: only stopping the program keeps
            // it from being answered; the blocks behind it are queued again once it ended.
            self.slots[i].check_ahead.retain(|(j, _)| j.key != key);
            let why = "a block queued behind it was revoked".to_owned();
            let reason = KillReason::GiveBack(self.reports().then_some(why));
            return self.stop_checker(i, reason, now, out);
        }
        if let Some(i) = self
            .slots
            .iter()
            .position(|s| s.attempt.as_ref().is_some_and(|a| a.job.key == key))
        {
            return self.kill_attempt(i, KillReason::Revoked, now, out);
        }
        for i in 0..self.slots.len() {
            if let Some(pos) = self.slots[i].post.iter().position(|a| a.job.key == key) {
                // Its post-check is in the check program's stdin: only stopping the program
                // keeps it from being answered; what else it held goes to the next one.
                return self.kill_post(i, pos, KillReason::Revoked, now, out);
            }
        }
    }

    /// Terminates the process the attempt on slot `i` waits for.
    fn kill_attempt(&mut self, i: usize, reason: KillReason, now: Now, out: &mut Vec<Action>) {
        let slot = &mut self.slots[i];
        let Some(att) = slot.attempt.as_mut() else {
            return;
        };
        if att.kill.is_some() {
            return;
        }
        att.kill = Some((reason, now.at));
        let proc = att.phase.proc();
        out.push(Action::Terminate(proc));
        if slot.program == Program::Up(proc) {
            slot.program = Program::Killed {
                proc,
                since: now.at,
            };
        }
        if slot.checker == Program::Up(proc) {
            slot.checker = Program::Killed {
                proc,
                since: now.at,
            };
        }
    }

    fn escalate(&mut self, new: Shutdown, now: Now, out: &mut Vec<Action>) {
        if self
            .shutdown
            .as_ref()
            .is_some_and(|cur| cur.rank() >= new.rank())
        {
            return;
        }
        tracing::info!("agent stopping: {}", new.bye_reason());
        let reports = new.reports();
        let reason = new.give_back_reason();
        let hard = new.is_hard();
        let runs_queue = new.runs_queue();
        self.shutdown = Some(new);
        if !runs_queue {
            for job in std::mem::take(&mut self.queue) {
                if reports {
                    out.push(abandoned(job.key, reason.clone(), now));
                }
            }
        }
        if !hard {
            return;
        }
        // Running blocks and those written ahead into a program's stdin are given back only
        // once their process has exited (see `KillReason::GiveBack`); the program may still
        // be writing a block's output until then.
        for i in 0..self.slots.len() {
            let give_back = KillReason::GiveBack(reports.then(|| reason.clone()));
            self.give_back_posts(i, &give_back, now);
            self.kill_attempt(i, give_back, now, out);
            let slot = &mut self.slots[i];
            match slot.program {
                Program::Up(proc) | Program::Closing { proc, .. } => {
                    out.push(Action::Terminate(proc));
                    slot.program = Program::Killed {
                        proc,
                        since: now.at,
                    };
                }
                Program::Absent | Program::Killed { .. } => {}
            }
            if let Program::Up(proc) | Program::Closing { proc, .. } = slot.checker {
                out.push(Action::Terminate(proc));
                slot.checker = Program::Killed {
                    proc,
                    since: now.at,
                };
            }
        }
    }

    fn dispatch(&mut self, now: Now, out: &mut Vec<Action>) {
        let runs_queue = self.shutdown.as_ref().is_none_or(Shutdown::runs_queue);
        if runs_queue {
            self.advance_checked(now, out);
            for i in 0..self.slots.len() {
                if self.queue.is_empty() {
                    break;
                }
                if !self.slots[i].can_take() {
                    continue;
                }
                if !self.fits(now) {
                    let why = self.walltime_message();
                    self.escalate(Shutdown::Walltime(why), now, out);
                    return self.dispatch(now, out);
                }
                if let Some(job) = self.queue.pop_front() {
                    self.start_attempt(i, job, now, out);
                }
            }
            self.fill_pipes(now, out);
            self.fill_checks(now, out);
        }
        let closing = self.shutdown.is_some() && (self.queue.is_empty() || !runs_queue);
        if closing {
            for slot in &mut self.slots {
                // Blocks whose pre-check may still send them to the worker keep it open.
                let fed = slot.piped.is_empty() && (slot.check_ahead.is_empty() || !runs_queue);
                if let (None, true, Program::Up(proc)) = (&slot.attempt, fed, slot.program) {
                    out.push(Action::CloseStdin(proc));
                    slot.program = Program::Closing {
                        proc,
                        since: now.at,
                    };
                }
                // Blocks written ahead to the check program are given back once it has
                // exited (see `requeue_checked`) when the queue no longer runs.
                let idle = (slot.check_ahead.is_empty() || !runs_queue) && slot.post.is_empty();
                if let (None, true, Program::Up(proc)) = (&slot.attempt, idle, slot.checker) {
                    out.push(Action::CloseStdin(proc));
                    slot.checker = Program::Closing {
                        proc,
                        since: now.at,
                    };
                }
            }
        }
    }

    fn start_attempt(&mut self, i: usize, job: Job, now: Now, out: &mut Vec<Action>) {
        out.push(started(&job, i, now));
        if self.policy.has_check {
            let proc = self.check_process(i, &job.message, out);
            self.slots[i].attempt = Some(Attempt::new(
                job,
                Phase::PreCheck(proc.unwrap_or(ProcId(0))),
                now.at,
                now.unix_us,
            ));
            if proc.is_none() {
                self.check_unavailable(i, now, out);
            }
        } else {
            // Placeholder phase, replaced by begin_run.
            self.slots[i].attempt = Some(Attempt::new(
                job,
                Phase::Run(ProcId(0)),
                now.at,
                now.unix_us,
            ));
            self.begin_run(i, now, out);
        }
    }

    /// The block of the attempt on slot `i`.
    fn attempt_message(&self, i: usize) -> Option<BlockMessage> {
        self.slots[i]
            .attempt
            .as_ref()
            .map(|a| a.job.message.clone())
    }

    fn begin_run(&mut self, i: usize, now: Now, out: &mut Vec<Action>) {
        let Some(message) = self.attempt_message(i) else {
            return;
        };
        let proc = if self.policy.per_block {
            let proc = self.new_proc();
            out.push(Action::Spawn {
                slot: i as u32,
                proc,
                kind: ProcKind::PerBlock(message),
            });
            proc
        } else {
            let Some(proc) = self.ensure_program(i, now, out) else {
                let msg = "the worker program was being stopped when the block was due".into();
                self.finish(i, failed(FailureKind::ProgramDied, msg), None, now, out);
                return;
            };
            out.push(Action::Send {
                slot: i as u32,
                proc,
                block: message,
                ahead: false,
            });
            proc
        };
        if let Some(att) = self.slots[i].attempt.as_mut() {
            att.phase = Phase::Run(proc);
        }
    }

    fn begin_post_check(&mut self, i: usize, now: Now, out: &mut Vec<Action>) {
        // Blocks written ahead to the worker run on while this one is checked.
        let ahead = !self.slots[i].piped.is_empty();
        if self.policy.persistent_check && (ahead || self.checks_behind_worker()) {
            return self.post_check_behind(i, now, out);
        }
        let Some(message) = self.attempt_message(i) else {
            return;
        };
        let Some(proc) = self.check_process(i, &message, out) else {
            return self.check_unavailable(i, now, out);
        };
        if let Some(att) = self.slots[i].attempt.as_mut() {
            att.phase = Phase::PostCheck(proc);
        }
    }

    /// The slot's check program is being stopped when a check is due: the attempt fails.
    fn check_unavailable(&mut self, i: usize, now: Now, out: &mut Vec<Action>) {
        let msg = "the check program was being stopped when the block's check was due".into();
        self.finish(i, failed(FailureKind::CheckFailed, msg), None, now, out);
    }

    /// Hands `message` to a check: the slot's persistent check program (started if needed),
    /// or a one-shot check process. Returns the process the check phase waits for (`None`: the
    /// check program is being stopped and cannot take it).
    fn check_process(
        &mut self,
        i: usize,
        message: &BlockMessage,
        out: &mut Vec<Action>,
    ) -> Option<ProcId> {
        if self.policy.persistent_check {
            let proc = self.ensure_checker(i, out)?;
            out.push(Action::Send {
                slot: i as u32,
                proc,
                block: message.clone(),
                ahead: false,
            });
            self.slots[i].check_fifo.push_back(message.block_id);
            return Some(proc);
        }
        let proc = self.new_proc();
        out.push(Action::Spawn {
            slot: i as u32,
            proc,
            kind: ProcKind::Check(message.clone()),
        });
        Some(proc)
    }

    /// Ends the attempt on slot `i` with `outcome`.
    fn finish(
        &mut self,
        i: usize,
        outcome: Outcome,
        exit: Option<&Exit>,
        now: Now,
        out: &mut Vec<Action>,
    ) {
        let Some(att) = self.slots[i].attempt.take() else {
            return;
        };
        self.finish_attempt(i, att, outcome, exit, now, out);
    }

    /// Ends `att`, an attempt of slot `i` (its own or one waiting for its post-check), with
    /// `outcome`.
    fn finish_attempt(
        &mut self,
        i: usize,
        att: Attempt,
        outcome: Outcome,
        exit: Option<&Exit>,
        now: Now,
        out: &mut Vec<Action>,
    ) {
        let took = now.at.duration_since(att.started);
        if !att.counted {
            self.recent.add(took);
        }
        if outcome != Outcome::Skipped {
            self.durations.add(took);
        }
        if !self.reports() {
            return;
        }
        let record = self.finished_record(
            att.job.key,
            outcome,
            att.start_us,
            now.unix_us,
            att.cpu_s,
            att.peak_rss_bytes,
            exit,
            i,
        );
        out.push(record);
    }

    #[allow(clippy::too_many_arguments)]
    fn finished_record(
        &self,
        key: AttemptKey,
        outcome: Outcome,
        start_us: u64,
        end_us: u64,
        cpu_s: Option<f64>,
        peak_rss_bytes: Option<u64>,
        exit: Option<&Exit>,
        slot: usize,
    ) -> Action {
        let end_us = end_us.max(start_us);
        Action::Record(OutboxRecord::Finished {
            task: key.task,
            block: key.block,
            attempt: key.attempt,
            outcome,
            stats: AttemptStats {
                start_us,
                end_us,
                wall_s: (end_us - start_us) as f64 / 1e6,
                cpu_s: cpu_s.unwrap_or(0.0),
                peak_rss_bytes: peak_rss_bytes.unwrap_or(0),
                exit_code: exit.and_then(|e| e.code),
                signal: exit.and_then(|e| e.signal),
            },
            log_path: self.policy.log_paths.get(slot).cloned().unwrap_or_default(),
        })
    }

    fn maybe_exit(&mut self, now: Now, out: &mut Vec<Action>) {
        let Some(shutdown) = &self.shutdown else {
            return;
        };
        if shutdown.runs_queue() && !self.queue.is_empty() {
            return;
        }
        if self.slots.iter().all(Slot::is_quiet) {
            out.push(Action::Record(OutboxRecord::Bye {
                reason: shutdown.bye_reason(),
                time_us: now.unix_us,
            }));
            out.push(Action::Exit(shutdown.exit()));
            self.done = true;
        }
    }
}

/// The `Started` record of `job` on slot `slot`.
fn started(job: &Job, slot: usize, now: Now) -> Action {
    Action::Record(OutboxRecord::Started {
        task: job.key.task,
        block: job.key.block,
        attempt: job.key.attempt,
        slot: slot as u32,
        time_us: now.unix_us,
    })
}

fn abandoned(key: AttemptKey, reason: String, now: Now) -> Action {
    Action::Record(OutboxRecord::Abandoned {
        task: key.task,
        block: key.block,
        attempt: key.attempt,
        reason,
        time_us: now.unix_us,
    })
}

#[cfg(test)]
#[path = "state_tests/mod.rs"]
mod tests;
