//! Carrying out a cancel: the scheduler jobs through each backend's one cancel entry point
//! ([`crate::backend::array_scheduler::cancel_jobs`] for [`Slurm`] and for [`Lsf`]), SIGTERM
//! to local agents that still exist.

use super::owner::{sigterm, OwnerAction};
use super::report::{CancelReport, CancelledJob};
use super::targets::{CancelTargets, JobTarget, SkippedWorker};
use crate::backend::array_scheduler::{cancel_jobs, CancelBatch};
use crate::backend::command::{CommandError, CommandOutput, CommandRunner};
use crate::backend::lsf::Lsf;
use crate::backend::slurm::Slurm;
use crate::ledger::pid_alive;

/// Runs scheduler commands and signals processes (a trait so that tests record instead).
pub trait Terminator {
    /// Runs `program args…` and returns its output.
    fn run(&mut self, program: &str, args: &[String]) -> Result<CommandOutput, CommandError>;
    /// Whether process `pid` exists on this host.
    fn alive(&mut self, pid: u32) -> bool;
    /// Sends SIGTERM to process `pid`.
    fn terminate(&mut self, pid: u32) -> std::io::Result<()>;
}

/// The real [`Terminator`]: scheduler commands with a timeout, `kill(2)`.
#[derive(Debug, Default)]
pub struct SystemTerminator {
    runner: CommandRunner,
}

impl Terminator for SystemTerminator {
    fn run(&mut self, program: &str, args: &[String]) -> Result<CommandOutput, CommandError> {
        self.runner.run(program, args, None)
    }
    fn alive(&mut self, pid: u32) -> bool {
        pid_alive(pid)
    }
    fn terminate(&mut self, pid: u32) -> std::io::Result<()> {
        sigterm(pid)
    }
}

fn job_ids(jobs: &[JobTarget]) -> Vec<String> {
    jobs.iter().map(|j| j.job_id.clone()).collect()
}

/// Adds the jobs of the batches that succeeded to the report, and the failures.
fn record(
    backend: &'static str,
    jobs: &[JobTarget],
    batches: Vec<CancelBatch>,
    report: &mut CancelReport,
) {
    for batch in batches {
        if let Some(failure) = batch.failure {
            report.failures.push(failure);
            continue;
        }
        for id in batch.ids {
            let worker = jobs.iter().find(|j| j.job_id == id);
            report.cancelled.push(CancelledJob {
                backend,
                worker_id: worker.map(|j| j.worker_id.clone()).unwrap_or_default(),
                id,
            });
        }
    }
}

