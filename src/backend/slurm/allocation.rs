//! Inside an allocation (`salloc`, or an `sbatch` job that runs the orchestrator): workers as
//! job steps, `srun --exact -n1 -c C [--gres=gpu:G] …`, one per worker, each with its own
//! identity `slurm-<jobid>.<k>` and the CPUs and GPUs SLURM gives the step
//! (`CUDA_VISIBLE_DEVICES` is set by SLURM per step).
//!
//! The mode is chosen automatically when `SLURM_JOB_ID` is set (logged), and can be forced
//! either way ([`ModeRequest`]). Steps are watched through the `srun` processes themselves
//! (no scheduler call while they run, apart from one `squeue -s` per poll to tell running
//! steps from steps waiting for resources) and, once an `srun` exits, one `sacct` of the
//! job's steps per poll says how the step ended; a failed step is handled like a failed job.

use super::command::{CommandCounts, CommandRunner};
use super::config::SlurmConfig;
use super::sacct::{parse_sacct, sacct_steps_args, SacctRow};
use super::squeue::{parse_squeue_steps, squeue_steps_args};
use super::states::{job_status, UnknownStates};
use crate::backend::{Backend, BackendError, JobEnd, JobStatus, LaunchRequest, LaunchedAgent};
use crate::ledger::Layout;
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Which SLURM mode the user asked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ModeRequest {
    /// Job steps when `SLURM_JOB_ID` is set, job arrays otherwise.
    #[default]
    Auto,
    /// Always submit job arrays (even from inside a job).
    Submit,
    /// Always run job steps in the current allocation (fails outside one).
    Allocation,
}

/// The mode in effect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SlurmMode {
    /// Submit job arrays with sbatch.
    Submit,
    /// Start job steps in allocation `job_id`.
    Allocation {
        /// `SLURM_JOB_ID`.
        job_id: String,
    },
}

/// Decides the mode from the request and `SLURM_JOB_ID` (`None` if unset); `Err` when an
/// allocation is forced outside one.
pub fn resolve_mode(request: ModeRequest, slurm_job_id: Option<&str>) -> Result<SlurmMode, String> {
    let job = slurm_job_id.map(str::trim).filter(|j| !j.is_empty());
    match (request, job) {
        (ModeRequest::Submit, _) => Ok(SlurmMode::Submit),
        (ModeRequest::Auto, None) => Ok(SlurmMode::Submit),
        (ModeRequest::Auto, Some(job)) => {
            tracing::info!(
                job_id = job,
                "SLURM_JOB_ID is set: starting workers as job steps inside this allocation \
                 (force job arrays with the submit mode)"
            );
            Ok(SlurmMode::Allocation {
                job_id: job.to_owned(),
            })
        }
        (ModeRequest::Allocation, Some(job)) => Ok(SlurmMode::Allocation {
            job_id: job.to_owned(),
        }),
        (ModeRequest::Allocation, None) => Err(
            "allocation mode needs to run inside a SLURM allocation (SLURM_JOB_ID is not set); \
                 use salloc or sbatch, or the submit mode"
                .to_owned(),
        ),
    }
}

/// What one worker step needs on the srun command line.
#[derive(Clone, Debug)]
pub struct StepSpec<'a> {
    /// The allocation.
    pub job_id: &'a str,
    /// The worker identity (also the step's name, to find it in squeue and sacct).
    pub worker_id: &'a str,
    /// CPUs per worker.
    pub cpus: u32,
    /// GPUs per worker (0: none).
    pub gpus: u32,
    /// Memory per worker, if set.
    pub mem: Option<&'a str>,
    /// Where the step writes its output.
    pub log_dir: &'a Path,
    /// The blockorch binary.
    pub blockorch: &'a Path,
    /// The ledger.
    pub ledger: &'a Path,
    /// The task.
    pub task: &'a str,
    /// Slots per worker.
    pub slots: u32,
    /// Words the agent puts before the worker command (the task's `container_prefix`).
    pub command_prefix: &'a [String],
}

