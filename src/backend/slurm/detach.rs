//! `submit --detach --backend slurm`: the orchestrator itself as a small SLURM job (login nodes
//! kill long-running processes). The job runs the same `blockorch submit` without `--detach`,
//! is named `<run>-orchestrator`, writes its output into the ledger, and its id is recorded in
//! the ledger so that `blockorch cancel` can cancel it by id.

use super::command::{CommandConfig, CommandRunner};
use super::submit::{parse_sbatch, sbatch_args, SubmitError};
use crate::ledger::Layout;
use crate::task::SlurmSettings;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The job name of a run's detached orchestrator.
pub fn orchestrator_job_name(run_name: &str) -> String {
    format!("{run_name}-orchestrator")
}

/// Where the detached orchestrator's job id is recorded (one line: the id).
pub fn orchestrator_job_file(ledger: &Path) -> PathBuf {
    Layout::new(ledger).orchestrator_job_path()
}

/// The job id of the run's detached orchestrator, if `submit --detach` started one. The job may
/// have ended since: cancelling it is harmless then. (`blockorch cancel` should `scancel` it by
/// this id too: on a real cluster the orchestrator runs on another host than `cancel`, so
/// signalling its pid is not possible.)
pub fn recorded_orchestrator_job(ledger: &Path) -> Option<String> {
    let text = std::fs::read_to_string(orchestrator_job_file(ledger)).ok()?;
    let id = text.trim();
    (!id.is_empty() && id.chars().all(|c| c.is_ascii_digit())).then(|| id.to_owned())
}

/// What the orchestrator's job script needs.
#[derive(Clone, Debug)]
pub struct OrchestratorJob<'a> {
    /// The run's job name (the orchestrator's is `<run>-orchestrator`).
    pub run_name: &'a str,
    /// The ledger (absolute).
    pub ledger: &'a Path,
    /// The directory the job runs in (the task file's).
    pub workdir: &'a Path,
    /// The first task's SLURM settings: its `orchestrator` section (time, partition, mem,
    /// account, qos), else its account and qos (the workers' partition is not used: the
    /// orchestrator needs no GPU).
    pub settings: &'a SlurmSettings,
    /// The command the job runs (`blockorch submit … --slurm-mode submit`, no `--detach`).
    pub argv: Vec<String>,
    /// Environment exported by the script (`SLURM_CONF`, `RUST_LOG` when set).
    pub env: Vec<(String, String)>,
}

