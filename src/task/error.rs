//! Task-file errors: [`TaskError`] (what the CLI prints) and [`Problem`] (what is wrong with
//! one field). Every message names the file and the field path and says how to fix it.

use super::duration::DurationError;
use super::path::FieldPath;
use super::scheduler_values::SettingError;
use crate::geometry::{Roi, MAX_DIMS};
use crate::plan::{Fit, PlanError};
use thiserror::Error;

/// Largest coordinate magnitude accepted in a ROI: 2^53 − 1, the largest integer every JSON
/// reader holds exactly, and far enough from `i64::MAX` that block arithmetic cannot overflow.
pub const MAX_COORDINATE: i64 = (1 << 53) - 1;

/// Why a task file was refused. `Display` is the complete user-facing message, starting with
/// the file name (print it with `{}`; the I/O cause is already part of it).
#[derive(Debug, Error)]
pub enum TaskError {
    /// The file could not be read.
    #[error("{file}: cannot read the task file: {source}")]
    Read {
        /// The file as the user named it.
        file: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid JSON.
    #[error("{file}: line {line}, column {column}: {message}")]
    Syntax {
        /// The file as the user named it.
        file: String,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// What the JSON parser expected.
        message: String,
    },
    /// Valid JSON that is not a valid task file.
    #[error("{file}: {}{problem}", path_prefix(path))]
    Invalid {
        /// The file as the user named it.
        file: String,
        /// Where in the file, e.g. `tasks[1].write_roi.shape[2]` (empty for the whole file).
        path: String,
        /// What is wrong there (boxed: keeps `Result<_, TaskError>` small).
        problem: Box<Problem>,
    },
}

impl TaskError {
    /// The field path of an [`TaskError::Invalid`] error (`None` for the other kinds).
    pub fn path(&self) -> Option<&str> {
        match self {
            TaskError::Invalid { path, .. } => Some(path),
            _ => None,
        }
    }

    /// The problem of an [`TaskError::Invalid`] error.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            TaskError::Invalid { problem, .. } => Some(problem),
            _ => None,
        }
    }
}

fn path_prefix(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!("{path}: ")
    }
}

