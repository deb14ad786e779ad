//! The slot's persistent check program (`"check": {"persistent": true}`): started on the
//! first check, fed the attempt's block and pre-checks written ahead, its answers (in the
//! order the blocks were written), and its deaths. See `docs/design/checks.md`.

use super::*;

impl AgentState {
    /// The slot whose persistent check program is `proc`.
    pub(super) fn checker_slot(&self, proc: ProcId) -> Option<usize> {
        self.slots
            .iter()
            .position(|s| s.checker.proc() == Some(proc))
    }

    /// The slot's check program, started if it is not running; `None` while an old one is
    /// still being stopped (it cannot take a block).
    pub(super) fn ensure_checker(&mut self, i: usize, out: &mut Vec<Action>) -> Option<ProcId> {
        match self.slots[i].checker {
            Program::Up(p) => Some(p),
            Program::Absent => {
                let proc = self.new_proc();
                self.slots[i].checker = Program::Up(proc);
                out.push(Action::Spawn {
                    slot: i as u32,
                    proc,
                    kind: ProcKind::Checker,
                });
                Some(proc)
            }
            Program::Closing { .. } | Program::Killed { .. } => None,
        }
    }

    /// The check program `proc` of slot `i` answered on fd 3.
    pub(super) fn on_check_report(
        &mut self,
        i: usize,
        proc: ProcId,
        line: &str,
        usage: &crate::worker::usage::Usage,
        now: Now,
        out: &mut Vec<Action>,
    ) {
        if matches!(self.slots[i].checker, Program::Killed { .. }) {
            return; // terminated: what it checked ends (or goes back) with its exit
        }
        let Some(front) = self.slots[i].check_fifo.pop_front() else {
            tracing::warn!("ignoring an answer from a check program with nothing to check: {line}");
            return;
        };
        let current = self.slots[i].attempt.as_ref().is_some_and(|a| {
            a.job.key.block == front && a.phase.proc() == proc && !matches!(a.phase, Phase::Run(_))
        });
        if !current {
            let post = self.slots[i]
                .post
                .iter()
                .position(|a| a.job.key.block == front);
            if let Some(pos) = post {
                return self.on_post_answer(i, pos, line, usage, now, out);
            }
            return self.on_ahead_answer(i, front, line, now, out);
        }
        let Some(att) = self.slots[i].attempt.as_mut() else {
            return;
        };
        let pre = match att.phase {
            Phase::PreCheck(p) if p == proc => true,
            Phase::PostCheck(p) if p == proc => false,
            _ => {
                tracing::warn!("ignoring an answer from a check program not checking: {line}");
                return;
            }
        };
        if att.kill.is_some() {
            return; // terminated: its attempt ends with its exit
        }
        let block = att.job.key.block;
        let report = match parse_report_about(line, block, "the check program", "checking") {
            Ok(report) => report,
            Err(problem) => {
                let msg = format!("{problem}; the check program was restarted");
                return self.kill_attempt(i, KillReason::Protocol(msg), now, out);
            }
        };
        att.add_usage(usage);
        let run_exit = att.run_exit;
        self.slots[i].checker_crashes = 0;
        let not_done = match report.status {
            ReportStatus::Done | ReportStatus::Skipped => None,
            ReportStatus::NotDone(why) => Some(why),
            ReportStatus::Failed(error) => Some(Some(error)),
        };
        match (pre, not_done) {
            (true, None) => self.finish(i, Outcome::Skipped, None, now, out),
            (true, Some(_)) => self.begin_run(i, now, out),
            (false, None) => self.finish(i, Outcome::Done, run_exit.as_ref(), now, out),
            (false, Some(why)) => {
                let outcome = post_checks::not_done_after_run(block, why);
                self.finish(i, outcome, None, now, out)
            }
        }
    }