/// The `srun` arguments of one worker step.
pub fn srun_args(step: &StepSpec<'_>) -> Vec<String> {
    let mut args = vec![
        format!("--jobid={}", step.job_id),
        "--exact".into(),
        "--ntasks=1".into(),
        "--nodes=1".into(),
        format!("--cpus-per-task={}", step.cpus.max(1)),
        format!("--job-name={}", step.worker_id),
    ];
    if step.gpus > 0 {
        args.push(format!("--gres=gpu:{}", step.gpus));
    }
    if let Some(mem) = step.mem {
        args.push(format!("--mem={mem}"));
    }
    // srun reads --output/--error as filename patterns: a `%` of the path must stay literal.
    let log = |ext: &str| {
        crate::template::escape_percent(
            &step
                .log_dir
                .join(format!("{}.{ext}", step.worker_id))
                .display()
                .to_string(),
        )
    };
    args.extend([
        format!("--output={}", log("out")),
        format!("--error={}", log("err")),
        step.blockorch.display().to_string(),
        "worker".into(),
        "--ledger".into(),
        step.ledger.display().to_string(),
        "--task".into(),
        step.task.into(),
        "--slots".into(),
        step.slots.max(1).to_string(),
        "--worker-id".into(),
        step.worker_id.into(),
    ]);
    args.extend(
        step.command_prefix
            .iter()
            .map(|word| format!("--command-prefix={word}")),
    );
    args
}

/// How a step ended according to its `srun` exit status (when sacct has no record).
pub fn status_from_exit(status: ExitStatus) -> JobStatus {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(0), _) => JobStatus::Ended(JobEnd::Completed),
        (Some(code), _) => JobStatus::Ended(JobEnd::Failed {
            exit_code: Some(code),
            signal: None,
        }),
        (None, signal) => JobStatus::Ended(JobEnd::Failed {
            exit_code: None,
            signal,
        }),
    }
}

/// The sacct record of the step named `worker_id` (not the allocation's own row).
pub fn step_record<'a>(rows: &'a [SacctRow], worker_id: &str) -> Option<&'a SacctRow> {
    rows.iter()
        .rev()
        .find(|r| r.name == worker_id && r.raw_id.contains('.'))
}

#[derive(Debug)]
struct Step {
    child: Child,
    exited: Option<(ExitStatus, Instant)>,
    status: JobStatus,
}

/// Workers as job steps of the current allocation.
#[derive(Debug)]
pub struct AllocationBackend {
    job_id: String,
    config: SlurmConfig,
    runner: CommandRunner,
    steps: HashMap<String, Step>,
    next: u64,
    unknown: UnknownStates,
    /// How long to wait for sacct's record of an ended step before trusting srun's exit.
    pub record_grace: Duration,
}

impl AllocationBackend {
    /// Steps in allocation `job_id`.
    pub fn new(job_id: &str, config: SlurmConfig) -> AllocationBackend {
        AllocationBackend {
            job_id: job_id.to_owned(),
            runner: CommandRunner::new(config.commands.clone()),
            config,
            steps: HashMap::new(),
            next: 0,
            unknown: UnknownStates::default(),
            record_grace: Duration::from_secs(10),
        }
    }

    /// Scheduler calls so far, per program.
    pub fn command_counts(&self) -> CommandCounts {
        self.runner.counts()
    }

    /// The next free worker number: past those of earlier orchestrators in the ledger.
    fn next_number(&mut self, ledger: &Path) -> u64 {
        let prefix = format!("slurm-{}.", self.job_id);
        let used = std::fs::read_dir(Layout::new(ledger).workers_dir())
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                e.file_name()
                    .to_str()?
                    .strip_prefix(&prefix)?
                    .parse::<u64>()
                    .ok()
            })
            .map(|k| k + 1)
            .max()
            .unwrap_or(0);
        self.next = self.next.max(used);
        let k = self.next;
        self.next += 1;
        k
    }
}

