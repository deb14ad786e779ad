//! Real multi-task, conflicting, n-D jobs on the local backend: every block runs and its output
//! equals a direct computation, conflicting blocks never overlap in time, and downstream blocks
//! start only after the upstream blocks they read from have finished — checked from the
//! workers' own timestamps and from the ledger.

mod run_common;

use blockorch::ledger::BlockState;
use run_common::*;
use serde_json::json;

/// Runs `tasks` to the end and checks (a), (b) and (c); returns the plan.
fn run_and_check(tasks: &[serde_json::Value]) -> (Job, Plan) {
    let job = Job::new(tasks);
    let plan = job.plan();
    let out = job.submit(&[]);
    assert_eq!(out.code, Some(0), "{}", out.text());
    for t in &plan.tasks {
        let n = plan.blocks_of(&t.name).count();
        let row = out
            .stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(t.name.as_str()))
            .unwrap_or_else(|| panic!("no summary row for {}: {}", t.name, out.text()));
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cols[1..3], [n.to_string(), n.to_string()], "{row}");
    }
    let attempts = job.attempts();
    assert_outputs(&job, &plan, &attempts);
    let conflicts = assert_no_conflicting_overlap(&plan, &attempts);
    assert!(conflicts > 0, "the job has no conflicting pairs to check");
    assert_upstream_order(&plan, &attempts);
    assert_ledger_all(&job, &plan, BlockState::Done);
    assert_status_agrees(&job, &plan, &attempts);
    // Nothing failed, so every block ran exactly once.
    for (key, runs) in by_block(&attempts) {
        assert_eq!(runs.len(), 1, "{key:?} ran more than once: {runs:?}");
    }
    (job, plan)
}

#[test]
fn three_d_conflicting_task_with_context_and_a_downstream_overhang_task() {
    let sleep = Some((2, 12));
    let tasks = [
        task(
            "a",
            (&[0, 0, 0], &[26, 26, 26]),
            (&[0, 0, 0], &[8, 8, 8]),
            (&[1, 1, 1], &[6, 6, 6]),
            json!({"read_write_conflict": true, "num_workers": 3, "worker": blockwork(sleep)}),
        ),
        task(
            "b",
            (&[1, 1, 1], &[24, 24, 24]),
            (&[0, 0, 0], &[7, 7, 7]),
            (&[1, 1, 1], &[5, 5, 5]),
            json!({
                "upstream_tasks": ["a"], "fit": "overhang", "read_write_conflict": false,
                "num_workers": 3, "worker": blockwork(sleep),
            }),
        ),
    ];
    let (_job, plan) = run_and_check(&tasks);
    assert_eq!(plan.blocks_of("a").count(), 64);
    assert_eq!(plan.blocks_of("b").count(), 125);
}

#[test]
fn two_d_shrink_and_one_d_wide_context_chain() {
    let sleep = Some((2, 10));
    let tasks = [
        task(
            "plane",
            (&[0, 0], &[40, 37]),
            (&[0, 0], &[7, 7]),
            (&[2, 2], &[3, 3]),
            json!({"fit": "shrink", "num_workers": 3, "worker": blockwork(sleep)}),
        ),
        // Context 5 with write shape 4: conflicts reach two blocks to each side.
        task(
            "line",
            (&[-3], &[100]),
            (&[0], &[14]),
            (&[5], &[4]),
            json!({"num_workers": 3, "worker": blockwork(sleep)}),
        ),
        task(
            "line2",
            (&[2], &[88]),
            (&[0], &[11]),
            (&[3], &[5]),
            json!({"upstream_tasks": ["line"], "fit": "shrink", "num_workers": 2,
                   "worker": blockwork(sleep)}),
        ),
    ];
    let (_job, plan) = run_and_check(&tasks);
    assert_eq!(plan.blocks_of("plane").count(), 12 * 11);
    assert_eq!(plan.blocks_of("line").count(), 22);
}
