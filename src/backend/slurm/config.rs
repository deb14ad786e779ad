//! What the SLURM backend needs to know: each task's settings, where blockorch lives, how to
//! run scheduler commands, and its policies (signal lead time, requeue, grace periods).

use super::command::CommandConfig;
use super::retry::Backoff;
use crate::task::{SlurmSettings, SlurmTime, TaskFile};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One task as the SLURM backend sees it.
#[derive(Clone, Debug)]
pub struct SlurmTask {
    /// Task name.
    pub name: String,
    /// The task's `slurm` section.
    pub settings: SlurmSettings,
    /// Its template, resolved against the task file's directory; `None`: built-in.
    pub template: Option<PathBuf>,
}

/// Configuration of a [`super::SlurmBackend`].
#[derive(Clone, Debug)]
pub struct SlurmConfig {
    /// The tasks, indexed like [`crate::backend::LaunchRequest::task`].
    pub tasks: Vec<SlurmTask>,
    /// Job name shared by every job of the run (also taken from each launch request).
    pub run_name: String,
    /// Absolute path of the blockorch binary the jobs run.
    pub blockorch: PathBuf,
    /// How scheduler commands are run.
    pub commands: CommandConfig,
    /// SIGTERM this long before the walltime (`--signal=B:TERM@<s>`).
    pub signal_grace: Duration,
    /// Let SLURM requeue jobs after a node failure (default: no, blockorch replaces them).
    pub requeue: bool,
    /// At most this many elements of one array run at once (`%M`), if limited.
    pub max_running: Option<u32>,
    /// A job missing from both squeue and sacct this long is reported as vanished.
    pub vanish_grace: Duration,
    /// Retries of a failed `sbatch`.
    pub submit_backoff: Backoff,
    /// MaxArraySize to use instead of reading `scontrol show config`.
    pub max_array_size: Option<u32>,
    /// Environment variables copied from blockorch's own environment into the job script.
    pub env_passthrough: Vec<String>,
}

impl SlurmConfig {
    /// A configuration with the defaults for the tasks of `task_file`.
    pub fn from_task_file(task_file: &TaskFile, run_name: &str, blockorch: PathBuf) -> SlurmConfig {
        let dir = absolute(&task_file.working_dir());
        let tasks = task_file
            .tasks
            .iter()
            .map(|t| SlurmTask {
                name: t.name.clone(),
                settings: t.slurm.clone(),
                template: t.slurm.template.as_ref().map(|p| dir.join(p.as_path())),
            })
            .collect();
        SlurmConfig::new(tasks, run_name, blockorch)
    }

    /// A configuration with the defaults.
    pub fn new(tasks: Vec<SlurmTask>, run_name: &str, blockorch: PathBuf) -> SlurmConfig {
        SlurmConfig {
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
            env_passthrough: vec!["SLURM_CONF".into(), "RUST_LOG".into()],
        }
    }
}

/// How long SLURM may be late (early, for `--signal`): slurmctld checks time limits on a fixed
/// tick of about 30 s, so a `--signal=B:TERM@<s>` arrives up to `s + 30` seconds before the
/// walltime (measured on SLURM 22.05: `@10` and `@15` on a 1-minute job both arrived 38 s after
/// the start).
pub const SLURM_TIME_TICK: Duration = Duration::from_secs(30);

/// The `--signal=B:TERM@<s>` lead actually used for a job with walltime `time`: `grace`, but
/// at most a quarter of the walltime. A lead as long as the walltime would have SLURM send the
/// signal at its first check, so every worker would give its blocks back within 30 s of
/// starting (a 1-minute job with the default 120 s would never finish a block longer than that).
pub fn signal_lead(grace: Duration, time: Option<&SlurmTime>) -> Duration {
    match time.map(SlurmTime::duration) {
        Some(limit) if !limit.is_zero() => grace.min(limit / 4),
        _ => grace,
    }
}

/// `path` made absolute against the current directory (unchanged if that fails).
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_lead_is_at_most_a_quarter_of_the_walltime() {
        let grace = Duration::from_secs(120);
        let time = |t: &str| SlurmTime::try_from(t).unwrap();
        assert_eq!(signal_lead(grace, None), grace);
        assert_eq!(
            signal_lead(grace, Some(&time("1"))),
            Duration::from_secs(15)
        );
        assert_eq!(
            signal_lead(grace, Some(&time("4"))),
            Duration::from_secs(60)
        );
        assert_eq!(signal_lead(grace, Some(&time("10"))), grace);
        assert_eq!(signal_lead(grace, Some(&time("1-0"))), grace);
    }
}
