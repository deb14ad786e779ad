//! The orchestrator: drives a run from the ledger to its end (`blockorch submit`).
//!
//! See `docs/design/run-loop.md`.

mod agent;
mod agent_table;
mod block_book;
mod decide;
mod error;
mod inbox_writers;
mod init_runner;
mod jobs;
mod launch_policy;
mod options;
mod outage;
mod probe_schedule;
mod progress;
mod report;
mod run;
mod run_log;
mod setup;
mod status_recorder;
mod task_table;

pub use decide::{judge_loss, judge_outcome, loss_from_job_end, RetryLimits, Verdict};
pub use error::OrchestratorError;
pub use init_runner::tail_lines;
pub use options::{SubmitOptions, DEFAULT_METADATA_BUDGET};
pub use progress::{Progress, ProgressMode};
pub use report::{FailedBlock, RunReport, TaskReport};
pub use run::Run;
pub use setup::{open_ledger, plan_hash, planned_agents, prepare, run_name};

use crate::backend::Backend;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Runs (or resumes) `file` (loaded and validated from `opts.task_file` by the caller) on
/// `backend` until every block is settled or `interrupted` is raised.
pub fn submit(
    file: crate::task::TaskFile,
    opts: SubmitOptions,
    backend: Box<dyn Backend>,
    interrupted: Arc<AtomicBool>,
) -> Result<RunReport, OrchestratorError> {
    prepare(file, opts, backend, interrupted)?.drive()
}
