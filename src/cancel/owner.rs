//! The run's orchestrator: SIGTERM to it when it provably runs here (it then cancels its
//! workers and gives their blocks back), and waiting for it to stop.

use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::proof::prove_ours;
use crate::ledger::{Layout, Liveness, OwnerStatus, DEFAULT_STALE_AFTER};

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
    if let Err(reason) = prove_ours(o.pid, &Layout::new(root).orchestrator_dir(), &["submit"]) {
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
    while crate::ledger::pid_runs(pid) {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    true
}

/// Sends SIGTERM to `pid`.
pub(super) fn sigterm(pid: u32) -> std::io::Result<()> {
    let pid = i32::try_from(pid)
        .ok()
        .filter(|&p| p > 0)
        .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    )?;
    Ok(())
}
