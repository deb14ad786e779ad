//! Reusing a ledger: a finished run resumes to nothing, a changed task definition is refused
//! with a diff, a second `submit` while the first runs is refused naming the owner, and
//! `--force` is documented.

mod run_common;

use blockorch::ledger::BlockState;
use run_common::*;
use serde_json::{json, Value};
use std::time::Duration;

fn line_task(max_retries: u32, sleep_ms: Option<(u32, u32)>) -> Value {
    task(
        "t",
        (&[0], &[120]),
        (&[0], &[12]),
        (&[1], &[10]),
        json!({"num_workers": 2, "max_retries": max_retries, "worker": blockwork(sleep_ms)}),
    )
}

#[test]
fn submit_on_a_finished_ledger_does_nothing_and_exits_0() {
    let job = Job::new(&[line_task(2, None)]);
    let plan = job.plan();
    let first = job.submit(&["--quiet"]);
    assert_eq!(first.code, Some(0), "{}", first.text());
    let before = job.attempts().len();
    assert_eq!(before, plan.blocks.len());
    let epochs_before = job.ledger_state().epochs().len();

    let again = job.submit(&["--quiet"]);
    assert_eq!(again.code, Some(0), "{}", again.text());
    assert_eq!(summary_row(&again, "t"), [11, 11, 0, 0, 0]);
    assert_eq!(job.attempts().len(), before, "blocks ran again");
    let state = job.ledger_state();
    assert_eq!(state.epochs().len(), epochs_before + 1);
    assert_eq!(state.workers().len(), 1, "the resume started workers");
    assert_ledger_all(&job, &plan, BlockState::Done);
    assert_outputs(&job, &plan, &job.attempts());
}

#[test]
fn changed_task_definition_is_refused_with_a_diff() {
    let job = Job::new(&[line_task(2, None)]);
    let first = job.submit(&["--quiet"]);
    assert_eq!(first.code, Some(0), "{}", first.text());
    let runs = job.attempts().len();

    // What defines the blocks may not change (what is operational may: tests/resume_changes.rs).
    let mut moved = line_task(2, None);
    moved["write_roi"]["shape"] = json!([8]);
    job.write_tasks(&[moved]);
    let out = job.submit(&["--quiet"]);
    assert_eq!(out.code, Some(5), "{}", out.text());
    assert!(
        out.stderr.contains("write_roi.shape") && out.stderr.contains("[10] -> [8]"),
        "the diff does not name the changed field:\n{}",
        out.text()
    );
    assert_eq!(
        job.attempts().len(),
        runs,
        "blocks ran on a mismatched ledger"
    );

    // Formatting and spelled-out defaults are no change.
    let mut same = line_task(2, None);
    same["fit"] = json!("valid");
    same["upstream_tasks"] = json!([]);
    let text = serde_json::to_string(&json!({ "tasks": [same] })).unwrap();
    std::fs::write(job.task_file(), text).unwrap();
    let ok = job.submit(&["--quiet"]);
    assert_eq!(ok.code, Some(0), "{}", ok.text());
}

#[test]
fn second_submit_while_the_first_runs_is_refused_naming_the_owner() {
    // 11 blocks of 150–200 ms on 2 workers: the first submit runs for about a second.
    let job = Job::new(&[line_task(2, Some((150, 200)))]);
    let first = job.spawn_submit(&["--quiet"]);
    wait_until(SAFETY, "the first submit running blocks", || {
        !job.attempts().is_empty()
    });
    let second = job.submit(&["--quiet"]);
    assert_eq!(second.code, Some(4), "{}", second.text());
    let host = blockorch::ledger::hostname();
    assert!(
        second.stderr.contains(&host) && second.stderr.contains(&first.pid().to_string()),
        "the refusal does not name the owner (host {host}, pid {}):\n{}",
        first.pid(),
        second.text()
    );
    assert!(second.stderr.contains("--force"), "{}", second.text());
    // The refused submit disturbed nothing.
    let out = first.wait(SAFETY);
    assert_eq!(out.code, Some(0), "{}", out.text());
    let plan = job.plan();
    let attempts = job.attempts();
    assert_eq!(attempts.len(), plan.blocks.len());
    assert_outputs(&job, &plan, &attempts);
    assert_no_conflicting_overlap(&plan, &attempts);
}

#[test]
fn force_is_documented_in_submit_help() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = std::process::Command::new(bin());
    command.args(["submit", "--help"]);
    let out = spawn_logged(command, dir.path(), "help").wait(Duration::from_secs(30));
    assert_eq!(out.code, Some(0), "{}", out.text());
    let force = out
        .stdout
        .lines()
        .position(|l| l.trim_start().starts_with("--force"))
        .unwrap_or_else(|| panic!("--force missing from submit --help:\n{}", out.stdout));
    let explanation = out.stdout.lines().skip(force).take(4).collect::<String>();
    assert!(explanation.contains("owner"), "{explanation}");
}
