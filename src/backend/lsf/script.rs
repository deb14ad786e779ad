//! The job script of one array submission: the typed context the template sees, and rendering
//! with the built-in template (`templates/lsf.bsub`) or the task's own.

#[cfg(test)]
use crate::backend::agent_command::EnvVar;
use crate::backend::array_scheduler::{
    BuiltinTemplate, JobContext, JobScript, ScriptJob, WorkerResources,
};
use crate::task::{LsfSettings, LsfWalltime};
use serde::Serialize;

/// The built-in template, compiled into the binary.
pub const BUILTIN_TEMPLATE: &str = include_str!("../../../templates/lsf.bsub");

impl JobScript for ScriptContext {
    const BUILTIN: BuiltinTemplate = BuiltinTemplate {
        name: "templates/lsf.bsub (built in)",
        text: BUILTIN_TEMPLATE,
    };
    const SECTION: &'static str = "lsf";

    fn job(&self) -> &JobContext {
        &self.job
    }
}

/// An extra `#BSUB` option split into its name and value (`-app` and `gpu_app`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExtraOption {
    /// `-app`.
    pub name: String,
    /// `gpu_app`, `None` for a flag such as `-x`.
    pub value: Option<String>,
}

/// Everything an LSF job-script template can use (documented in `docs/lsf.md` and at the top
/// of `templates/lsf.bsub`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ScriptContext {
    /// The `-J` value: `job_name[1-N]` or `job_name[1-N]%M`.
    pub array: String,
    /// The index list: `1-N`.
    pub indices: String,
    /// `%M`, if limited.
    pub max_running: Option<u32>,
    /// `-o` file: `<log_dir>/%J_%I.out`.
    pub stdout_path: String,
    /// `-e` file: `<log_dir>/%J_%I.err`.
    pub stderr_path: String,
    /// `job_name`, `log_dir`, `workdir` (`-cwd`), `cpus_per_worker` (`-n`), `mem` (`-M` and
    /// `rusage[mem=…]`), `gpus_per_worker` (`-gpu "num=N"`), `extra_directives` (extra options
    /// as written) and the agent's fields.
    #[serde(flatten)]
    pub job: JobContext,
    /// `-q`.
    pub queue: Option<String>,
    /// `-P`.
    pub project: Option<String>,
    /// `-W`, `[hours:]minutes`.
    pub walltime: Option<String>,
    /// The task's own `-R` string.
    pub resource: Option<String>,
    /// The `-R` string blockorch uses: `resource`, plus `rusage[mem=<mem>]` when `mem` is set
    /// and `resource` has no `rusage[`, plus `span[hosts=1]` for several slots when `resource`
    /// has no `span[` (a worker is one process: its slots must be on one host).
    pub resource_requirement: Option<String>,
    /// `resource_requirement` ready for a `#BSUB -R` line: checked against the characters a
    /// resource requirement may use and double-quoted (the shared `directive` filter refuses
    /// the `<` and `>` of `select[mem>16000]`).
    pub resource_directive: Option<String>,
    /// Extra options split into name and value.
    pub extra_options: Vec<ExtraOption>,
    /// Whether the job is rerunnable (`-r`) after a host failure.
    pub requeue: bool,
    /// Minutes before the run limit at which LSF sends SIGTERM (`-wa TERM -wt`); 0: none.
    /// See [`warning_minutes`].
    pub signal_grace_minutes: u64,
    /// The agent's `--deadline-margin`: it starts a block only if the block should end this
    /// many seconds before the run limit (the warning lead plus 30 s, as LSF checks limits
    /// periodically and may send the warning that much early).
    pub deadline_margin_seconds: u64,
}

/// The `-R` string for `settings` (see [`ScriptContext::resource_requirement`]).
fn resource_requirement(settings: &LsfSettings) -> Option<String> {
    let mut parts: Vec<String> = settings
        .resource
        .iter()
        .map(|r| r.as_str().trim().to_owned())
        .collect();
    let given = parts.first().cloned().unwrap_or_default();
    if let Some(mem) = &settings.mem {
        if !given.contains("rusage[") {
            parts.push(format!("rusage[mem={}]", mem.as_str()));
        }
    }
    if settings.cpus_per_worker.is_some_and(|n| n.get() > 1) && !given.contains("span[") {
        parts.push("span[hosts=1]".to_owned());
    }
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// `"<value>"` for a `#BSUB -R` line, `None` if `value` has a character a resource
/// requirement does not use (quotes, `$`, backslashes, newlines… can never get through).
pub fn quoted_resource(value: &str) -> Option<String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || " []()=<>!&|:,._*/+~-".contains(c);
    (!value.trim().is_empty() && value.chars().all(allowed)).then(|| format!("\"{value}\""))
}

