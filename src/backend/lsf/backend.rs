//! [`LsfBackend`]: workers as LSF job-array elements, watched with one `bjobs` per poll,
//! cancelled by id.

use super::array::{
    bparams_args, chunks, parse_max_job_array_size, ArrayChunk, DEFAULT_MAX_JOB_ARRAY_SIZE,
};
use super::bjobs::{bjobs_args, bjobs_by_name_args, BjobsFormat, BjobsOutput, BjobsQuery};
use super::cancel::{bkill_batches, only_already_finished};
use super::config::LsfConfig;
use super::job_id::LsfJobId;
use super::script::{render_script, RunParts, ScriptContext};
use super::states::{job_status, Warnings};
use super::submit::{bsub_args, parse_bsub, SubmitError};
use crate::backend::agent_command::AgentCommand;
use crate::backend::command::error_chain;
use crate::backend::slurm::{CommandCounts, CommandRunner};
use crate::backend::DrySubmission;
use crate::backend::{Backend, BackendError, JobEnd, JobStatus, LaunchRequest, LaunchedAgent};
use crate::template::shell_quote;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The directory of a task's job logs and scripts in the ledger.
pub fn log_dir(ledger: &Path, task: &str) -> PathBuf {
    ledger.join("logs").join("lsf").join(task)
}

/// `bsub < <script>`, as a user would type it.
pub fn bsub_command_line(bsub: &Path, script: &Path) -> String {
    format!(
        "{} < {}",
        shell_quote(&bsub.display().to_string()),
        shell_quote(&script.display().to_string())
    )
}

/// What the backend remembers about one job between polls.
#[derive(Clone, Debug)]
struct Tracked {
    status: JobStatus,
    /// Since when bjobs does not know the job.
    missing_since: Option<Instant>,
}

impl Tracked {
    fn queued() -> Tracked {
        Tracked {
            status: JobStatus::Queued,
            missing_since: None,
        }
    }
}

/// The LSF backend (see `docs/lsf.md`).
#[derive(Debug)]
pub struct LsfBackend {
    config: LsfConfig,
    runner: CommandRunner,
    max_array_size: Option<u32>,
    /// Array job ids this backend submitted or adopted (for reconciliation).
    known_arrays: HashSet<u64>,
    tracked: HashMap<LsfJobId, Tracked>,
    /// Elements this backend asked bkill to end (to tell "cancelled by us" from others).
    cancelled: HashSet<LsfJobId>,
    warnings: Warnings,
    query: BjobsQuery,
    submissions: u64,
}

/// Refuses a `%` in a directory that goes into `-o`/`-e`/`-cwd`: LSF expands `%J`, `%I`, `%U`…
/// there and has no escape, so the logs or the working directory would silently be elsewhere.
fn refuse_percent(task: &str, what: &str, dir: &Path) -> Result<(), BackendError> {
    let text = dir.display().to_string();
    if !text.contains('%') {
        return Ok(());
    }
    Err(BackendError::Script {
        task: task.to_owned(),
        message: format!(
            "the {what} directory {text:?} contains \"%\", which LSF expands in -o, -e and -cwd \
             (%J, %I, %U…) and cannot escape; use a directory without \"%\""
        ),
    })
}

impl LsfBackend {
    /// A backend with `config`.
    pub fn new(config: LsfConfig) -> LsfBackend {
        LsfBackend {
            runner: CommandRunner::new(config.commands.clone()),
            max_array_size: config.max_array_size,
            config,
            known_arrays: HashSet::new(),
            tracked: HashMap::new(),
            cancelled: HashSet::new(),
            warnings: Warnings::default(),
            query: BjobsQuery::default(),
            submissions: 0,
        }
    }

    /// LSF calls so far, per program (`bsub`, `bjobs`, `bkill`, `bparams`).
    pub fn command_counts(&self) -> CommandCounts {
        self.runner.counts()
    }

