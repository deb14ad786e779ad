//! The job script of one array submission: the typed context the template sees, and rendering
//! with the built-in template (`templates/lsf.bsub`) or the task's own.

use super::array::ArrayChunk;
use crate::backend::agent_command::AgentCommand;
#[cfg(test)]
use crate::backend::agent_command::EnvVar;
use crate::task::{LsfSettings, LsfWalltime};
use crate::template::{render_file, render_str, TemplateError};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The built-in template, compiled into the binary.
pub const BUILTIN_TEMPLATE: &str = include_str!("../../../templates/lsf.bsub");

/// How the built-in template is named in error messages.
pub const BUILTIN_TEMPLATE_NAME: &str = "templates/lsf.bsub (built in)";

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
    /// Name shared by every job of the run.
    pub job_name: String,
    /// The `-J` value: `job_name[1-N]` or `job_name[1-N]%M`.
    pub array: String,
    /// The index list: `1-N`.
    pub indices: String,
    /// `%M`, if limited.
    pub max_running: Option<u32>,
    /// Directory of the job logs.
    pub log_dir: String,
    /// `-o` file: `<log_dir>/%J_%I.out`.
    pub stdout_path: String,
    /// `-e` file: `<log_dir>/%J_%I.err`.
    pub stderr_path: String,
    /// Directory the worker runs in (`-cwd`).
    pub workdir: String,
    /// `-q`.
    pub queue: Option<String>,
    /// `-P`.
    pub project: Option<String>,
    /// `-W`, `[hours:]minutes`.
    pub walltime: Option<String>,
    /// `-n`.
    pub cpus_per_worker: Option<u32>,
    /// `-M` and `rusage[mem=…]`.
    pub mem: Option<String>,
    /// `-gpu "num=N"` (unset or 0: none).
    pub gpus_per_worker: Option<u32>,
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
    /// Extra options as written (`-x`, `-app gpu_app`).
    pub extra_directives: Vec<String>,
    /// The same, split into name and value.
    pub extra_options: Vec<ExtraOption>,
    /// Minutes before the run limit at which LSF sends SIGTERM (`-wa TERM -wt`); 0: none.
    /// See [`warning_minutes`].
    pub signal_grace_minutes: u64,
    /// The agent's `--deadline-margin`: it starts a block only if the block should end this
    /// many seconds before the run limit (the warning lead plus 30 s, as LSF checks limits
    /// periodically and may send the warning that much early).
    pub deadline_margin_seconds: u64,
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
    /// This submission's array.
    pub chunk: ArrayChunk,
    /// Log directory.
    pub log_dir: &'a Path,
    /// Working directory.
    pub workdir: &'a Path,
    /// SIGTERM lead time in seconds (rounded up to minutes).
    pub signal_grace_seconds: u64,
    /// The agent to start.
    pub agent: AgentCommand,
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
    pub fn new(settings: &LsfSettings, run: RunParts<'_>) -> ScriptContext {
        let text = |p: &Path| p.display().to_string();
        let log_dir = text(run.log_dir);
        let extra_directives: Vec<String> = settings
            .extra_directives
            .iter()
            .map(|d| d.as_str().to_owned())
            .collect();
        let extra_options = extra_directives
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
        ScriptContext {
            job_name: run.job_name.to_owned(),
            array: run.chunk.job_name(run.job_name),
            indices: run.chunk.indices(),
            max_running: run.chunk.max_running.filter(|&m| m < run.chunk.count),
            stdout_path: format!("{log_dir}/%J_%I.out"),
            stderr_path: format!("{log_dir}/%J_%I.err"),
            log_dir,
            workdir: text(run.workdir),
            queue: settings.queue.as_ref().map(|v| v.as_str().to_owned()),
            project: settings.project.as_ref().map(|v| v.as_str().to_owned()),
            walltime: settings.walltime.as_ref().map(|v| v.as_str().to_owned()),
            cpus_per_worker: settings.cpus_per_worker.map(|v| v.get()),
            mem: settings.mem.as_ref().map(|v| v.as_str().to_owned()),
            gpus_per_worker: settings.gpus_per_worker.filter(|&g| g > 0),
            resource: settings.resource.as_ref().map(|v| v.as_str().to_owned()),
            resource_directive: resource_requirement(settings).and_then(|r| quoted_resource(&r)),
            resource_requirement: resource_requirement(settings),
            extra_directives,
            extra_options,
            signal_grace_minutes: warning_minutes(
                run.signal_grace_seconds,
                settings.walltime.as_ref(),
            ),
            deadline_margin_seconds: warning_minutes(
                run.signal_grace_seconds,
                settings.walltime.as_ref(),
            ) * 60
                + 30,
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
    use crate::task::{LsfDirective, LsfResource, Memory, SchedulerName};

    fn context(settings: &LsfSettings, count: u32, max_running: Option<u32>) -> ScriptContext {
        ScriptContext::new(
            settings,
            RunParts {
                job_name: "blockorch-1a2b3c4d",
                chunk: ArrayChunk { count, max_running },
                log_dir: Path::new("/ledger/logs/lsf/seg"),
                workdir: Path::new("/data/my project"),
                signal_grace_seconds: 120,
                agent: crate::backend::agent_command::test_agent(vec![EnvVar::new(
                    "RUST_LOG",
                    "info,blockorch=debug",
                )
                .unwrap()]),
            },
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
