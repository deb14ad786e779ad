//! [`ArrayBackend`]: workers as job-array elements of a batch scheduler, submitted in chunks
//! with retries (and reconciliation after an ambiguous failure), watched with one state query
//! per poll, cancelled by id. What differs between schedulers is behind [`ArrayScheduler`].

use super::cancel::cancel_jobs;
use super::chunk::{chunks, ArrayChunk};
use super::config::ArrayConfig;
use super::scheduler::{label, parse_setting, ArrayScheduler, LostArray, Sighting, Watch};
use super::script::{render_script, ScriptJob};
use crate::backend::agent_command::AgentCommand;
use crate::backend::command::{error_chain, CommandCounts, CommandRunner};
use crate::backend::{
    Backend, BackendError, DrySubmission, JobEnd, JobStatus, LaunchRequest, LaunchedAgent,
    SubmitError,
};
use crate::ledger::Layout;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The directory of a task's job logs and scripts in the ledger at `ledger`.
pub fn log_dir<S: ArrayScheduler>(ledger: &Path, task: &str) -> PathBuf {
    Layout::new(ledger).scheduler_log_dir(S::NAME, task)
}

/// What the backend remembers about one job between polls.
#[derive(Clone, Debug)]
struct Tracked {
    status: JobStatus,
    /// Since when the scheduler does not know the job.
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

/// A backend running workers as elements of `S`'s job arrays (see `docs/slurm.md`,
/// `docs/lsf.md` and `docs/design/backends.md`).
#[derive(Debug)]
pub struct ArrayBackend<S: ArrayScheduler> {
    config: ArrayConfig<S>,
    scheduler: S,
    runner: CommandRunner,
    max_array_size: Option<u32>,
    /// Job names whose jobs this backend watches.
    run_names: BTreeSet<String>,
    /// Array job ids this backend submitted or adopted (for reconciliation).
    known_arrays: HashSet<u64>,
    tracked: HashMap<S::Key, Tracked>,
    /// Elements this backend cancelled (to tell "cancelled by us" from "by someone else").
    cancelled: HashSet<S::Key>,
    submissions: u64,
}

impl<S: ArrayScheduler> ArrayBackend<S> {
    /// A backend with `config`.
    pub fn new(config: ArrayConfig<S>) -> Self {
        ArrayBackend {
            runner: CommandRunner::new(config.commands.clone()),
            run_names: BTreeSet::from([config.run_name.clone()]),
            max_array_size: config.max_array_size,
            config,
            scheduler: S::default(),
            known_arrays: HashSet::new(),
            tracked: HashMap::new(),
            cancelled: HashSet::new(),
            submissions: 0,
        }
    }

    /// Scheduler calls so far, per program.
    pub fn command_counts(&self) -> CommandCounts {
        self.runner.counts()
    }

    /// Takes over agents started by an earlier orchestrator of the same run (after a resume),
    /// so that reconciliation never mistakes their arrays for a lost submission.
    pub fn adopt(&mut self, agents: &[LaunchedAgent]) {
        for id in agents.iter().filter_map(|a| a.job_id.as_deref()) {
            if let Some(array) = S::parse_key(id).as_ref().and_then(S::array_of) {
                self.known_arrays.insert(array);
            }
        }
    }

    /// The scheduler's array limit, asked once (its default if unreadable).
    fn max_array_size(&mut self) -> u32 {
        if let Some(size) = self.max_array_size {
            return size;
        }
        let limit = S::ARRAY_LIMIT;
        let (program, args) = limit.query;
        let args: Vec<String> = args.iter().map(|&a| a.to_owned()).collect();
        let read = match self.runner.run(program, &args, None) {
            Ok(out) if out.success() => Ok(parse_setting(&out.stdout, limit.setting)),
            Ok(out) => Err(out.describe()),
            Err(e) => Err(error_chain(&e)),
        };
        let size = read.unwrap_or_else(|problem| {
            tracing::warn!(error = %problem, "cannot read {}; assuming {}", limit.setting, limit.default);
            None
        });
        let size = size.unwrap_or(limit.default);
        self.max_array_size = Some(size);
        size
    }

