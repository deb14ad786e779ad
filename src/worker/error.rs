//! Why an agent could not run at all ([`WorkerError`]); everything that goes wrong with blocks
//! or programs is reported in the outbox instead.

use std::path::PathBuf;
use thiserror::Error;

/// A failure that prevents the agent from serving its task (exit code 1).
#[derive(Debug, Error)]
pub enum WorkerError {
    /// The ledger could not be opened, read or written.
    #[error("ledger {}", root.display())]
    Ledger {
        /// The ledger directory.
        root: PathBuf,
        /// The ledger error.
        #[source]
        source: crate::ledger::LedgerError,
    },
    /// The agent's own files in the ledger (its directory, its outbox) could not be written:
    /// exit [`LEDGER_UNWRITABLE_EXIT`](super::LEDGER_UNWRITABLE_EXIT), the cluster's fault.
    #[error("cannot write the worker's files in ledger {}", root.display())]
    LedgerUnwritable {
        /// The ledger directory.
        root: PathBuf,
        /// The file-system error.
        #[source]
        source: Box<crate::ledger::LedgerError>,
    },
    /// The worker id is not usable as a directory name.
    #[error("invalid worker id")]
    WorkerId(#[source] crate::ledger::LedgerError),
    /// The definition in force defines other blocks than the ledger's header.
    #[error(
        "the task definition in force in ledger {} defines other blocks than its ledger.json",
        root.display()
    )]
    DefinitionChangesBlocks {
        /// The ledger directory.
        root: PathBuf,
    },
    /// The task file stored in the ledger does not parse.
    #[error("the task file stored in ledger {} does not parse", root.display())]
    TaskFile {
        /// The ledger directory.
        root: PathBuf,
        /// Why.
        #[source]
        source: Box<crate::task::TaskError>,
    },
    /// The ledger has no task of that name.
    #[error("ledger {} has no task {name:?} (its tasks: {known})", root.display())]
    NoSuchTask {
        /// The ledger directory.
        root: PathBuf,
        /// The name asked for.
        name: String,
        /// The task names it has.
        known: String,
    },
    /// The task's blocks could not be planned.
    #[error("cannot plan task {task:?}")]
    Plan {
        /// Task name.
        task: String,
        /// Why.
        #[source]
        source: crate::plan::PlanError,
    },
    /// An option has an unusable value.
    #[error("invalid option {option}: {problem}")]
    Option {
        /// The option, e.g. `--slots`.
        option: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// A thread or file the agent needs could not be set up.
    #[error("cannot {action}")]
    Io {
        /// What was attempted.
        action: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}
