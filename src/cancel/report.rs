//! What `cancel` did, for JSON and for people.

use std::fmt::Write as _;

use serde::Serialize;

use super::owner::OwnerAction;
use super::targets::SkippedWorker;

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
    /// What `cancel` did, as lines for people.
    pub fn human(&self) -> String {
        let r = self;
        let mut out = String::new();
        match &r.owner {
            OwnerAction::NotRunning => {}
            OwnerAction::Remote { host, pid } => {
                let _ = writeln!(
                    out,
                    "orchestrator pid {pid} runs on host {host}: not signalled; it may start \
                     new workers: stop it there (kill -TERM {pid}) and run cancel again"
                );
            }
            OwnerAction::Signalled { pid, stopped } => {
                let _ = writeln!(
                    out,
                    "orchestrator pid {pid}: sent SIGTERM, {}",
                    if *stopped {
                        "it stopped (its in-flight blocks were given back)"
                    } else {
                        "it is still shutting down"
                    }
                );
            }
            OwnerAction::NotOurs { pid, reason } => {
                let _ = writeln!(
                    out,
                    "orchestrator pid {pid} recorded in the ledger: not signalled: {reason}"
                );
            }
            OwnerAction::Failed { pid, error } => {
                let _ = writeln!(out, "orchestrator pid {pid}: cannot send SIGTERM: {error}");
            }
        }
        for backend in ["slurm", "lsf", "local"] {
            let jobs: Vec<&str> = r
                .cancelled
                .iter()
                .filter(|c| c.backend == backend)
                .map(|c| c.id.as_str())
                .collect();
            if jobs.is_empty() {
                continue;
            }
            let (what, how) = match backend {
                "slurm" => ("job", "scancel"),
                "lsf" => ("job", "bkill"),
                _ => ("agent pid", "SIGTERM"),
            };
            let _ = writeln!(
                out,
                "{backend}: {how} {} {what}{}: {}",
                jobs.len(),
                if jobs.len() == 1 { "" } else { "s" },
                jobs.join(" ")
            );
        }
        for s in &r.skipped {
            let _ = writeln!(out, "left alone: worker {}: {}", s.worker_id, s.reason);
        }
        for f in &r.failures {
            let _ = writeln!(out, "failed: {f}");
        }
        if r.nothing_to_cancel() {
            let _ = writeln!(out, "nothing left to cancel in {}", r.ledger);
        }
        out
    }

    /// True when nothing was left to cancel.
    pub fn nothing_to_cancel(&self) -> bool {
        self.owner == OwnerAction::NotRunning
            && self.cancelled.is_empty()
            && self.failures.is_empty()
    }
}
