//! An unreachable scheduler is retried for a bounded time (`--scheduler-timeout`), then the
//! run ends with exit 1 and the scheduler's own message, the ledger intact; a scheduler that
//! comes back within the bound costs nothing. Run against the LSF simulator, whose `bsub`
//! fails on demand like a master batch daemon that cannot be reached.

mod lsf_common;
mod run_common;

use lsf_common::Sim;
use run_common::*;
use serde_json::json;
use std::process::Command;
use std::time::{Duration, Instant};

const DOWN: &str = "LSF is down. Please wait ...";

fn small_job() -> Job {
    Job::new(&[task(
        "a",
        (&[0], &[40]),
        (&[0], &[10]),
        (&[0], &[10]),
        json!({"num_workers": 1, "worker": blockwork(Some((5, 20)))}),
    )])
}

fn submit(job: &Job, sim: &Sim, timeout_s: &str) -> Command {
    let mut command = Command::new(bin());
    command
        .args(["submit", "task.json", "--backend", "lsf", "--quiet"])
        .args(["--poll-interval", "0.2", "--max-poll-interval", "1"])
        .args(["--scheduler-timeout", timeout_s])
        .current_dir(&job.root)
        .envs(sim.env());
    command
}

#[test]
fn a_scheduler_down_for_longer_than_the_bound_ends_the_run_with_its_message() {
    let sim = Sim::new();
    sim.ok("lsf-sim", &["fail-next", "bsub", "1000", DOWN]);
    let job = small_job();
    let started = Instant::now();
    let out = spawn_logged(submit(&job, &sim, "3"), &job.root, "outage").wait(SAFETY);
    let took = started.elapsed();
    assert_eq!(out.code, Some(1), "{}", out.text());
    let text = out.text();
    assert!(text.contains("could not be reached"), "{text}");
    assert!(text.contains(DOWN), "the scheduler's own message: {text}");
    assert!(text.contains("--scheduler-timeout"), "{text}");
    assert!(took < Duration::from_secs(90), "took {took:?}");
    // The ledger is intact and resumable: with the scheduler back, the same submit finishes.
    sim.ok("lsf-sim", &["fail-next", "bsub", "0", DOWN]);
    let plan = job.plan();
    let out = spawn_logged(submit(&job, &sim, "300"), &job.root, "after").wait(SAFETY);
    assert_eq!(out.code, Some(0), "{}", out.text());
    assert_ledger_all(&job, &plan, blockorch::ledger::BlockState::Done);
}

#[test]
fn a_scheduler_back_within_the_bound_costs_nothing() {
    let sim = Sim::new();
    // bsub's own retries (five attempts) fail, the orchestrator's next launch succeeds.
    sim.ok("lsf-sim", &["fail-next", "bsub", "7", DOWN]);
    let job = small_job();
    let plan = job.plan();
    let out = spawn_logged(submit(&job, &sim, "120"), &job.root, "back").wait(SAFETY);
    assert_eq!(out.code, Some(0), "{}", out.text());
    assert_ledger_all(&job, &plan, blockorch::ledger::BlockState::Done);
    assert!(sim.calls("bsub").len() >= 8, "{:?}", sim.calls("bsub"));
}

#[test]
fn a_bound_that_is_not_a_number_of_seconds_is_bad_input() {
    for bad in ["inf", "-1", "soon"] {
        let out = Command::new(bin())
            .args(["submit", "task.json", &format!("--scheduler-timeout={bad}")])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--scheduler-timeout"), "{err}");
    }
}
