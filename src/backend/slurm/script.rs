//! The job script of one array submission: the typed context the template sees, and rendering
//! with the built-in template (`templates/slurm.sbatch`) or the task's own.

use super::config::signal_lead;
pub use crate::backend::agent_command::EnvVar;
use crate::backend::array_scheduler::{
    BuiltinTemplate, JobContext, JobScript, ScriptJob, WorkerResources,
};
use crate::task::SlurmSettings;
use serde::Serialize;

/// Everything a SLURM job-script template can use (documented in `docs/slurm.md` and at the
/// top of `templates/slurm.sbatch`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ScriptContext {
    /// `--array` value of this submission (`0-99%10`).
    pub array: String,
    /// `--partition`.
    pub partition: Option<String>,
    /// `--account`.
    pub account: Option<String>,
    /// `--qos`.
    pub qos: Option<String>,
    /// `--time`.
    pub time: Option<String>,
    /// Seconds before the walltime at which SLURM sends SIGTERM (see [`signal_lead`]).
    pub signal_grace_seconds: u64,
    /// `--constraint`.
    pub constraint: Option<String>,
    /// Whether SLURM may requeue the job (`--requeue`) instead of `--no-requeue`.
    pub requeue: bool,
    /// `job_name`, `log_dir`, `workdir`, `cpus_per_worker` (`--cpus-per-task`), `mem`
    /// (`--mem`), `gpus_per_worker` (`--gres=gpu:N`), `extra_directives` (extra
    /// `--name[=value]` options) and the agent's fields.
    #[serde(flatten)]
    pub job: JobContext,
}

/// The built-in template, compiled into the binary.
pub const BUILTIN_TEMPLATE: &str = include_str!("../../../templates/slurm.sbatch");

impl JobScript for ScriptContext {
    const BUILTIN: BuiltinTemplate = BuiltinTemplate {
        name: "templates/slurm.sbatch (built in)",
        text: BUILTIN_TEMPLATE,
    };
    const SECTION: &'static str = "slurm";

    fn job(&self) -> &JobContext {
        &self.job
    }
}

impl ScriptContext {
    /// The context for `settings` and the run's parts.
    pub fn new(settings: &SlurmSettings, job: ScriptJob<'_>) -> ScriptContext {
        let lead = signal_lead(job.signal_grace, settings.time.as_ref());
        let array = job.chunk.spec();
        let requeue = job.requeue;
        let resources = WorkerResources {
            cpus: settings.cpus_per_worker,
            mem: settings.mem.as_ref(),
            gpus: settings.gpus_per_worker,
            extra: settings
                .extra_directives
                .iter()
                .map(|d| d.as_str().to_owned())
                .collect(),
        };
        ScriptContext {
            job: JobContext::new(job, resources),
            array,
            partition: settings.partition.as_ref().map(|v| v.as_str().to_owned()),
            account: settings.account.as_ref().map(|v| v.as_str().to_owned()),
            qos: settings.qos.as_ref().map(|v| v.as_str().to_owned()),
            time: settings.time.as_ref().map(|v| v.as_str().to_owned()),
            constraint: settings.constraint.as_ref().map(|v| v.as_str().to_owned()),
            signal_grace_seconds: lead.as_secs(),
            requeue,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::array_scheduler::render_script;
    use crate::backend::array_scheduler::{test_job, ArrayChunk};
    use crate::task::{Memory, PartitionList, SlurmDirective, SlurmTime};
    use std::path::Path;

    fn context(settings: &SlurmSettings) -> ScriptContext {
        let chunk = ArrayChunk {
            count: 10,
            max_running: Some(4),
        };
        let env = EnvVar::new("SLURM_CONF", "/etc/slurm/slurm.conf").unwrap();
        let log_dir = Path::new("/ledger/logs/slurm/seg");
        ScriptContext::new(settings, test_job("bo-run1", chunk, log_dir, env))
    }

    #[test]
    fn percent_in_the_log_directory_stays_literal() {
        let mut ctx = context(&SlurmSettings::default());
        ctx.job.log_dir = "/scratch/100%j/logs".into();
        ctx.job.workdir = "/scratch/100%j".into();
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
        let want = "\
#SBATCH --job-name=bo-run1
#SBATCH --array=0-9%4
#SBATCH --output=/ledger/logs/slurm/seg/%A_%a.out
#SBATCH --error=/ledger/logs/slurm/seg/%A_%a.err
#SBATCH --chdir=\"/data/my project\"
#SBATCH --ntasks=1
#SBATCH --signal=B:TERM@120
#SBATCH --no-requeue";
        assert_eq!(directives.join("\n"), want);
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
            ..Default::default()
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
    fn setup_lines_run_before_the_agent_and_the_prefix_is_passed_to_it() {
        let mut ctx = context(&SlurmSettings::default());
        ctx.job.setup = vec![
            "module load cuda/12".into(),
            "source 'my venv'/bin/activate".into(),
        ];
        ctx.job.container_prefix = vec!["apptainer".into(), "--nv".into(), "my image.sif".into()];
        let script = render_script(None, &ctx).unwrap();
        let setup =
            script.find("set +u\nmodule load cuda/12\nsource 'my venv'/bin/activate\nset -u\n");
        let exec = script.find("exec /opt/bin/blockorch worker");
        assert!(setup.is_some() && setup < exec, "{script}");
        assert!(
            script.contains(
                "    --command-prefix=apptainer \\\n    --command-prefix=--nv \\\n    \
             --command-prefix='my image.sif' \\\n    --worker-id"
            ),
            "{script}"
        );
        let plain = render_script(None, &context(&SlurmSettings::default())).unwrap();
        assert!(!plain.contains("set +u") && !plain.contains("--command-prefix"));
    }

    #[test]
    fn a_copied_template_that_ignores_setup_or_the_prefix_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let old_copy = dir.path().join("old.sbatch");
        let without_setup: String = BUILTIN_TEMPLATE
            .replace("{%- if setup %}", "{%- if false %}")
            .replace("{%- for line in setup %}", "{%- for line in [] %}");
        std::fs::write(&old_copy, &without_setup).unwrap();
        let mut ctx = context(&SlurmSettings::default());
        assert!(render_script(Some(&old_copy), &ctx).is_ok());
        ctx.job.setup = vec!["module load cuda/12".into()];
        let err = render_script(Some(&old_copy), &ctx)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("old.sbatch never uses `setup`, but the task sets slurm.setup")
                && err.contains("bundled templates/slurm.sbatch"),
            "{err}"
        );
        let full_copy = dir.path().join("new.sbatch");
        std::fs::write(&full_copy, BUILTIN_TEMPLATE).unwrap();
        ctx.job.container_prefix = vec!["apptainer".into()];
        assert!(render_script(Some(&full_copy), &ctx).is_ok());
    }

    #[test]
    fn env_names_are_checked() {
        assert!(EnvVar::new("RUST_LOG", "x").is_some());
        assert!(EnvVar::new("1X", "x").is_none());
        assert!(EnvVar::new("A;B", "x").is_none());
    }
}