/// The `-wt` lead in whole minutes for a SIGTERM lead of `grace_seconds` and run limit
/// `walltime`: `grace` rounded up, but at most a quarter of the run limit (rounded down), so
/// that a short job is not warned as soon as it starts; 0 (no warning) when a quarter of the
/// run limit is under a minute.
pub fn warning_minutes(grace_seconds: u64, walltime: Option<&LsfWalltime>) -> u64 {
    let grace = grace_seconds.div_ceil(60);
    match walltime.map(|w| w.duration().as_secs()) {
        Some(limit) if limit > 0 => grace.min(limit / 60 / 4),
        _ => grace,
    }
}

impl ScriptContext {
    /// The context for `settings` and the run's parts.
    pub fn new(settings: &LsfSettings, job: ScriptJob<'_>) -> ScriptContext {
        let chunk = job.chunk;
        let log_dir = job.log_dir.display().to_string();
        let extra: Vec<String> = settings
            .extra_directives
            .iter()
            .map(|d| d.as_str().to_owned())
            .collect();
        let extra_options = extra
            .iter()
            .map(|d| match d.split_once(' ') {
                Some((name, value)) => ExtraOption {
                    name: name.to_owned(),
                    value: Some(value.to_owned()),
                },
                None => ExtraOption {
                    name: d.clone(),
                    value: None,
                },
            })
            .collect();
        let warning = warning_minutes(job.signal_grace.as_secs(), settings.walltime.as_ref());
        let requeue = job.requeue;
        let array = chunk.job_name(job.job_name);
        let resources = WorkerResources {
            cpus: settings.cpus_per_worker,
            mem: settings.mem.as_ref(),
            gpus: settings.gpus_per_worker,
            extra,
        };
        ScriptContext {
            array,
            indices: chunk.indices(),
            max_running: chunk.effective_limit(),
            stdout_path: format!("{log_dir}/%J_%I.out"),
            stderr_path: format!("{log_dir}/%J_%I.err"),
            job: JobContext::new(job, resources),
            queue: settings.queue.as_ref().map(|v| v.as_str().to_owned()),
            project: settings.project.as_ref().map(|v| v.as_str().to_owned()),
            walltime: settings.walltime.as_ref().map(|v| v.as_str().to_owned()),
            resource: settings.resource.as_ref().map(|v| v.as_str().to_owned()),
            resource_directive: resource_requirement(settings).and_then(|r| quoted_resource(&r)),
            resource_requirement: resource_requirement(settings),
            extra_options,
            requeue,
            signal_grace_minutes: warning,
            deadline_margin_seconds: warning * 60 + 30,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::array_scheduler::render_script;
    use crate::backend::array_scheduler::{test_job, ArrayChunk};
    use crate::task::{LsfDirective, LsfResource, Memory, SchedulerName};
    use std::path::Path;

    fn context(settings: &LsfSettings, count: u32, max_running: Option<u32>) -> ScriptContext {
        let chunk = ArrayChunk { count, max_running };
        let env = EnvVar::new("RUST_LOG", "info,blockorch=debug").unwrap();
        let log_dir = Path::new("/ledger/logs/lsf/seg");
        ScriptContext::new(
            settings,
            test_job("blockorch-1a2b3c4d", chunk, log_dir, env),
        )
    }

    fn directives(script: &str) -> Vec<&str> {
        script.lines().filter(|l| l.starts_with("#BSUB")).collect()
    }

    #[test]
    fn minimal_script() {
        let script = render_script(None, &context(&LsfSettings::default(), 10, Some(4))).unwrap();
        assert_eq!(
            directives(&script),
            [
                "#BSUB -J blockorch-1a2b3c4d[1-10]%4",
                "#BSUB -o /ledger/logs/lsf/seg/%J_%I.out",
                "#BSUB -e /ledger/logs/lsf/seg/%J_%I.err",
                "#BSUB -cwd \"/data/my project\"",
                "#BSUB -wa TERM",
                "#BSUB -wt 2",
            ]
        );
        assert!(script.starts_with("#!/bin/bash\n"));
        assert!(script.contains("export RUST_LOG=info,blockorch=debug\n"));
        assert!(script.contains("export BLOCKORCH_EPOCH=3\n"));
        assert!(
            script.ends_with(
                "exec /opt/bin/blockorch worker \\\n    --ledger /ledger \\\n    --task seg \\\n    \
                 --slots 1 \\\n    --deadline-margin 150 \\\n    \
                 --worker-id \"lsf-${LSB_JOBID}_${LSB_JOBINDEX}\"\n"
            ),
            "{script}"
        );
        let one = render_script(None, &context(&LsfSettings::default(), 1, Some(4))).unwrap();
        assert_eq!(directives(&one)[0], "#BSUB -J blockorch-1a2b3c4d[1]");
    }

    #[test]
    fn every_setting() {
        let settings = LsfSettings {
            queue: Some(SchedulerName::try_from("gpu").unwrap()),
            project: Some(SchedulerName::try_from("lab").unwrap()),
            walltime: Some(LsfWalltime::try_from("2:00").unwrap()),
            cpus_per_worker: std::num::NonZeroU32::new(4),
            mem: Some(Memory::try_from("16G").unwrap()),
            gpus_per_worker: Some(1),
            resource: Some(LsfResource::try_from("select[mem>16000]").unwrap()),
            extra_directives: vec![
                LsfDirective::try_from("-x").unwrap(),
                LsfDirective::try_from("-app gpu_app").unwrap(),
            ],
            template: None,
            ..Default::default()
        };
        let script = render_script(None, &context(&settings, 3, None)).unwrap();
        assert_eq!(
            directives(&script),
            [
                "#BSUB -J blockorch-1a2b3c4d[1-3]",
                "#BSUB -o /ledger/logs/lsf/seg/%J_%I.out",
                "#BSUB -e /ledger/logs/lsf/seg/%J_%I.err",
                "#BSUB -cwd \"/data/my project\"",
                "#BSUB -q gpu",
                "#BSUB -P lab",
                "#BSUB -W 2:00",
                "#BSUB -n 4",
                "#BSUB -M 16G",
                "#BSUB -R \"select[mem>16000] rusage[mem=16G] span[hosts=1]\"",
                "#BSUB -gpu \"num=1\"",
                "#BSUB -x",
                "#BSUB -app gpu_app",
                "#BSUB -wa TERM",
                "#BSUB -wt 2",
            ]
        );
        assert!(
            script.contains("    --deadline-margin 150 \\\n"),
            "{script}"
        );
    }

    #[test]
    fn warning_lead_is_at_most_a_quarter_of_the_run_limit() {
        let w = |t: &str| LsfWalltime::try_from(t).unwrap();
        assert_eq!(warning_minutes(120, None), 2);
        assert_eq!(warning_minutes(90, None), 2);
        assert_eq!(warning_minutes(0, None), 0);
        assert_eq!(warning_minutes(120, Some(&w("3"))), 0);
        assert_eq!(warning_minutes(120, Some(&w("4"))), 1);
        assert_eq!(warning_minutes(120, Some(&w("2:00"))), 2);
    }

    #[test]
    fn resource_given_in_full_is_kept() {
        let settings = LsfSettings {
            cpus_per_worker: std::num::NonZeroU32::new(2),
            mem: Some(Memory::try_from("4000").unwrap()),
            resource: Some(LsfResource::try_from("rusage[mem=5000] span[ptile=2]").unwrap()),
            ..LsfSettings::default()
        };
        assert_eq!(
            resource_requirement(&settings).as_deref(),
            Some("rusage[mem=5000] span[ptile=2]")
        );
        assert_eq!(resource_requirement(&LsfSettings::default()), None);
        assert_eq!(quoted_resource("select[x]\"; id"), None);
        assert_eq!(quoted_resource("a\nb"), None);
        assert_eq!(
            quoted_resource("select[mem>1] span[hosts=1]").as_deref(),
            Some("\"select[mem>1] span[hosts=1]\"")
        );
        let mut ctx = context(&settings, 2, None);
        ctx.signal_grace_minutes = 0;
        let script = render_script(None, &ctx).unwrap();
        assert!(!script.contains("-wa"), "{script}");
    }
}
