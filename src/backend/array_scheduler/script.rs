//! The job script of one array submission, as far as every scheduler shares it: the run's parts
//! ([`ScriptJob`]), the template fields every scheduler's context has ([`JobContext`]), and
//! rendering with the built-in template or the task's own.

use super::chunk::ArrayChunk;
use crate::backend::agent_command::AgentCommand;
use crate::task::Memory;
use crate::template::{render_file, render_str, Required, TemplateError};
use serde::Serialize;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The run-specific parts of one array's job script.
#[derive(Clone, Debug)]
pub struct ScriptJob<'a> {
    /// Task name (for error messages).
    pub task_name: &'a str,
    /// Job name shared by every job of the run.
    pub job_name: &'a str,
    /// This submission's array.
    pub chunk: ArrayChunk,
    /// The ledger directory.
    pub ledger: &'a Path,
    /// Directory of the job logs.
    pub log_dir: &'a Path,
    /// Working directory of the worker.
    pub workdir: &'a Path,
    /// SIGTERM this long before the walltime.
    pub signal_grace: Duration,
    /// Let the scheduler requeue the job after a node failure.
    pub requeue: bool,
    /// Shell lines run before the agent starts.
    pub setup: &'a [String],
    /// Words the agent puts before the worker command.
    pub container_prefix: &'a [String],
    /// The agent to start.
    pub agent: AgentCommand,
}

/// What a worker asks of its node, as the task's settings say.
#[derive(Clone, Debug)]
pub struct WorkerResources<'a> {
    /// CPUs.
    pub cpus: Option<NonZeroU32>,
    /// Memory.
    pub mem: Option<&'a Memory>,
    /// GPUs (0: none).
    pub gpus: Option<u32>,
    /// Extra scheduler options, as written.
    pub extra: Vec<String>,
}

/// The template fields every scheduler's context has (flattened into it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct JobContext {
    /// Name shared by every job of the run.
    pub job_name: String,
    /// Directory of the job logs.
    pub log_dir: String,
    /// Directory the worker runs in.
    pub workdir: String,
    /// CPUs per worker.
    pub cpus_per_worker: Option<u32>,
    /// Memory per worker.
    pub mem: Option<String>,
    /// GPUs per worker (unset or 0: none).
    pub gpus_per_worker: Option<u32>,
    /// Extra scheduler options as written.
    pub extra_directives: Vec<String>,
    /// The task's set-up lines, run as written before the agent starts.
    pub setup: Vec<String>,
    /// Words the agent puts before the worker command (`--command-prefix=WORD` each).
    pub container_prefix: Vec<String>,
    /// The agent's command line and environment (`blockorch`, `ledger`, `task`, `slots`,
    /// `epoch`, `env`).
    #[serde(flatten)]
    pub agent: AgentCommand,
}

impl JobContext {
    /// The shared fields for `job` and a worker's `resources`.
    pub fn new(job: ScriptJob<'_>, resources: WorkerResources<'_>) -> JobContext {
        let text = |p: &Path| p.display().to_string();
        JobContext {
            job_name: job.job_name.to_owned(),
            log_dir: text(job.log_dir),
            workdir: text(job.workdir),
            cpus_per_worker: resources.cpus.map(NonZeroU32::get),
            mem: resources.mem.map(|m| m.as_str().to_owned()),
            gpus_per_worker: resources.gpus.filter(|&g| g > 0),
            extra_directives: resources.extra,
            setup: job.setup.to_vec(),
            container_prefix: job.container_prefix.to_vec(),
            agent: job.agent,
        }
    }
}

/// A scheduler's built-in template, compiled into the binary.
#[derive(Clone, Copy, Debug)]
pub struct BuiltinTemplate {
    /// How it is named in error messages (`templates/slurm.sbatch (built in)`).
    pub name: &'static str,
    /// The template.
    pub text: &'static str,
}

/// A scheduler's job-script template context, and the built-in template it goes with.
pub trait JobScript: Serialize {
    /// The built-in template.
    const BUILTIN: BuiltinTemplate;
    /// The task file's section of this scheduler (`slurm`).
    const SECTION: &'static str;
    /// The fields shared by every scheduler.
    fn job(&self) -> &JobContext;
}

/// Renders a job script with `template` (a file) or else the context's built-in template. A
/// template of the user's must read `setup` and `container_prefix` when the task sets them.
pub fn render_script<C: JobScript>(
    template: Option<&Path>,
    context: &C,
) -> Result<String, TemplateError> {
    match template {
        Some(path) => render_file(path, context, &required_variables(context)),
        None => render_str(&PathBuf::from(C::BUILTIN.name), C::BUILTIN.text, context),
    }
}

/// The variables the task sets that a template must not ignore.
fn required_variables<C: JobScript>(context: &C) -> Vec<Required> {
    let job = context.job();
    let builtin = C::BUILTIN
        .name
        .strip_suffix(" (built in)")
        .unwrap_or(C::BUILTIN.name);
    [
        ("setup", !job.setup.is_empty()),
        ("container_prefix", !job.container_prefix.is_empty()),
    ]
    .into_iter()
    .filter(|&(_, set)| set)
    .map(|(variable, _)| Required {
        variable,
        field: format!("{}.{variable}", C::SECTION),
        builtin,
    })
    .collect()
}

/// A job of the unit tests: run `name`, array `chunk`, logs in `log_dir`, working directory
/// `/data/my project`, SIGTERM 120 s before the walltime, the test agent exporting `env`.
#[cfg(test)]
pub(crate) fn test_job<'a>(
    name: &'a str,
    chunk: ArrayChunk,
    log_dir: &'a Path,
    env: crate::backend::agent_command::EnvVar,
) -> ScriptJob<'a> {
    ScriptJob {
        task_name: "seg",
        job_name: name,
        chunk,
        ledger: Path::new("/ledger"),
        log_dir,
        workdir: Path::new("/data/my project"),
        signal_grace: Duration::from_secs(120),
        requeue: false,
        setup: &[],
        container_prefix: &[],
        agent: crate::backend::agent_command::test_agent(vec![env]),
    }
}
