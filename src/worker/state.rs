//! The agent's decisions: [`AgentState::handle_event`] takes one [`Event`] and returns the
//! [`Action`]s to carry out. No I/O and no processes here, so every rule is unit-tested.

use super::events::{Action, AttemptKey, Event, Job, Now, ProcId, ProcKind};
use super::pipeline::{depth, refill};
use super::program::Exit;
use super::shutdown::Shutdown;
use super::slot::{Attempt, KillReason, Phase, Program, Slot};
use super::walltime::{block_fits, DurationMean};
use super::wire::{parse_report, BlockMessage, ReportStatus};
use crate::ledger::{AttemptStats, FailureKind, OutboxRecord, Outcome};
use crate::recent::RecentMean;
use std::collections::{HashSet, VecDeque};
use std::time::Duration;

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
    /// Longest time one attempt may take.
    pub timeout: Option<Duration>,
    /// Longest time a fresh persistent program may take to get ready (`None`: `timeout`).
    pub startup_timeout: Option<Duration>,
    /// Program deaths in a row (per slot) that make the agent give up.
    pub max_program_crashes: u32,
    /// Time between heartbeats.
    pub heartbeat_interval: Duration,
    /// End of the job's walltime (seconds since the UNIX epoch).
    pub deadline_unix: Option<f64>,
    /// Safety margin before the deadline.
    pub deadline_margin: Duration,
    /// SIGTERM → SIGKILL grace period (the executor escalates; this bounds our wait).
    pub kill_grace: Duration,
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
    last_heartbeat: Option<std::time::Instant>,
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
            last_heartbeat: None,
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
        !self.queue.is_empty() || self.slots.iter().any(|s| s.attempt.is_some())
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
        self.last_heartbeat = Some(now.at);
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
            Event::Report { proc, line, usage } => {
                self.on_report(proc, &line, &usage, now, &mut out)
            }
            Event::Ready(proc) => self.on_ready(proc, now),
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
            let head = self.slots[i].attempt.as_ref().filter(|a| a.kill.is_none());
            if let Some(head) = head.map(|a| a.job.key) {
                if self.reports() {
                    let why = "a block queued behind it was revoked".to_owned();
                    out.push(abandoned(head, why, now));
                }
                self.kill_attempt(i, KillReason::Shutdown, now, out);
            }
            return;
        }
        if let Some(i) = self
            .slots
            .iter()
            .position(|s| s.attempt.as_ref().is_some_and(|a| a.job.key == key))
        {
            self.kill_attempt(i, KillReason::Revoked, now, out);
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
        for i in 0..self.slots.len() {
            for job in std::mem::take(&mut self.slots[i].piped) {
                if reports {
                    out.push(abandoned(job.key, reason.clone(), now));
                }
            }
            if let Some(att) = &self.slots[i].attempt {
                if att.kill.is_none() {
                    if reports {
                        out.push(abandoned(att.job.key, reason.clone(), now));
                    }
                    self.kill_attempt(i, KillReason::Shutdown, now, out);
                }
            }
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
        }
    }

    fn fits(&self, now: Now) -> bool {
        block_fits(
            now.unix_us as f64 / 1e6,
            self.policy.deadline_unix,
            &self.durations,
            self.policy.deadline_margin,
        )
    }

    fn walltime_message(&self) -> String {
        let mean = self
            .durations
            .mean()
            .map(|m| format!("{:.1}s", m.as_secs_f64()))
            .unwrap_or_else(|| "unknown".into());
        format!(
            "the job's walltime ends too soon for another block (mean block duration {mean}, \
             safety margin {}s)",
            self.policy.deadline_margin.as_secs()
        )
    }

    fn dispatch(&mut self, now: Now, out: &mut Vec<Action>) {
        let runs_queue = self.shutdown.as_ref().is_none_or(Shutdown::runs_queue);
        if runs_queue {
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
        }
        let closing = self.shutdown.is_some() && (self.queue.is_empty() || !runs_queue);
        if closing {
            for slot in &mut self.slots {
                if let (None, true, Program::Up(proc)) =
                    (&slot.attempt, slot.piped.is_empty(), slot.program)
                {
                    out.push(Action::CloseStdin(proc));
                    slot.program = Program::Closing {
                        proc,
                        since: now.at,
                    };
                }
            }
        }
    }

    /// Writes queued blocks ahead to the stdin of persistent programs that run short blocks
    /// (see `pipeline`), one block per slot in turn so the slots share the queue.
    fn fill_pipes(&mut self, now: Now, out: &mut Vec<Action>) {
        if self.policy.per_block || self.policy.has_check || self.shutdown.is_some() {
            return;
        }
        let depth = depth(&self.recent);
        if depth <= 1 || self.queue.is_empty() {
            return;
        }
        let mut wants: Vec<(usize, ProcId, usize)> = Vec::new();
        for (i, slot) in self.slots.iter().enumerate() {
            let (Some(att), Program::Up(proc)) = (&slot.attempt, slot.program) else {
                continue;
            };
            if att.phase != Phase::Run(proc) || att.kill.is_some() {
                continue;
            }
            let n = refill(1 + slot.piped.len(), depth);
            if n > 0 {
                wants.push((i, proc, n));
            }
        }
        while !wants.is_empty() && !self.queue.is_empty() {
            if !self.fits(now) {
                return; // the idle-slot dispatch escalates when a block no longer fits
            }
            for want in &mut wants {
                let Some(job) = self.queue.pop_front() else {
                    break;
                };
                let (i, proc, _) = *want;
                out.push(Action::Send {
                    slot: i as u32,
                    proc,
                    block: job.message.clone(),
                });
                self.slots[i].piped.push_back(job);
                want.2 -= 1;
            }
            wants.retain(|w| w.2 > 0);
        }
    }

    /// Starts the next block waiting in the stdin of slot `i`'s program, once the one before
    /// it was reported (the program takes it up right away).
    fn advance_pipe(&mut self, i: usize, now: Now, out: &mut Vec<Action>) {
        let slot = &mut self.slots[i];
        let Program::Up(proc) = slot.program else {
            return;
        };
        if slot.attempt.is_some() {
            return;
        }
        let Some(job) = slot.piped.pop_front() else {
            return;
        };
        out.push(started(&job, i, now));
        slot.attempt = Some(Attempt::new(job, Phase::Run(proc), now.at, now.unix_us));
    }

    /// Blocks that were waiting in the stdin of slot `i`'s ended program: queued again in
    /// their order (they never started), or given back when the agent no longer runs its
    /// queue.
    fn requeue_piped(&mut self, i: usize, now: Now, out: &mut Vec<Action>) {
        let piped = std::mem::take(&mut self.slots[i].piped);
        let runs_queue = self.shutdown.as_ref().is_none_or(Shutdown::runs_queue);
        if runs_queue {
            for job in piped.into_iter().rev() {
                self.queue.push_front(job);
            }
        } else if let Some(s) = &self.shutdown {
            if s.reports() {
                for job in piped {
                    out.push(abandoned(job.key, s.give_back_reason(), now));
                }
            }
        }
    }

    fn start_attempt(&mut self, i: usize, job: Job, now: Now, out: &mut Vec<Action>) {
        out.push(started(&job, i, now));
        if self.policy.has_check {
            let proc = self.new_proc();
            out.push(Action::Spawn {
                slot: i as u32,
                proc,
                kind: ProcKind::Check(job.message.clone()),
            });
            self.slots[i].attempt = Some(Attempt::new(
                job,
                Phase::PreCheck(proc),
                now.at,
                now.unix_us,
            ));
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

    fn begin_run(&mut self, i: usize, now: Now, out: &mut Vec<Action>) {
        let Some(message) = self.slots[i]
            .attempt
            .as_ref()
            .map(|a| a.job.message.clone())
        else {
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
            });
            proc
        };
        if let Some(att) = self.slots[i].attempt.as_mut() {
            att.phase = Phase::Run(proc);
        }
    }

    fn begin_post_check(&mut self, i: usize, out: &mut Vec<Action>) {
        let proc = self.new_proc();
        if let Some(att) = self.slots[i].attempt.as_mut() {
            out.push(Action::Spawn {
                slot: i as u32,
                proc,
                kind: ProcKind::Check(att.job.message.clone()),
            });
            att.phase = Phase::PostCheck(proc);
        }
    }

    /// The program finished starting: the block it was handed (if any) starts its timeout
    /// clock now, since it was not running while the program loaded.
    fn on_ready(&mut self, proc: ProcId, now: Now) {
        let Some(slot) = self
            .slots
            .iter_mut()
            .find(|s| s.program == Program::Up(proc))
        else {
            return;
        };
        if slot.program_ready {
            return;
        }
        slot.program_ready = true;
        if let Some(att) = slot.attempt.as_mut() {
            if att.phase == Phase::Run(proc) && att.kill.is_none() {
                att.started = now.at;
            }
        }
    }

    fn on_report(
        &mut self,
        proc: ProcId,
        line: &str,
        usage: &super::usage::Usage,
        now: Now,
        out: &mut Vec<Action>,
    ) {
        let Some(i) = self.slot_running(proc) else {
            tracing::warn!("ignoring a report from a worker program with no block running: {line}");
            return;
        };
        let Some(att) = self.slots[i].attempt.as_mut() else {
            return;
        };
        if att.kill.is_some() {
            return;
        }
        let block = att.job.key.block;
        let report = parse_report(line).and_then(|r| {
            if r.block_id == block {
                Ok(r)
            } else {
                Err(format!(
                    "the worker program reported block {} on fd 3 while running block {block}",
                    r.block_id
                ))
            }
        });
        let report = match report {
            Ok(report) => report,
            Err(problem) => {
                let msg = format!("{problem}; the program was restarted");
                return self.kill_attempt(i, KillReason::Protocol(msg), now, out);
            }
        };
        att.add_usage(usage);
        self.slots[i].crashes = 0;
        self.slots[i].program_ready = true;
        if report.exiting {
            // It said it ends after this report: no more blocks for it, and no crash.
            out.push(Action::CloseStdin(proc));
            self.slots[i].program = Program::Closing {
                proc,
                since: now.at,
            };
        }
        match report.status {
            ReportStatus::Done if self.policy.has_check => self.begin_post_check(i, out),
            ReportStatus::Done => self.finish(i, Outcome::Done, None, now, out),
            ReportStatus::Failed(error) => {
                self.finish(i, failed(FailureKind::BlockError, error), None, now, out)
            }
        }
        self.advance_pipe(i, now, out);
    }

    fn on_exited(&mut self, proc: ProcId, exit: Exit, tail: &str, now: Now, out: &mut Vec<Action>) {
        if let Some(i) = self
            .slots
            .iter()
            .position(|s| s.program.proc() == Some(proc))
        {
            self.program_ended(i, proc, Some(exit), tail, now, out);
            return;
        }
        let Some(i) = self
            .slots
            .iter()
            .position(|s| s.attempt.as_ref().is_some_and(|a| a.phase.proc() == proc))
        else {
            return;
        };
        let has_check = self.policy.has_check;
        let Some(att) = self.slots[i].attempt.as_mut() else {
            return;
        };
        att.add_usage(&exit.usage);
        if let Some((reason, _)) = att.kill.take() {
            return self.finalize_kill(i, reason, Some(&exit), now, out);
        }
        match att.phase {
            Phase::PreCheck(_) if exit.success() => {
                self.finish(i, Outcome::Skipped, Some(&exit), now, out)
            }
            Phase::PreCheck(_) => self.begin_run(i, now, out),
            Phase::Run(_) => {
                att.run_exit = Some(exit);
                self.spawn_failures = 0;
                if exit.success() && has_check {
                    self.begin_post_check(i, out);
                } else if exit.success() {
                    self.finish(i, Outcome::Done, Some(&exit), now, out);
                } else {
                    let kind = if exit.code.is_some() {
                        FailureKind::BlockError
                    } else {
                        FailureKind::ProgramDied
                    };
                    let msg = format!(
                        "the worker exited with {}{}",
                        exit.describe(),
                        tail_suffix(tail)
                    );
                    self.finish(i, failed(kind, msg), Some(&exit), now, out);
                }
            }
            Phase::PostCheck(_) if exit.success() => {
                let run_exit = att.run_exit;
                self.finish(i, Outcome::Done, run_exit.as_ref(), now, out)
            }
            Phase::PostCheck(_) => {
                let msg = format!(
                    "the check exited with {} after the block was reported done{}",
                    exit.describe(),
                    tail_suffix(tail)
                );
                self.finish(
                    i,
                    failed(FailureKind::CheckFailed, msg),
                    Some(&exit),
                    now,
                    out,
                )
            }
        }
    }

    /// The persistent program of slot `i` ended (`exit` is `None` if it never started or we
    /// stopped waiting for it).
    fn program_ended(
        &mut self,
        i: usize,
        proc: ProcId,
        exit: Option<Exit>,
        tail: &str,
        now: Now,
        out: &mut Vec<Action>,
    ) {
        let unexpected = self.slots[i].program == Program::Up(proc);
        self.slots[i].program = Program::Absent;
        let how = exit.map_or_else(|| "could not start".to_owned(), |e| e.describe());
        if let Some(att) = self.slots[i].attempt.as_mut() {
            if att.phase == Phase::Run(proc) {
                match att.kill.take() {
                    Some((reason, _)) => self.finalize_kill(i, reason, exit.as_ref(), now, out),
                    None => {
                        let block = att.job.key.block;
                        let msg = format!(
                            "the worker program died ({how}) while running block {block}{}",
                            tail_suffix(tail)
                        );
                        self.finish(
                            i,
                            failed(FailureKind::ProgramDied, msg),
                            exit.as_ref(),
                            now,
                            out,
                        );
                    }
                }
            }
        }
        self.requeue_piped(i, now, out);
        if !unexpected {
            if self.shutdown.is_none() {
                self.ensure_program(i, now, out);
            }
            return;
        }
        let last = format!("{how}{}", tail_suffix(tail));
        if !self.count_crash(i, &last, now, out) && self.shutdown.is_none() {
            self.ensure_program(i, now, out);
        }
    }

    /// Counts a program crash on slot `i` (`last` says how it ended); gives up (true) after
    /// too many in a row.
    fn count_crash(&mut self, i: usize, last: &str, now: Now, out: &mut Vec<Action>) -> bool {
        self.slots[i].crashes += 1;
        let crashes = self.slots[i].crashes;
        if crashes < self.policy.max_program_crashes {
            return false;
        }
        let why = format!(
            "the worker program of slot {i} ended {crashes} times in a row without finishing a \
             block (last: {last})"
        );
        self.escalate(Shutdown::GaveUp(why), now, out);
        true
    }

    fn on_spawn_failed(&mut self, proc: ProcId, error: &str, now: Now, out: &mut Vec<Action>) {
        if let Some(i) = self
            .slots
            .iter()
            .position(|s| s.program.proc() == Some(proc))
        {
            return self.program_ended(i, proc, None, error, now, out);
        }
        let Some(i) = self
            .slots
            .iter()
            .position(|s| s.attempt.as_ref().is_some_and(|a| a.phase.proc() == proc))
        else {
            return;
        };
        let Some(phase) = self.slots[i].attempt.as_ref().map(|a| a.phase) else {
            return;
        };
        match phase {
            Phase::PreCheck(_) | Phase::PostCheck(_) => {
                let msg = format!("cannot start the check: {error}");
                self.finish(i, failed(FailureKind::CheckFailed, msg), None, now, out);
            }
            Phase::Run(_) => {
                let msg = format!("cannot start the worker: {error}");
                self.finish(
                    i,
                    failed(FailureKind::ProgramDied, msg.clone()),
                    None,
                    now,
                    out,
                );
                self.spawn_failures += 1;
                if self.spawn_failures >= self.policy.max_program_crashes {
                    let why = format!(
                        "the per-block worker could not be started {} times in a row: {error}",
                        self.spawn_failures
                    );
                    self.escalate(Shutdown::GaveUp(why), now, out);
                }
            }
        }
    }

    fn on_tick(&mut self, now: Now, out: &mut Vec<Action>) {
        let due = self
            .last_heartbeat
            .is_none_or(|t| now.at.duration_since(t) >= self.policy.heartbeat_interval);
        if due {
            self.last_heartbeat = Some(now.at);
            out.push(Action::Record(OutboxRecord::Heartbeat {
                time_us: now.unix_us,
            }));
        }
        let give_up_waiting = self.policy.kill_grace + self.policy.exit_wait;
        for i in 0..self.slots.len() {
            let Some(att) = &self.slots[i].attempt else {
                continue;
            };
            match &att.kill {
                None => {
                    if let Some(reason) = self.overdue(i, att, now) {
                        self.kill_attempt(i, reason, now, out);
                    }
                }
                Some((_, since)) if now.at.duration_since(*since) > give_up_waiting => {
                    // The process ignores even SIGKILL (e.g. stuck in the kernel): stop waiting.
                    let proc = att.phase.proc();
                    tracing::warn!("a terminated process does not exit; no longer waiting for it");
                    if self.slots[i].program.proc() == Some(proc) {
                        self.slots[i].program = Program::Killed {
                            proc,
                            since: *since,
                        };
                    }
                    if let Some((reason, _)) =
                        self.slots[i].attempt.as_mut().and_then(|a| a.kill.take())
                    {
                        self.finalize_kill(i, reason, None, now, out);
                    }
                }
                Some(_) => {}
            }
        }
        for slot in &mut self.slots {
            match slot.program {
                Program::Closing { proc, since }
                    if now.at.duration_since(since) > self.policy.exit_wait =>
                {
                    out.push(Action::Terminate(proc));
                    slot.program = Program::Killed {
                        proc,
                        since: now.at,
                    };
                }
                Program::Killed { since, .. }
                    if slot.attempt.is_none() && now.at.duration_since(since) > give_up_waiting =>
                {
                    slot.program = Program::Absent;
                }
                _ => {}
            }
        }
        if self.shutdown.is_none() && self.policy.deadline_unix.is_some() && !self.fits(now) {
            let why = self.walltime_message();
            self.escalate(Shutdown::Walltime(why), now, out);
        }
    }

    /// Whether the attempt on slot `i` ran out of time, and how. While the slot's program is
    /// fresh (it has neither said it is ready nor reported a block), the attempt may also use
    /// the program's start-up allowance: it is overdue only once both the start-up limit
    /// (from the program's start) and the task's timeout (from the hand-over) have passed.
    fn overdue(&self, i: usize, att: &Attempt, now: Now) -> Option<KillReason> {
        let slot = &self.slots[i];
        let block_over = |limit: Duration| now.at.duration_since(att.started) > limit;
        let starting = !slot.program_ready
            && matches!(att.phase, Phase::Run(p) if slot.program == Program::Up(p));
        if starting {
            let startup = self.policy.startup_timeout.or(self.policy.timeout)?;
            let since = slot.program_started?;
            let startup_over = now.at.duration_since(since) > startup;
            let over = startup_over && self.policy.timeout.is_none_or(block_over);
            return over.then_some(KillReason::StartupTimeout(startup));
        }
        let limit = self.policy.timeout?;
        block_over(limit).then_some(KillReason::Timeout)
    }

    fn finalize_kill(
        &mut self,
        i: usize,
        reason: KillReason,
        exit: Option<&Exit>,
        now: Now,
        out: &mut Vec<Action>,
    ) {
        match reason {
            KillReason::Timeout => {
                let limit = self.policy.timeout.unwrap_or_default();
                let msg = format!(
                    "the block ran longer than the task's timeout of {:.1}s; its process group \
                     was terminated",
                    limit.as_secs_f64()
                );
                self.finish(i, failed(FailureKind::Timeout, msg), exit, now, out);
            }
            KillReason::Protocol(msg) => {
                self.finish(i, failed(FailureKind::BlockError, msg), exit, now, out)
            }
            KillReason::StartupTimeout(limit) => {
                let msg = format!(
                    "the worker program neither said it was ready (the Python helper does when \
                     the loop first asks for a block) nor reported its first block within {:.1}s \
                     of starting; it was terminated. If its start-up (e.g. loading a model) is \
                     legitimately slow, raise worker.startup_timeout",
                    limit.as_secs_f64()
                );
                self.finish(i, failed(FailureKind::Timeout, msg.clone()), exit, now, out);
                self.count_crash(i, &msg, now, out);
            }
            KillReason::Revoked | KillReason::Shutdown => self.slots[i].attempt = None,
        }
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
        if outcome != Outcome::Skipped {
            let took = now.at.duration_since(att.started);
            self.durations.add(took);
            self.recent.add(took);
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
#[path = "state_tests.rs"]
mod tests;
