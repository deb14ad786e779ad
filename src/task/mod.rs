//! The task file (`task.json`): specification, parsing and validation.
//!
//! [`load_task_file`] / [`parse_task_file`] turn a file into a [`TaskFile`] whose tasks are
//! fully validated (every error names the file, the field path and the fix); see
//! `docs/task-file.md` for the format.

mod canonical;
mod commands;
mod diff;
mod duration;
mod error;
mod graph;
mod identity;
mod lsf_settings;
mod names;
mod parse;
mod path;
mod plan;
mod planner_check;
mod raw;
mod roi_check;
mod scheduler_values;
mod schema;
mod serde_message;
mod slurm_settings;
mod spec;
mod suggest;
mod validate;

pub use commands::{is_shell_var_name, RESERVED_ENV_PREFIX};
pub use diff::diff_task_files;
pub use duration::{duration_from_seconds, parse_duration, DurationError};
pub use error::{Problem, TaskError, MAX_COORDINATE};
pub use identity::{same_blocks, BLOCK_FIELDS};
pub use lsf_settings::LsfSettings;
pub use names::MAX_NAME_LEN;
pub use parse::{load_task_file, parse_task_file};
pub use scheduler_values::{
    LsfDirective, LsfResource, LsfWalltime, Memory, PartitionList, SchedulerName, SettingError,
    SlurmConstraint, SlurmDirective, SlurmTime, TemplatePath,
};
pub use slurm_settings::SlurmSettings;
pub use spec::{CheckSpec, CommandSpec, TaskFile, TaskSpec, WorkerSpec};
