//! [`Lsf`]: what differs for LSF in the shared array-scheduler backend — `bsub` with the
//! script on its standard input, elements `123[4]` (1-based), one `bjobs` per poll, `bkill` by
//! id.

use super::array::MAX_JOB_ARRAY_SIZE;
use super::bjobs::{bjobs_args, bjobs_by_name_args, BjobsQuery};
use super::cancel::only_already_finished;
use super::job_id::LsfJobId;
use super::script::ScriptContext;
use super::states::{job_status, Warnings};
use super::submit::{bsub_args, parse_bsub};
use crate::backend::array_scheduler::{
    self, ArrayBackend, ArrayLimit, ArrayScheduler, LostArray, Query, ScriptJob, Sighting, Watch,
};
use crate::backend::command::{CommandOutput, CommandRunner};
use crate::backend::{BackendError, SubmitError};
use crate::task::{LsfSettings, TaskSpec};
use crate::template::shell_quote;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

/// The LSF backend (see `docs/lsf.md`): workers as LSF job-array elements.
pub type LsfBackend = ArrayBackend<Lsf>;

/// The directory of a task's job logs and scripts in the ledger.
pub fn log_dir(ledger: &Path, task: &str) -> PathBuf {
    array_scheduler::log_dir::<Lsf>(ledger, task)
}

/// `bsub < <script>`, as a user would type it.
pub fn bsub_command_line(bsub: &Path, script: &Path) -> String {
    format!(
        "{} < {}",
        shell_quote(&bsub.display().to_string()),
        shell_quote(&script.display().to_string())
    )
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

/// LSF as an [`ArrayScheduler`]; what it remembers between polls.
#[derive(Debug, Default)]
pub struct Lsf {
    warnings: Warnings,
    query: BjobsQuery,
}

impl ArrayScheduler for Lsf {
    type Settings = LsfSettings;
    type Key = LsfJobId;
    type Context = ScriptContext;

    const NAME: &'static str = "lsf";
    const ENV_PASSTHROUGH: &'static [&'static str] = &["LSF_ENVDIR", "RUST_LOG"];
    // `bsub < script`; elements `123[1]`, `123[2]`…; `bkill 123[2]`.
    const SUBMIT: &'static str = "bsub";
    const SCRIPT_ON_STDIN: bool = true;
    const ARRAY_LIMIT: ArrayLimit = MAX_JOB_ARRAY_SIZE;
    const FIRST_INDEX: u32 = 1;
    const CANCEL: &'static str = "bkill";

    fn settings(task: &TaskSpec) -> (&LsfSettings, Option<&Path>) {
        let settings = &task.lsf;
        (settings, settings.template.as_ref().map(|p| p.as_path()))
    }

    fn job_setup(task: &TaskSpec) -> crate::task::JobSetup {
        task.lsf.job_setup()
    }

    fn context(settings: &LsfSettings, job: ScriptJob<'_>) -> Result<ScriptContext, BackendError> {
        refuse_percent(job.task_name, "ledger", job.ledger)?;
        refuse_percent(job.task_name, "working", job.workdir)?;
        Ok(ScriptContext::new(settings, job))
    }

    fn submit_args(_script: &Path) -> Vec<String> {
        bsub_args()
    }

    fn submit_command_line(program: &Path, script: &Path) -> String {
        bsub_command_line(program, script)
    }

    fn parse_submit(output: CommandOutput) -> Result<u64, SubmitError> {
        parse_bsub(output).map(|s| s.job_id)
    }

    fn element(array: u64, index: u32) -> LsfJobId {
        LsfJobId::element(array, index)
    }

    fn parse_key(job_id: &str) -> Option<LsfJobId> {
        LsfJobId::parse(job_id)
    }

    fn array_of(key: &LsfJobId) -> Option<u64> {
        Some(key.job)
    }

    fn worker_id(key: &LsfJobId) -> String {
        key.worker_id()
    }

    /// An array of the run with `count` elements that this backend does not know is the one
    /// the failed call created.
    fn reconcile(&mut self, runner: &mut CommandRunner, lost: LostArray<'_>) -> Option<u64> {
        let out = self
            .query
            .run(runner, |format| bjobs_by_name_args(lost.run_name, format))
            .ok()?;
        let mut sizes: BTreeMap<u64, u32> = BTreeMap::new();
        for row in &out.rows {
            *sizes.entry(row.id.job).or_default() += 1;
        }
        sizes
            .into_iter()
            .filter(|(id, n)| *n == lost.count && !lost.known.contains(id))
            .map(|(id, _)| id)
            .max()
    }

    /// One bjobs by array id (which lists all its elements), falling back, once for good, to
    /// the format without `exit_reason` if this LSF does not know that field.
    fn query(&mut self, runner: &mut CommandRunner, watch: Watch<'_, LsfJobId>) -> Query<Self> {
        let live = watch.live;
        let ids: Vec<String> = live
            .iter()
            .map(|k| k.job)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .map(|job| job.to_string())
            .collect();
        let out = self
            .query
            .run(runner, |format| bjobs_args(&ids, format))
            .map_err(BackendError::Query)?;
        let wanted: HashSet<&LsfJobId> = live.iter().collect();
        let mut found = HashMap::new();
        for row in &out.rows {
            if !wanted.contains(&row.id) {
                continue;
            }
            let reason = row.exit_reason.as_deref();
            let status = job_status(&row.stat, row.exit_code, reason);
            self.warnings
                .check(&row.id.to_string(), &row.stat, reason, &status);
            let cancelled_by = Some(reason.unwrap_or("no termination reason").to_owned());
            found.insert(
                row.id,
                Sighting::Seen {
                    status,
                    cancelled_by,
                },
            );
        }
        Ok(found)
    }

    fn already_gone(output: &CommandOutput) -> bool {
        only_already_finished(&output.stdout, &output.stderr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::test_request as request;
    use crate::backend::{Backend, JobStatus, LaunchedAgent};

    fn backend() -> LsfBackend {
        array_scheduler::test_backend::<Lsf>(LsfSettings::default())
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