    /// Takes over agents started by an earlier orchestrator of the same run (after a resume),
    /// so that reconciliation never mistakes their arrays for a lost submission.
    pub fn adopt(&mut self, agents: &[LaunchedAgent]) {
        for id in agents
            .iter()
            .filter_map(|a| a.job_id.as_deref().and_then(LsfJobId::parse))
        {
            self.known_arrays.insert(id.job);
        }
    }

    /// MAX_JOB_ARRAY_SIZE, read once from `bparams -a` (1000 if unreadable).
    fn max_array_size(&mut self) -> u32 {
        if let Some(size) = self.max_array_size {
            return size;
        }
        let size = match self.runner.run("bparams", &bparams_args(), None) {
            Ok(out) if out.success() => parse_max_job_array_size(&out.stdout),
            Ok(out) => {
                tracing::warn!(error = %out.describe(), "cannot read MAX_JOB_ARRAY_SIZE; assuming {DEFAULT_MAX_JOB_ARRAY_SIZE}");
                None
            }
            Err(e) => {
                tracing::warn!(error = %error_chain(&e), "cannot read MAX_JOB_ARRAY_SIZE; assuming {DEFAULT_MAX_JOB_ARRAY_SIZE}");
                None
            }
        }
        .unwrap_or(DEFAULT_MAX_JOB_ARRAY_SIZE);
        self.max_array_size = Some(size);
        size
    }

    /// The scripts and command lines `launch` would submit, without running any LSF command.
    pub fn dry_run(&mut self, request: &LaunchRequest) -> Result<Vec<DrySubmission>, BackendError> {
        let size = self
            .config
            .max_array_size
            .unwrap_or(DEFAULT_MAX_JOB_ARRAY_SIZE);
        chunks(request.count, size, self.config.max_running)
            .into_iter()
            .enumerate()
            .map(|(n, chunk)| {
                let (script_path, script) = self.render(request, chunk, n as u64)?;
                let command_line =
                    bsub_command_line(&self.runner.program_path("bsub"), &script_path);
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
            launch_error(format!("no LSF settings for task number {}", request.task))
        })?;
        let log_dir = log_dir(&request.ledger, &request.task_name);
        refuse_percent(&request.task_name, "ledger", &request.ledger)?;
        refuse_percent(&request.task_name, "working", &request.workdir)?;
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
                chunk,
                log_dir: &log_dir,
                workdir: &request.workdir,
                signal_grace_seconds: self.config.signal_grace.as_secs(),
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
            "e{}-{}-{}.bsub",
            request.epoch,
            std::process::id(),
            n
        ));
        Ok((path, script))
    }

    /// Submits one script (on bsub's stdin) with retries; returns the array's job id.
    fn submit(&mut self, script: &str, run_name: &str, count: u32) -> Result<u64, SubmitError> {
        let backoff = self.config.submit_backoff.clone();
        let mut delays = backoff.into_iter();
        loop {
            let result = self
                .runner
                .run("bsub", &bsub_args(), Some(script))
                .map_err(SubmitError::from)
                .and_then(parse_bsub);
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
            tracing::warn!(error = %error, retry_in = ?delay, "bsub failed; retrying");
            std::thread::sleep(delay);
            if error.is_ambiguous() {
                if let Some(id) = self.reconcile(run_name, count) {
                    tracing::warn!(
                        job_id = id,
                        "the failed bsub created the job after all; not resubmitting"
                    );
                    self.known_arrays.insert(id);
                    return Ok(id);
                }
            }
        }
    }

    /// After an ambiguous bsub failure: an array of the run, with `count` elements, that this
    /// backend does not know is the one the failed call created.
    fn reconcile(&mut self, run_name: &str, count: u32) -> Option<u64> {
        let out = self
            .bjobs(|format| bjobs_by_name_args(run_name, format))
            .ok()?;
        let mut sizes: BTreeMap<u64, u32> = BTreeMap::new();
        for row in &out.rows {
            *sizes.entry(row.id.job).or_default() += 1;
        }
        sizes
            .into_iter()
            .filter(|(id, n)| *n == count && !self.known_arrays.contains(id))
            .map(|(id, _)| id)
            .max()
    }

    /// Runs one bjobs with the current format (falling back, once for good, to the format
    /// without `exit_reason` if this LSF does not know that field).
    fn bjobs(
        &mut self,
        args: impl Fn(BjobsFormat) -> Vec<String>,
    ) -> Result<BjobsOutput, BackendError> {
        self.query
            .run(&mut self.runner, args)
            .map_err(BackendError::Query)
    }

    fn update(&mut self, key: LsfJobId, status: JobStatus) {
        let entry = self.tracked.entry(key).or_insert_with(Tracked::queued);
        if entry.status != status {
            tracing::debug!(job = %key, from = ?entry.status, to = ?status, "job state changed");
        }
        entry.status = status;
        entry.missing_since = None;
    }
}