/// What is wrong with one place of a task file; the message (lowercase fragment) ends with
/// how to fix it.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Problem {
    /// Nothing but whitespace.
    #[error("the file is empty; write one task object, or {{\"tasks\": [...]}} for several tasks")]
    EmptyFile,
    /// Bytes that are not UTF-8.
    #[error("the file is not UTF-8 text (invalid byte at offset {offset}); save it as UTF-8")]
    NotUtf8 {
        /// Byte offset of the first invalid byte.
        offset: usize,
    },
    /// The top-level JSON value is not an object.
    #[error(
        "a task file holds one task object, or {{\"tasks\": [...]}} for several tasks; got {found}"
    )]
    NotAnObject {
        /// The JSON type found ("an array", …).
        found: &'static str,
    },
    /// `{"tasks": []}`.
    #[error("the task list is empty; add at least one task object")]
    NoTasks,
    /// A field that is not part of the format.
    #[error("{}", unknown_field(suggestion, known))]
    UnknownField {
        /// The closest known field name, if one is close.
        suggestion: Option<&'static str>,
        /// All field names allowed at this place.
        known: &'static [&'static str],
    },
    /// A value of the wrong JSON type, a missing required field and the like (from serde).
    #[error("{message}")]
    Type {
        /// The explanation.
        message: String,
    },
    /// `fit` is not one of the fit modes.
    #[error("{}", unknown_fit(value, suggestion, known))]
    UnknownFit {
        /// The value given.
        value: String,
        /// The closest fit mode, if one is close.
        suggestion: Option<&'static str>,
        /// The fit modes.
        known: &'static [&'static str],
    },
    /// `null` where it would silently stand for a default (e.g. `"fit": null` for `"valid"`).
    #[error("null is not allowed here; {hint}")]
    Null {
        /// What to write instead.
        hint: &'static str,
    },
    /// A bad duration value.
    #[error(transparent)]
    Duration(#[from] DurationError),
    /// A bad `slurm` / `lsf` value.
    #[error(transparent)]
    Setting(#[from] SettingError),

    /// An empty coordinate list.
    #[error(
        "needs at least 1 dimension, got an empty list; give one entry per axis, e.g. [0, 0, 0]"
    )]
    NoDimensions,
    /// More coordinates than [`MAX_DIMS`].
    #[error(
        "has {got} dimensions, but at most {MAX_DIMS} are supported; use 1 to {MAX_DIMS} entries"
    )]
    TooManyDimensions {
        /// Entries given.
        got: usize,
    },
    /// `offset` and `shape` of one ROI differ in length.
    #[error("offset has {offset} dimensions but shape has {shape}; give both one entry per axis")]
    OffsetShapeMismatch {
        /// Entries in `offset`.
        offset: usize,
        /// Entries in `shape`.
        shape: usize,
    },
    /// A shape entry ≤ 0.
    #[error("must be > 0, got {got}")]
    NotPositive {
        /// The value given.
        got: i64,
    },
    /// A coordinate beyond ±[`MAX_COORDINATE`].
    #[error("must be between -{MAX_COORDINATE} and {MAX_COORDINATE}, got {got}")]
    OutOfRange {
        /// The value given.
        got: i64,
    },
    /// `offset + shape` beyond ±[`MAX_COORDINATE`].
    #[error("the ROI would end at {end} on this axis, beyond the largest supported coordinate {MAX_COORDINATE}; reduce offset or shape")]
    EndOutOfRange {
        /// offset + shape.
        end: i128,
    },
    /// `read_roi` or `write_roi` has a different dimensionality than `total_roi`.
    #[error("has {dims} dimensions but total_roi has {total_dims}; total_roi, read_roi and write_roi must have the same number of dimensions")]
    DimensionMismatch {
        /// Dimensions of this ROI.
        dims: usize,
        /// Dimensions of `total_roi`.
        total_dims: usize,
    },
    /// `write_roi` sticks out of `read_roi`.
    #[error("write_roi {write} is not inside read_roi {read} (axis {axis}: write [{write_begin}, {write_end}) vs read [{read_begin}, {read_end})); a block must read the whole region it writes: grow read_roi or shrink write_roi so that read_roi contains write_roi")]
    WriteOutsideRead {
        /// The read ROI.
        read: Box<Roi>,
        /// The write ROI.
        write: Box<Roi>,
        /// First axis where it sticks out.
        axis: usize,
        /// Write begin on that axis.
        write_begin: i64,
        /// Write end on that axis.
        write_end: i64,
        /// Read begin on that axis.
        read_begin: i64,
        /// Read end on that axis.
        read_end: i64,
    },

    /// `name: ""`.
    #[error("the task name is empty; task names become file names: use letters, digits, \"_\", \".\" and \"-\"")]
    EmptyName,
    /// A character outside `[A-Za-z0-9_.-]` in a task name.
    #[error("task name {name:?} contains {found}; task names become file names: use only letters, digits, \"_\", \".\" and \"-\"")]
    BadNameCharacter {
        /// The name.
        name: String,
        /// The offending character, described.
        found: String,
    },
    /// A task name starting with `.` or `-`.
    #[error("task name {name:?} starts with \"{first}\"; task names become file names: start with a letter, digit or \"_\"")]
    BadNameStart {
        /// The name.
        name: String,
        /// Its first character.
        first: char,
    },
    /// A task name longer than [`crate::task::MAX_NAME_LEN`].
    #[error("the task name is {len} characters long; task names become file names: use at most {max} characters")]
    NameTooLong {
        /// Length of the name.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Two tasks with one name.
    #[error("task name {name:?} is already used by {first}; give every task a unique name")]
    DuplicateName {
        /// The name.
        name: String,
        /// Field path of the first task with that name.
        first: String,
    },
    /// `upstream_tasks` names a task that is not in the file.
    #[error("{}", unknown_upstream(name, suggestion, known))]
    UnknownUpstream {
        /// The name given.
        name: String,
        /// The closest task name, if one is close.
        suggestion: Option<String>,
        /// The names of all tasks in the file.
        known: Vec<String>,
    },
    /// A task listed twice in one `upstream_tasks`.
    #[error("{name:?} is listed twice; list each upstream task once")]
    DuplicateUpstream {
        /// The name.
        name: String,
    },
    /// `upstream_tasks` form a cycle.
    #[error("upstream_tasks form a cycle: {} (each arrow points from an upstream task to a task that lists it); a task cannot wait for its own output: remove one of these dependencies", cycle.join(" -> "))]
    Cycle {
        /// The task names along the cycle, first repeated at the end.
        cycle: Vec<String>,
    },
    /// An upstream task with a different dimensionality.
    #[error("upstream task {upstream:?} has {upstream_dims}-D ROIs but this task has {dims}-D ROIs; tasks that depend on each other must use the same number of dimensions")]
    UpstreamDimensions {
        /// The upstream task.
        upstream: String,
        /// Its dimensionality.
        upstream_dims: usize,
        /// This task's dimensionality.
        dims: usize,
    },

    /// `"backend"` inside one task of a `{"tasks": [...]}` file.
    #[error("the backend is chosen for the whole run: move \"backend\" next to \"tasks\" at the top of the file")]
    BackendPerTask,
    /// `num_workers: 0`.
    #[error("must be at least 1, got 0; num_workers is how many workers process this task's blocks at once")]
    ZeroWorkers,
    /// `worker.startup_timeout` with `per_block: true`.
    #[error("applies only to persistent worker programs, but this worker has \"per_block\": true (each block starts its own process, and the task's timeout covers it); remove startup_timeout")]
    StartupTimeoutPerBlock,
    /// `worker.write_ahead: false` with `per_block: true`.
    #[error("applies only to persistent worker programs, but this worker has \"per_block\": true (each block starts its own process); remove write_ahead")]
    WriteAheadPerBlock,
    /// A placeholder in the argv of a persistent check, which is started once per slot.
    #[error("{placeholder:?} is not replaced in a persistent check (it is started once per slot and reads the blocks on stdin); remove it, or set \"persistent\": false for one process per block")]
    PlaceholderInPersistentCheck {
        /// The placeholder found, with its braces.
        placeholder: String,
    },
    /// `command: []`.
    #[error("the command is empty; give the program and its arguments, e.g. [\"python\", \"worker.py\"]")]
    EmptyCommand,
    /// `command: ["", …]`.
    #[error(
        "the program name is empty; give the program to run, e.g. \"python\" or \"./worker.sh\""
    )]
    EmptyProgram,
    /// A NUL character in an argument or environment value.
    #[error("contains a NUL character, which cannot be passed to a program; remove it")]
    NulCharacter,
    /// An environment variable name outside `[A-Za-z_][A-Za-z0-9_]*`.
    #[error("environment variable name {name:?} is not valid; use letters, digits and \"_\", not starting with a digit")]
    BadEnvName {
        /// The name.
        name: String,
    },
    /// An environment variable blockorch sets itself.
    #[error("environment variable {name:?} is reserved: blockorch sets BLOCKORCH_* variables itself; choose another name")]
    ReservedEnvName {
        /// The name.
        name: String,
    },

    /// A task whose grid has no block.
    #[error("{}", zero_blocks(*axis, *total, *read, *write, *fit))]
    ZeroBlocks {
        /// An axis along which no block fits.
        axis: usize,
        /// total_roi extent on that axis.
        total: i64,
        /// read_roi extent on that axis.
        read: i64,
        /// write_roi extent on that axis.
        write: i64,
        /// The fit mode.
        fit: Fit,
    },
    /// The planner refused the task (e.g. block ids beyond 64 bits).
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// A downstream block that would wait forever.
    #[error("block {block_id} of this task reads {read_roi}, where no block of upstream task {upstream:?} writes, so it would never become ready and the run would wait forever; make this task's total_roi lie inside the region {upstream:?} writes, or remove {upstream:?} from upstream_tasks")]
    ReadsNothing {
        /// The upstream task.
        upstream: String,
        /// Id of an example block.
        block_id: u64,
        /// Its read ROI.
        read_roi: Box<Roi>,
    },
}

