//! `submit --dry-run` prints the rendered job script and the exact submission command, and
//! submits nothing (no scheduler command is run: a PATH without sbatch/bsub proves it).

use std::process::Command;

fn task_file(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("task.json");
    std::fs::write(
        &path,
        r#"{"tasks": [
          {"name": "a", "total_roi": {"offset": [0], "shape": [100]},
           "read_roi": {"offset": [0], "shape": [10]}, "write_roi": {"offset": [0], "shape": [10]},
           "num_workers": 3, "worker": {"command": ["python3", "w.py"]},
           "slurm": {"partition": "gpu", "time": "01:00:00", "gpus_per_worker": 1},
           "lsf": {"queue": "normal", "walltime": "1:00"}}
        ]}"#,
    )
    .unwrap();
    path
}

fn dry_run(backend: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let task = task_file(dir.path());
    let out = Command::new(env!("CARGO_BIN_EXE_blockorch"))
        .args(["submit", "--dry-run", "--backend", backend])
        .arg(&task)
        // No scheduler commands reachable: a dry run must not need any.
        .env("PATH", "/usr/bin:/bin")
        .env_remove("SLURM_JOB_ID")
        .output()
        .unwrap();
    let ledger_jobs = dir.path().join("task.ledger").join("workers");
    assert!(
        !ledger_jobs.exists() || std::fs::read_dir(&ledger_jobs).unwrap().next().is_none(),
        "a dry run registered workers"
    );
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
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
