//! Time: heartbeats, block timeouts and the start-up allowance, programs that do not exit
//! when their stdin is closed, and the job's walltime.

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
        let due = self.next_heartbeat.is_none_or(|t| now.at >= t);
        if due {
            self.next_heartbeat = Some(now.at + self.policy.heartbeat_interval);
            out.push(Action::Record(OutboxRecord::Heartbeat {
                time_us: now.unix_us,
            }));
        }
        // A terminated process is waited for as long as it takes: its attempt ends (failed,
        // given back) only with its exit, which the executor reports once the whole process
        // group is gone, so the block is never run again while something may still write it.
        for i in 0..self.slots.len() {
            let Some(att) = &self.slots[i].attempt else {
                continue;
            };
            if att.kill.is_none() {
                if let Some(reason) = self.overdue(i, att, now) {
                    self.kill_attempt(i, reason, now, out);
                }
            }
        }
        self.post_timeouts(now, out);
        for slot in &mut self.slots {
            for program in [&mut slot.program, &mut slot.checker] {
                if let Program::Closing { proc, since } = *program {
                    if now.at.duration_since(since) > self.policy.exit_wait {
                        out.push(Action::Terminate(proc));
                        *program = Program::Killed {
                            proc,
                            since: now.at,
                        };
                    }
                }
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

    /// Why an attempt that ran past the task's timeout failed.
    pub(super) fn timeout_message(&self) -> String {
        let limit = self.policy.timeout.unwrap_or_default();
        format!(
            "the block ran longer than the task's timeout of {:.1}s; its process group was \
             terminated",
            limit.as_secs_f64()
        )
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
                let msg = self.timeout_message();
                self.finish(i, failed(FailureKind::Timeout, msg), exit, now, out);
            }
            KillReason::Protocol(msg) => {
                let checking = self.slots[i]
                    .attempt
                    .as_ref()
                    .is_some_and(|a| !matches!(a.phase, Phase::Run(_)));
                let kind = if checking {
                    FailureKind::CheckFailed
                } else {
                    FailureKind::BlockError
                };
                self.finish(i, failed(kind, msg), exit, now, out)
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
            KillReason::Revoked | KillReason::GiveBack(None) => self.slots[i].attempt = None,
            KillReason::GiveBack(Some(reason)) => {
                if let Some(att) = self.slots[i].attempt.take() {
                    out.push(abandoned(att.job.key, reason, now));
                }
            }
        }
    }
}

impl AgentState {
    /// What the agent holds, for the inbox thread: hungry when a slot could take a block and
    /// none is queued; otherwise how long its blocks keep the slots busy (queued and piped
    /// blocks at the recent mean block time, running ones for what the mean leaves of them,
    /// spread over the slots), unknown before any block finished.
    pub fn holding(&self, now: std::time::Instant) -> Holding {
        if self.queue.is_empty() && self.slots.iter().any(Slot::can_take) {
            return Holding::Hungry;
        }
        let Some(mean) = self.recent.seconds() else {
            return Holding::Unknown;
        };
        let mean = Duration::from_secs_f64(mean);
        let mut total = mean.saturating_mul(self.queue.len() as u32);
        for slot in &self.slots {
            let held = slot.piped.len() + slot.check_ahead.len() + slot.post.len();
            total += mean.saturating_mul(held as u32);
            if let Some(att) = &slot.attempt {
                total += mean.saturating_sub(now.saturating_duration_since(att.started));
            }
        }
        Holding::Covered(total / self.slots.len().max(1) as u32)
    }
}
