//! Errors that end a run before it could finish.

use crate::backend::BackendError;
use crate::ledger::LedgerError;
use crate::plan::PlanError;
use crate::task::TaskError;
use thiserror::Error;

/// Why `submit` could not run (as opposed to a run that ended with failed blocks).
#[derive(Debug, Error)]
pub enum OrchestratorError {
    /// The task file is invalid.
    #[error(transparent)]
    Task(#[from] TaskError),
    /// The task file could not be planned.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The ledger was created for a different task definition.
    #[error(
        "the ledger {ledger} belongs to a different task definition; what changed:\n{diff}\n\
         resume with the original task file, or start afresh with a new --ledger DIR (or delete {ledger})"
    )]
    PlanChanged {
        /// Ledger directory.
        ledger: String,
        /// One line per changed field.
        diff: String,
    },
    /// Another orchestrator owns the ledger.
    #[error("{message}")]
    Busy {
        /// Names the owner (host, pid, since) and the way out.
        message: String,
    },
    /// Reading or writing the ledger failed.
    #[error("ledger: {0}")]
    Ledger(#[source] LedgerError),
    /// Scheduler calls kept failing for longer than the bound (`--scheduler-timeout`).
    #[error(
        "the scheduler could not be reached for {for_secs}s ({failures} failed calls in a row; \
         the bound is --scheduler-timeout); its last answer: {last}\nthe ledger is intact: run \
         the same submit again once the scheduler is back"
    )]
    SchedulerUnreachable {
        /// How long it failed.
        for_secs: u64,
        /// Failed calls in a row.
        failures: u32,
        /// The last failure.
        last: String,
    },
    /// The backend failed in a way the run cannot recover from.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// A newer orchestrator took the ledger over while this one ran.
    #[error("another orchestrator took the ledger over (epoch {epoch}); this one stopped")]
    Superseded {
        /// The epoch this orchestrator owned.
        epoch: u64,
    },
}

impl From<LedgerError> for OrchestratorError {
    fn from(err: LedgerError) -> Self {
        OrchestratorError::Ledger(err)
    }
}

impl From<super::outage::OutageExceeded> for OrchestratorError {
    fn from(e: super::outage::OutageExceeded) -> Self {
        OrchestratorError::SchedulerUnreachable {
            for_secs: e.for_secs,
            failures: e.failures,
            last: e.last,
        }
    }
}
