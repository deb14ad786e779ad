//! The LSF backend: workers as job-array elements submitted with `bsub` (the script on its
//! standard input), watched with one `bjobs` per poll and cancelled with `bkill` by id; see
//! `docs/lsf.md`. Tested against the simulator of `cluster-tests/lsf-sim/`.
//!
//! What all array schedulers share (submission with retries, state tracking, cancelling in
//! batches) is [`crate::backend::array_scheduler`]; this module holds what LSF does its own way.

mod array;
mod backend;
mod bjobs;
mod cancel;
mod config;
mod job_id;
mod probe;
mod script;
mod states;
mod submit;

pub use array::{
    bparams_args, chunks, parse_max_job_array_size, ArrayChunk, DEFAULT_MAX_JOB_ARRAY_SIZE,
};
pub use backend::{bsub_command_line, log_dir, Lsf, LsfBackend};
pub use bjobs::{
    bjobs_args, bjobs_by_name_args, only_not_found, parse_bjobs, BjobsFormat, BjobsOutput,
    BjobsParseError, BjobsRow, DELIMITER,
};
pub use cancel::{bkill_batches, only_already_finished};
pub use config::{LsfConfig, LsfTask};
pub use job_id::LsfJobId;
pub use probe::LsfProbe;
pub use script::{quoted_resource, warning_minutes, ExtraOption, ScriptContext, BUILTIN_TEMPLATE};
pub use states::{end_for_reason, failure, is_terminal, job_status, reason_keyword, Warnings};
pub use submit::{bsub_args, parse_bsub, parse_submission, SubmitError, Submitted};
