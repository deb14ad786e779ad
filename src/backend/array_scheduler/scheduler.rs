//! [`ArrayScheduler`]: what one batch scheduler (SLURM, LSF) tells the shared
//! [`ArrayBackend`](super::ArrayBackend) — how to submit a job array and read the reply, how
//! its elements are named, how to ask for their states, and how to cancel them.

use super::script::{JobScript, ScriptJob};
use crate::backend::command::{CommandOutput, CommandRunner};
use crate::backend::{BackendError, JobStatus, SubmitError};
use crate::task::TaskSpec;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt::{Debug, Display};
use std::hash::Hash;
use std::path::Path;

/// What a scheduler's state query says about one array element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sighting {
    /// The scheduler (or its accounting) knows the job.
    Seen {
        /// Its status.
        status: JobStatus,
        /// For a cancelled job, what the scheduler says about who did it (`uid 1000`,
        /// `TERM_OWNER: …`); `None` when it cannot tell (then nothing is warned).
        cancelled_by: Option<String>,
    },
    /// The scheduler does not know the job (any more); once it stays unknown for the vanish
    /// grace period its status becomes `after_grace`.
    Missing {
        /// The status after the grace period (`Vanished`, or the last state the queue showed).
        after_grace: JobStatus,
    },
}

/// A submission whose call failed ambiguously: an array of the run named `run_name`, with
/// `count` elements, that is not `known`, is the one it created.
#[derive(Clone, Copy, Debug)]
pub struct LostArray<'a> {
    /// The run's job name.
    pub run_name: &'a str,
    /// Elements of the lost array.
    pub count: u32,
    /// Arrays this backend submitted or adopted.
    pub known: &'a HashSet<u64>,
}

/// What a poll asks the scheduler about.
#[derive(Clone, Copy, Debug)]
pub struct Watch<'a, K> {
    /// Job names of the run.
    pub run_names: &'a BTreeSet<String>,
    /// The jobs that have not ended.
    pub live: &'a [K],
}

/// The answer of [`ArrayScheduler::query`]: what the scheduler says about each job.
pub type Query<S> = Result<HashMap<<S as ArrayScheduler>::Key, Sighting>, BackendError>;

/// The scheduler's name in messages (`SLURM`, `LSF`).
pub fn label<S: ArrayScheduler>() -> String {
    S::NAME.to_uppercase()
}

/// Where a scheduler keeps the largest job array it accepts.
#[derive(Clone, Copy, Debug)]
pub struct ArrayLimit {
    /// The setting (`MaxArraySize`), printed as `<setting> = <value>`.
    pub setting: &'static str,
    /// The program that prints it, with its arguments.
    pub query: (&'static str, &'static [&'static str]),
    /// The scheduler's default, assumed when the setting cannot be read.
    pub default: u32,
}

/// Reads `<setting> = <value>` (spaces optional) from a scheduler's configuration listing.
pub fn parse_setting(listing: &str, setting: &str) -> Option<u32> {
    listing.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        (key.trim() == setting).then(|| value.trim().parse().ok())?
    })
}

/// One batch scheduler that runs workers as job-array elements. Implemented by
/// [`crate::backend::slurm::Slurm`] and [`crate::backend::lsf::Lsf`]; everything else (chunking,
/// the script file, submission with retries and reconciliation, state tracking with the vanish
/// grace, cancelling in batches) is [`ArrayBackend`](super::ArrayBackend)'s.
pub trait ArrayScheduler: Debug + Default {
    /// The task file's section for this scheduler.
    type Settings: Clone + Debug;
    /// One array element's id as the backend tracks it.
    type Key: Clone + Eq + Hash + Ord + Display + Debug;

    /// Backend name (`slurm`, `lsf`): [`crate::backend::Backend::name`], the ledger's log
    /// directory `logs/<name>/`, the prefix of worker ids.
    const NAME: &'static str;
    /// The submission program (`sbatch`, `bsub`).
    const SUBMIT: &'static str;
    /// The cancel program (`scancel`, `bkill`).
    const CANCEL: &'static str;
    /// Index of an array's first element (SLURM 0, LSF 1).
    const FIRST_INDEX: u32;
    /// The scheduler's largest array: which setting, where to read it, its default.
    const ARRAY_LIMIT: ArrayLimit;
    /// Environment variables copied into job scripts by default.
    const ENV_PASSTHROUGH: &'static [&'static str];

    /// This scheduler's section of `task`, and the template it names (as written).
    fn settings(task: &TaskSpec) -> (&Self::Settings, Option<&Path>);
    /// This scheduler's set-up lines, container prefix, `%M` and requeue policy of `task`.
    fn job_setup(task: &TaskSpec) -> crate::task::JobSetup;
    /// What the job-script template sees (and the built-in template).
    type Context: JobScript;
    /// The template context of one array's job script; an error for a value that cannot go
    /// into a script.
    fn context(
        settings: &Self::Settings,
        job: ScriptJob<'_>,
    ) -> Result<Self::Context, BackendError>;

    /// The arguments of the submission program for the script file at `script`.
    fn submit_args(script: &Path) -> Vec<String>;
    /// True when the script goes on the submission program's standard input.
    const SCRIPT_ON_STDIN: bool;
    /// The submission as a user would type it (for `submit --dry-run`).
    fn submit_command_line(program: &Path, script: &Path) -> String;
    /// Reads the array's job id from the submission program's reply, or why it failed.
    fn parse_submit(output: CommandOutput) -> Result<u64, SubmitError>;

    /// Element `index` of array `array`.
    fn element(array: u64, index: u32) -> Self::Key;
    /// Reads a job id recorded by this backend (the inverse of `Display`).
    fn parse_key(job_id: &str) -> Option<Self::Key>;
    /// The array a key belongs to.
    fn array_of(key: &Self::Key) -> Option<u64>;
    /// The worker id of the agent that element runs.
    fn worker_id(key: &Self::Key) -> String;

    /// After an ambiguous submission failure: the id of the array the failed call created
    /// after all, if the scheduler shows one.
    fn reconcile(&mut self, runner: &mut CommandRunner, lost: LostArray<'_>) -> Option<u64>;

    /// One state query (plus at most one follow-up) for the watched jobs; keys it leaves out
    /// count as missing.
    fn query(&mut self, runner: &mut CommandRunner, watch: Watch<'_, Self::Key>) -> Query<Self>;

    /// True when a failed cancel call only says that some jobs had already ended (or are
    /// unknown): not a failure of the cancellation.
    fn already_gone(output: &CommandOutput) -> bool;
}
