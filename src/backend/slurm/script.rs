//! The job script of one array submission: the typed context the template sees, and rendering
//! with the built-in template (`templates/slurm.sbatch`) or the task's own.

use crate::backend::agent_command::AgentCommand;
pub use crate::backend::agent_command::EnvVar;
use crate::task::SlurmSettings;
use crate::template::{render_file, render_str, TemplateError};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The built-in template, compiled into the binary.
pub const BUILTIN_TEMPLATE: &str = include_str!("../../../templates/slurm.sbatch");

/// How the built-in template is named in error messages.
pub const BUILTIN_TEMPLATE_NAME: &str = "templates/slurm.sbatch (built in)";

/// Everything a SLURM job-script template can use (documented in `docs/slurm.md` and at the
/// top of `templates/slurm.sbatch`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ScriptContext {
    /// Name shared by every job of the run.
    pub job_name: String,
    /// `--array` value of this submission (`0-99%10`).
    pub array: String,
    /// Directory of the job logs.
    pub log_dir: String,
    /// Directory the worker runs in.
    pub workdir: String,
    /// `--partition`.
    pub partition: Option<String>,
    /// `--account`.
    pub account: Option<String>,
    /// `--qos`.
    pub qos: Option<String>,
    /// `--time`.
    pub time: Option<String>,
    /// `--cpus-per-task`.
    pub cpus_per_worker: Option<u32>,
    /// `--mem`.
    pub mem: Option<String>,
    /// `--gres=gpu:N` (unset or 0: none).
    pub gpus_per_worker: Option<u32>,
    /// `--constraint`.
    pub constraint: Option<String>,
    /// Extra `--name[=value]` options.
    pub extra_directives: Vec<String>,
    /// Seconds before the walltime at which SLURM sends SIGTERM.
    pub signal_grace_seconds: u64,
    /// Whether SLURM may requeue the job (`--requeue`) instead of `--no-requeue`.
    pub requeue: bool,
    /// The agent's command line and environment (`blockorch`, `ledger`, `task`, `slots`,
    /// `epoch`, `env`).
    #[serde(flatten)]
    pub agent: AgentCommand,
}

/// The parts of a context that come from the run rather than the task's settings.
#[derive(Clone, Debug)]
pub struct RunParts<'a> {
    /// Job name of the run.
    pub job_name: &'a str,
    /// `--array` value.
    pub array: String,
    /// Log directory.
    pub log_dir: &'a Path,
    /// Working directory.
    pub workdir: &'a Path,
    /// SIGTERM lead time.
    pub signal_grace_seconds: u64,
    /// Requeue on node failure.
    pub requeue: bool,
    /// The agent to start.
    pub agent: AgentCommand,
}

impl ScriptContext {
    /// The context for `settings` and the run's parts.
    pub fn new(settings: &SlurmSettings, run: RunParts<'_>) -> ScriptContext {
        let text = |p: &Path| p.display().to_string();
        ScriptContext {
            job_name: run.job_name.to_owned(),
            array: run.array,
            log_dir: text(run.log_dir),
            workdir: text(run.workdir),
            partition: settings.partition.as_ref().map(|v| v.as_str().to_owned()),
            account: settings.account.as_ref().map(|v| v.as_str().to_owned()),
            qos: settings.qos.as_ref().map(|v| v.as_str().to_owned()),
            time: settings.time.as_ref().map(|v| v.as_str().to_owned()),
            cpus_per_worker: settings.cpus_per_worker.map(|v| v.get()),
            mem: settings.mem.as_ref().map(|v| v.as_str().to_owned()),
            gpus_per_worker: settings.gpus_per_worker.filter(|&g| g > 0),
            constraint: settings.constraint.as_ref().map(|v| v.as_str().to_owned()),
            extra_directives: settings
                .extra_directives
                .iter()
                .map(|d| d.as_str().to_owned())
                .collect(),
            signal_grace_seconds: run.signal_grace_seconds,
            requeue: run.requeue,
            agent: run.agent,
        }
    }
}

