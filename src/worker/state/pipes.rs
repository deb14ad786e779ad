//! Blocks written ahead to a persistent program's stdin (see `pipeline.rs`): filling the
//! pipes, starting the next block when one is reported, and what happens to the blocks
//! behind a program that ended.

use super::*;

impl AgentState {
    /// Writes queued blocks ahead to the stdin of persistent programs that run short blocks
    /// (see `pipeline`), one block per slot in turn so the slots share the queue.
    pub(super) fn fill_pipes(&mut self, now: Now, out: &mut Vec<Action>) {
        if self.policy.per_block
            || self.policy.has_check
            || !self.policy.write_ahead
            || self.shutdown.is_some()
        {
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
        // The idle-slot dispatch escalates when a block no longer fits.
        self.write_ahead_from_queue(wants, now, out, |slot, job| slot.piped.push_back(job));
    }

    /// Writes queued blocks ahead to the programs in `wants` (slot, program, how many), one
    /// block per slot in turn so the slots share the queue, while blocks fit in the walltime;
    /// `keep` files each block written on its slot.
    pub(super) fn write_ahead_from_queue(
        &mut self,
        mut wants: Vec<(usize, ProcId, usize)>,
        now: Now,
        out: &mut Vec<Action>,
        keep: fn(&mut Slot, Job),
    ) {
        while !wants.is_empty() && !self.queue.is_empty() && self.fits(now) {
            for want in &mut wants {
                let Some(job) = self.queue.pop_front() else {
                    break;
                };
                let (i, proc, _) = *want;
                out.push(Action::Send {
                    slot: i as u32,
                    proc,
                    block: job.message.clone(),
                    ahead: true,
                });
                keep(&mut self.slots[i], job);
                want.2 -= 1;
            }
            wants.retain(|w| w.2 > 0);
        }
    }

    /// Starts the next block waiting in the stdin of slot `i`'s program, once the one before
    /// it was reported (the program takes it up right away).
    pub(super) fn advance_pipe(&mut self, i: usize, now: Now, out: &mut Vec<Action>) {
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
    pub(super) fn requeue_piped(&mut self, i: usize, now: Now, out: &mut Vec<Action>) {
        let piped = std::mem::take(&mut self.slots[i].piped).into();
        self.requeue(piped, now, out);
    }

    /// Blocks that never started (they waited in an ended program's stdin): queued again in
    /// their order, or given back when the agent no longer runs its queue.
    pub(super) fn requeue(&mut self, piped: Vec<Job>, now: Now, out: &mut Vec<Action>) {
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
}