    /// The check program of slot `i` ended (`exit` is `None` if it never started). The block
    /// it was checking fails with `CheckFailed`; deaths in a row without an answer count
    /// toward the crash bound. What it held besides is sent again to the next check program
    /// (checks of started attempts) or queued again (pre-checks written ahead), only now that
    /// it is gone.
    pub(super) fn checker_ended(
        &mut self,
        i: usize,
        proc: ProcId,
        exit: Option<Exit>,
        tail: &str,
        now: Now,
        out: &mut Vec<Action>,
    ) {
        let unexpected = self.slots[i].checker == Program::Up(proc);
        self.slots[i].checker = Program::Absent;
        // It answers in order: the block it was working on is the first one unanswered.
        let working_on = self.slots[i].check_fifo.front().copied();
        self.slots[i].check_fifo.clear();
        let how = exit.map_or_else(|| "could not start".to_owned(), |e| e.describe());
        let died = |block: u64| {
            format!(
                "the check program died ({how}) while checking block {block}{}",
                tail_suffix(tail)
            )
        };
        let checking = self.slots[i]
            .attempt
            .as_ref()
            .is_some_and(|a| a.phase.proc() == proc && !matches!(a.phase, Phase::Run(_)));
        // The attempt's check waited behind other checks (or the program was stopped for
        // another block): it is sent again to the next check program rather than failed.
        let mut recheck = false;
        if checking {
            if let Some(att) = self.slots[i].attempt.as_mut() {
                if let Some(usage) = exit.map(|e| e.usage) {
                    att.add_usage(&usage);
                }
                let block = att.job.key.block;
                match att.kill.take() {
                    Some((reason, _)) => self.finalize_kill(i, reason, exit.as_ref(), now, out),
                    None if unexpected && working_on.is_none_or(|b| b == block) => {
                        let outcome = failed(FailureKind::CheckFailed, died(block));
                        self.finish(i, outcome, exit.as_ref(), now, out);
                    }
                    None => recheck = true,
                }
            }
        }
        let dying: Option<&dyn Fn(u64) -> String> = if unexpected { Some(&died) } else { None };
        let resend = self.end_posts(i, dying, working_on, exit.as_ref(), now, out);
        // The pre-check written ahead it was working on fails; the others never started:
        // queued again (or given back) now that the program is gone.
        let mut ahead = std::mem::take(&mut self.slots[i].check_ahead);
        if unexpected {
            let pos = working_on.and_then(|b| ahead.iter().position(|(j, _)| j.key.block == b));
            if let Some((job, _)) = pos.and_then(|p| ahead.remove(p)) {
                let msg = died(job.key.block);
                self.fail_unstarted(i, &job, msg, exit.as_ref(), now, out);
            }
        }
        self.requeue(ahead.into_iter().map(|(job, _)| job).collect(), now, out);
        if unexpected {
            self.slots[i].checker_crashes += 1;
        }
        let crashes = self.slots[i].checker_crashes;
        if unexpected && crashes >= self.policy.max_program_crashes {
            if recheck {
                let block = self.slots[i]
                    .attempt
                    .as_ref()
                    .map_or(0, |a| a.job.key.block);
                let outcome = failed(FailureKind::CheckFailed, died(block));
                self.finish(i, outcome, exit.as_ref(), now, out);
            }
            let why = format!(
                "the check program of slot {i} ended {crashes} times in a row without answering \
                 (last: {how}{})",
                tail_suffix(tail)
            );
            self.escalate(Shutdown::GaveUp(why), now, out);
            return self.resend_posts(i, resend, now, out);
        }
        self.resend_posts(i, resend, now, out);
        if recheck {
            self.recheck(i, now, out);
        }
    }

    /// Sends the check the attempt on slot `i` waits for again (to a new check program).
    fn recheck(&mut self, i: usize, now: Now, out: &mut Vec<Action>) {
        let Some(message) = self.attempt_message(i) else {
            return;
        };
        let Some(proc) = self.check_process(i, &message, out) else {
            return self.check_unavailable(i, now, out);
        };
        if let Some(att) = self.slots[i].attempt.as_mut() {
            att.phase = match att.phase {
                Phase::PreCheck(_) => Phase::PreCheck(proc),
                _ => Phase::PostCheck(proc),
            };
        }
    }

    /// The check program closed fd 3 but runs on: the block it checks fails, and it is
    /// stopped (and restarted on the next check).
    pub(super) fn on_checker_report_closed(
        &mut self,
        i: usize,
        proc: ProcId,
        now: Now,
        out: &mut Vec<Action>,
    ) {
        if self.slots[i].checker != Program::Up(proc) {
            return;
        }
        let checking = self.slots[i]
            .attempt
            .as_ref()
            .is_some_and(|a| a.phase.proc() == proc);
        let msg = "the check program closed its report channel (fd 3) but kept running, so it \
                   could never answer; it was restarted"
            .to_owned();
        if checking {
            return self.kill_attempt(i, KillReason::Protocol(msg), now, out);
        }
        if !self.slots[i].post.is_empty() {
            return self.kill_post(i, 0, KillReason::Protocol(msg), now, out);
        }
        out.push(Action::Terminate(proc));
        self.slots[i].checker = Program::Killed {
            proc,
            since: now.at,
        };
    }
}

