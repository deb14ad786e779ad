//! The SLURM backend: workers as job-array elements submitted with `sbatch` from a login node,
//! or as job steps (`srun`) inside an allocation; see `docs/slurm.md`.

mod allocation;
mod array;
mod backend;
mod cancel;
mod config;
mod detach;
mod job_id;
mod parse;
mod poll_interval;
mod probe;
mod sacct;
mod script;
mod squeue;
mod states;
mod submit;

pub use crate::backend::array_scheduler::render_script;
pub use crate::backend::array_scheduler::Backoff;
pub(crate) use crate::backend::command;
pub use crate::backend::command::{
    command_line, CommandConfig, CommandCounts, CommandError, CommandOutput, CommandRunner,
};
pub use allocation::{
    resolve_mode, srun_args, AllocationBackend, ModeRequest, SlurmMode, StepSpec,
};
pub use array::{chunks, parse_max_array_size, ArrayChunk, DEFAULT_MAX_ARRAY_SIZE};
pub use backend::{log_dir, Slurm, SlurmBackend};
pub use cancel::{only_already_finished, scancel_batches};
pub use config::{signal_lead, SlurmConfig, SlurmTask, SLURM_TIME_TICK};
pub use detach::{
    orchestrator_job_file, orchestrator_job_name, orchestrator_script, recorded_orchestrator_job,
    stop_orchestrator_job, submit_orchestrator, OrchestratorJob,
};
pub use job_id::JobRef;
pub use parse::ParseError;
pub use poll_interval::PollInterval;
pub use probe::SlurmProbe;
pub use sacct::{parse_sacct, sacct_args, SacctRow, SACCT_FORMAT};
pub use script::{EnvVar, ScriptContext, BUILTIN_TEMPLATE};
pub use squeue::{parse_squeue, squeue_args, SqueueRow};
pub use states::{job_status, ExitCode, UnknownStates};
pub use submit::{parse_job_id, parse_sbatch, sbatch_args, SubmitError, Submitted};