fn unknown_field(suggestion: &Option<&'static str>, known: &[&str]) -> String {
    match suggestion {
        Some(s) => format!("unknown field, did you mean {s:?}?"),
        None => format!(
            "unknown field; the fields allowed here are {}",
            quoted_list(known)
        ),
    }
}

fn unknown_fit(value: &str, suggestion: &Option<&'static str>, known: &[&str]) -> String {
    let hint = suggestion
        .map(|s| format!(" did you mean {s:?}?"))
        .unwrap_or_default();
    format!(
        "unknown fit {value:?};{hint} fit is one of {}",
        quoted_list(known)
    )
}

fn unknown_upstream(name: &str, suggestion: &Option<String>, known: &[String]) -> String {
    let hint = match suggestion {
        Some(s) => format!(" did you mean {s:?}?"),
        None => String::new(),
    };
    let names: Vec<&str> = known.iter().map(String::as_str).collect();
    format!(
        "no task named {name:?} in this file;{hint} upstream_tasks may only name tasks of this file: {}",
        quoted_list(&names)
    )
}

fn zero_blocks(axis: usize, total: i64, read: i64, write: i64, fit: Fit) -> String {
    match fit {
        Fit::Valid => format!(
            "the task tiles to zero blocks: on axis {axis} total_roi is {total} long but one \
             read_roi is {read} long, and fit \"valid\" only places blocks whose read_roi lies \
             inside total_roi; make total_roi at least as large as read_roi, or use fit \
             \"overhang\" or \"shrink\""
        ),
        _ => format!(
            "the task tiles to zero blocks: on axis {axis} total_roi is {total} long, which \
             leaves nothing to write once the context around write_roi ({} in total) is \
             removed; make total_roi longer than read_roi minus write_roi on every axis",
            read - write
        ),
    }
}

fn quoted_list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
    quoted.join(", ")
}

/// An error located in the file, before the file name is attached.
#[derive(Debug)]
pub(crate) struct Invalid {
    /// Where.
    pub(crate) path: FieldPath,
    /// What.
    pub(crate) problem: Problem,
}

impl Invalid {
    /// A problem at `path`.
    pub(crate) fn new(path: FieldPath, problem: impl Into<Problem>) -> Self {
        Self {
            path,
            problem: problem.into(),
        }
    }

    /// Attaches the file name.
    pub(crate) fn in_file(self, file: &str) -> TaskError {
        TaskError::Invalid {
            file: file.to_owned(),
            path: self.path.into_string(),
            problem: Box::new(self.problem),
        }
    }
}

/// Result of a validation step.
pub(crate) type Found<T> = Result<T, Invalid>;