impl Backend for LsfBackend {
    fn dry_run(
        &mut self,
        request: &LaunchRequest,
    ) -> Option<Result<Vec<DrySubmission>, BackendError>> {
        Some(LsfBackend::dry_run(self, request))
    }

    fn name(&self) -> &'static str {
        "lsf"
    }

    fn adopt(&mut self, agents: &[LaunchedAgent]) {
        LsfBackend::adopt(self, agents)
    }

    fn launch(&mut self, request: &LaunchRequest) -> Result<Vec<LaunchedAgent>, BackendError> {
        let size = self.max_array_size();
        let mut agents = Vec::new();
        for chunk in chunks(request.count, size, self.config.max_running) {
            let n = self.submissions;
            self.submissions += 1;
            let (path, script) = self.render(request, chunk, n)?;
            // The script is also kept in the ledger: it alone reproduces the submission.
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
            let array = match self.submit(&script, &request.run_name, chunk.count) {
                Ok(id) => id,
                Err(e) => {
                    if !agents.is_empty() {
                        tracing::warn!(
                            "cancelling the {} workers already submitted for this launch",
                            agents.len()
                        );
                        self.cancel(&agents).ok();
                    }
                    return Err(BackendError::Launch {
                        task: request.task_name.clone(),
                        message: error_chain(&e),
                    });
                }
            };
            tracing::info!(task = %request.task_name, job_id = array, array = %chunk.job_name(&request.run_name), script = %path.display(), "submitted worker array");
            for index in 1..=chunk.count {
                let key = LsfJobId::element(array, index);
                self.tracked.insert(key, Tracked::queued());
                agents.push(LaunchedAgent {
                    worker_id: key.worker_id(),
                    job_id: Some(key.to_string()),
                    task: request.task,
                });
            }
        }
        Ok(agents)
    }

    fn poll(&mut self, agents: &[LaunchedAgent]) -> Result<Vec<JobStatus>, BackendError> {
        let keys: Vec<Option<LsfJobId>> = agents
            .iter()
            .map(|a| a.job_id.as_deref().and_then(LsfJobId::parse))
            .collect();
        let live: Vec<LsfJobId> = keys
            .iter()
            .flatten()
            .filter(|k| self.tracked.get(k).is_none_or(|t| t.status.is_alive()))
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if !live.is_empty() {
            // One bjobs for every job of the run: by array id, which lists all its elements.
            let ids: Vec<String> = live
                .iter()
                .map(|k| k.job)
                .collect::<BTreeSet<_>>()
                .into_iter()
                .map(|job| job.to_string())
                .collect();
            let out = self.bjobs(|format| bjobs_args(&ids, format))?;
            let rows: HashMap<LsfJobId, _> = out.rows.iter().map(|r| (r.id, r)).collect();
            let now = Instant::now();
            for key in live {
                let job = key.to_string();
                match rows.get(&key) {
                    Some(row) => {
                        let reason = row.exit_reason.as_deref();
                        let status = job_status(&row.stat, row.exit_code, reason);
                        self.warnings.check(&job, &row.stat, reason, &status);
                        let was_alive = self.tracked.get(&key).is_none_or(|t| t.status.is_alive());
                        if status == JobStatus::Ended(JobEnd::Cancelled)
                            && was_alive
                            && !self.cancelled.contains(&key)
                        {
                            tracing::warn!(job = %job, reason = reason.unwrap_or("-"), "job was killed by someone else, not by blockorch");
                        }
                        self.update(key, status);
                    }
                    None => {
                        let grace = self.config.vanish_grace;
                        let entry = self.tracked.entry(key).or_insert_with(Tracked::queued);
                        let since = *entry.missing_since.get_or_insert(now);
                        if now.duration_since(since) >= grace {
                            tracing::warn!(job = %job, "bjobs no longer knows the job and has no record of how it ended");
                            entry.status = JobStatus::Ended(JobEnd::Vanished);
                        }
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
        for batch in bkill_batches(&ids) {
            match self.runner.run("bkill", &batch, None) {
                Ok(out) if out.success() || only_already_finished(&out.stdout, &out.stderr) => {}
                Ok(out) => failures.push(out.describe()),
                Err(e) => failures.push(error_chain(&e)),
            }
            self.cancelled
                .extend(batch.iter().filter_map(|id| LsfJobId::parse(id)));
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(BackendError::Cancel(failures.join("; ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::lsf::config::LsfTask;
    use crate::backend::test_request as request;
    use crate::task::LsfSettings;

    fn backend() -> LsfBackend {
        let task = LsfTask {
            name: "seg".into(),
            settings: LsfSettings::default(),
            template: None,
        };
        let mut config = LsfConfig::new(vec![task], "bo-run", "/opt/blockorch".into());
        config.max_array_size = Some(4);
        config.max_running = Some(2);
        LsfBackend::new(config)
    }

    #[test]
    fn dry_run_chunks_and_shows_the_command() {
        let mut b = backend();
        let dry = b.dry_run(&request(6)).unwrap();
        assert_eq!(dry.len(), 2);
        assert!(dry[0].script.contains("#BSUB -J bo-run[1-4]%2\n"));
        assert!(dry[1].script.contains("#BSUB -J bo-run[1-2]\n"));
        assert!(dry[0].script_path.starts_with("/ledger/logs/lsf/seg"));
        assert_eq!(
            dry[0].command_line,
            format!("bsub < {}", dry[0].script_path.display())
        );
        assert_eq!(b.command_counts().values().sum::<u64>(), 0);
    }

    #[test]
    fn percent_in_the_ledger_or_workdir_is_a_script_error() {
        let mut b = backend();
        let mut req = request(2);
        req.ledger = "/scratch/run%J".into();
        let err = b.dry_run(&req).unwrap_err();
        assert!(matches!(err, BackendError::Script { .. }), "{err}");
        assert!(err.to_string().contains("/scratch/run%J"), "{err}");
        let mut req = request(2);
        req.workdir = "/data/100%".into();
        let err = b.launch(&req).unwrap_err();
        assert!(matches!(err, BackendError::Script { .. }), "{err}");
        assert_eq!(b.command_counts().values().sum::<u64>(), 0);
    }

    #[test]
    fn unknown_task_is_a_launch_error() {
        let mut req = request(1);
        req.task = 5;
        let err = backend().dry_run(&req).unwrap_err();
        assert_eq!(
            err.to_string(),
            "could not start workers for task \"seg\": no LSF settings for task number 5"
        );
    }

    #[test]
    fn agents_without_ids_are_unknown_and_cost_nothing() {
        let mut b = backend();
        let agent = LaunchedAgent {
            worker_id: "x".into(),
            job_id: None,
            task: 0,
        };
        assert_eq!(
            b.poll(&[agent]).unwrap(),
            [JobStatus::Unknown("no job id".into())]
        );
        assert_eq!(b.command_counts().values().sum::<u64>(), 0);
    }
}
