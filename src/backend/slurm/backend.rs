//! [`SlurmBackend`]: workers as SLURM job-array elements, watched with one `squeue` (and at
//! most one `sacct`) per poll, cancelled by id.

use super::array::{chunks, parse_max_array_size, ArrayChunk, DEFAULT_MAX_ARRAY_SIZE};
use super::cancel::{only_already_finished, scancel_batches};
use super::command::{command_line, CommandCounts, CommandRunner};
use super::config::{signal_lead, SlurmConfig};
use super::job_id::{base_id, element_key};
use super::sacct::{self, parse_sacct, sacct_args};
use super::script::{render_script, RunParts, ScriptContext};
use super::squeue::{self, parse_squeue, squeue_args};
use super::states::{is_terminal, job_status, UnknownStates};
use super::submit::{parse_sbatch, sbatch_args, SubmitError};
use crate::backend::agent_command::AgentCommand;
use crate::backend::command::error_chain;
use crate::backend::DrySubmission;
use crate::backend::{Backend, BackendError, JobEnd, JobStatus, LaunchRequest, LaunchedAgent};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The directory of a task's job logs and scripts in the ledger.
pub fn log_dir(ledger: &Path, task: &str) -> PathBuf {
    ledger.join("logs").join("slurm").join(task)
}

/// What the backend remembers about one job between polls.
#[derive(Clone, Debug)]
struct Tracked {
    status: JobStatus,
    /// Since when neither squeue nor sacct knows the job.
    missing_since: Option<Instant>,
}

/// The SLURM backend (see `docs/slurm.md`).
#[derive(Debug)]
pub struct SlurmBackend {
    config: SlurmConfig,
    runner: CommandRunner,
    max_array_size: Option<u32>,
    /// Job names whose jobs this backend watches.
    run_names: BTreeSet<String>,
    /// Array job ids this backend submitted or adopted (for reconciliation).
    known_arrays: HashSet<u64>,
    tracked: HashMap<String, Tracked>,
    /// Keys this backend cancelled (to tell "cancelled by us" from "by someone else").
    cancelled: HashSet<String>,
    unknown: UnknownStates,
    submissions: u64,
    sacct_warned: bool,
}

impl SlurmBackend {
    /// A backend with `config`.
    pub fn new(config: SlurmConfig) -> SlurmBackend {
        let runner = CommandRunner::new(config.commands.clone());
        let run_names = BTreeSet::from([config.run_name.clone()]);
        SlurmBackend {
            max_array_size: config.max_array_size,
            config,
            runner,
            run_names,
            known_arrays: HashSet::new(),
            tracked: HashMap::new(),
            cancelled: HashSet::new(),
            unknown: UnknownStates::default(),
            submissions: 0,
            sacct_warned: false,
        }
    }

    /// Scheduler calls so far, per program (`sbatch`, `squeue`, `sacct`, `scancel`, `scontrol`).
    pub fn command_counts(&self) -> CommandCounts {
        self.runner.counts()
    }

    /// Takes over agents started by an earlier orchestrator of the same run (after a resume),
    /// so that reconciliation never mistakes their arrays for a lost submission.
    pub fn adopt(&mut self, agents: &[LaunchedAgent]) {
        for id in agents.iter().filter_map(|a| a.job_id.as_deref()) {
            if let Ok(array) = base_id(id).parse() {
                self.known_arrays.insert(array);
            }
        }
    }

    /// MaxArraySize, read once from `scontrol show config` (default 1001 if unreadable).
    fn max_array_size(&mut self) -> u32 {
        if let Some(size) = self.max_array_size {
            return size;
        }
        let args = vec!["show".to_owned(), "config".to_owned()];
        let size = match self.runner.run("scontrol", &args, None) {
            Ok(out) if out.success() => parse_max_array_size(&out.stdout),
            Ok(out) => {
                tracing::warn!(error = %out.describe(), "cannot read MaxArraySize; assuming {DEFAULT_MAX_ARRAY_SIZE}");
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read MaxArraySize; assuming {DEFAULT_MAX_ARRAY_SIZE}");
                None
            }
        }
        .unwrap_or(DEFAULT_MAX_ARRAY_SIZE);
        self.max_array_size = Some(size);
        size
    }

