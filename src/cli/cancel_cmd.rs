//! `blockorch cancel`: cancel every scheduler job of a run, and nothing else.

use std::time::Duration;

use anyhow::{Context, Result};

use super::args::CancelArgs;
use super::exit::ExitCode;
use super::status_cmd::{failure, resolve_ledger};
use crate::backend::slurm::{recorded_orchestrator_job, stop_orchestrator_job};
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
            let signalled = || {
                crate::console::eprint_line(format_args!(
                    "sent SIGTERM to the detached orchestrator (SLURM job {job}); waiting up to \
                     {}s for it to stop its workers and give their blocks back",
                    OWNER_WAIT.as_secs()
                ))
            };
            if stop_orchestrator_job(&job, OWNER_WAIT, signalled) {
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