/// Renders the script with `template` (a file) or the built-in template.
pub fn render_script(
    template: Option<&Path>,
    context: &ScriptContext,
) -> Result<String, TemplateError> {
    match template {
        Some(path) => render_file(path, context),
        None => render_str(
            &PathBuf::from(BUILTIN_TEMPLATE_NAME),
            BUILTIN_TEMPLATE,
            context,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::{Memory, PartitionList, SlurmDirective, SlurmTime};

    fn context(settings: &SlurmSettings) -> ScriptContext {
        ScriptContext::new(
            settings,
            RunParts {
                job_name: "bo-run1",
                array: "0-9%4".into(),
                log_dir: Path::new("/ledger/logs/slurm/seg"),
                workdir: Path::new("/data/my project"),
                signal_grace_seconds: 120,
                requeue: false,
                agent: crate::backend::agent_command::test_agent(vec![EnvVar::new(
                    "SLURM_CONF",
                    "/etc/slurm/slurm.conf",
                )
                .unwrap()]),
            },
        )
    }

    #[test]
    fn percent_in_the_log_directory_stays_literal() {
        let mut ctx = context(&SlurmSettings::default());
        ctx.log_dir = "/scratch/100%j/logs".into();
        ctx.workdir = "/scratch/100%j".into();
        let script = render_script(None, &ctx).unwrap();
        assert!(
            script.contains("#SBATCH --output=/scratch/100%%j/logs/%A_%a.out\n"),
            "{script}"
        );
        assert!(
            script.contains("#SBATCH --error=/scratch/100%%j/logs/%A_%a.err\n"),
            "{script}"
        );
        // --chdir is not a filename pattern (checked with sbatch): written as is.
        assert!(
            script.contains("#SBATCH --chdir=/scratch/100%j\n"),
            "{script}"
        );
    }

    #[test]
    fn minimal_script() {
        let script = render_script(None, &context(&SlurmSettings::default())).unwrap();
        let directives: Vec<&str> = script
            .lines()
            .filter(|l| l.starts_with("#SBATCH"))
            .collect();
        assert_eq!(
            directives,
            [
                "#SBATCH --job-name=bo-run1",
                "#SBATCH --array=0-9%4",
                "#SBATCH --output=/ledger/logs/slurm/seg/%A_%a.out",
                "#SBATCH --error=/ledger/logs/slurm/seg/%A_%a.err",
                "#SBATCH --chdir=\"/data/my project\"",
                "#SBATCH --ntasks=1",
                "#SBATCH --signal=B:TERM@120",
                "#SBATCH --no-requeue",
            ]
        );
        assert!(script.starts_with("#!/bin/bash\n"));
        assert!(script.contains("export SLURM_CONF=/etc/slurm/slurm.conf\n"));
        assert!(script.contains(
            "exec /opt/bin/blockorch worker \\\n    --ledger /ledger \\\n    --task seg \\\n    --slots 1 \\\n    \
             --deadline-margin 150 \\\n    \
             --worker-id \"slurm-${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}\"\n"
        ), "{script}");
    }

    #[test]
    fn every_setting() {
        let settings = SlurmSettings {
            partition: Some(PartitionList::try_from("gpu").unwrap()),
            account: Some("lab".try_into().unwrap()),
            qos: Some("high".try_into().unwrap()),
            time: Some(SlurmTime::try_from("02:00:00").unwrap()),
            cpus_per_worker: std::num::NonZeroU32::new(4),
            mem: Some(Memory::try_from("16G").unwrap()),
            gpus_per_worker: Some(1),
            constraint: Some("a100|v100".try_into().unwrap()),
            extra_directives: vec![SlurmDirective::try_from("--exclusive").unwrap()],
            template: None,
        };
        let mut ctx = context(&settings);
        ctx.requeue = true;
        let script = render_script(None, &ctx).unwrap();
        for line in [
            "#SBATCH --partition=gpu",
            "#SBATCH --account=lab",
            "#SBATCH --qos=high",
            "#SBATCH --time=02:00:00",
            "#SBATCH --cpus-per-task=4",
            "#SBATCH --mem=16G",
            "#SBATCH --gres=gpu:1",
            "#SBATCH --constraint=a100|v100",
            "#SBATCH --exclusive",
            "#SBATCH --requeue",
        ] {
            assert!(
                script.lines().any(|l| l == line),
                "missing {line:?} in\n{script}"
            );
        }
        assert!(!script.contains("--no-requeue\n"));
    }

    #[test]
    fn env_names_are_checked() {
        assert!(EnvVar::new("RUST_LOG", "x").is_some());
        assert!(EnvVar::new("1X", "x").is_none());
        assert!(EnvVar::new("A;B", "x").is_none());
    }
}
