//! A run interrupted on day 2 is resumed with a changed task file: what is operational
//! (`num_workers`, `timeout`, `max_retries`, scheduler settings, `env`, the worker command) is
//! taken over, said and used from then on, and no done block runs again; a change to what
//! defines the blocks (`write_roi`) is refused with exit 5.

mod run_common;

use blockorch::ledger::BlockState;
use run_common::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The test worker behind a shell line that records `$MARK` once per program start.
fn worker(mark: &str) -> Value {
    let inner = python_command("blockwork.py", &[], &[("BLOCKWORK_SLEEP_MS", "30,60")]);
    let mut command = vec![
        json!("sh"),
        json!("-c"),
        json!("echo \"$MARK\" >> marks.log; exec \"$@\""),
        json!("sh"),
    ];
    command.extend(inner["command"].as_array().unwrap().iter().cloned());
    let mut env = inner["env"].clone();
    env["MARK"] = json!(mark);
    json!({"command": command, "env": env})
}

fn task_v(mark: &str, workers: u32, timeout: u32, retries: u32, write: i64) -> Value {
    task(
        "a",
        (&[0], &[400]),
        (&[0], &[10]),
        (&[0], &[write]),
        json!({
            "num_workers": workers, "timeout": timeout, "max_retries": retries,
            "worker": worker(mark),
            "slurm": {"mem": format!("{}G", workers), "partition": format!("p{workers}")},
        }),
    )
}

fn done_blocks(job: &Job) -> Vec<u64> {
    let state = job.ledger_state();
    let Some(task) = state.tasks().first() else {
        return Vec::new(); // nothing recorded yet
    };
    task.blocks()
        .filter(|(_, e)| e.state() == BlockState::Done)
        .map(|(id, _)| id)
        .collect()
}

#[test]
fn operational_changes_are_taken_over_on_resume_and_block_changes_refused() {
    let job = Job::new(&[task_v("v1", 2, 60, 2, 10)]);
    let plan = job.plan();
    let running = job.spawn_submit(&["--quiet"]);
    let until = Instant::now() + SAFETY;
    while job
        .ledger()
        .join("ledger.json")
        .exists()
        .then(|| done_blocks(&job).len())
        < Some(8)
    {
        assert!(Instant::now() < until, "no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    running.kill9();
    let done_before = done_blocks(&job);
    assert!(done_before.len() >= 8);

    // A changed write_roi defines other blocks: refused, nothing written.
    job.write_tasks(&[task_v("v1", 2, 60, 2, 5)]);
    let out = job.submit(&["--quiet"]);
    assert_eq!(out.code, Some(5), "{}", out.text());
    assert!(out.text().contains("write_roi"), "{}", out.text());

    job.write_tasks(&[task_v("v2", 3, 30, 4, 10)]);
    let out = job.submit(&["--quiet"]);
    assert_eq!(out.code, Some(0), "{}", out.text());
    let said = out.stderr.clone();
    assert!(said.contains("resuming with changed settings"), "{said}");
    for field in [
        "num_workers",
        "timeout",
        "max_retries",
        "slurm.mem",
        "slurm.partition",
        "env.MARK",
    ] {
        assert!(said.contains(field), "{field} not reported: {said}");
    }
    assert_ledger_all(&job, &plan, BlockState::Done);

    // No block done before the resume ran again.
    let mut starts: BTreeMap<u64, usize> = BTreeMap::new();
    for a in job.attempts() {
        *starts.entry(a.block).or_default() += 1;
    }
    for b in &done_before {
        assert_eq!(starts.get(b), Some(&1), "done block {b} ran again");
    }
    // The new command and environment ran; the new settings are what the agents read.
    let marks = std::fs::read_to_string(job.root.join("marks.log")).unwrap();
    assert!(marks.lines().any(|l| l == "v2"), "{marks}");
    let definitions: Vec<_> = std::fs::read_dir(job.ledger().join("orchestrator"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("definition-"))
        .collect();
    assert_eq!(definitions.len(), 1);
    let text = std::fs::read_to_string(definitions[0].path()).unwrap();
    assert!(
        text.contains("\"num_workers\":3") || text.contains("\"num_workers\": 3"),
        "{text}"
    );

    // `status` names the definition in force and what it changed.
    let out = job.run(&["status", "task.ledger"]);
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("definition "))
        .unwrap_or_else(|| panic!("no definition line: {}", out.text()));
    for field in [
        "num_workers",
        "timeout",
        "max_retries",
        "mem",
        "partition",
        "worker.env",
    ] {
        assert!(line.contains(field), "{field} missing in {line:?}");
    }
    let out = job.run(&["status", "task.ledger", "--json"]);
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        report["definition"]["number"], report["owner"]["epoch"],
        "{report}"
    );

    // Resuming again with the same file publishes nothing new and says nothing.
    let out = job.submit(&["--quiet"]);
    assert_eq!(out.code, Some(0), "{}", out.text());
    assert!(!out.stderr.contains("changed settings"), "{}", out.text());
}
