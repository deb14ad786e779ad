//! One exhaustive mapping from errors to the documented exit codes.

use crate::ledger::LedgerError;
use crate::plan::PlanError;
use crate::task::TaskError;

/// Process exit codes (documented in the README).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum ExitCode {
    /// Everything asked for was done.
    Success = 0,
    /// An unexpected error (I/O, scheduler unreachable, internal).
    Internal = 1,
    /// Bad input: the task file, the command line or a template.
    BadInput = 2,
    /// The run ended with failed or orphaned blocks.
    BlocksFailed = 3,
    /// Another orchestrator owns the ledger.
    LedgerBusy = 4,
    /// The ledger belongs to a different task definition.
    LedgerMismatch = 5,
    /// The ledger cannot be trusted: another user owns part of it, someone else can write
    /// it, or its `ledger.json` was edited.
    LedgerUntrusted = 6,
    /// Interrupted (Ctrl-C); the run can be resumed.
    Interrupted = 130,
}

/// The exit code for an error that reached the CLI edge.
pub fn classify(err: &anyhow::Error) -> ExitCode {
    for cause in err.chain() {
        if cause.downcast_ref::<TaskError>().is_some()
            || cause.downcast_ref::<PlanError>().is_some()
        {
            return ExitCode::BadInput;
        }
        if cause
            .downcast_ref::<LedgerError>()
            .is_some_and(LedgerError::is_untrusted)
        {
            return ExitCode::LedgerUntrusted;
        }
        if let Some(code) = cause.downcast_ref::<CliFailure>() {
            return code.0;
        }
    }
    ExitCode::Internal
}

/// The message for an error: every cause in the chain, without a backtrace.
pub fn render(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

/// An error that carries its own exit code.
#[derive(Debug, thiserror::Error)]
#[error("{1}")]
pub struct CliFailure(pub ExitCode, pub String);