    /// The scripts and command lines `launch` would submit, without submitting anything.
    pub fn dry_run(&mut self, request: &LaunchRequest) -> Result<Vec<DrySubmission>, BackendError> {
        let size = self.config.max_array_size.unwrap_or(DEFAULT_MAX_ARRAY_SIZE);
        chunks(request.count, size, self.config.max_running)
            .into_iter()
            .enumerate()
            .map(|(n, chunk)| {
                let (script_path, script) = self.render(request, chunk, n as u64)?;
                let command_line = command_line(
                    &self.runner.program_path("sbatch").display().to_string(),
                    &sbatch_args(&script_path),
                );
                Ok(DrySubmission {
                    script_path,
                    script,
                    command_line,
                })
            })
            .collect()
    }

    /// Renders the script of submission number `n` of `request`.
    fn render(
        &self,
        request: &LaunchRequest,
        chunk: ArrayChunk,
        n: u64,
    ) -> Result<(PathBuf, String), BackendError> {
        let launch_error = |message: String| BackendError::Launch {
            task: request.task_name.clone(),
            message,
        };
        let task = self.config.tasks.get(request.task).ok_or_else(|| {
            launch_error(format!(
                "no SLURM settings for task number {}",
                request.task
            ))
        })?;
        let log_dir = log_dir(&request.ledger, &request.task_name);
        let agent = AgentCommand::for_request(
            &self.config.blockorch,
            request,
            &self.config.env_passthrough,
            &self.config.commands.env,
        );
        let context = ScriptContext::new(
            &task.settings,
            RunParts {
                job_name: &request.run_name,
                array: chunk.spec(),
                log_dir: &log_dir,
                workdir: &request.workdir,
                signal_grace_seconds: signal_lead(
                    self.config.signal_grace,
                    task.settings.time.as_ref(),
                )
                .as_secs(),
                requeue: self.config.requeue,
                agent,
            },
        );
        let script = render_script(task.template.as_deref(), &context).map_err(|e| {
            BackendError::Script {
                task: request.task_name.clone(),
                message: error_chain(&e),
            }
        })?;
        let path = log_dir.join(format!(
            "e{}-{}-{}.sbatch",
            request.epoch,
            std::process::id(),
            n
        ));
        Ok((path, script))
    }

    /// Submits one script with retries; returns the array's job id.
    fn submit(&mut self, script_path: &Path, run_name: &str) -> Result<u64, SubmitError> {
        let backoff = self.config.submit_backoff.clone();
        let mut delays = backoff.into_iter();
        loop {
            let result = self
                .runner
                .run("sbatch", &sbatch_args(script_path), None)
                .map_err(SubmitError::from)
                .and_then(parse_sbatch);
            let error = match result {
                Ok(submitted) => {
                    self.known_arrays.insert(submitted.job_id);
                    return Ok(submitted.job_id);
                }
                Err(e) if e.is_transient() || e.is_ambiguous() => e,
                Err(e) => return Err(e),
            };
            let Some(delay) = delays.next() else {
                return Err(error);
            };
            tracing::warn!(error = %error, retry_in = ?delay, "sbatch failed; retrying");
            std::thread::sleep(delay);
            if error.is_ambiguous() {
                if let Some(id) = self.reconcile(run_name) {
                    tracing::warn!(
                        job_id = id,
                        "the failed sbatch created the job after all; not resubmitting"
                    );
                    self.known_arrays.insert(id);
                    return Ok(id);
                }
            }
        }
    }

    /// After an ambiguous sbatch failure: a job of the run that this backend does not know is
    /// the one the failed call created.
    fn reconcile(&mut self, run_name: &str) -> Option<u64> {
        let out = self
            .runner
            .run("squeue", &squeue_args(run_name), None)
            .ok()
            .filter(|o| o.success())?;
        let rows = parse_squeue(&out.stdout).ok()?;
        rows.iter()
            .filter_map(|row| {
                base_id(&row.id.keys().first().cloned().unwrap_or_default())
                    .parse::<u64>()
                    .ok()
            })
            .filter(|id| !self.known_arrays.contains(id))
            .max()
    }

    fn update(&mut self, key: &str, status: JobStatus) -> JobStatus {
        let status = self.unknown.check(key, status);
        let entry = self.tracked.entry(key.to_owned()).or_insert(Tracked {
            status: JobStatus::Queued,
            missing_since: None,
        });
        if entry.status != status {
            tracing::debug!(job = key, from = ?entry.status, to = ?status, "job state changed");
        }
        entry.status = status.clone();
        entry.missing_since = None;
        status
    }
}

