//! The task file (`task.json`): specification, parsing and validation.
//!
//! [`load_task_file`] / [`parse_task_file`] turn a file into a [`TaskFile`] whose tasks are
//! fully validated (every error names the file, the field path and the fix); see
//! `docs/task-file.md` for the format.

mod backend_name;
mod canonical;
mod commands;
mod diff;
mod duration;
mod error;
mod graph;
mod identity;
mod job_setup;
mod lsf_settings;
mod names;
mod orchestrator_settings;
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
mod user_defaults;
mod validate;

pub use backend_name::BackendName;
pub use commands::{is_shell_var_name, RESERVED_ENV_PREFIX};
pub use diff::diff_task_files;
pub use duration::{duration_from_seconds, parse_duration, DurationError};
pub use error::{Problem, TaskError, MAX_COORDINATE};
pub use identity::{same_blocks, BLOCK_FIELDS};
pub use job_setup::JobSetup;
pub use lsf_settings::LsfSettings;
pub use names::MAX_NAME_LEN;
pub use orchestrator_settings::OrchestratorSettings;
pub use parse::{load_task_file, parse_task_file};
pub use scheduler_values::{
    CommandWord, LsfDirective, LsfResource, LsfWalltime, Memory, PartitionList, SchedulerName,
    SettingError, SetupLine, SlurmConstraint, SlurmDirective, SlurmTime, TemplatePath,
};
pub use slurm_settings::SlurmSettings;
pub use spec::{CheckSpec, CommandSpec, TaskFile, TaskSpec, WorkerSpec};
pub use user_defaults::{config_path, UserDefaults};