/// Cancels `targets`: `scancel` / `bkill` with exactly their job ids (batched), SIGTERM to
/// local agents that still exist.
pub fn execute_cancel(
    ledger: &str,
    owner: OwnerAction,
    targets: CancelTargets,
    term: &mut dyn Terminator,
) -> CancelReport {
    let mut report = CancelReport {
        ledger: ledger.to_string(),
        owner,
        cancelled: Vec::new(),
        skipped: targets.skipped,
        failures: Vec::new(),
    };
    let slurm_ids = job_ids(&targets.slurm);
    let batches = cancel_jobs::<Slurm>(&slurm_ids, |program, args| term.run(program, args));
    record("slurm", &targets.slurm, batches, &mut report);
    let lsf_ids = job_ids(&targets.lsf);
    let batches = cancel_jobs::<Lsf>(&lsf_ids, |program, args| term.run(program, args));
    record("lsf", &targets.lsf, batches, &mut report);
    for t in targets.local {
        if !term.alive(t.pid) {
            report.skipped.push(SkippedWorker {
                worker_id: t.worker_id,
                reason: format!("its process {} already exited", t.pid),
            });
            continue;
        }
        match term.terminate(t.pid) {
            Ok(()) => report.cancelled.push(CancelledJob {
                backend: "local",
                worker_id: t.worker_id,
                id: t.pid.to_string(),
            }),
            Err(e) => report.failures.push(format!(
                "cannot send SIGTERM to agent {} (pid {}): {e}",
                t.worker_id, t.pid
            )),
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cancel::LocalTarget;

    #[derive(Default)]
    struct Recorder {
        calls: Vec<String>,
        dead: Vec<u32>,
        fail_program: Option<&'static str>,
        /// A failing answer of the failing program (default: the controller is unreachable).
        fail_stderr: Option<&'static str>,
    }

    impl Terminator for Recorder {
        fn run(&mut self, program: &str, args: &[String]) -> Result<CommandOutput, CommandError> {
            self.calls.push(format!("{program} {}", args.join(" ")));
            let fail = self.fail_program == Some(program);
            Ok(CommandOutput {
                command_line: program.to_string(),
                code: Some(i32::from(fail)),
                stdout: String::new(),
                stderr: if fail {
                    self.fail_stderr
                        .unwrap_or("scancel: error: Unable to contact slurm controller")
                        .into()
                } else {
                    String::new()
                },
            })
        }
        fn alive(&mut self, pid: u32) -> bool {
            !self.dead.contains(&pid)
        }
        fn terminate(&mut self, pid: u32) -> std::io::Result<()> {
            self.calls.push(format!("kill -TERM {pid}"));
            Ok(())
        }
    }

    fn job(w: &str, id: &str) -> JobTarget {
        JobTarget {
            worker_id: w.into(),
            job_id: id.into(),
        }
    }

    #[test]
    fn cancels_exactly_the_registered_jobs_per_backend() {
        let targets = CancelTargets {
            slurm: vec![job("s0", "77_0"), job("s1", "77_1")],
            lsf: vec![job("l0", "88[1]")],
            local: vec![
                LocalTarget {
                    worker_id: "a".into(),
                    pid: 10,
                },
                LocalTarget {
                    worker_id: "b".into(),
                    pid: 11,
                },
            ],
            skipped: vec![],
        };
        let mut rec = Recorder {
            dead: vec![11],
            ..Recorder::default()
        };
        let report = execute_cancel("x.ledger", OwnerAction::NotRunning, targets, &mut rec);
        assert_eq!(
            rec.calls,
            ["scancel 77_0 77_1", "bkill 88[1]", "kill -TERM 10"]
        );
        assert_eq!(report.cancelled.len(), 4);
        assert_eq!(report.skipped.len(), 1);
        assert!(report.failures.is_empty());
        assert!(!report.nothing_to_cancel());
    }

    #[test]
    fn failed_commands_are_reported_and_finished_jobs_are_not_failures() {
        let targets = CancelTargets {
            slurm: vec![job("s0", "77_0")],
            ..CancelTargets::default()
        };
        let mut rec = Recorder {
            fail_program: Some("scancel"),
            ..Recorder::default()
        };
        let report = execute_cancel("x", OwnerAction::NotRunning, targets, &mut rec);
        assert_eq!(report.failures.len(), 1);
        assert!(report.cancelled.is_empty());
        // A failure that only says the job already ended is not a failure; one that says
        // nothing is.
        let gone = |program, stderr| {
            let mut rec = Recorder {
                fail_program: Some(program),
                fail_stderr: Some(stderr),
                ..Recorder::default()
            };
            let targets = CancelTargets {
                slurm: vec![job("s0", "77_0")],
                lsf: vec![job("l0", "88[1]")],
                ..CancelTargets::default()
            };
            let report = execute_cancel("x", OwnerAction::NotRunning, targets, &mut rec);
            report.failures.is_empty() && report.cancelled.len() == 2
        };
        assert!(gone(
            "scancel",
            "scancel: error: Kill job error on job id 23: Job/step already completing or completed\n"
        ));
        assert!(gone("bkill", "Job <88[1]>: Job has already finished\n"));
        assert!(!gone("scancel", ""));
        assert!(!gone("bkill", ""));
        let empty = execute_cancel(
            "x",
            OwnerAction::NotRunning,
            CancelTargets::default(),
            &mut rec,
        );
        assert!(empty.nothing_to_cancel());
    }
}