impl Backend for SlurmBackend {
    fn dry_run(
        &mut self,
        request: &LaunchRequest,
    ) -> Option<Result<Vec<DrySubmission>, BackendError>> {
        Some(SlurmBackend::dry_run(self, request))
    }

    fn adopt(&mut self, agents: &[LaunchedAgent]) {
        SlurmBackend::adopt(self, agents)
    }

    fn name(&self) -> &'static str {
        "slurm"
    }

    fn launch(&mut self, request: &LaunchRequest) -> Result<Vec<LaunchedAgent>, BackendError> {
        let launch_error = |message: String| BackendError::Launch {
            task: request.task_name.clone(),
            message,
        };
        if request.run_name != self.config.run_name {
            self.run_names.insert(request.run_name.clone());
        }
        let size = self.max_array_size();
        let mut agents = Vec::new();
        for chunk in chunks(request.count, size, self.config.max_running) {
            let n = self.submissions;
            self.submissions += 1;
            let (path, script) = self.render(request, chunk, n)?;
            let written = path
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| std::fs::write(&path, &script));
            if let Err(source) = written {
                self.cancel(&agents).ok();
                return Err(BackendError::Io {
                    context: format!("cannot write job script {}", path.display()),
                    source,
                });
            }
            let array = match self.submit(&path, &request.run_name) {
                Ok(id) => id,
                Err(e) => {
                    if !agents.is_empty() {
                        tracing::warn!(
                            "cancelling the {} workers already submitted for this launch",
                            agents.len()
                        );
                        self.cancel(&agents).ok();
                    }
                    return Err(launch_error(error_chain(&e)));
                }
            };
            tracing::info!(task = %request.task_name, job_id = array, array = %chunk.spec(), script = %path.display(), "submitted worker array");
            for index in 0..chunk.count {
                let key = element_key(array, index);
                self.tracked.insert(
                    key.clone(),
                    Tracked {
                        status: JobStatus::Queued,
                        missing_since: None,
                    },
                );
                agents.push(LaunchedAgent {
                    worker_id: format!("slurm-{key}"),
                    job_id: Some(key),
                    task: request.task,
                });
            }
        }
        Ok(agents)
    }

    fn poll(&mut self, agents: &[LaunchedAgent]) -> Result<Vec<JobStatus>, BackendError> {
        let keys: Vec<Option<String>> = agents.iter().map(|a| a.job_id.clone()).collect();
        let ended = |t: Option<&Tracked>| t.is_some_and(|t| !t.status.is_alive());
        let live: Vec<&String> = keys
            .iter()
            .flatten()
            .filter(|k| !ended(self.tracked.get(*k)))
            .collect();
        if !live.is_empty() {
            let names = self.run_names.iter().cloned().collect::<Vec<_>>().join(",");
            let out = self
                .runner
                .run("squeue", &squeue_args(&names), None)
                .map_err(|e| BackendError::Query(error_chain(&e)))?;
            if !out.success() {
                return Err(BackendError::Query(out.describe()));
            }
            let rows = parse_squeue(&out.stdout).map_err(|e| BackendError::Query(e.to_string()))?;
            let in_queue = squeue::by_key(&rows);
            let mut missing = Vec::new();
            let mut seen = Vec::new();
            for key in &live {
                match in_queue.get(key.as_str()) {
                    Some(row) if !is_terminal(&row.state) => {
                        seen.push(((*key).clone(), job_status(&row.state, None)))
                    }
                    Some(row) => missing.push(((*key).clone(), Some(row.state.clone()))),
                    None => missing.push(((*key).clone(), None)),
                }
            }
            for (key, status) in seen {
                self.update(&key, status);
            }
            if !missing.is_empty() {
                let bases: Vec<String> = missing
                    .iter()
                    .map(|(k, _)| base_id(k).to_owned())
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                let accounted = self.query_sacct(&bases);
                let records = accounted.as_deref().map(sacct::by_key).unwrap_or_default();
                let now = Instant::now();
                for (key, queue_state) in missing {
                    if let Some(row) = records.get(&key) {
                        let status = job_status(&row.state, row.exit);
                        if let (JobStatus::Ended(JobEnd::Cancelled), Some(uid)) =
                            (&status, row.cancelled_by())
                        {
                            if !self.cancelled.contains(&key)
                                && self.tracked.get(&key).is_none_or(|t| t.status.is_alive())
                            {
                                tracing::warn!(job = %key, uid, "job was cancelled by someone else (uid {uid}), not by blockorch");
                            }
                        }
                        self.update(&key, status);
                        continue;
                    }
                    let grace = self.config.vanish_grace;
                    let entry = self.tracked.entry(key.clone()).or_insert(Tracked {
                        status: JobStatus::Queued,
                        missing_since: None,
                    });
                    let since = *entry.missing_since.get_or_insert(now);
                    if now.duration_since(since) >= grace {
                        let status = match queue_state {
                            Some(state) => job_status(&state, None),
                            None => JobStatus::Ended(JobEnd::Vanished),
                        };
                        tracing::warn!(job = %key, ?status, "job is gone from squeue and has no accounting record");
                        entry.status = status;
                    }
                }
            }
        }
        Ok(keys
            .iter()
            .map(|k| match k {
                Some(k) => self
                    .tracked
                    .get(k)
                    .map_or(JobStatus::Ended(JobEnd::Vanished), |t| t.status.clone()),
                None => JobStatus::Unknown("no job id".into()),
            })
            .collect())
    }

    fn cancel(&mut self, agents: &[LaunchedAgent]) -> Result<(), BackendError> {
        let ids: Vec<String> = agents.iter().filter_map(|a| a.job_id.clone()).collect();
        let mut failures = Vec::new();
        for batch in scancel_batches(&ids) {
            match self.runner.run("scancel", &batch, None) {
                Ok(out) if out.success() || only_already_finished(&out.stderr) => {}
                Ok(out) => failures.push(out.describe()),
                Err(e) => failures.push(error_chain(&e)),
            }
            self.cancelled.extend(batch);
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(BackendError::Cancel(failures.join("; ")))
        }
    }
}

