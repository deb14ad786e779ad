//! The end-of-run summary of `submit` and `blockorch status` count the same ledger the same
//! way, for every way a run can end: completed, a block that used up its retries, a failed
//! init step, the launch limit (`--max-failed-starts`), and Ctrl-C.

mod lsf_common;
mod run_common;

use lsf_common::{test_template, Sim};
use run_common::*;
use serde_json::{json, Value};
use std::process::Command;
use std::time::Duration;

/// The count fields both documents carry per task.
const FIELDS: [&str; 8] = [
    "total", "done", "skipped", "running", "queued", "failed", "orphaned", "pending",
];

/// Per task (in task-file order): its name and its counts in `FIELDS` order.
fn counts(doc: &Value, name_key: &str) -> Vec<(String, [u64; 8])> {
    doc["tasks"]
        .as_array()
        .unwrap_or_else(|| panic!("no tasks in {doc}"))
        .iter()
        .map(|t| {
            let name = t[name_key].as_str().unwrap().to_string();
            let c = FIELDS.map(|f| {
                t[f].as_u64()
                    .unwrap_or_else(|| panic!("no {f} in {t} of {doc}"))
            });
            (name, c)
        })
        .collect()
}

/// The summary `submit --json` printed, checked against `status --json` on its ledger; the
/// counts (which then are both's), by task name.
fn agreed_counts(job: &Job, out: &RunOutput) -> Vec<(String, [u64; 8])> {
    let summary: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("submit --json printed no JSON ({e}):\n{}", out.text()));
    let status = job.run(&["status", job.ledger().to_str().unwrap(), "--json"]);
    assert_eq!(status.code, Some(0), "{}", status.text());
    let status: Value = serde_json::from_str(&status.stdout).unwrap();
    let from_summary = counts(&summary, "task");
    assert_eq!(
        from_summary,
        counts(&status, "name"),
        "summary and status disagree ({FIELDS:?})"
    );
    for (name, c) in &from_summary {
        assert_eq!(c[0], c[1..].iter().sum::<u64>(), "{name}: {c:?}");
    }
    from_summary
}

/// `blockorch status` (the human view) on `job`'s ledger says `text`: why the run stopped.
fn assert_status_says(job: &Job, text: &str) {
    let status = job.run(&["status", job.ledger().to_str().unwrap()]);
    assert!(
        status.stdout.contains(text),
        "status does not say {text:?}:\n{}",
        status.text()
    );
}

/// `ten_block_line` as `up` and a downstream `down` of one block per upstream block.
fn two_tasks(extra: Value) -> Vec<Value> {
    let mut up = ten_block_line(extra);
    up["name"] = json!("up");
    let mut down = ten_block_line(json!({"upstream_tasks": ["up"]}));
    down["name"] = json!("down");
    vec![up, down]
}

#[test]
fn completed_run() {
    let job = Job::new(&[ten_block_line(json!({}))]);
    let out = job.submit(&["--json"]);
    assert_eq!(out.code, Some(0), "{}", out.text());
    assert_eq!(
        agreed_counts(&job, &out),
        [("t".to_string(), [10, 10, 0, 0, 0, 0, 0, 0])]
    );
}

#[test]
fn block_that_used_up_its_retries() {
    let job = Job::new(&two_tasks(json!({"max_retries": 1})));
    job.ctl("fail-up-3");
    let out = job.submit(&["--json"]);
    assert_eq!(out.code, Some(3), "{}", out.text());
    let c = agreed_counts(&job, &out);
    // Block 3 of `up` failed; the `down` block that reads it is orphaned.
    assert_eq!(c[0], ("up".to_string(), [10, 9, 0, 0, 0, 1, 0, 0]));
    assert_eq!(c[1], ("down".to_string(), [10, 9, 0, 0, 0, 0, 1, 0]));
}

#[test]
fn failed_init_step() {
    let mut tasks = two_tasks(json!({"init": python_command("init.py", &[], &[])}));
    tasks[0]["name"] = json!("a");
    tasks[1]["upstream_tasks"] = json!(["a"]);
    let job = Job::new(&tasks);
    job.ctl("init-fail-a");
    let out = job.submit(&["--json"]);
    assert_eq!(out.code, Some(3), "{}", out.text());
    // No block ran, so none failed: all are pending, and the task says why it stopped.
    let c = agreed_counts(&job, &out);
    assert_eq!(c[0], ("a".to_string(), [10, 0, 0, 0, 0, 0, 0, 10]));
    assert_eq!(c[1], ("down".to_string(), [10, 0, 0, 0, 0, 0, 0, 10]));
    let summary: Value = serde_json::from_str(&out.stdout).unwrap();
    let fatal = summary["tasks"][0]["fatal"].as_str().unwrap_or_default();
    assert!(fatal.contains("disk quota exceeded"), "{summary}");
    assert_status_says(&job, "init.command of task \"a\" failed");
}

#[test]
fn launch_limit() {
    let sim = Sim::new();
    let job = Job::new(&[task(
        "a",
        (&[0], &[40]),
        (&[0], &[10]),
        (&[0], &[10]),
        json!({"num_workers": 1, "worker": blockwork(None)}),
    )]);
    let template = test_template(&job.root, "echo 'cannot load module' >&2; exit 1");
    let mut command = Command::new(bin());
    command
        .args(["submit", "task.json", "--backend", "lsf", "--json"])
        .args(["--poll-interval", "0.1", "--max-poll-interval", "0.5"])
        .args(["--template", template.to_str().unwrap()])
        .args(["--max-failed-starts", "2"])
        .current_dir(&job.root)
        .envs(sim.env());
    let out = spawn_logged(command, &job.root, "launch-limit").wait(SAFETY);
    assert_eq!(out.code, Some(3), "{}", out.text());
    assert_eq!(
        agreed_counts(&job, &out),
        [("a".to_string(), [4, 0, 0, 0, 0, 0, 0, 4])]
    );
    assert_status_says(&job, "--max-failed-starts 2");
}

#[test]
fn interrupted_run() {
    let job = Job::new(&two_tasks(json!({
        "worker": blockwork(Some((100, 200))),
    })));
    let run = job.spawn_submit(&["--json"]);
    wait_until(SAFETY, "three finished blocks", || {
        job.attempts().iter().filter(|a| a.completed()).count() >= 3
    });
    run.signal(libc::SIGINT);
    let out = run.wait(Duration::from_secs(30));
    assert_eq!(out.code, Some(130), "{}", out.text());
    let c = agreed_counts(&job, &out);
    let done: u64 = c.iter().map(|(_, c)| c[1]).sum();
    let pending: u64 = c.iter().map(|(_, c)| c[7]).sum();
    assert!(done >= 3 && pending > 0, "{c:?}");
    // Nothing is left assigned after Ctrl-C.
    assert!(c.iter().all(|(_, c)| c[3] + c[4] == 0), "{c:?}");
}