/// Single-quotes `value` for a POSIX shell.
fn shell_quote(value: &str) -> String {
    if !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-=:,@%+".contains(c))
    {
        return value.to_owned();
    }
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// A path as an `#SBATCH` option value: double-quoted when it has spaces (sbatch understands
/// double quotes there, not single ones); refused when it holds a double quote or a newline.
fn directive_path(path: &Path) -> Result<String, String> {
    let text = path.display().to_string();
    if text.contains(['"', '\n', '\r']) {
        return Err(format!(
            "{text:?} cannot be written on an #SBATCH line (it contains a quote or a newline)"
        ));
    }
    Ok(if text.contains(char::is_whitespace) {
        format!("\"{text}\"")
    } else {
        text
    })
}

/// The job script of the orchestrator.
pub fn orchestrator_script(job: &OrchestratorJob<'_>) -> Result<String, String> {
    // sbatch expands `%` patterns in --output: the ledger's own `%`s are doubled, `%j` is not.
    let logs = Layout::new(job.ledger).scheduler_logs_dir("slurm");
    let log = PathBuf::from(format!(
        "{}/orchestrator-%j.out",
        crate::template::escape_percent(&logs.display().to_string())
    ));
    let mut s = String::from("#!/bin/bash\n# blockorch orchestrator (submit --detach)\n");
    let mut directive = |text: String| {
        s.push_str("#SBATCH ");
        s.push_str(&text);
        s.push('\n');
    };
    directive(format!(
        "--job-name={}",
        orchestrator_job_name(job.run_name)
    ));
    directive(format!("--output={}", directive_path(&log)?));
    directive(format!("--chdir={}", directive_path(job.workdir)?));
    directive("--ntasks=1".into());
    directive("--cpus-per-task=1".into());
    directive("--no-requeue".into());
    let own = &job.settings.orchestrator;
    let account = own.account.as_ref().or(job.settings.account.as_ref());
    let qos = own.qos.as_ref().or(job.settings.qos.as_ref());
    let options = [
        ("account", account.map(|v| v.as_str())),
        ("qos", qos.map(|v| v.as_str())),
        ("partition", own.partition.as_ref().map(|v| v.as_str())),
        ("time", own.time.as_ref().map(|v| v.as_str())),
        ("mem", own.mem.as_ref().map(|v| v.as_str())),
    ];
    for (name, value) in options {
        if let Some(value) = value {
            directive(format!("--{name}={value}"));
        }
    }
    s.push_str("\nset -eu\n");
    for (name, value) in &job.env {
        s.push_str(&format!("export {name}={}\n", shell_quote(value)));
    }
    let argv: Vec<String> = job.argv.iter().map(|a| shell_quote(a)).collect();
    s.push_str(&format!("exec {}\n", argv.join(" ")));
    Ok(s)
}

/// Writes the script into the ledger and submits it; returns the job id and the script path.
/// The id is recorded in [`orchestrator_job_file`].
pub fn submit_orchestrator(
    job: &OrchestratorJob<'_>,
    commands: CommandConfig,
) -> Result<(u64, PathBuf), String> {
    let dir = Layout::new(job.ledger).scheduler_logs_dir("slurm");
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let script_path = dir.join(format!("orchestrator-{}.sbatch", std::process::id()));
    std::fs::write(&script_path, orchestrator_script(job)?)
        .map_err(|e| format!("writing {}: {e}", script_path.display()))?;
    let runner = CommandRunner::new(commands);
    let submitted = runner
        .run("sbatch", &sbatch_args(&script_path), None)
        .map_err(SubmitError::from)
        .and_then(parse_sbatch)
        .map_err(|e| {
            format!(
                "submitting the orchestrator job {}: {e}",
                script_path.display()
            )
        })?;
    let record = orchestrator_job_file(job.ledger);
    std::fs::write(&record, format!("{}\n", submitted.job_id))
        .map_err(|e| format!("writing {}: {e}", record.display()))?;
    Ok((submitted.job_id, script_path))
}

/// Sends SIGTERM to every process of the detached orchestrator's job `job` (so it still gives
/// its workers' blocks back), calls `signalled` once it is sent, and waits up to `wait` until
/// the job has left the queue. True if it is gone.
pub fn stop_orchestrator_job(job: &str, wait: Duration, signalled: impl FnOnce()) -> bool {
    let runner = CommandRunner::new(CommandConfig::default());
    let args = |list: &[&str]| list.iter().map(|a| a.to_string()).collect::<Vec<_>>();
    let sent = runner
        .run("scancel", &args(&["--signal=TERM", "--full", job]), None)
        .is_ok_and(|out| out.success());
    if !sent {
        return false;
    }
    signalled();
    let deadline = Instant::now() + wait;
    while Instant::now() < deadline {
        match runner.run("squeue", &args(&["-h", "-j", job, "-o", "%i"]), None) {
            Ok(out) if out.stdout.trim().is_empty() => return true,
            Err(_) => return false,
            Ok(_) => std::thread::sleep(Duration::from_secs(1)),
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_runs_submit_as_a_small_job() {
        let settings = SlurmSettings {
            account: Some("lab".try_into().unwrap()),
            ..SlurmSettings::default()
        };
        let job = OrchestratorJob {
            run_name: "blockorch-1234abcd",
            ledger: Path::new("/data/my run.ledger"),
            workdir: Path::new("/data"),
            settings: &settings,
            argv: vec![
                "/opt/blockorch".into(),
                "submit".into(),
                "/data/task.json".into(),
                "--ledger".into(),
                "/data/my run.ledger".into(),
            ],
            env: vec![("SLURM_CONF".into(), "/etc/slurm/slurm.conf".into())],
        };
        let script = orchestrator_script(&job).unwrap();
        for line in [
            "#SBATCH --job-name=blockorch-1234abcd-orchestrator",
            "#SBATCH --output=\"/data/my run.ledger/logs/slurm/orchestrator-%j.out\"",
            "#SBATCH --chdir=/data",
            "#SBATCH --account=lab",
            "export SLURM_CONF=/etc/slurm/slurm.conf",
            "exec /opt/blockorch submit /data/task.json --ledger '/data/my run.ledger'",
        ] {
            assert!(script.lines().any(|l| l == line), "{line:?} in\n{script}");
        }
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn orchestrator_section_sets_the_job_resources() {
        let settings: SlurmSettings = serde_json::from_value(serde_json::json!({
            "account": "lab", "qos": "low", "partition": "gpu",
            "orchestrator": {"time": "3-00:00:00", "partition": "cpu", "mem": "2G", "qos": "long"}
        }))
        .unwrap();
        let job = OrchestratorJob {
            run_name: "blockorch-1234abcd",
            ledger: Path::new("/data/run.ledger"),
            workdir: Path::new("/data"),
            settings: &settings,
            argv: vec!["/opt/blockorch".into()],
            env: vec![],
        };
        let script = orchestrator_script(&job).unwrap();
        let directives: Vec<&str> = script
            .lines()
            .filter(|l| l.starts_with("#SBATCH"))
            .collect();
        for line in [
            "#SBATCH --account=lab",
            "#SBATCH --qos=long",
            "#SBATCH --partition=cpu",
            "#SBATCH --time=3-00:00:00",
            "#SBATCH --mem=2G",
        ] {
            assert!(directives.contains(&line), "{line:?} in\n{script}");
        }
        assert!(!script.contains("--partition=gpu") && !script.contains("--qos=low"));
    }

    #[test]
    fn orchestrator_log_keeps_a_percent_of_the_ledger_literal() {
        let settings = SlurmSettings::default();
        let job = OrchestratorJob {
            run_name: "blockorch-1234abcd",
            ledger: Path::new("/data/100%j.ledger"),
            workdir: Path::new("/data"),
            settings: &settings,
            argv: vec!["/opt/blockorch".into()],
            env: vec![],
        };
        let script = orchestrator_script(&job).unwrap();
        assert!(
            script
                .lines()
                .any(|l| l == "#SBATCH --output=/data/100%%j.ledger/logs/slurm/orchestrator-%j.out"),
            "{script}"
        );
    }

    #[test]
    fn recorded_job_ids_must_be_numbers() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(recorded_orchestrator_job(dir.path()), None);
        let file = orchestrator_job_file(dir.path());
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, "123\n").unwrap();
        assert_eq!(
            recorded_orchestrator_job(dir.path()).as_deref(),
            Some("123")
        );
        std::fs::write(&file, "123; rm -rf /\n").unwrap();
        assert_eq!(recorded_orchestrator_job(dir.path()), None);
    }
}
