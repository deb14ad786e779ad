//! What the agent's processes say and do: ready lines, reports on fd 3, exits, failed
//! starts, and the crash bound.

use super::*;

impl AgentState {
    /// The slot whose persistent program is `proc`.
    fn program_slot(&self, proc: ProcId) -> Option<usize> {
        self.slots
            .iter()
            .position(|s| s.program.proc() == Some(proc))
    }

    /// The slot whose attempt waits for the process `proc` (check or per-block process).
    fn attempt_slot(&self, proc: ProcId) -> Option<usize> {
        self.slots
            .iter()
            .position(|s| s.attempt.as_ref().is_some_and(|a| a.phase.proc() == proc))
    }

    /// The program finished starting: the block it was handed (if any) starts its timeout
    /// clock now, since it was not running while the program loaded.
    pub(super) fn on_ready(&mut self, proc: ProcId, now: Now) {
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

    /// The program closed fd 3 but runs on: it can never report again. Its running block
    /// fails (the program broke the protocol) and it is restarted; an idle one counts as a
    /// crash, so a program that always does this ends the agent instead of looping.
    pub(super) fn on_report_closed(&mut self, proc: ProcId, now: Now, out: &mut Vec<Action>) {
        if let Some(i) = self.checker_slot(proc) {
            return self.on_checker_report_closed(i, proc, now, out);
        }
        let Some(i) = self.program_slot(proc) else {
            return;
        };
        if self.slots[i].program != Program::Up(proc) {
            return; // already being stopped
        }
        let msg = "the worker program closed its report channel (fd 3) but kept running, so it \
                   could never report the block; it was restarted"
            .to_owned();
        if self.slot_running(proc) == Some(i) {
            return self.kill_attempt(i, KillReason::Protocol(msg), now, out);
        }
        out.push(Action::Terminate(proc));
        self.slots[i].program = Program::Killed {
            proc,
            since: now.at,
        };
        self.count_crash(i, &msg, now, out);
    }

    pub(super) fn on_report(
        &mut self,
        proc: ProcId,
        line: &str,
        usage: &crate::worker::usage::Usage,
        now: Now,
        out: &mut Vec<Action>,
    ) {
        if let Some(i) = self.checker_slot(proc) {
            return self.on_check_report(i, proc, line, usage, now, out);
        }
        let Some(i) = self.slot_running(proc) else {
            tracing::warn!("ignoring a report from a worker program with no block running: {line}");
            return;
        };
        let Some(att) = self.slots[i].attempt.as_mut() else {
            return;
        };
        // A block being given back may still be reported by its program before it exits (a
        // program that finishes its block on SIGTERM): the report counts. After any other
        // termination, or when a post-check would have to start, it does not.
        let counts = match att.kill {
            None => true,
            Some((KillReason::GiveBack(_), _)) => !self.policy.has_check,
            Some(_) => false,
        };
        if !counts {
            return;
        }
        let block = att.job.key.block;
        let report = match parse_report_about(line, block, "the worker program", "running") {
            Ok(report) => report,
            Err(problem) => {
                let msg = format!("{problem}; the program was restarted");
                return self.kill_attempt(i, KillReason::Protocol(msg), now, out);
            }
        };
        // The program's own time of the report (clamped to what the agent can vouch for) ends
        // this block and starts the next one written ahead.
        let now = Now {
            at: now.at,
            unix_us: report
                .time_us
                .map_or(now.unix_us, |t| t.clamp(att.start_us, now.unix_us)),
        };
        att.add_usage(usage);
        self.slots[i].crashes = 0;
        self.slots[i].program_ready = true;
        if report.exiting && self.slots[i].program == Program::Up(proc) {
            // It said it ends after this report: no more blocks for it, and no crash.
            out.push(Action::CloseStdin(proc));
            self.slots[i].program = Program::Closing {
                proc,
                since: now.at,
            };
        }
        match report.status {
            ReportStatus::Done if self.policy.has_check => self.begin_post_check(i, now, out),
            ReportStatus::Done => self.finish(i, Outcome::Done, None, now, out),
            ReportStatus::Failed(error) => {
                self.finish(i, failed(FailureKind::BlockError, error), None, now, out)
            }
            // It answered the pre-check itself: the block was already done.
            ReportStatus::Skipped => self.finish(i, Outcome::Skipped, None, now, out),
            ReportStatus::NotDone(_) => {
                let msg = "the worker program reported \"not_done\", an answer only a check \
                           program gives; a worker reports \"done\", \"failed\" or \"skipped\""
                    .to_owned();
                self.finish(i, failed(FailureKind::BlockError, msg), None, now, out)
            }
        }
        self.advance_pipe(i, now, out);
    }

    pub(super) fn on_exited(
        &mut self,
        proc: ProcId,
        exit: Exit,
        tail: &str,
        now: Now,
        out: &mut Vec<Action>,
    ) {
        if let Some(i) = self.program_slot(proc) {
            self.program_ended(i, proc, Some(exit), tail, now, out);
            return;
        }
        if let Some(i) = self.checker_slot(proc) {
            return self.checker_ended(i, proc, Some(exit), tail, now, out);
        }
        let Some(i) = self.attempt_slot(proc) else {
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
                    self.begin_post_check(i, now, out);
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
    pub(super) fn program_ended(
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
    pub(super) fn count_crash(
        &mut self,
        i: usize,
        last: &str,
        now: Now,
        out: &mut Vec<Action>,
    ) -> bool {
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

    pub(super) fn on_spawn_failed(
        &mut self,
        proc: ProcId,
        error: &str,
        now: Now,
        out: &mut Vec<Action>,
    ) {
        if let Some(i) = self.program_slot(proc) {
            return self.program_ended(i, proc, None, error, now, out);
        }
        if let Some(i) = self.checker_slot(proc) {
            return self.checker_ended(i, proc, None, error, now, out);
        }
        let Some(i) = self.attempt_slot(proc) else {
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
}
