//! Time: heartbeats, block timeouts and the start-up allowance, terminated processes that
//! do not go away, and the job's walltime.

use super::*;

impl AgentState {
    pub(super) fn fits(&self, now: Now) -> bool {
        block_fits(
            now.unix_us as f64 / 1e6,
            self.policy.deadline_unix,
            &self.durations,
            self.policy.deadline_margin,
        )
    }

    pub(super) fn walltime_message(&self) -> String {
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

    pub(super) fn on_tick(&mut self, now: Now, out: &mut Vec<Action>) {
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
    pub(super) fn overdue(&self, i: usize, att: &Attempt, now: Now) -> Option<KillReason> {
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

    pub(super) fn finalize_kill(
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
}
