//! `blockorch cancel`: cancel exactly the scheduler jobs of a run, read from the ledger's
//! worker registry (never by name or user), and stop its orchestrator if it runs here.

use crate::backend::command::error_chain;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::proof::prove_ours;
use crate::backend::slurm::{scancel_batches, CommandError, CommandOutput, CommandRunner};
use crate::ledger::{pid_alive, LedgerView, Liveness, OwnerStatus, DEFAULT_STALE_AFTER};

/// A scheduler job of a live worker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct JobTarget {
    /// Worker id.
    pub worker_id: String,
    /// Scheduler job id (`123_4` for a SLURM array element, `123[4]` for LSF).
    pub job_id: String,
}

/// A local agent process of a live worker on this host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LocalTarget {
    /// Worker id.
    pub worker_id: String,
    /// Agent pid (from its Hello).
    pub pid: u32,
}

/// A live worker that is not cancelled, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SkippedWorker {
    /// Worker id.
    pub worker_id: String,
    /// Why it is left alone.
    pub reason: String,
}

/// What `cancel` will act on, per backend.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CancelTargets {
    /// SLURM jobs (`scancel`).
    pub slurm: Vec<JobTarget>,
    /// LSF jobs (`bkill`).
    pub lsf: Vec<JobTarget>,
    /// Local agents (SIGTERM).
    pub local: Vec<LocalTarget>,
    /// Live workers left alone.
    pub skipped: Vec<SkippedWorker>,
}

impl CancelTargets {
    /// Adds the targets of `later` not already present (by worker id); a worker skipped
    /// before but targeted now is targeted.
    pub fn merge(&mut self, later: CancelTargets) {
        let mut known: BTreeSet<String> = self.worker_ids().collect();
        for t in later.slurm {
            if known.insert(t.worker_id.clone()) {
                self.slurm.push(t);
            }
        }
        for t in later.lsf {
            if known.insert(t.worker_id.clone()) {
                self.lsf.push(t);
            }
        }
        for t in later.local {
            if known.insert(t.worker_id.clone()) {
                self.local.push(t);
            }
        }
        let targeted: BTreeSet<String> = self.worker_ids().collect();
        self.skipped.retain(|s| !targeted.contains(&s.worker_id));
        for s in later.skipped {
            if !targeted.contains(&s.worker_id)
                && !self.skipped.iter().any(|k| k.worker_id == s.worker_id)
            {
                self.skipped.push(s);
            }
        }
    }

    fn worker_ids(&self) -> impl Iterator<Item = String> + '_ {
        self.slurm
            .iter()
            .chain(&self.lsf)
            .map(|t| t.worker_id.clone())
            .chain(self.local.iter().map(|t| t.worker_id.clone()))
    }
}

/// The jobs and processes of the workers the ledger's registry shows as not ended.
/// `this_host` decides which local agents can be signalled.
pub fn cancel_targets(view: &LedgerView, this_host: &str) -> CancelTargets {
    let mut out = CancelTargets::default();
    for w in &view.workers {
        let Some(entry) = &w.entry else { continue };
        if entry.ended.is_some() {
            continue;
        }
        let skip = |reason: String| SkippedWorker {
            worker_id: w.worker_id.clone(),
            reason,
        };
        match entry.backend.as_str() {
            "slurm" | "lsf" => match &entry.job_id {
                Some(job_id) => {
                    let t = JobTarget {
                        worker_id: w.worker_id.clone(),
                        job_id: job_id.clone(),
                    };
                    if entry.backend == "slurm" {
                        out.slurm.push(t);
                    } else {
                        out.lsf.push(t);
                    }
                }
                None => out
                    .skipped
                    .push(skip("registered without a job id".to_string())),
            },
            "local" => {
                let outbox = w.outbox.as_ref();
                match outbox.and_then(|o| o.hello.as_ref()) {
                    None => out.skipped.push(skip(
                        "it has not said hello yet, so its pid is unknown".to_string(),
                    )),
                    Some(_) if outbox.is_some_and(|o| o.bye.is_some()) => {
                        out.skipped.push(skip("it already said bye".to_string()))
                    }
                    Some(h) if h.host != this_host => out.skipped.push(skip(format!(
                        "it runs on host {} (pid {}); run cancel there",
                        h.host, h.pid
                    ))),
                    Some(h) if !pid_alive(h.pid) => out
                        .skipped
                        .push(skip(format!("its process {} is gone", h.pid))),
                    Some(h) => {
                        // Only this ledger's agent: ours, `blockorch worker --worker-id <id>`,
                        // with its files in workers/<id>/ open.
                        let dir = view.root.join("workers").join(&w.worker_id);
                        let args = ["worker", "--worker-id", w.worker_id.as_str()];
                        match prove_ours(h.pid, &dir, &args) {
                            Ok(()) => out.local.push(LocalTarget {
                                worker_id: w.worker_id.clone(),
                                pid: h.pid,
                            }),
                            Err(reason) => out.skipped.push(skip(reason)),
                        }
                    }
                }
            }
            other => out.skipped.push(skip(format!("unknown backend {other:?}"))),
        }
    }
    out
}

/// What was done about the orchestrator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum OwnerAction {
    /// No live orchestrator (none, released, ended, dead or stale).
    NotRunning,
    /// It runs on another host: not signalled.
    Remote {
        /// Its host.
        host: String,
        /// Its pid there.
        pid: u32,
    },
    /// SIGTERM was sent.
    Signalled {
        /// Its pid.
        pid: u32,
        /// Whether it exited within the wait.
        stopped: bool,
    },
    /// The pid recorded in the ledger is not provably its orchestrator: not signalled.
    NotOurs {
        /// The recorded pid.
        pid: u32,
        /// Why it is not signalled.
        reason: String,
    },
    /// Sending SIGTERM failed.
    Failed {
        /// Its pid.
        pid: u32,
        /// The error.
        error: String,
    },
}

