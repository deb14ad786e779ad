//! End to end: `blockorch submit task.json --backend lsf` of a small two-task job on the LSF
//! simulator runs every block, and its output equals that of the same job on the local
//! backend. Workers are real `blockorch worker` agents started by the simulator's bsub from
//! the built-in template.

mod lsf_common;
mod run_common;

use lsf_common::{sim_bin, Sim};
use run_common::*;
use serde_json::json;
use std::process::Command;

fn tasks() -> Vec<serde_json::Value> {
    vec![
        task(
            "a",
            (&[0, 0], &[16, 12]),
            (&[0, 0], &[6, 6]),
            (&[1, 1], &[4, 4]),
            json!({"num_workers": 2, "worker": blockwork(Some((5, 20)))}),
        ),
        task(
            "b",
            (&[1, 1], &[12, 8]),
            (&[0, 0], &[5, 5]),
            (&[1, 1], &[3, 3]),
            json!({
                "upstream_tasks": ["a"], "fit": "shrink", "read_write_conflict": false,
                "num_workers": 2, "worker": blockwork(Some((5, 20))),
            }),
        ),
    ]
}

#[test]
fn two_task_job_on_lsf_matches_the_local_backend() {
    let local = Job::new(&tasks());
    let plan = local.plan();
    let out = local.submit(&["--quiet"]);
    assert_eq!(out.code, Some(0), "local: {}", out.text());
    assert_outputs(&local, &plan, &local.attempts());

    let sim = Sim::new();
    let job = Job::new(&tasks());
    // --dry-run shows the script and submits nothing.
    let mut dry = Command::new(bin());
    dry.args(["submit", "task.json", "--backend", "lsf", "--dry-run"])
        .current_dir(&job.root)
        .envs(sim.env());
    let dry = dry.output().unwrap();
    let text = String::from_utf8_lossy(&dry.stdout);
    assert!(dry.status.success(), "{text}");
    assert!(text.contains("#BSUB -J blockorch-"), "{text}");
    assert!(text.contains("[1-2]\n"), "{text}");
    assert!(text.contains("# submit with:\nbsub < "), "{text}");
    assert!(sim.calls("bsub").is_empty());

    let mut command = Command::new(bin());
    command
        .args([
            "submit",
            "task.json",
            "--backend",
            "lsf",
            "--quiet",
            "--poll-interval",
            "0.2",
            "--max-poll-interval",
            "1",
        ])
        .current_dir(&job.root)
        .envs(sim.env());
    let out = spawn_logged(command, &job.root, "lsf-submit").wait(SAFETY);
    assert_eq!(out.code, Some(0), "lsf: {}", out.text());
    assert_outputs(&job, &plan, &job.attempts());
    assert_ledger_all(&job, &plan, blockorch::ledger::BlockState::Done);
    for t in &plan.tasks {
        assert_eq!(job.output(t), local.output(t), "task {} differs", t.name);
    }
    // The workers were the simulator's array elements, named after LSB_JOBID/LSB_JOBINDEX.
    let workers: Vec<String> = std::fs::read_dir(job.ledger().join("workers"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!workers.is_empty());
    assert!(
        workers
            .iter()
            .all(|w| w.starts_with("lsf-") && w.contains('_')),
        "{workers:?}"
    );
    assert!(!sim.calls("bsub").is_empty());
    assert!(sim_bin().join("bsub").exists());
    // `status` of the finished run asks LSF nothing: every worker ended in the ledger.
    let bjobs_before = sim.calls("bjobs").len();
    let status = Command::new(bin())
        .args(["status", "task.ledger", "--json"])
        .current_dir(&job.root)
        .envs(sim.env())
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert_eq!(sim.calls("bjobs").len(), bjobs_before);
}
