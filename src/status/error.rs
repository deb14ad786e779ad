//! Errors of `status` and `cancel` ([`StatusError`]) and of the `--map` slice ([`SliceError`]).

use std::path::PathBuf;

use thiserror::Error;

use crate::ledger::LedgerError;
use crate::plan::PlanError;
use crate::task::TaskError;

/// Why status could not be shown.
#[derive(Debug, Error)]
pub enum StatusError {
    /// No ledger was named and the directory holds no `*.ledger` directory.
    #[error(
        "no *.ledger directory in {}; name the ledger: blockorch status DIR",
        dir.display()
    )]
    NoLedger {
        /// The directory searched.
        dir: PathBuf,
    },

    /// No ledger was named and the directory holds several `*.ledger` directories.
    #[error(
        "{} holds several *.ledger directories ({}); name one: blockorch status DIR",
        dir.display(),
        candidates.iter().map(|c| c.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    SeveralLedgers {
        /// The directory searched.
        dir: PathBuf,
        /// The candidates found, sorted.
        candidates: Vec<PathBuf>,
    },

    /// The named ledger does not exist.
    #[error("ledger {} does not exist", path.display())]
    Missing {
        /// The path given.
        path: PathBuf,
    },

    /// The ledger could not be read (not a ledger, unreadable, unsupported version).
    #[error("cannot read ledger {}", root.display())]
    Ledger {
        /// The ledger directory.
        root: PathBuf,
        /// The cause.
        #[source]
        source: LedgerError,
    },

    /// The task definition stored in the ledger header does not parse.
    #[error("the task definition stored in {}/ledger.json is invalid", root.display())]
    Tasks {
        /// The ledger directory.
        root: PathBuf,
        /// The cause.
        #[source]
        source: TaskError,
    },

    /// The task definition stored in the ledger header cannot be planned.
    #[error("the tasks stored in {}/ledger.json cannot be planned", root.display())]
    Plan {
        /// The ledger directory.
        root: PathBuf,
        /// The cause.
        #[source]
        source: PlanError,
    },

    /// `--task NAME` names no task of the ledger.
    #[error("no task {name:?} in this ledger; its tasks are: {}", available.join(", "))]
    NoSuchTask {
        /// The name given.
        name: String,
        /// The ledger's task names.
        available: Vec<String>,
    },

    /// `--block ID` names no block of the task.
    #[error("task {task:?} has no block {block} (see `blockorch plan` for its block ids)")]
    NoSuchBlock {
        /// Task name.
        task: String,
        /// The id given.
        block: u64,
    },

    /// `--attempt N` names no attempt of the block (or the block never ran).
    #[error("{}", no_attempt_message(task, *block, *attempt, *last))]
    NoSuchAttempt {
        /// Task name.
        task: String,
        /// Block id.
        block: u64,
        /// The attempt asked for (0: the latest of a block that never ran).
        attempt: u32,
        /// Attempts handed out so far.
        last: u32,
    },

    /// The `--axis`/`--index` options do not describe a slice of the task's grid.
    #[error("invalid --map slice of task {task:?}")]
    Slice {
        /// The task drawn.
        task: String,
        /// What is wrong.
        #[source]
        source: SliceError,
    },

    /// Reading a file of the ledger failed.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

impl StatusError {
    /// True for errors caused by what the user typed or pointed at (exit code 2): a missing,
    /// ambiguous or foreign ledger directory, an unknown task, a bad slice.
    pub fn is_bad_input(&self) -> bool {
        match self {
            Self::NoLedger { .. }
            | Self::SeveralLedgers { .. }
            | Self::Missing { .. }
            | Self::NoSuchTask { .. }
            | Self::NoSuchBlock { .. }
            | Self::NoSuchAttempt { .. }
            | Self::Slice { .. }
            | Self::Tasks { .. }
            | Self::Plan { .. } => true,
            Self::Ledger { source, .. } => matches!(
                source,
                LedgerError::NotALedger { .. }
                    | LedgerError::BadHeader { .. }
                    | LedgerError::UnsupportedVersion { .. }
                    | LedgerError::NotALogFile { .. }
            ),
            Self::Read { .. } => false,
        }
    }
}

fn no_attempt_message(task: &str, block: u64, attempt: u32, last: u32) -> String {
    match (attempt, last) {
        (_, 0) => {
            format!("block {block} of task {task:?} has not run yet (no attempt in the ledger)")
        }
        (a, 1) => format!("block {block} of task {task:?} has 1 attempt, not {a}"),
        (a, n) => format!("block {block} of task {task:?} has attempts 1 to {n}, not {a}"),
    }
}

/// What is wrong with a `--map` slice request.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SliceError {
    /// `--axis` names an axis the grid does not have.
    #[error("--axis {axis}: the grid has {dims} axes (0 to {})", dims.saturating_sub(1))]
    NoSuchAxis {
        /// The axis given.
        axis: usize,
        /// The grid's number of axes.
        dims: usize,
    },
    /// The same axis was fixed twice.
    #[error("--axis {axis} is given more than once")]
    DuplicateAxis {
        /// The axis.
        axis: usize,
    },
    /// `--index` is outside the grid along its axis.
    #[error("--index {index} for axis {axis}: the grid has {count} blocks along it (0 to {})", count - 1)]
    IndexOutOfRange {
        /// The axis.
        axis: usize,
        /// The index given.
        index: i64,
        /// Blocks along the axis.
        count: i64,
    },
    /// `--index` was given, but not once per `--axis`.
    #[error("give one --index per --axis (or none for the middle): got {axes} --axis and {indexes} --index")]
    IndexCount {
        /// Number of `--axis`.
        axes: usize,
        /// Number of `--index`.
        indexes: usize,
    },
    /// The task has no blocks at all.
    #[error("the task has no blocks")]
    EmptyGrid,
}
