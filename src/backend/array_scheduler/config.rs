//! What an array-scheduler backend needs to know: each task's settings, where blockorch
//! lives, how to run the scheduler's commands, and its policies (signal lead time, array
//! limits, grace periods, retries).

use super::retry::Backoff;
use super::scheduler::{label, ArrayScheduler};
use crate::backend::command::CommandConfig;
use crate::backend::{BackendError, LaunchRequest};
use crate::task::{JobSetup, TaskFile};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One task as an array-scheduler backend sees it.
#[derive(Clone, Debug)]
pub struct ArrayTask<T> {
    /// Task name.
    pub name: String,
    /// The task's section for the scheduler (`slurm`, `lsf`).
    pub settings: T,
    /// Its template, resolved against the task file's directory; `None`: built-in.
    pub template: Option<PathBuf>,
    /// Its set-up lines, container prefix, `%M` and requeue policy (these override the
    /// configuration's `max_running` and `requeue`).
    pub job: JobSetup,
}

/// Configuration of an [`ArrayBackend`](super::ArrayBackend).
#[derive(Clone, Debug)]
pub struct ArrayConfig<S: ArrayScheduler> {
    /// The tasks, indexed like [`crate::backend::LaunchRequest::task`].
    pub tasks: Vec<ArrayTask<S::Settings>>,
    /// Job name shared by every job of the run (also taken from each launch request).
    pub run_name: String,
    /// Absolute path of the blockorch binary the jobs run.
    pub blockorch: PathBuf,
    /// How the scheduler's commands are run.
    pub commands: CommandConfig,
    /// SIGTERM this long before the walltime (SLURM `--signal=B:TERM@<s>`, at most a quarter
    /// of the walltime; LSF `-wa TERM -wt <minutes>`, rounded up, zero leaves it out).
    pub signal_grace: Duration,
    /// Let SLURM requeue jobs after a node failure, LSF rerun them (`-r`) (default: no,
    /// blockorch replaces them); a task's own `requeue` overrides it.
    pub requeue: bool,
    /// At most this many elements of one array run at once (`%M`), if limited.
    pub max_running: Option<u32>,
    /// A job the scheduler does not know (any more) for this long is reported as vanished.
    pub vanish_grace: Duration,
    /// Retries of a failed submission.
    pub submit_backoff: Backoff,
    /// The largest array to use instead of asking the scheduler.
    pub max_array_size: Option<u32>,
    /// Environment variables copied from blockorch's own environment into the job script.
    pub env_passthrough: Vec<String>,
}

impl<S: ArrayScheduler> ArrayConfig<S> {
    /// A configuration with the defaults for the tasks of `task_file`.
    pub fn from_task_file(task_file: &TaskFile, run_name: &str, blockorch: PathBuf) -> Self {
        let dir = absolute(&task_file.working_dir());
        let tasks = task_file
            .tasks
            .iter()
            .map(|t| {
                let (settings, template) = S::settings(t);
                ArrayTask {
                    name: t.name.clone(),
                    template: template.map(|p| dir.join(p)),
                    settings: settings.clone(),
                    job: S::job_setup(t),
                }
            })
            .collect();
        Self::new(tasks, run_name, blockorch)
    }

    /// A configuration with the defaults.
    pub fn new(tasks: Vec<ArrayTask<S::Settings>>, run_name: &str, blockorch: PathBuf) -> Self {
        ArrayConfig {
            tasks,
            run_name: run_name.to_owned(),
            blockorch,
            commands: CommandConfig::default(),
            signal_grace: Duration::from_secs(120),
            requeue: false,
            max_running: None,
            vanish_grace: Duration::from_secs(120),
            submit_backoff: Backoff::default(),
            max_array_size: None,
            env_passthrough: S::ENV_PASSTHROUGH.iter().map(|&v| v.to_owned()).collect(),
        }
    }

    /// `%M` of `task`'s arrays: its own, else the configuration's.
    pub fn max_running(&self, task: &ArrayTask<S::Settings>) -> Option<u32> {
        task.job.max_running.or(self.max_running)
    }

    /// The task `request` launches workers for; a launch error if the configuration has no
    /// such task.
    pub fn task(&self, request: &LaunchRequest) -> Result<&ArrayTask<S::Settings>, BackendError> {
        self.tasks
            .get(request.task)
            .ok_or_else(|| BackendError::Launch {
                task: request.task_name.clone(),
                message: format!(
                    "no {} settings for task number {}",
                    label::<S>(),
                    request.task
                ),
            })
    }
}

/// `path` made absolute against the current directory (unchanged if that fails).
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}