/// Sends SIGTERM to the ledger's owner if it is alive on this host (it then cancels its
/// workers, gives their blocks back and records the interruption) — only if it is provably
/// this user's `blockorch submit` with a file of `root/orchestrator/` open.
pub fn signal_owner(
    owner: Option<&OwnerStatus>,
    root: &Path,
    now_us: u64,
    this_host: &str,
) -> OwnerAction {
    let Some(o) = owner else {
        return OwnerAction::NotRunning;
    };
    if o.liveness(now_us, DEFAULT_STALE_AFTER) != Liveness::Live || o.pid == 0 {
        return OwnerAction::NotRunning;
    }
    if o.host != this_host {
        return OwnerAction::Remote {
            host: o.host.clone(),
            pid: o.pid,
        };
    }
    if let Err(reason) = prove_ours(o.pid, &root.join("orchestrator"), &["submit"]) {
        return OwnerAction::NotOurs { pid: o.pid, reason };
    }
    match sigterm(o.pid) {
        Ok(()) => OwnerAction::Signalled {
            pid: o.pid,
            stopped: false,
        },
        Err(e) => OwnerAction::Failed {
            pid: o.pid,
            error: e.to_string(),
        },
    }
}

/// Waits until process `pid` (on this host) is gone or `timeout` passes; true if it is gone.
/// A zombie (exited, not yet reaped by its parent) counts as gone.
pub fn wait_for_exit(pid: u32, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while pid_alive(pid) && !is_zombie(pid) {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    true
}

/// Whether `pid` is a zombie, per `/proc/<pid>/stat` (false where `/proc` is unavailable).
fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
    })
}

fn sigterm(pid: u32) -> std::io::Result<()> {
    let pid = libc::pid_t::try_from(pid)
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // SAFETY: kill(2) with a positive pid and SIGTERM has no memory-safety preconditions.
    if unsafe { libc::kill(pid, libc::SIGTERM) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

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

/// One job or process cancelled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CancelledJob {
    /// `slurm`, `lsf` or `local`.
    pub backend: &'static str,
    /// Worker id.
    pub worker_id: String,
    /// Job id, or the pid for local agents.
    pub id: String,
}

/// What `cancel` did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CancelReport {
    /// The ledger directory.
    pub ledger: String,
    /// What was done about the orchestrator.
    pub owner: OwnerAction,
    /// Jobs and processes cancelled (jobs that had already ended by themselves included).
    pub cancelled: Vec<CancelledJob>,
    /// Live workers left alone, and why.
    pub skipped: Vec<SkippedWorker>,
    /// Commands or signals that failed.
    pub failures: Vec<String>,
}

impl CancelReport {
    /// True when nothing was left to cancel.
    pub fn nothing_to_cancel(&self) -> bool {
        self.owner == OwnerAction::NotRunning
            && self.cancelled.is_empty()
            && self.failures.is_empty()
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
    for (backend, program, jobs) in [
        ("slurm", "scancel", targets.slurm),
        ("lsf", "bkill", targets.lsf),
    ] {
        let ids: Vec<String> = jobs.iter().map(|j| j.job_id.clone()).collect();
        for batch in scancel_batches(&ids) {
            let ok = match term.run(program, &batch) {
                Ok(out) if out.success() || only_already_gone(&out.stderr) => true,
                Ok(out) => {
                    report.failures.push(out.describe());
                    false
                }
                Err(e) => {
                    report.failures.push(error_chain(&e));
                    false
                }
            };
            if ok {
                for id in &batch {
                    let worker = jobs.iter().find(|j| &j.job_id == id);
                    report.cancelled.push(CancelledJob {
                        backend,
                        worker_id: worker.map(|j| j.worker_id.clone()).unwrap_or_default(),
                        id: id.clone(),
                    });
                }
            }
        }
    }
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

/// True when a cancel command's complaints are only about jobs that already ended.
fn only_already_gone(stderr: &str) -> bool {
    let mut lines = stderr.lines().filter(|l| !l.trim().is_empty()).peekable();
    lines.peek().is_some()
        && lines.all(|l| {
            [
                "already completing or completed",
                "Invalid job id specified",
                "Job has already finished",
                "No matching job found",
            ]
            .iter()
            .any(|p| l.contains(p))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Recorder {
        calls: Vec<String>,
        dead: Vec<u32>,
        fail_program: Option<&'static str>,
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
                    "scancel: error: Unable to contact slurm controller".into()
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
        assert!(only_already_gone(
            "scancel: error: Kill job error on job id 23: Job/step already completing or completed\n"
        ));
        assert!(only_already_gone("Job <88[1]>: Job has already finished\n"));
        assert!(!only_already_gone(""));
        let empty = execute_cancel(
            "x",
            OwnerAction::NotRunning,
            CancelTargets::default(),
            &mut rec,
        );
        assert!(empty.nothing_to_cancel());
    }

    #[test]
    fn merge_adds_later_registrations_once() {
        let mut a = CancelTargets {
            slurm: vec![job("s0", "1_0")],
            skipped: vec![SkippedWorker {
                worker_id: "s1".into(),
                reason: "x".into(),
            }],
            ..CancelTargets::default()
        };
        a.merge(CancelTargets {
            slurm: vec![job("s0", "1_0"), job("s1", "1_1"), job("s2", "1_2")],
            ..CancelTargets::default()
        });
        let ids: Vec<_> = a.slurm.iter().map(|j| j.job_id.as_str()).collect();
        assert_eq!(ids, ["1_0", "1_1", "1_2"]);
        assert!(a.skipped.is_empty());
    }
}
