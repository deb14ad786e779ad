//! What the LSF backend needs to know: each task's settings, where blockorch lives, how to run
//! LSF's commands, and its policies (warning lead time, array limits, grace periods, retries).

use crate::backend::slurm::{Backoff, CommandConfig};
use crate::task::{LsfSettings, TaskFile};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One task as the LSF backend sees it.
#[derive(Clone, Debug)]
pub struct LsfTask {
    /// Task name.
    pub name: String,
    /// The task's `lsf` section.
    pub settings: LsfSettings,
    /// Its template, resolved against the task file's directory; `None`: built-in.
    pub template: Option<PathBuf>,
}

/// Configuration of a [`super::LsfBackend`].
#[derive(Clone, Debug)]
pub struct LsfConfig {
    /// The tasks, indexed like [`crate::backend::LaunchRequest::task`].
    pub tasks: Vec<LsfTask>,
    /// Job name shared by every job of the run (also taken from each launch request).
    pub run_name: String,
    /// Absolute path of the blockorch binary the jobs run.
    pub blockorch: PathBuf,
    /// How `bsub`, `bjobs`, `bkill` and `bparams` are run.
    pub commands: CommandConfig,
    /// SIGTERM this long before the run limit (`-wa TERM -wt <minutes>`, rounded up to whole
    /// minutes; zero leaves the warning out).
    pub signal_grace: Duration,
    /// At most this many elements of one array run at once (`%M`), if limited.
    pub max_running: Option<u32>,
    /// A job bjobs does not know (any more) for this long is reported as vanished.
    pub vanish_grace: Duration,
    /// Retries of a failed `bsub`.
    pub submit_backoff: Backoff,
    /// MAX_JOB_ARRAY_SIZE to use instead of reading `bparams -a`.
    pub max_array_size: Option<u32>,
    /// Environment variables copied from blockorch's own environment into the job script (LSF
    /// copies the submission environment anyway; these are exported explicitly as well).
    pub env_passthrough: Vec<String>,
}

impl LsfConfig {
    /// A configuration with the defaults for the tasks of `task_file`.
    pub fn from_task_file(task_file: &TaskFile, run_name: &str, blockorch: PathBuf) -> LsfConfig {
        let dir = absolute(&task_file.working_dir());
        let tasks = task_file
            .tasks
            .iter()
            .map(|t| LsfTask {
                name: t.name.clone(),
                settings: t.lsf.clone(),
                template: t.lsf.template.as_ref().map(|p| dir.join(p.as_path())),
            })
            .collect();
        LsfConfig::new(tasks, run_name, blockorch)
    }

    /// A configuration with the defaults.
    pub fn new(tasks: Vec<LsfTask>, run_name: &str, blockorch: PathBuf) -> LsfConfig {
        LsfConfig {
            tasks,
            run_name: run_name.to_owned(),
            blockorch,
            commands: CommandConfig::default(),
            signal_grace: Duration::from_secs(120),
            max_running: None,
            vanish_grace: Duration::from_secs(120),
            submit_backoff: Backoff::default(),
            max_array_size: None,
            env_passthrough: vec!["LSF_ENVDIR".into(), "RUST_LOG".into()],
        }
    }
}

/// `path` made absolute against the current directory (unchanged if that fails).
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}