impl AgentState {
    /// The check program answered the pre-check of `block`, written ahead behind the attempt:
    /// the answer is kept until the block starts. A report that is not about `block` fails
    /// that block (it is started and failed here) and restarts the check program.
    fn on_ahead_answer(
        &mut self,
        i: usize,
        block: u64,
        line: &str,
        now: Now,
        out: &mut Vec<Action>,
    ) {
        let slot = &mut self.slots[i];
        let Some(pos) = slot
            .check_ahead
            .iter()
            .position(|(j, answer)| j.key.block == block && answer.is_none())
        else {
            tracing::warn!("ignoring an answer about a block no longer held: {line}");
            return;
        };
        match parse_report_about(line, block, "the check program", "checking") {
            Ok(report) => {
                let done = matches!(report.status, ReportStatus::Done | ReportStatus::Skipped);
                slot.check_ahead[pos].1 = Some(done);
                slot.checker_crashes = 0;
            }
            Err(problem) => {
                let Some((job, _)) = slot.check_ahead.remove(pos) else {
                    return;
                };
                let msg = format!("{problem}; the check program was restarted");
                self.fail_unstarted(i, &job, msg.clone(), None, now, out);
                self.stop_checker(i, KillReason::Protocol(msg), now, out);
            }
        }
    }

    /// Starts and fails (`CheckFailed`, `msg`) at once the written-ahead pre-check `job` of
    /// slot `i` that the check program broke on.
    fn fail_unstarted(
        &self,
        i: usize,
        job: &Job,
        msg: String,
        exit: Option<&Exit>,
        now: Now,
        out: &mut Vec<Action>,
    ) {
        out.push(started(job, i, now));
        if self.reports() {
            let outcome = failed(FailureKind::CheckFailed, msg);
            let (at, cpu, rss) = (now.unix_us, None, None);
            out.push(self.finished_record(job.key, outcome, at, at, cpu, rss, exit, i));
        }
    }

    /// Terminates the check program of slot `i`: the attempt it checks ends with `reason`
    /// once it has exited, and the pre-checks written ahead go back then.
    pub(super) fn stop_checker(
        &mut self,
        i: usize,
        reason: KillReason,
        now: Now,
        out: &mut Vec<Action>,
    ) {
        let (Program::Up(proc) | Program::Closing { proc, .. }) = self.slots[i].checker else {
            return;
        };
        let checking = self.slots[i]
            .attempt
            .as_ref()
            .is_some_and(|a| a.phase.proc() == proc && !matches!(a.phase, Phase::Run(_)));
        if checking {
            return self.kill_attempt(i, reason, now, out);
        }
        out.push(Action::Terminate(proc));
        self.slots[i].checker = Program::Killed {
            proc,
            since: now.at,
        };
    }

    /// Writes queued blocks ahead to the check program's stdin for their pre-check, behind
    /// the attempt of slots whose recent blocks were short (see `pipeline`), one block per
    /// slot in turn so the slots share the queue.
    pub(super) fn fill_checks(&mut self, now: Now, out: &mut Vec<Action>) {
        if !self.policy.persistent_check || !self.policy.write_ahead || self.shutdown.is_some() {
            return;
        }
        let depth = depth(&self.recent);
        if depth <= 1 {
            return;
        }
        let mut wants: Vec<(usize, ProcId, usize)> = Vec::new();
        for (i, slot) in self.slots.iter().enumerate() {
            let (Some(att), Program::Up(proc)) = (&slot.attempt, slot.checker) else {
                continue;
            };
            // Post-checks are not counted: they queue behind the pre-checks, so the worker
            // cannot outrun the check program (each block it gets needs a pre-check answered
            // after every post-check written before it).
            let n = refill(1 + slot.check_ahead.len(), depth);
            if att.kill.is_none() && n > 0 {
                wants.push((i, proc, n));
            }
        }
        self.write_ahead_from_queue(wants, now, out, |slot, job| {
            slot.check_fifo.push_back(job.message.block_id);
            slot.check_ahead.push_back((job, None));
        });
    }

    /// Starts, on idle slots, the blocks whose pre-check was written ahead: answered done →
    /// `Skipped` at once; answered not done → the block runs; not answered yet → the attempt
    /// waits in its pre-check (its clock starts now).
    pub(super) fn advance_checked(&mut self, now: Now, out: &mut Vec<Action>) {
        for i in 0..self.slots.len() {
            loop {
                let slot = &mut self.slots[i];
                let Program::Up(proc) = slot.checker else {
                    break;
                };
                if slot.attempt.is_some() {
                    break;
                }
                let Some((job, answer)) = slot.check_ahead.pop_front() else {
                    break;
                };
                out.push(started(&job, i, now));
                // Placeholder phase for answered blocks, replaced by begin_run.
                let phase = match answer {
                    None => Phase::PreCheck(proc),
                    Some(_) => Phase::Run(ProcId(0)),
                };
                slot.attempt = Some(Attempt::new(job, phase, now.at, now.unix_us));
                match answer {
                    Some(true) => self.finish(i, Outcome::Skipped, None, now, out),
                    Some(false) => self.begin_run(i, now, out),
                    None => {}
                }
            }
            self.pipe_checked(i, now, out);
        }
    }
}
