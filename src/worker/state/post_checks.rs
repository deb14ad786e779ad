//! Write-ahead into the worker program beside a persistent check program: blocks whose
//! pre-check answered "not done" are written to the worker behind its running block, and a
//! block the worker reported done waits for its post-check in the check program's stdin
//! (`Slot::post`) while the worker runs the next one. See `docs/design/checks.md`.

use super::*;

impl AgentState {
    /// True when the worker program of slot `i` gets blocks written ahead although a check
    /// program checks them: persistent worker and check programs, write-ahead on, recent
    /// blocks short (the `pipeline::depth` rule).
    pub(super) fn checks_behind_worker(&self) -> bool {
        self.policy.persistent_check
            && !self.policy.per_block
            && self.policy.write_ahead
            && depth(&self.recent) > 1
    }

    /// The worker reported the attempt of slot `i` done: it leaves the slot's attempt and waits
    /// for its post-check behind what the check program holds, so the worker can take up the
    /// next block at once.
    pub(super) fn post_check_behind(&mut self, i: usize, now: Now, out: &mut Vec<Action>) {
        let Some(message) = self.attempt_message(i) else {
            return;
        };
        let Some(proc) = self.check_process(i, &message, out) else {
            return self.check_unavailable(i, now, out);
        };
        if let Some(mut att) = self.slots[i].attempt.take() {
            // The worker is done with it: that is how long it kept the slot busy. The wait for
            // its answer behind other checks would make short blocks look long.
            self.recent.add(now.at.duration_since(att.started));
            att.counted = true;
            att.phase = Phase::PostCheck(proc);
            self.slots[i].post.push_back(att);
        }
    }

    /// While the worker program of slot `i` runs a block, the pre-checks answered in front of
    /// the check program's queue move on: done → `Skipped` at once (it never reaches the
    /// worker); not done → written ahead to the worker (it starts when the worker takes it
    /// up), up to the write-ahead depth.
    pub(super) fn pipe_checked(&mut self, i: usize, now: Now, out: &mut Vec<Action>) {
        if !self.checks_behind_worker() {
            return;
        }
        let depth = depth(&self.recent);
        loop {
            let slot = &mut self.slots[i];
            let (Program::Up(prog), Some(att)) = (slot.program, &slot.attempt) else {
                return;
            };
            if att.phase != Phase::Run(prog) || att.kill.is_some() {
                return;
            }
            let room = 1 + slot.piped.len() < depth;
            let answer = match slot.check_ahead.front() {
                Some((_, Some(done))) if *done || room => *done,
                _ => return,
            };
            let Some((job, _)) = slot.check_ahead.pop_front() else {
                return;
            };
            if answer {
                out.push(started(&job, i, now));
                let att = Attempt::new(job, Phase::PreCheck(ProcId(0)), now.at, now.unix_us);
                self.finish_attempt(i, att, Outcome::Skipped, None, now, out);
            } else {
                out.push(Action::Send {
                    slot: i as u32,
                    proc: prog,
                    block: job.message.clone(),
                    ahead: true,
                });
                slot.piped.push_back(job);
            }
        }
    }

    /// The check program of slot `i` answered the post-check of `post[pos]`.
    pub(super) fn on_post_answer(
        &mut self,
        i: usize,
        pos: usize,
        line: &str,
        usage: &crate::worker::usage::Usage,
        now: Now,
        out: &mut Vec<Action>,
    ) {
        let block = self.slots[i].post[pos].job.key.block;
        let report = match parse_report_about(line, block, "the check program", "checking") {
            Ok(report) => report,
            Err(problem) => {
                let msg = format!("{problem}; the check program was restarted");
                return self.kill_post(i, pos, KillReason::Protocol(msg), now, out);
            }
        };
        let Some(mut att) = self.slots[i].post.remove(pos) else {
            return;
        };
        att.add_usage(usage);
        self.slots[i].checker_crashes = 0;
        let run_exit = att.run_exit;
        let outcome = match report.status {
            ReportStatus::Done | ReportStatus::Skipped => Outcome::Done,
            ReportStatus::NotDone(why) => not_done_after_run(block, why),
            ReportStatus::Failed(error) => not_done_after_run(block, Some(error)),
        };
        self.finish_attempt(i, att, outcome, run_exit.as_ref(), now, out);
    }