impl Backend for AllocationBackend {
    fn name(&self) -> &'static str {
        "slurm"
    }

    fn launch(&mut self, request: &LaunchRequest) -> Result<Vec<LaunchedAgent>, BackendError> {
        let task = self.config.task(request)?;
        let settings = task.settings.clone();
        let command_prefix = task.job.container_prefix.clone();
        let workdir = request.workdir.clone();
        let log_dir: PathBuf = super::backend::log_dir(&request.ledger, &request.task_name);
        std::fs::create_dir_all(&log_dir).map_err(|source| BackendError::Io {
            context: format!("cannot create log directory {}", log_dir.display()),
            source,
        })?;
        let mut agents = Vec::new();
        for _ in 0..request.count {
            let k = self.next_number(&request.ledger);
            let worker_id = format!("slurm-{}.{k}", self.job_id);
            let args = srun_args(&StepSpec {
                job_id: &self.job_id,
                worker_id: &worker_id,
                cpus: settings.cpus_per_worker.map_or(1, |c| c.get()),
                gpus: settings.gpus_per_worker.unwrap_or(0),
                mem: settings.mem.as_ref().map(|m| m.as_str()),
                log_dir: &log_dir,
                blockorch: &self.config.blockorch,
                ledger: &request.ledger,
                task: &request.task_name,
                slots: request.slots_per_agent,
                command_prefix: &command_prefix,
            });
            let srun_log = log_dir.join(format!("{worker_id}.srun"));
            let io = |source| BackendError::Io {
                context: format!("cannot start srun for {worker_id}"),
                source,
            };
            let log = File::create(&srun_log).map_err(io)?;
            let child = Command::new(self.runner.program_path("srun"))
                .args(&args)
                .envs(self.config.commands.env.iter().map(|(k, v)| (k, v)))
                .current_dir(&workdir)
                .stdin(Stdio::null())
                .stdout(log.try_clone().map_err(io)?)
                .stderr(log)
                .spawn()
                .map_err(io)?;
            self.runner.record("srun");
            tracing::debug!(worker = %worker_id, "started worker step");
            self.steps.insert(
                worker_id.clone(),
                Step {
                    child,
                    exited: None,
                    status: JobStatus::Queued,
                },
            );
            agents.push(LaunchedAgent {
                worker_id,
                job_id: Some(self.job_id.clone()),
                task: request.task,
            });
        }
        Ok(agents)
    }

    fn poll(&mut self, agents: &[LaunchedAgent]) -> Result<Vec<JobStatus>, BackendError> {
        let now = Instant::now();
        let mut any_running = false;
        let mut any_exited = false;
        for agent in agents {
            let Some(step) = self.steps.get_mut(&agent.worker_id) else {
                continue;
            };
            if !step.status.is_alive() {
                continue;
            }
            if step.exited.is_none() {
                match step.child.try_wait() {
                    Ok(Some(status)) => step.exited = Some((status, now)),
                    Ok(None) => any_running = true,
                    Err(source) => {
                        return Err(BackendError::Io {
                            context: format!("cannot wait for srun of {}", agent.worker_id),
                            source,
                        })
                    }
                }
            }
            any_exited |= step.exited.is_some();
        }
        if any_running {
            let out = self
                .runner
                .run("squeue", &squeue_steps_args(&self.job_id), None)
                .map_err(|e| BackendError::Query(e.to_string()))?;
            let rows = if out.success() {
                parse_squeue_steps(&out.stdout).map_err(|e| BackendError::Query(e.to_string()))?
            } else {
                return Err(BackendError::Query(out.describe()));
            };
            for (id, step) in self
                .steps
                .iter_mut()
                .filter(|(_, s)| s.exited.is_none() && s.status.is_alive())
            {
                step.status = if rows.iter().any(|r| &r.name == id) {
                    JobStatus::Running
                } else {
                    JobStatus::Queued
                };
            }
        }
        if any_exited {
            let rows = match self
                .runner
                .run("sacct", &sacct_steps_args(&self.job_id), None)
            {
                Ok(out) if out.success() => parse_sacct(&out.stdout).unwrap_or_default(),
                _ => Vec::new(),
            };
            for (id, step) in self.steps.iter_mut().filter(|(_, s)| s.status.is_alive()) {
                let Some((exit, at)) = step.exited else {
                    continue;
                };
                step.status = match step_record(&rows, id) {
                    Some(row) if !job_status(&row.state, row.exit).is_alive() => self
                        .unknown
                        .check("SLURM", id, job_status(&row.state, row.exit)),
                    _ if now.duration_since(at) >= self.record_grace => status_from_exit(exit),
                    _ => JobStatus::Running,
                };
            }
        }
        Ok(agents
            .iter()
            .map(|a| {
                self.steps
                    .get(&a.worker_id)
                    .map_or(JobStatus::Ended(JobEnd::Vanished), |s| s.status.clone())
            })
            .collect())
    }

    fn cancel(&mut self, agents: &[LaunchedAgent]) -> Result<(), BackendError> {
        let out = self
            .runner
            .run("squeue", &squeue_steps_args(&self.job_id), None)
            .map_err(|e| BackendError::Cancel(e.to_string()))?;
        let rows = parse_squeue_steps(&out.stdout).unwrap_or_default();
        let mut ids = Vec::new();
        for agent in agents {
            match rows.iter().find(|r| r.name == agent.worker_id) {
                Some(row) => ids.push(row.key.clone()),
                None => {
                    // Still waiting for resources: stopping srun withdraws the request.
                    if let Some(step) = self.steps.get_mut(&agent.worker_id) {
                        let _ = nix::sys::signal::kill(
                            nix::unistd::Pid::from_raw(step.child.id() as i32),
                            nix::sys::signal::Signal::SIGTERM,
                        );
                    }
                }
            }
        }
        if !ids.is_empty() {
            let out = self
                .runner
                .run("scancel", &ids, None)
                .map_err(|e| BackendError::Cancel(e.to_string()))?;
            if !out.success() {
                return Err(BackendError::Cancel(out.describe()));
            }
        }
        Ok(())
    }
}

