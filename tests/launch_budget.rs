//! The launch budget counts only launches that make no progress: a run of days whose workers
//! the cluster replaces again and again is never stopped, while workers that keep failing to
//! start stop their task with the limit named. On the LSF simulator, with `bkill` from
//! outside as the cluster's hand.

mod lsf_common;
mod run_common;

use lsf_common::{test_template, Sim};
use run_common::*;
use serde_json::json;
use std::collections::HashSet;
use std::process::Command;
use std::time::{Duration, Instant};

fn submit(job: &Job, sim: &Sim, extra: &[&str]) -> Command {
    let mut command = Command::new(bin());
    command
        .args(["submit", "task.json", "--backend", "lsf", "--quiet"])
        .args(["--poll-interval", "0.1", "--max-poll-interval", "0.5"])
        .args(extra)
        .current_dir(&job.root)
        .envs(sim.env());
    command
}

/// Workers that have reported a finished block, as `lsf-<job>_<index>` ids.
fn productive_workers(job: &Job) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(job.ledger().join("workers")) else {
        return Vec::new();
    };
    dir.flatten()
        .filter(|e| {
            // An outbox grows past its Hello and first report once a block is finished.
            std::fs::metadata(e.path().join("outbox.log")).is_ok_and(|m| m.len() > 300)
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn workers_replaced_twenty_times_from_outside_while_making_progress_finish_the_run() {
    let sim = Sim::new();
    let job = Job::new(&[task(
        "a",
        (&[0], &[1200]),
        (&[0], &[10]),
        (&[0], &[10]),
        json!({"num_workers": 1, "worker": blockwork(Some((150, 250)))}),
    )]);
    let plan = job.plan();
    let mut running = spawn_logged(submit(&job, &sim, &[]), &job.root, "replaced");
    let mut killed = HashSet::new();
    let until = Instant::now() + SAFETY;
    // 120 blocks of 0.2 s: on a loaded machine a worker may finish many blocks before it is
    // seen and killed, and the run must still be going after 20 replacements.
    while killed.len() < 20 {
        assert!(Instant::now() < until, "only {} replacements", killed.len());
        assert!(
            running.exited().is_none(),
            "the run ended after only {} replacements",
            killed.len()
        );
        for worker in productive_workers(&job) {
            if killed.contains(&worker) {
                continue;
            }
            let (jobid, index) = worker
                .trim_start_matches("lsf-")
                .split_once('_')
                .expect("array element");
            sim.run("bkill", &[&format!("{jobid}[{index}]")]);
            killed.insert(worker);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = running.wait(SAFETY);
    assert_eq!(out.code, Some(0), "{}", out.text());
    assert_ledger_all(&job, &plan, blockorch::ledger::BlockState::Done);
    assert!(killed.len() >= 20);
}

/// Four no-op blocks served by one worker.
fn four_blocks_one_worker() -> Job {
    Job::new(&[task(
        "a",
        (&[0], &[40]),
        (&[0], &[10]),
        (&[0], &[10]),
        json!({"num_workers": 1, "worker": blockwork(None)}),
    )])
}

#[test]
fn workers_that_crash_at_start_up_stop_the_task_with_the_limit_named() {
    let sim = Sim::new();
    let job = four_blocks_one_worker();
    let template = test_template(&job.root, "echo 'cannot load module' >&2; exit 1");
    // The default (2 × num_workers + 6) is unit-tested; a small limit keeps the back-off
    // between failed starts short here.
    let out = spawn_logged(
        submit(
            &job,
            &sim,
            &[
                "--template",
                template.to_str().unwrap(),
                "--max-failed-starts",
                "3",
            ],
        ),
        &job.root,
        "crashing",
    )
    .wait(SAFETY);
    assert_eq!(out.code, Some(3), "{}", out.text());
    let text = out.text();
    assert!(
        text.contains("3 workers in a row ended without finishing a block"),
        "{text}"
    );
    assert!(
        text.contains("--max-failed-starts 3"),
        "the limit and how to raise it: {text}"
    );
    let registered = std::fs::read_dir(job.ledger().join("workers"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert!(registered <= 3, "{registered} workers started");
}

/// A job that runs but whose agent never says Hello (stuck before it, say on a hung mount)
/// is cancelled and replaced after `--hello-timeout`; such starts count as failed starts.
#[test]
fn jobs_that_never_say_hello_are_cancelled_after_the_hello_timeout() {
    let sim = Sim::new();
    let job = four_blocks_one_worker();
    let template = test_template(&job.root, "sleep 600");
    let out = spawn_logged(
        submit(
            &job,
            &sim,
            &[
                "--template",
                template.to_str().unwrap(),
                "--hello-timeout",
                "1",
                "--max-failed-starts",
                "2",
            ],
        ),
        &job.root,
        "silent",
    )
    .wait(SAFETY);
    assert_eq!(out.code, Some(3), "{}", out.text());
    assert!(
        out.text().contains("--max-failed-starts 2"),
        "{}",
        out.text()
    );
    let state = blockorch::ledger::Ledger::open(job.ledger())
        .unwrap()
        .load_state()
        .unwrap()
        .state;
    let ended: Vec<String> = state
        .workers()
        .iter()
        .filter_map(|w| w.ended.as_ref().map(|e| e.0.clone()))
        .collect();
    assert_eq!(ended.len(), 2, "{ended:?}");
    assert!(
        ended.iter().all(|e| e.contains("did not say hello")),
        "{ended:?}"
    );
    // Cancelled through LSF: nothing of the run is left in the simulator.
    assert!(!sim.calls("bkill").is_empty());
}