    /// Terminates the check program of slot `i` for `post[pos]`: that attempt ends with
    /// `reason` once the program has exited; the others it holds are sent again to the next.
    pub(super) fn kill_post(
        &mut self,
        i: usize,
        pos: usize,
        reason: KillReason,
        now: Now,
        out: &mut Vec<Action>,
    ) {
        let slot = &mut self.slots[i];
        let Some(att) = slot.post.get_mut(pos) else {
            return;
        };
        if att.kill.is_none() {
            att.kill = Some((reason, now.at));
        }
        if let Program::Up(proc) | Program::Closing { proc, .. } = slot.checker {
            out.push(Action::Terminate(proc));
            slot.checker = Program::Killed {
                proc,
                since: now.at,
            };
        }
    }

    /// Post-checks that ran past the task's timeout terminate the check program holding them.
    pub(super) fn post_timeouts(&mut self, now: Now, out: &mut Vec<Action>) {
        let Some(limit) = self.policy.timeout else {
            return;
        };
        for i in 0..self.slots.len() {
            let over = self.slots[i]
                .post
                .iter()
                .position(|a| a.kill.is_none() && now.at.duration_since(a.started) > limit);
            if let Some(pos) = over {
                self.kill_post(i, pos, KillReason::Timeout, now, out);
            }
        }
    }

    /// A hard stop: every post-check waiting in the check program of slot `i` is given back
    /// (with `reason`) once that program has exited.
    pub(super) fn give_back_posts(&mut self, i: usize, reason: &KillReason, now: Now) {
        for att in &mut self.slots[i].post {
            if att.kill.is_none() {
                att.kill = Some((reason.clone(), now.at));
            }
        }
    }

    /// The check program of slot `i` has exited: post-checks it was terminated for end with
    /// their reason, the one it was working on (`working_on`) fails if it died
    /// (`died` says how), and the others are returned, to be sent to the next check program.
    pub(super) fn end_posts(
        &mut self,
        i: usize,
        died: Option<&dyn Fn(u64) -> String>,
        working_on: Option<u64>,
        exit: Option<&Exit>,
        now: Now,
        out: &mut Vec<Action>,
    ) -> Vec<Attempt> {
        let mut resend = Vec::new();
        for mut att in std::mem::take(&mut self.slots[i].post) {
            if let Some(usage) = exit.map(|e| e.usage) {
                att.add_usage(&usage);
            }
            let block = att.job.key.block;
            match (att.kill.take(), died) {
                (Some((reason, _)), _) => self.end_killed_post(i, att, reason, exit, now, out),
                (None, Some(died)) if working_on == Some(block) => {
                    let outcome = failed(FailureKind::CheckFailed, died(block));
                    self.finish_attempt(i, att, outcome, exit, now, out);
                }
                (None, _) => resend.push(att),
            }
        }
        resend
    }

    /// Ends the post-check `att` whose check program was terminated for `reason`.
    fn end_killed_post(
        &mut self,
        i: usize,
        att: Attempt,
        reason: KillReason,
        exit: Option<&Exit>,
        now: Now,
        out: &mut Vec<Action>,
    ) {
        let outcome = match reason {
            KillReason::Timeout | KillReason::StartupTimeout(_) => {
                failed(FailureKind::Timeout, self.timeout_message())
            }
            KillReason::Protocol(msg) => failed(FailureKind::CheckFailed, msg),
            KillReason::Revoked | KillReason::GiveBack(None) => return,
            KillReason::GiveBack(Some(reason)) => {
                out.push(abandoned(att.job.key, reason, now));
                return;
            }
        };
        self.finish_attempt(i, att, outcome, exit, now, out);
    }

    /// Sends the post-checks `resend` (their check program ended) to the slot's next check
    /// program; given back if the agent gave up on it.
    pub(super) fn resend_posts(
        &mut self,
        i: usize,
        resend: Vec<Attempt>,
        now: Now,
        out: &mut Vec<Action>,
    ) {
        for mut att in resend {
            if let Some(s) = self.shutdown.as_ref().filter(|s| s.is_hard()) {
                if s.reports() {
                    out.push(abandoned(att.job.key, s.give_back_reason(), now));
                }
                continue;
            }
            let Some(proc) = self.check_process(i, &att.job.message, out) else {
                let msg = "the check program was being stopped when the block's check was due";
                self.finish_attempt(
                    i,
                    att,
                    failed(FailureKind::CheckFailed, msg.into()),
                    None,
                    now,
                    out,
                );
                continue;
            };
            att.phase = Phase::PostCheck(proc);
            self.slots[i].post.push_back(att);
        }
    }
}

/// The outcome of a block the check program calls not done after it ran (`why`: its words).
pub(super) fn not_done_after_run(block: u64, why: Option<String>) -> Outcome {
    let why = why.map(|w| format!(": {w}")).unwrap_or_default();
    let msg = format!(
        "the check program said block {block} is not done after the block was reported done{why}"
    );
    failed(FailureKind::CheckFailed, msg)
}