impl Drop for AllocationBackend {
    fn drop(&mut self) {
        // Reap exited srun processes; running ones keep running (the orchestrator cancels
        // explicitly, a crash must not kill the workers).
        for step in self.steps.values_mut() {
            let _ = step.child.try_wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_resolution() {
        assert_eq!(resolve_mode(ModeRequest::Auto, None), Ok(SlurmMode::Submit));
        assert_eq!(
            resolve_mode(ModeRequest::Auto, Some("42")),
            Ok(SlurmMode::Allocation {
                job_id: "42".into()
            })
        );
        assert_eq!(
            resolve_mode(ModeRequest::Auto, Some("")),
            Ok(SlurmMode::Submit)
        );
        assert_eq!(
            resolve_mode(ModeRequest::Submit, Some("42")),
            Ok(SlurmMode::Submit)
        );
        assert!(resolve_mode(ModeRequest::Allocation, None)
            .unwrap_err()
            .contains("SLURM_JOB_ID is not set"));
    }

    #[test]
    fn srun_command_line() {
        let args = srun_args(&StepSpec {
            job_id: "42",
            worker_id: "slurm-42.3",
            cpus: 2,
            gpus: 1,
            mem: Some("4G"),
            log_dir: Path::new("/l/logs/slurm/seg"),
            blockorch: Path::new("/bin/blockorch"),
            ledger: Path::new("/l"),
            task: "seg",
            slots: 1,
            command_prefix: &["apptainer".into(), "--nv".into()],
        });
        assert_eq!(
            args.join(" "),
            "--jobid=42 --exact --ntasks=1 --nodes=1 --cpus-per-task=2 --job-name=slurm-42.3 --gres=gpu:1 \
             --mem=4G --output=/l/logs/slurm/seg/slurm-42.3.out --error=/l/logs/slurm/seg/slurm-42.3.err \
             /bin/blockorch worker --ledger /l --task seg --slots 1 --worker-id slurm-42.3 \
             --command-prefix=apptainer --command-prefix=--nv"
        );
    }

    #[test]
    fn srun_log_paths_keep_a_percent_literal() {
        let args = srun_args(&StepSpec {
            job_id: "42",
            worker_id: "slurm-42.3",
            cpus: 1,
            gpus: 0,
            mem: None,
            log_dir: Path::new("/l%t/logs/slurm/seg"),
            blockorch: Path::new("/bin/blockorch"),
            ledger: Path::new("/l%t"),
            task: "seg",
            slots: 1,
            command_prefix: &[],
        });
        assert!(args.contains(&"--output=/l%%t/logs/slurm/seg/slurm-42.3.out".to_owned()));
        assert!(args.contains(&"--error=/l%%t/logs/slurm/seg/slurm-42.3.err".to_owned()));
        // Arguments of the program itself are not patterns.
        assert!(args.contains(&"/l%t".to_owned()));
    }

    #[test]
    fn step_records_from_this_cluster() {
        let rows = parse_sacct(include_str!("testdata/sacct_allocation_steps.txt")).unwrap();
        assert_eq!(
            step_record(&rows, "w1").map(|r| r.raw_id.as_str()),
            Some("42.0")
        );
        assert_eq!(
            step_record(&rows, "w2").map(|r| r.state.as_str()),
            Some("RUNNING")
        );
        assert!(step_record(&rows, "bocap3").is_none());
        let steps = parse_squeue_steps(include_str!("testdata/squeue_steps.txt")).unwrap();
        assert_eq!(
            steps
                .iter()
                .find(|s| s.name == "w0")
                .map(|s| s.key.as_str()),
            Some("42.1")
        );
    }

    #[test]
    fn exit_statuses() {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            status_from_exit(ExitStatus::from_raw(0)),
            JobStatus::Ended(JobEnd::Completed)
        );
        assert_eq!(
            status_from_exit(ExitStatus::from_raw(3 << 8)),
            JobStatus::Ended(JobEnd::Failed {
                exit_code: Some(3),
                signal: None
            })
        );
        assert_eq!(
            status_from_exit(ExitStatus::from_raw(9)),
            JobStatus::Ended(JobEnd::Failed {
                exit_code: None,
                signal: Some(9)
            })
        );
    }
}
