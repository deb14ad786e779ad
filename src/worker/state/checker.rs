//! The slot's persistent check program (`"check": {"persistent": true}`): started on the
//! first check, fed one block at a time, its answers, and its deaths. See
//! `docs/design/checks.md`.

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
        let Some(att) = self.slots[i].attempt.as_mut() else {
            tracing::warn!(
                "ignoring an answer from a check program with no block to check: {line}"
            );
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
                let why = why.map(|w| format!(": {w}")).unwrap_or_default();
                let msg = format!(
                    "the check program said block {block} is not done after the block was \
                     reported done{why}"
                );
                self.finish(i, failed(FailureKind::CheckFailed, msg), None, now, out)
            }
        }
    }

    /// The check program of slot `i` ended (`exit` is `None` if it never started). The block
    /// it was checking fails with `CheckFailed`; deaths in a row without an answer count
    /// toward the crash bound. A new one starts with the next check.
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
        let how = exit.map_or_else(|| "could not start".to_owned(), |e| e.describe());
        let checking = self.slots[i]
            .attempt
            .as_ref()
            .is_some_and(|a| a.phase.proc() == proc && !matches!(a.phase, Phase::Run(_)));
        if checking {
            if let Some(att) = self.slots[i].attempt.as_mut() {
                if let Some(usage) = exit.map(|e| e.usage) {
                    att.add_usage(&usage);
                }
                match att.kill.take() {
                    Some((reason, _)) => self.finalize_kill(i, reason, exit.as_ref(), now, out),
                    None => {
                        let block = att.job.key.block;
                        let msg = format!(
                            "the check program died ({how}) while checking block {block}{}",
                            tail_suffix(tail)
                        );
                        let outcome = failed(FailureKind::CheckFailed, msg);
                        self.finish(i, outcome, exit.as_ref(), now, out);
                    }
                }
            }
        }
        if !unexpected {
            return;
        }
        self.slots[i].checker_crashes += 1;
        let crashes = self.slots[i].checker_crashes;
        if crashes >= self.policy.max_program_crashes {
            let why = format!(
                "the check program of slot {i} ended {crashes} times in a row without answering \
                 (last: {how}{})",
                tail_suffix(tail)
            );
            self.escalate(Shutdown::GaveUp(why), now, out);
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
        if checking {
            let msg = "the check program closed its report channel (fd 3) but kept running, so \
                       it could never answer; it was restarted"
                .to_owned();
            return self.kill_attempt(i, KillReason::Protocol(msg), now, out);
        }
        out.push(Action::Terminate(proc));
        self.slots[i].checker = Program::Killed {
            proc,
            since: now.at,
        };
    }
}
