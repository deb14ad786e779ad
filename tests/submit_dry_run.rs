//! `submit --dry-run` prints the rendered job script and the exact submission command, and
//! submits nothing (no scheduler command is run: a PATH without sbatch/bsub proves it).

use std::path::{Path, PathBuf};
use std::process::Command;

fn task_file(dir: &std::path::Path, workers: u32) -> std::path::PathBuf {
    let path = dir.join("task.json");
    std::fs::write(
        &path,
        r#"{"tasks": [
          {"name": "a", "total_roi": {"offset": [0], "shape": [100]},
           "read_roi": {"offset": [0], "shape": [10]}, "write_roi": {"offset": [0], "shape": [10]},
           "num_workers": WORKERS, "worker": {"command": ["python3", "w.py"]},
           "slurm": {"partition": "gpu", "time": "01:00:00", "gpus_per_worker": 1},
           "lsf": {"queue": "normal", "walltime": "1:00"}}
        ]}"#
        .replace("WORKERS", &workers.to_string()),
    )
    .unwrap();
    path
}

/// Every path under `dir` (sorted), to compare before and after.
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path.clone());
            }
            out.push(path);
        }
    }
    out.sort();
    out
}

/// `submit --dry-run --backend <backend>` plus `extra` arguments, with every scheduler command
/// replaced by one that records its call: returns the exit code, stdout and stderr, and
/// asserts that nothing was created and no scheduler command ran.
fn dry_run_with(backend: &str, extra: &[&str]) -> (i32, String, String) {
    dry_run_of(backend, extra, 3, "")
}

/// As [`dry_run_with`], for a task of `workers` workers whose ledger is on a file system of
/// kind `ledger_fs` (`BLOCKORCH_LEDGER_FS`; empty: detected).
fn dry_run_of(
    backend: &str,
    extra: &[&str],
    workers: u32,
    ledger_fs: &str,
) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let task = task_file(dir.path(), workers);
    let bin = tempfile::tempdir().unwrap();
    let calls = bin.path().join("calls.log");
    for cmd in [
        "sbatch", "squeue", "sacct", "scancel", "scontrol", "srun", "bsub", "bjobs", "bkill",
    ] {
        let path = bin.path().join(cmd);
        std::fs::write(
            &path,
            format!(
                "#!/bin/sh\necho {cmd} \"$@\" >> {}\nexit 1\n",
                calls.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
    }
    let before = tree(dir.path());
    let out = Command::new(env!("CARGO_BIN_EXE_blockorch"))
        .args(["submit", "--dry-run", "--backend", backend])
        .args(extra)
        .arg(&task)
        .env("PATH", format!("{}:/usr/bin:/bin", bin.path().display()))
        .env("BLOCKORCH_LEDGER_FS", ledger_fs)
        .env_remove("SLURM_JOB_ID")
        .output()
        .unwrap();
    assert_eq!(tree(dir.path()), before, "a dry run changed the filesystem");
    assert!(
        !calls.exists(),
        "a dry run called the scheduler: {}",
        std::fs::read_to_string(&calls).unwrap_or_default()
    );
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn dry_run(backend: &str) -> (i32, String, String) {
    dry_run_with(backend, &[])
}

#[test]
fn dry_run_with_detach_touches_nothing_on_any_backend() {
    for backend in ["slurm", "lsf"] {
        let (code, stdout, stderr) = dry_run_with(backend, &["--detach"]);
        assert_eq!(code, 0, "{backend}: {stderr}");
        assert!(
            stdout.contains("--detach: the orchestrator would run"),
            "{stdout}"
        );
        assert!(stdout.contains("# submit with:"), "{stdout}");
    }
    let (code, _, stderr) = dry_run_with("local", &["--detach"]);
    assert_eq!(code, 2, "{stderr}");
    let (code, _, stderr) = dry_run_with("slurm", &["--detach", "--force"]);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn slurm_dry_run_shows_script_and_sbatch_command() {
    let (code, stdout, stderr) = dry_run("slurm");
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("#SBATCH --array=0-2"), "{stdout}");
    assert!(stdout.contains("#SBATCH --partition=gpu"), "{stdout}");
    assert!(stdout.contains("#SBATCH --time=01:00:00"), "{stdout}");
    assert!(
        stdout.contains("blockorch worker") || stdout.contains(" worker \\"),
        "{stdout}"
    );
    assert!(stdout.contains("sbatch --parsable"), "{stdout}");
}

#[test]
fn lsf_dry_run_shows_script_and_bsub_command() {
    let (code, stdout, stderr) = dry_run("lsf");
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("#BSUB"), "{stdout}");
    assert!(stdout.contains("[1-3]"), "{stdout}");
    assert!(stdout.contains("bsub"), "{stdout}");
}

#[test]
fn local_dry_run_is_refused_with_a_hint() {
    let (code, _, stderr) = dry_run("local");
    assert_eq!(code, 2);
    assert!(stderr.contains("--backend slurm"), "{stderr}");
}

#[test]
fn the_scripts_of_a_large_run_on_a_shared_file_system_carry_its_agent_scale() {
    // 1,000 one-slot agents at the default budget: scale 6, as the real submission passes.
    for backend in ["slurm", "lsf"] {
        let (code, stdout, stderr) = dry_run_of(backend, &[], 1000, "shared");
        assert_eq!(code, 0, "{backend}: {stderr}");
        assert!(
            stdout.contains("BLOCKORCH_AGENT_SCALE=6")
                || stdout.contains("BLOCKORCH_AGENT_SCALE='6'"),
            "{backend}: {stdout}"
        );
        // A larger budget covers them at scale 1; so does a ledger on a local disk.
        let (code, stdout, stderr) =
            dry_run_of(backend, &["--metadata-budget", "1000"], 1000, "shared");
        assert_eq!(code, 0, "{backend}: {stderr}");
        assert!(
            !stdout.contains("BLOCKORCH_AGENT_SCALE"),
            "{backend}: {stdout}"
        );
        let (code, stdout, stderr) = dry_run_of(backend, &[], 1000, "local");
        assert_eq!(code, 0, "{backend}: {stderr}");
        assert!(
            !stdout.contains("BLOCKORCH_AGENT_SCALE"),
            "{backend}: {stdout}"
        );
    }
}