    /// The scripts and command lines `launch` would submit, without running any scheduler
    /// command.
    pub fn dry_run(&mut self, request: &LaunchRequest) -> Result<Vec<DrySubmission>, BackendError> {
        let size = self.config.max_array_size.unwrap_or(S::ARRAY_LIMIT.default);
        let max_running = self.config.max_running(self.config.task(request)?);
        chunks(request.count, size, max_running)
            .into_iter()
            .enumerate()
            .map(|(n, chunk)| {
                let (script_path, script) = self.render(request, chunk, n as u64)?;
                let command_line =
                    S::submit_command_line(&self.runner.program_path(S::SUBMIT), &script_path);
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
        let task = self.config.task(request)?;
        let log_dir = log_dir::<S>(&request.ledger, &request.task_name);
        let agent = AgentCommand::for_request(
            &self.config.blockorch,
            request,
            &self.config.env_passthrough,
            &self.config.commands.env,
        );
        let job = ScriptJob {
            task_name: &request.task_name,
            job_name: &request.run_name,
            chunk,
            ledger: &request.ledger,
            log_dir: &log_dir,
            workdir: &request.workdir,
            signal_grace: self.config.signal_grace,
            requeue: task.job.requeue.unwrap_or(self.config.requeue),
            setup: &task.job.setup,
            container_prefix: &task.job.container_prefix,
            agent,
        };
        let context = S::context(&task.settings, job)?;
        let script = render_script(task.template.as_deref(), &context).map_err(|e| {
            BackendError::Script {
                task: request.task_name.clone(),
                message: error_chain(&e),
            }
        })?;
        let name = format!(
            "e{}-{}-{}.{}",
            request.epoch,
            std::process::id(),
            n,
            S::SUBMIT
        );
        Ok((log_dir.join(name), script))
    }

    /// Submits one script with retries; returns the array's job id.
    fn submit(
        &mut self,
        path: &Path,
        script: &str,
        run_name: &str,
        count: u32,
    ) -> Result<u64, SubmitError> {
        let backoff = self.config.submit_backoff.clone();
        let mut delays = backoff.into_iter();
        let stdin = S::SCRIPT_ON_STDIN.then_some(script);
        loop {
            let result = self
                .runner
                .run(S::SUBMIT, &S::submit_args(path), stdin)
                .map_err(SubmitError::from)
                .and_then(S::parse_submit);
            let error = match result {
                Ok(id) => {
                    self.known_arrays.insert(id);
                    return Ok(id);
                }
                Err(e) if e.is_transient() || e.is_ambiguous() => e,
                Err(e) => return Err(e),
            };
            let Some(delay) = delays.next() else {
                return Err(error);
            };
            tracing::warn!(error = %error, retry_in = ?delay, "{} failed; retrying", S::SUBMIT);
            std::thread::sleep(delay);
            if error.is_ambiguous() {
                let found = self.scheduler.reconcile(
                    &mut self.runner,
                    LostArray {
                        run_name,
                        count,
                        known: &self.known_arrays,
                    },
                );
                if let Some(id) = found {
                    tracing::warn!(
                        job_id = id,
                        "the failed {} created the job after all; not resubmitting",
                        S::SUBMIT
                    );
                    self.known_arrays.insert(id);
                    return Ok(id);
                }
            }
        }
    }

    fn update(&mut self, key: &S::Key, status: JobStatus) {
        let entry = self
            .tracked
            .entry(key.clone())
            .or_insert_with(Tracked::queued);
        if entry.status != status {
            tracing::debug!(job = %key, from = ?entry.status, to = ?status, "job state changed");
        }
        entry.status = status;
        entry.missing_since = None;
    }

    /// Records what the scheduler said about `key` at `now`.
    fn sighted(&mut self, key: &S::Key, sighting: Sighting, now: Instant) {
        match sighting {
            Sighting::Seen {
                status,
                cancelled_by,
            } => {
                let was_alive = self.tracked.get(key).is_none_or(|t| t.status.is_alive());
                if let (JobStatus::Ended(JobEnd::Cancelled), Some(by)) = (&status, &cancelled_by) {
                    if was_alive && !self.cancelled.contains(key) {
                        tracing::warn!(job = %key, by = %by, "job was cancelled by someone else ({by}), not by blockorch");
                    }
                }
                self.update(key, status);
            }
            Sighting::Missing { after_grace } => {
                let grace = self.config.vanish_grace;
                let entry = self
                    .tracked
                    .entry(key.clone())
                    .or_insert_with(Tracked::queued);
                let since = *entry.missing_since.get_or_insert(now);
                if now.duration_since(since) >= grace {
                    tracing::warn!(job = %key, status = ?after_grace, "{} no longer knows the job and has no record of how it ended", label::<S>());
                    entry.status = after_grace;
                }
            }
        }
    }
}

impl<S: ArrayScheduler> Backend for ArrayBackend<S> {
    fn name(&self) -> &'static str {
        S::NAME
    }

    fn dry_run(
        &mut self,
        request: &LaunchRequest,
    ) -> Option<Result<Vec<DrySubmission>, BackendError>> {
        Some(ArrayBackend::dry_run(self, request))
    }

    fn adopt(&mut self, agents: &[LaunchedAgent]) {
        ArrayBackend::adopt(self, agents)
    }

    fn launch(&mut self, request: &LaunchRequest) -> Result<Vec<LaunchedAgent>, BackendError> {
        self.run_names.insert(request.run_name.clone());
        let size = self.max_array_size();
        let max_running = self.config.max_running(self.config.task(request)?);
        let mut agents = Vec::new();
        for chunk in chunks(request.count, size, max_running) {
            let n = self.submissions;
            self.submissions += 1;
            let (path, script) = self.render(request, chunk, n)?;
            // The script is kept in the ledger: it alone reproduces the submission.
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
            let array = match self.submit(&path, &script, &request.run_name, chunk.count) {
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
            tracing::info!(task = %request.task_name, job_id = array, elements = chunk.count, script = %path.display(), "submitted worker array");
            for index in S::FIRST_INDEX..S::FIRST_INDEX + chunk.count {
                let key = S::element(array, index);
                self.tracked.insert(key.clone(), Tracked::queued());
                agents.push(LaunchedAgent {
                    worker_id: S::worker_id(&key),
                    job_id: Some(key.to_string()),
                    task: request.task,
                });
            }
        }
        Ok(agents)
    }

    fn poll(&mut self, agents: &[LaunchedAgent]) -> Result<Vec<JobStatus>, BackendError> {
        let keys: Vec<Option<S::Key>> = agents
            .iter()
            .map(|a| a.job_id.as_deref().and_then(S::parse_key))
            .collect();
        let live: Vec<S::Key> = keys
            .iter()
            .flatten()
            .filter(|k| self.tracked.get(*k).is_none_or(|t| t.status.is_alive()))
            .cloned()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if !live.is_empty() {
            let mut found = self.scheduler.query(
                &mut self.runner,
                Watch {
                    run_names: &self.run_names,
                    live: &live,
                },
            )?;
            let now = Instant::now();
            for key in &live {
                let sighting = found.remove(key).unwrap_or(Sighting::Missing {
                    after_grace: JobStatus::Ended(JobEnd::Vanished),
                });
                self.sighted(key, sighting, now);
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
        let runner = &mut self.runner;
        let batches = cancel_jobs::<S>(&ids, |program, args| runner.run(program, args, None));
        let mut failures = Vec::new();
        for batch in batches {
            failures.extend(batch.failure);
            self.cancelled
                .extend(batch.ids.iter().filter_map(|id| S::parse_key(id)));
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(BackendError::Cancel(failures.join("; ")))
        }
    }
}

/// A backend of the unit tests: one task `seg` with `settings`, run `bo-run`, arrays of at most
/// 4 elements with at most 2 running.
#[cfg(test)]
pub(crate) fn test_backend<S: ArrayScheduler>(settings: S::Settings) -> ArrayBackend<S> {
    let task = super::ArrayTask {
        name: "seg".into(),
        settings,
        template: None,
        job: Default::default(),
    };
    let mut config = ArrayConfig::<S>::new(vec![task], "bo-run", "/opt/blockorch".into());
    config.max_array_size = Some(4);
    config.max_running = Some(2);
    ArrayBackend::new(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::lsf::Lsf;
    use crate::backend::slurm::Slurm;
    use crate::backend::test_request as request;

    /// The dry run of 6 workers: two arrays (`first`, `second` lines in their scripts), each
    /// shown as `command` and the script path.
    fn dry_run_chunks<S: ArrayScheduler>(settings: S::Settings, lines: [&str; 2], command: &str) {
        let mut b = test_backend::<S>(settings);
        let dry = b.dry_run(&request(6)).unwrap();
        assert_eq!(dry.len(), 2);
        assert!(dry[0].script.contains(lines[0]), "{}", dry[0].script);
        assert!(dry[1].script.contains(lines[1]), "{}", dry[1].script);
        let dir = format!("/ledger/logs/{}/seg", S::NAME);
        assert!(dry[0].script_path.starts_with(dir));
        let script = dry[0].script_path.display();
        assert_eq!(dry[0].command_line, format!("{command}{script}"));
        assert_eq!(b.command_counts().values().sum::<u64>(), 0);
    }

    #[test]
    fn dry_run_chunks_and_shows_the_command() {
        let slurm = ["#SBATCH --array=0-3%2\n", "#SBATCH --array=0-1\n"];
        dry_run_chunks::<Slurm>(Default::default(), slurm, "sbatch --parsable ");
        let lsf = ["#BSUB -J bo-run[1-4]%2\n", "#BSUB -J bo-run[1-2]\n"];
        dry_run_chunks::<Lsf>(Default::default(), lsf, "bsub < ");
    }

    #[test]
    fn unknown_task_is_a_launch_error() {
        let mut req = request(1);
        req.task = 5;
        let slurm = test_backend::<Slurm>(Default::default()).dry_run(&req);
        assert_eq!(
            slurm.unwrap_err().to_string(),
            "could not start workers for task \"seg\": no SLURM settings for task number 5"
        );
        let lsf = test_backend::<Lsf>(Default::default()).dry_run(&req);
        assert_eq!(
            lsf.unwrap_err().to_string(),
            "could not start workers for task \"seg\": no LSF settings for task number 5"
        );
    }
}
