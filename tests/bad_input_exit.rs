//! Bad input exits 2 (see src/cli/exit.rs), not 1, and before anything runs: a `--ledger`
//! directory that is not a ledger, a path that cannot go into a job script (SLURM dry run and
//! a real LSF launch on the simulator).

mod lsf_common;
mod run_common;

use lsf_common::Sim;
use run_common::*;
use std::process::Command;

fn tasks() -> Vec<serde_json::Value> {
    vec![task(
        "a",
        (&[0], &[8]),
        (&[0], &[4]),
        (&[0], &[4]),
        serde_json::json!({"worker": blockwork(None)}),
    )]
}

#[test]
fn a_ledger_option_naming_a_foreign_directory_exits_2() {
    let job = Job::new(&tasks());
    let foreign = job.root.join("photos");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("holiday.jpg"), b"not a ledger").unwrap();
    let out = job.run(&["submit", "task.json", "--quiet", "--ledger", "photos"]);
    assert_eq!(out.code, Some(2), "{}", out.text());
    assert!(
        out.stderr.contains("is not a blockorch ledger"),
        "{}",
        out.text()
    );
    assert_eq!(
        std::fs::read_dir(&foreign).unwrap().count(),
        1,
        "something was written into the foreign directory"
    );
}

#[test]
fn a_workdir_that_cannot_go_into_an_sbatch_line_exits_2() {
    let job = Job::new(&tasks());
    let odd = job.root.join("say \"hi\"");
    std::fs::create_dir_all(&odd).unwrap();
    std::fs::copy(job.task_file(), odd.join("task.json")).unwrap();
    let out = Command::new(bin())
        .args(["submit", "task.json", "--backend", "slurm", "--dry-run"])
        .current_dir(&odd)
        .env("PATH", "/usr/bin:/bin")
        .env_remove("SLURM_JOB_ID")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot write the job script for task \"a\""),
        "{stderr}"
    );
    assert!(stderr.contains("cannot go on a directive line"), "{stderr}");
}

#[test]
fn a_percent_in_an_lsf_ledger_path_stops_the_run_with_exit_2() {
    let sim = Sim::new();
    let job = Job::new(&tasks());
    let mut command = Command::new(bin());
    command
        .args([
            "submit",
            "task.json",
            "--backend",
            "lsf",
            "--quiet",
            "--ledger",
            "run%J.ledger",
            "--poll-interval",
            "0.2",
        ])
        .current_dir(&job.root)
        .envs(sim.env());
    // Without the fix, the launch failure is retried forever: SAFETY bounds the wait.
    let out = spawn_logged(command, &job.root, "lsf-percent").wait(SAFETY);
    assert_eq!(out.code, Some(2), "{}", out.text());
    assert!(out.stderr.contains("LSF expands"), "{}", out.text());
    assert!(out.stderr.contains("run%J.ledger"), "{}", out.text());
    assert!(sim.calls("bsub").is_empty(), "a job was submitted");
}
