//! One backend for every batch scheduler that runs workers as job-array elements (SLURM, LSF):
//! [`ArrayBackend`] does the work the schedulers share — chunking a wave into arrays, writing
//! the job script into the ledger, submitting with retries and reconciling after an ambiguous
//! failure, tracking states with a vanish grace, cancelling by id in batches — over the small
//! per-scheduler trait [`ArrayScheduler`]. See `docs/design/backends.md`.

mod backend;
mod cancel;
mod chunk;
mod config;
mod retry;
mod scheduler;
mod script;
mod states;

#[cfg(test)]
pub(crate) use backend::test_backend;
pub use backend::{log_dir, ArrayBackend};
pub use cancel::{cancel_batches, cancel_jobs, only_lines_like, CancelBatch, CANCEL_BATCH};
pub use chunk::{chunks, ArrayChunk};
pub use config::{ArrayConfig, ArrayTask};
pub use retry::Backoff;
pub use scheduler::{
    label, parse_setting, ArrayLimit, ArrayScheduler, LostArray, Query, Sighting, Watch,
};
#[cfg(test)]
pub(crate) use script::test_job;
pub use script::{
    render_script, BuiltinTemplate, JobContext, JobScript, ScriptJob, WorkerResources,
};
pub use states::UnknownStates;