impl SlurmBackend {
    /// One `sacct` for `bases`; `None` (warned once) when accounting cannot be queried.
    fn query_sacct(&mut self, bases: &[String]) -> Option<Vec<sacct::SacctRow>> {
        let result = self.runner.run("sacct", &sacct_args(bases), None);
        let problem = match result {
            Ok(out) if out.success() => match parse_sacct(&out.stdout) {
                Ok(rows) => return Some(rows),
                Err(e) => e.to_string(),
            },
            Ok(out) => out.describe(),
            Err(e) => error_chain(&e),
        };
        if !self.sacct_warned {
            self.sacct_warned = true;
            tracing::warn!(error = %problem, "cannot query SLURM accounting; jobs gone from squeue are \
                 reported as vanished after the grace period (warned once)");
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::slurm::config::{SlurmConfig, SlurmTask};
    use crate::backend::test_request as request;
    use crate::task::SlurmSettings;

    fn backend() -> SlurmBackend {
        let task = SlurmTask {
            name: "seg".into(),
            settings: SlurmSettings::default(),
            template: None,
        };
        let mut config = SlurmConfig::new(vec![task], "bo-run", "/opt/blockorch".into());
        config.max_array_size = Some(4);
        config.max_running = Some(2);
        SlurmBackend::new(config)
    }

    #[test]
    fn dry_run_chunks_and_shows_the_command() {
        let mut b = backend();
        let dry = b.dry_run(&request(6)).unwrap();
        assert_eq!(dry.len(), 2);
        assert!(dry[0].script.contains("#SBATCH --array=0-3%2\n"));
        assert!(dry[1].script.contains("#SBATCH --array=0-1\n"));
        assert!(dry[0].script_path.starts_with("/ledger/logs/slurm/seg"));
        assert_eq!(
            dry[0].command_line,
            format!("sbatch --parsable {}", dry[0].script_path.display())
        );
        assert_eq!(b.command_counts().values().sum::<u64>(), 0);
    }

    #[test]
    fn unknown_task_is_a_launch_error() {
        let mut req = request(1);
        req.task = 5;
        let err = backend().dry_run(&req).unwrap_err();
        assert_eq!(
            err.to_string(),
            "could not start workers for task \"seg\": no SLURM settings for task number 5"
        );
    }
}
