//! `blockorch cancel`: cancel every scheduler job of a run, and nothing else.

use std::time::Duration;

use anyhow::{Context, Result};

use super::args::CancelArgs;
use super::exit::ExitCode;
use super::status_cmd::{failure, resolve_ledger};
use crate::backend::command::{CommandConfig, CommandRunner};
use crate::backend::slurm::recorded_orchestrator_job;
use crate::cancel::{
    cancel_targets, execute_cancel, signal_owner, wait_for_exit, OwnerAction, SystemTerminator,
};
use crate::ledger::{hostname, now_us, LedgerView};
use crate::status::StatusError;

/// How long to wait for a signalled orchestrator to cancel its workers and give their blocks
/// back (its own shutdown wait is 30 s).
const OWNER_WAIT: Duration = Duration::from_secs(60);

/// Runs `blockorch cancel`.
pub fn run(args: &CancelArgs) -> Result<ExitCode> {
    let root = resolve_ledger(args.ledger.as_deref())?;
    let open = || {
        LedgerView::open(&root).map_err(|source| {
            failure(StatusError::Ledger {
                root: root.clone(),
                source,
            })
        })
    };
    let host = hostname();
    let view = open()?;
    let mut targets = cancel_targets(&view, &host);
    let mut owner = signal_owner(view.owner.as_ref(), &root, now_us(), &host);
    if matches!(owner, OwnerAction::Remote { .. }) {
        // A detached orchestrator runs as its own SLURM job on another host: SIGTERM it
        // through SLURM so it still gives its workers' blocks back, then cancel what is left.
        if let Some(job) = recorded_orchestrator_job(&root) {
            if stop_orchestrator_job(&job) {
                targets.local.clear();
                targets.skipped.clear();
                targets.merge(cancel_targets(&open()?, &host));
            }
        }
    }
    if let OwnerAction::Signalled { pid, stopped } = &mut owner {
        crate::console::eprint_line(format_args!(
            "sent SIGTERM to orchestrator pid {pid}; waiting up to {}s for it to stop its \
             workers and give their blocks back",
            OWNER_WAIT.as_secs()
        ));
        *stopped = wait_for_exit(*pid, OWNER_WAIT);
        // Its local agents are its children: what is left of them shows in the new registry.
        // Scheduler jobs read before stay targeted (cancelling an ended job is harmless) and
        // jobs it registered meanwhile are added.
        targets.local.clear();
        targets.skipped.clear();
        targets.merge(cancel_targets(&open()?, &host));
    }
    let report = execute_cancel(
        &root.display().to_string(),
        owner,
        targets,
        &mut SystemTerminator::default(),
    );
    crate::console::print_out(report.human()).context("writing to stdout")?;
    Ok(if report.failures.is_empty() {
        ExitCode::Success
    } else {
        ExitCode::Internal
    })
}

/// Sends SIGTERM to every process of the detached orchestrator's SLURM job and waits (bounded)
/// until the job has left the queue. True if it is gone. Runs `scancel`/`squeue` through the
/// backends' command runner (timeouts, counted calls).
fn stop_orchestrator_job(job: &str) -> bool {
    let runner = CommandRunner::new(CommandConfig::default());
    let args = |list: &[&str]| list.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    let signalled = runner
        .run("scancel", &args(&["--signal=TERM", "--full", job]), None)
        .is_ok_and(|out| out.success());
    if !signalled {
        return false;
    }
    crate::console::eprint_line(format_args!(
        "sent SIGTERM to the detached orchestrator (SLURM job {job}); waiting up to {}s for it \
         to stop its workers and give their blocks back",
        OWNER_WAIT.as_secs()
    ));
    let deadline = std::time::Instant::now() + OWNER_WAIT;
    while std::time::Instant::now() < deadline {
        match runner.run("squeue", &args(&["-h", "-j", job, "-o", "%i"]), None) {
            Ok(out) if out.stdout.trim().is_empty() => return true,
            Err(_) => return false,
            Ok(_) => std::thread::sleep(Duration::from_secs(1)),
        }
    }
    false
}
