//! `blockorch submit --backend slurm` end to end against the real test cluster of
//! `cluster-tests/` (start it with `bash cluster-tests/start-cluster.sh`; these tests FAIL, never
//! skip, when it is not up).
//!
//! Every test runs the real binary on a job directory of its own under /tmp (every node of the
//! single-host cluster sees it) with a Python standard-library worker
//! (`tests/fixtures/slurm/worker.py`), so every test has its own ledger and hence its own job
//! name. The guards of `tests/fixtures/slurm/common.rs` cancel each test's jobs and resume
//! nodes even when the test fails. Jobs stay off node3, except in the node-failure test, which
//! uses only node3.
//!
//! A lost attempt comes back two ways, and both are covered: the agent gives it back itself when
//! SLURM signals it (`scancel`, the walltime `--signal`), or — when the agent cannot (a dead
//! node, a hung agent) — the orchestrator returns it on SLURM's word (TIMEOUT, NODE_FAIL). The
//! TIMEOUT and NODE_FAIL tests hold the agent and its program still with ptrace so that SLURM's
//! SIGTERM never reaches them, as on a dead node.
//!
//! About 90 s in all with the default two test threads; `--test-threads 4` is faster.

#[path = "fixtures/slurm/common.rs"]
mod common;

use blockorch::ledger::{BlockState, OrchestratorRecord, OutboxRecord, Outcome};
use common::*;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// Upper bound for one whole `submit` in these tests (a safety net against hangs).
const RUN_LIMIT: Duration = Duration::from_secs(150);

/// A small 2-D task without conflicts: `blocks` blocks of 10×10 in a row.
fn row_task(
    name: &str,
    blocks: i64,
    env: &[(&str, &str)],
    extra: serde_json::Value,
) -> serde_json::Value {
    let mut extra = extra;
    extra
        .as_object_mut()
        .unwrap()
        .entry("read_write_conflict")
        .or_insert(json!(false));
    task(
        name,
        (&[0, 0], &[10 * blocks, 10]),
        (&[0, 0], &[10, 10]),
        (&[0, 0], &[10, 10]),
        env,
        extra,
    )
}

/// The ledger's verdict on the block a `slow` event was about, after a run in which that
/// attempt was lost to the cluster: it was returned without being charged, and a later attempt
/// by another worker finished it.
fn assert_returned_uncharged_then_done(job: &Job, slow: &Ev) -> String {
    let task = job.task_index(&slow.task);
    let state = job.state();
    let entry = state
        .block(task, slow.block)
        .expect("the block is in the ledger");
    assert_eq!(entry.state(), BlockState::Done, "{entry:?}");
    assert_eq!(
        entry.failures_in_budget(),
        0,
        "the lost attempt was charged to the block: {entry:?}"
    );
    assert!(entry.infra_returns() >= 1, "{entry:?}");
    let records = job.orchestrator_records();
    let returned: Vec<_> = records
        .iter()
        .filter_map(|r| match r {
            OrchestratorRecord::Returned {
                task: t,
                block,
                attempt,
                reason,
                counts_against_block,
                ..
            } if *t == task && *block == slow.block && *attempt == slow.attempt => {
                Some((reason.clone(), *counts_against_block))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        returned.len(),
        1,
        "one Returned for the lost attempt: {records:?}"
    );
    assert!(!returned[0].1, "charged: {returned:?}");
    let finished: Vec<_> = records
        .iter()
        .filter_map(|r| match r {
            OrchestratorRecord::Finished {
                task: t,
                block,
                attempt,
                worker,
                outcome,
                ..
            } if *t == task && *block == slow.block => Some((*attempt, *worker, outcome.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(finished.len(), 1, "{finished:?}");
    assert!(finished[0].0 > slow.attempt, "{finished:?}");
    assert_eq!(finished[0].2, Outcome::Done);
    let by = &state.workers()[finished[0].1 as usize].worker_id;
    assert_ne!(by, &slow.worker, "a replacement worker finished it");
    // What `blockorch status --blocks` says about it.
    let out = job.run(
        &["status", "task.ledger", "--blocks", "--attempts"],
        Duration::from_secs(30),
    );
    assert_eq!(out.code, Some(0), "{}", out.text());
    let line: serde_json::Value = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|v| v["task"] == slow.task.as_str() && v["block_id"] == slow.block)
        .unwrap_or_else(|| {
            panic!(
                "block {} not in status --blocks: {}",
                slow.block,
                out.text()
            )
        });
    assert_eq!(line["state"], "done", "{line}");
    assert_eq!(line["failures_in_budget"], 0, "{line}");
    let first = &line["attempts"].as_array().unwrap()[0];
    assert_eq!(first["attempt"], slow.attempt, "{line}");
    assert_ne!(first["outcome"], "failed", "{line}");
    // The worker program's own view: the lost attempt never ended, a later one did.
    let attempts = job.attempts();
    let mine: Vec<_> = attempts
        .iter()
        .filter(|a| a.task == slow.task && a.block == slow.block)
        .collect();
    assert!(
        mine.iter()
            .any(|a| a.attempt == slow.attempt && a.end.is_none()),
        "{mine:?}"
    );
    assert!(
        mine.iter()
            .any(|a| a.attempt > slow.attempt && a.end.is_some()),
        "{mine:?}"
    );
    returned[0].0.clone()
}

/// Ends every block of the run reached `Done`.
fn assert_all_done(job: &Job, expected: u64) {
    let state = job.state();
    let done: u64 = state
        .tasks()
        .iter()
        .map(|t| {
            t.blocks()
                .filter(|(_, e)| e.state() == BlockState::Done)
                .count() as u64
        })
        .sum();
    assert_eq!(done, expected, "blocks done");
}

/// Scenario 1: A two-task, 3-D job with conflicts gives the same output on SLURM as on the local backend.
#[test]
fn two_task_3d_job_on_slurm_equals_local() {
    let env = [("SLURM_E2E_OUTPUT", "1")];
    let tasks = [
        task(
            "a",
            (&[0, 0, 0], &[44, 44, 44]),
            (&[0, 0, 0], &[14, 14, 14]),
            (&[2, 2, 2], &[10, 10, 10]),
            &env,
            json!({"num_workers": 3}),
        ),
        task(
            "b",
            (&[2, 2, 2], &[40, 40, 40]),
            (&[0, 0, 0], &[12, 12, 12]),
            (&[1, 1, 1], &[10, 10, 10]),
            &env,
            json!({"num_workers": 2, "upstream_tasks": ["a"]}),
        ),
    ];
    let local = Job::new("eq-local", &tasks);
    let on_slurm = Job::new("eq-slurm", &tasks);
    let out = local.run(&["submit", "task.json", "--quiet"], RUN_LIMIT);
    assert_eq!(out.code, Some(0), "local: {}", out.text());
    let out = on_slurm.spawn_submit(&[]).wait(RUN_LIMIT);
    assert_eq!(out.code, Some(0), "slurm: {}", out.text());

    let (want, got) = (local.outputs(), on_slurm.outputs());
    assert_eq!(want.keys().filter(|k| k.starts_with("a/")).count(), 64);
    assert_eq!(want.keys().filter(|k| k.starts_with("b/")).count(), 27);
    assert_eq!(
        got, want,
        "the SLURM run wrote other data than the local run"
    );

    // It really ran on SLURM: every block in a job of the run, several jobs per task.
    let events = on_slurm.events();
    assert!(events.iter().all(|e| e.job.is_some() && e.node.is_some()));
    for (t, workers) in [("a", 3), ("b", 2)] {
        let jobs: BTreeSet<_> = events
            .iter()
            .filter(|e| e.task == t)
            .map(|e| &e.job)
            .collect();
        assert!(
            jobs.len() > 1 && jobs.len() <= workers,
            "task {t}: jobs {jobs:?}"
        );
    }
    let attempts = on_slurm.attempts();
    assert_no_overlapping_attempts(&attempts);
    assert_conflicts_never_overlap(&attempts);
    assert_all_done(&on_slurm, 64 + 27);
}

/// Scenario 2: A worker job that hits its walltime (TIMEOUT): its in-flight block is returned without
/// being charged and a replacement finishes it.
#[test]
fn walltime_timeout_returns_block_to_a_replacement() {
    let job = Job::new(
        "timeout",
        &[row_task(
            "t",
            3,
            &[],
            json!({"num_workers": 1, "max_retries": 0,
                   "slurm": {"time": "1", "extra_directives": [format!("--exclude={FAIL_NODE}")]}}),
        )],
    );
    job.ctl("slow-any");
    let run = job.spawn_submit(&[]);
    let slow = job.wait_event("slow", Duration::from_secs(60), &run);
    let id = slow.job.clone().expect("the worker runs in a SLURM job");
    // The agent is held still (its walltime SIGTERM never arrives), so that the block comes
    // back through the orchestrator's reading of TIMEOUT, not through the agent's give-back
    // (which the scancel and walltime-signal tests cover).
    let _drain = DrainGuard(slow.node.clone().unwrap());
    let frozen = freeze_worker(&job, &slow);
    slurm(
        "scontrol",
        &["update", &format!("JobId={id}"), "EndTime=now+2"],
    );
    // Once SLURM has timed the job out, its processes may go (a traced process can only be
    // reaped after its tracer let it go).
    wait_for(
        "SLURM to time the job out",
        Duration::from_secs(60),
        || {
            let state = slurm("squeue", &["-h", "-j", &id, "-o", "%T"]);
            (state.trim() != "RUNNING").then_some(())
        },
        || run.output_so_far(),
    );
    drop(frozen);
    let out = run.wait(RUN_LIMIT);
    assert_eq!(out.code, Some(0), "{}", out.text());
    assert_eq!(sacct_state(&id, Duration::from_secs(30)), "TIMEOUT");
    let reason = assert_returned_uncharged_then_done(&job, &slow);
    assert!(reason.contains("Timeout"), "{reason}");
    assert_all_done(&job, 3);
}

/// Processes held still as a dead node's would be: attached with ptrace (which stops them),
/// so that the signals SLURM sends when it kills the job (SIGCONT, SIGTERM) are held for this
/// tracer and never delivered; killed (SIGKILL) when dropped. Stops only the attached thread
/// (the agent's main thread runs its event loop, so nothing more gets written).
struct Frozen(Vec<i32>);

impl Frozen {
    fn new(pids: &[u32]) -> Frozen {
        let pids: Vec<i32> = pids.iter().map(|&p| p as i32).collect();
        for &pid in &pids {
            // SAFETY: ptrace(PTRACE_ATTACH) takes no pointers (addr and data are ignored).
            let r = unsafe {
                libc::ptrace(
                    libc::PTRACE_ATTACH,
                    pid,
                    std::ptr::null_mut::<libc::c_void>(),
                    std::ptr::null_mut::<libc::c_void>(),
                )
            };
            assert_eq!(
                r,
                0,
                "ptrace attach {pid}: {}",
                std::io::Error::last_os_error()
            );
        }
        Frozen(pids)
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        for &pid in &self.0 {
            // SAFETY: kill(2) has no memory-safety preconditions.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            // The tracer collects a tracee's end before its parent (slurmstepd) can: without
            // this the job would stay COMPLETING.
            for _ in 0..100 {
                let mut status = 0;
                // SAFETY: status is a valid out-pointer.
                let r = unsafe { libc::waitpid(pid, &mut status, libc::__WALL | libc::WNOHANG) };
                if r == pid && (libc::WIFEXITED(status) || libc::WIFSIGNALED(status)) || r < 0 {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// Freezes the agent that runs the `slow` attempt and its worker program (see [`Frozen`]).
fn freeze_worker(job: &Job, slow: &Ev) -> Frozen {
    let agent_pid = job
        .outbox_records()
        .into_iter()
        .find_map(|(w, r)| match r {
            OutboxRecord::Hello { pid, .. } if w == slow.worker => Some(pid),
            _ => None,
        })
        .expect("the agent said hello");
    Frozen::new(&[agent_pid, slow.pid])
}

/// Scenario 3: The node under a running worker goes DOWN (NODE_FAIL): its blocks are returned and a
/// replacement finishes the run once the node is back.
#[test]
fn node_failure_returns_blocks_to_a_replacement() {
    let job = Job::new(
        "nodefail",
        &[row_task(
            "t",
            3,
            &[],
            json!({"num_workers": 1, "max_retries": 0,
                   "slurm": {"extra_directives": [format!("--nodelist={FAIL_NODE}")]}}),
        )],
    );
    job.ctl("slow-any");
    let run = job.spawn_submit(&[]);
    let slow = job.wait_event("slow", Duration::from_secs(60), &run);
    assert_eq!(slow.node.as_deref(), Some(FAIL_NODE));
    let id = slow.job.clone().unwrap();
    // A failed node's processes say nothing more: freeze the agent and its program (this
    // node's slurmd lives on, and its SIGTERM would otherwise let the agent give the block back
    // itself), so that the orchestrator must act on SLURM's NODE_FAIL alone.
    let _drain = DrainGuard(FAIL_NODE.to_string());
    let frozen = freeze_worker(&job, &slow);
    let node = NodeGuard::down(FAIL_NODE);
    // The orchestrator notices the failure and returns the block while the node is down.
    let task = job.task_index(&slow.task);
    wait_for(
        "the lost block to be returned",
        Duration::from_secs(60),
        || {
            job.orchestrator_records().into_iter().find(|r| {
                matches!(r, OrchestratorRecord::Returned { task: t, block, .. }
                         if *t == task && *block == slow.block)
            })
        },
        || run.output_so_far(),
    );
    drop(frozen);
    node.resume();
    let out = run.wait(RUN_LIMIT);
    assert_eq!(out.code, Some(0), "{}", out.text());
    assert_eq!(sacct_state(&id, Duration::from_secs(30)), "NODE_FAIL");
    let reason = assert_returned_uncharged_then_done(&job, &slow);
    assert!(reason.contains("NodeFail"), "{reason}");
    assert_all_done(&job, 3);
}

/// Scenario 4: A worker cancelled by hand (`scancel`) is replaced and the run completes.
#[test]
fn worker_cancelled_by_hand_is_replaced() {
    let job = Job::new(
        "scancel",
        &[row_task(
            "t",
            3,
            &[],
            json!({"num_workers": 1, "max_retries": 0}),
        )],
    );
    job.ctl("slow-any");
    let run = job.spawn_submit(&[]);
    let slow = job.wait_event("slow", Duration::from_secs(60), &run);
    let id = slow.job.clone().unwrap();
    slurm("scancel", &[&id]);
    let out = run.wait(RUN_LIMIT);
    assert_eq!(out.code, Some(0), "{}", out.text());
    assert!(
        sacct_state(&id, Duration::from_secs(30)).starts_with("CANCELLED"),
        "{id}"
    );
    let reason = assert_returned_uncharged_then_done(&job, &slow);
    assert!(
        reason.contains("SIGTERM"),
        "the agent gave it back: {reason}"
    );
    assert_all_done(&job, 3);
}

/// Scenario 5: A block that always fails fails after `max_retries + 1` attempts, its dependents are
/// orphaned, and submit exits with 3.
#[test]
fn always_failing_block_fails_and_orphans_dependents() {
    let tasks = [
        row_task("up", 3, &[], json!({"num_workers": 2, "max_retries": 2})),
        row_task(
            "down",
            3,
            &[],
            json!({"num_workers": 1, "upstream_tasks": ["up"]}),
        ),
    ];
    let job = Job::new("failing", &tasks);
    // Block 0 of `up` (the first in the row) feeds block 0 of `down`.
    job.ctl("fail-up-0");
    let out = job.spawn_submit(&[]).wait(RUN_LIMIT);
    assert_eq!(out.code, Some(3), "{}", out.text());
    let attempts = job.attempts();
    let tries: Vec<_> = attempts
        .iter()
        .filter(|a| a.task == "up" && a.block == 0)
        .collect();
    assert_eq!(tries.len(), 3, "max_retries 2 → 3 attempts: {tries:?}");
    assert!(!attempts.iter().any(|a| a.task == "down" && a.block == 0));
    let state = job.state();
    let entry = state.block(job.task_index("up"), 0).unwrap();
    assert_eq!(entry.state(), BlockState::Failed);
    assert_eq!(entry.failures_in_budget(), 3);
    let down = job.task_index("down");
    assert!(state
        .block(down, 0)
        .is_none_or(|e| e.state() != BlockState::Done));
    // The summary line of `down`: 3 blocks, 2 done, 0 skipped, 0 failed, 1 orphaned.
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("down"))
        .unwrap_or_else(|| panic!("no summary line for down: {}", out.text()));
    let cells: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(cells[1..6], ["3", "2", "0", "0", "1"], "{line}");
    assert_eq!(live_jobs(&job.run_name()), vec![], "jobs left behind");
}

/// Scenario 6: The orchestrator is SIGKILLed mid-run; a second `submit` 3 s later adopts the live
/// worker jobs (never more than num_workers alive), finishes, no block was cut short, and
/// nothing runs twice at once.
#[test]
fn killed_orchestrator_is_resumed_and_adopts_live_workers() {
    let workers = 3;
    let job = Job::new(
        "resume",
        &[task(
            "t",
            (&[0, 0], &[54, 54]),
            (&[0, 0], &[14, 14]),
            (&[2, 2], &[10, 10]),
            &[("SLURM_E2E_SLEEP_S", "1")],
            json!({"num_workers": workers}),
        )],
    );
    let first = job.spawn_submit(&[]);
    wait_for(
        "four finished blocks",
        Duration::from_secs(90),
        || (job.events().iter().filter(|e| e.ev == "end").count() >= 4).then_some(()),
        || first.output_so_far(),
    );
    first.kill9();
    // A user resumes after a moment: meanwhile the agents (on the orchestrator's host here)
    // see its pid dead, and must keep their jobs and blocks for the resume to adopt.
    std::thread::sleep(Duration::from_secs(3));
    let killed_at = now_ns();
    let before: BTreeSet<String> = live_jobs(&job.run_name())
        .into_iter()
        .map(|j| j.id)
        .collect();
    assert!(!before.is_empty(), "worker jobs are alive after the kill");

    let mut second = job.spawn_submit(&[]);
    let mut most_alive = 0;
    let mut seen = BTreeSet::new();
    let deadline = Instant::now() + RUN_LIMIT;
    while second.exited().is_none() && Instant::now() < deadline {
        let alive = live_jobs(&job.run_name());
        most_alive = most_alive.max(alive.len());
        seen.extend(alive.into_iter().map(|j| j.id));
        std::thread::sleep(Duration::from_millis(300));
    }
    let out = second.wait(Duration::from_secs(5));
    assert_eq!(out.code, Some(0), "{}", out.text());
    assert!(
        most_alive <= workers,
        "{most_alive} worker jobs alive at once"
    );
    // The jobs alive at the kill kept working for the second orchestrator.
    let events = job.events();
    let adopted_work: BTreeSet<_> = events
        .iter()
        .filter(|e| e.ev == "end" && e.t > killed_at)
        .filter_map(|e| e.job.clone())
        .collect();
    assert!(
        before.iter().any(|id| seen.contains(id)),
        "no job of the first run was alive during the second: {before:?} / {seen:?}"
    );
    assert!(!adopted_work.is_empty());
    let attempts = job.attempts();
    assert!(
        attempts.iter().all(|a| a.end.is_some()),
        "an attempt never ended"
    );
    assert_no_overlapping_attempts(&attempts);
    assert_conflicts_never_overlap(&attempts);
    let ran: BTreeSet<u64> = attempts.iter().map(|a| a.block).collect();
    assert_eq!(ran.len(), 25, "every block ran");
    assert_all_done(&job, 25);
}

/// Scenario 9a: Walltime awareness: an agent whose job has too little walltime left for another block
/// stops taking blocks, gives its queued ones back (not charged) and exits cleanly before SLURM
/// signals or kills it; replacements finish the run.
#[test]
fn agent_stops_taking_blocks_near_its_walltime() {
    let job = Job::new(
        "walltime",
        &[row_task(
            "t",
            12,
            &[("SLURM_E2E_SLEEP_S", "5")],
            json!({"num_workers": 3, "max_retries": 0,
                   "slurm": {"time": "1", "extra_directives": [format!("--exclude={FAIL_NODE}")]}}),
        )],
    );
    let out = job.spawn_submit(&[]).wait(RUN_LIMIT);
    assert_eq!(out.code, Some(0), "{}", out.text());
    assert_all_done(&job, 12);
    let outboxes = job.outbox_records();
    let stopped: BTreeSet<String> = outboxes
        .iter()
        .filter_map(|(w, r)| match r {
            OutboxRecord::Bye { reason, .. } if reason.contains("walltime") => Some(w.clone()),
            _ => None,
        })
        .collect();
    assert!(
        !stopped.is_empty(),
        "no agent stopped for its walltime: {outboxes:?}"
    );
    for (w, r) in &outboxes {
        if let OutboxRecord::Bye { reason, .. } = r {
            assert!(!reason.contains("SIG"), "{w} was signalled: {reason}");
        }
    }
    // Nothing was cut short: every attempt a worker program started ended.
    let attempts = job.attempts();
    assert!(attempts.iter().all(|a| a.end.is_some()), "{attempts:?}");
    assert_eq!(attempts.len(), 12, "each block ran once: {attempts:?}");
    // The stopped agents' jobs ended normally, not by TIMEOUT.
    let state = job.state();
    for w in &stopped {
        let entry = state.workers().iter().find(|e| &e.worker_id == w).unwrap();
        let id = entry.job_id.clone().unwrap();
        assert_eq!(
            sacct_state(&id, Duration::from_secs(30)),
            "COMPLETED",
            "{w}"
        );
    }
    for (_, e) in state.tasks()[0].blocks() {
        assert_eq!(e.failures_in_budget(), 0, "{e:?}");
    }
}

/// Scenario 9b: The `--signal=B:TERM@…` of the job script: an agent still running a block when its
/// walltime nears gets SIGTERM, gives the block back (not charged) and leaves before the kill.
#[test]
fn walltime_signal_gives_in_flight_block_back() {
    let job = Job::new(
        "sigterm",
        &[row_task(
            "t",
            2,
            &[],
            json!({"num_workers": 1, "max_retries": 0,
                   "slurm": {"time": "1", "extra_directives": [format!("--exclude={FAIL_NODE}")]}}),
        )],
    );
    job.ctl("slow-any");
    let run = job.spawn_submit(&[]);
    let slow = job.wait_event("slow", Duration::from_secs(60), &run);
    let id = slow.job.clone().unwrap();
    let out = run.wait(RUN_LIMIT);
    assert_eq!(out.code, Some(0), "{}", out.text());
    let outboxes = job.outbox_records();
    let abandoned: Vec<_> = outboxes
        .iter()
        .filter_map(|(w, r)| match r {
            OutboxRecord::Abandoned {
                block,
                attempt,
                reason,
                ..
            } if *w == slow.worker => Some((*block, *attempt, reason.clone())),
            _ => None,
        })
        .collect();
    assert!(
        abandoned
            .iter()
            .any(|(b, a, r)| *b == slow.block && *a == slow.attempt && r.contains("SIGTERM")),
        "{abandoned:?}"
    );
    assert_returned_uncharged_then_done(&job, &slow);
    // It left on the signal, before SLURM's walltime kill.
    let end = sacct_state(&id, Duration::from_secs(30));
    assert_ne!(end, "TIMEOUT", "the agent did not leave before the kill");
    assert_all_done(&job, 2);
}

/// Scenario 7: Inside an allocation on the gpu partition (`salloc … --gres=gpu:2 -n2`), `submit` runs
/// its workers as job steps, one GPU each: N workers see N distinct GPU ids.
#[test]
fn allocation_mode_gives_each_worker_its_own_gpu() {
    let job = Job::new(
        "gpu",
        &[row_task(
            "t",
            8,
            &[("SLURM_E2E_SLEEP_S", "0.5")],
            json!({"num_workers": 2, "slurm": {"partition": "gpu", "gpus_per_worker": 1}}),
        )],
    );
    // Named like a detached orchestrator, so the job's guard cancels it on failure.
    let name = format!("{}-orchestrator", job.run_name());
    let mut salloc = std::process::Command::new("salloc");
    salloc
        .args(["-p", "gpu", "-N1", "--gres=gpu:2", "-n2"])
        .args(["-x", FAIL_NODE, "-J", &name, bin(), "submit", "task.json"])
        .args(["--backend", "slurm", "--poll-interval", "0.5", "--quiet"]);
    let out = job.spawn_command(salloc).wait(RUN_LIMIT);
    assert_eq!(out.code, Some(0), "{}", out.text());
    assert!(
        out.stderr.contains("job steps"),
        "allocation mode was not chosen: {}",
        out.text()
    );
    assert_all_done(&job, 8);
    let events = job.events();
    let mut gpus: BTreeMap<String, BTreeSet<Option<String>>> = BTreeMap::new();
    for e in &events {
        gpus.entry(e.worker.clone())
            .or_default()
            .insert(e.cuda.clone());
    }
    assert_eq!(gpus.len(), 2, "two workers: {gpus:?}");
    let alloc = events[0].job.clone().unwrap();
    for (worker, ids) in &gpus {
        assert!(
            worker.starts_with(&format!("slurm-{alloc}.")),
            "{worker} is not a step of allocation {alloc}"
        );
        assert_eq!(ids.len(), 1, "{worker} saw several GPU sets: {ids:?}");
        assert!(ids.iter().all(|i| i.is_some()), "{worker} saw no GPU");
    }
    let distinct: BTreeSet<_> = gpus.values().flatten().collect();
    assert_eq!(distinct.len(), 2, "the workers shared a GPU: {gpus:?}");
}

/// Scheduler commands wrapped so that every call is logged (`calls.log`: the caller's
/// SLURM_JOB_ID or `-`, then the command line) before the real command runs.
fn wrap_scheduler_commands(job: &mut Job) -> std::path::PathBuf {
    let bin_dir = job.root.join("wrapped-bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let log = job.root.join("calls.log");
    for program in ["squeue", "sacct", "sbatch", "scancel", "scontrol", "srun"] {
        let real = String::from_utf8(
            std::process::Command::new("sh")
                .args(["-c", &format!("command -v {program}")])
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap();
        let real = real.trim();
        assert!(!real.is_empty(), "{program} is not installed");
        let script = format!(
            "#!/bin/sh\nprintf '%s %s\\n' \"${{SLURM_JOB_ID:--}}\" \"{program} $*\" >> '{}'\nexec '{real}' \"$@\"\n",
            log.display()
        );
        let path = bin_dir.join(program);
        std::fs::write(&path, script).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    job.env.push(("PATH".into(), path));
    log
}

/// Scenario 8: Scheduler load: 16 workers on 2,000 and on 8,000 tiny blocks. The orchestrator's
/// scheduler calls are bounded by the run's duration over the poll interval (one squeue, at
/// most one sacct per poll, plus the submissions), not by the number of blocks.
#[test]
fn scheduler_calls_are_bounded_by_polls_not_blocks() {
    let mut report = Vec::new();
    for rows in [40, 160] {
        let blocks = rows * 50;
        let mut job = Job::new(
            "load",
            &[task(
                "t",
                (&[0, 0], &[rows, 50]),
                (&[0, 0], &[1, 1]),
                (&[0, 0], &[1, 1]),
                &[],
                json!({"num_workers": 16, "read_write_conflict": false}),
            )],
        );
        let log = wrap_scheduler_commands(&mut job);
        let out = job
            .spawn(&[
                "submit",
                "task.json",
                "--backend",
                "slurm",
                "--slurm-mode",
                "submit",
                "--poll-interval",
                "0.5",
                "--max-poll-interval",
                "0.5",
                "--quiet",
            ])
            .wait(RUN_LIMIT);
        assert_eq!(out.code, Some(0), "{}", out.text());
        assert_all_done(&job, blocks as u64);
        let calls = std::fs::read_to_string(&log).unwrap();
        let count = |from_jobs: bool, program: &str| {
            calls
                .lines()
                .filter(|l| l.starts_with("- ") != from_jobs)
                .filter(|l| l.split_whitespace().nth(1) == Some(program))
                .count()
        };
        let polls = count(false, "squeue") + count(false, "sacct");
        let others = count(false, "sbatch") + count(false, "scancel") + count(false, "scontrol");
        let from_jobs: usize = ["squeue", "sacct", "sbatch", "scancel", "scontrol", "srun"]
            .iter()
            .map(|p| count(true, p))
            .sum();
        let workers = job.state().workers().len();
        let seconds = out.elapsed.as_secs_f64();
        report.push(format!(
            "{blocks} blocks in {seconds:.1} s: {polls} squeue/sacct, {others} other calls by \
             the orchestrator, {from_jobs} by {workers} workers"
        ));
        // One squeue and at most one sacct per 0.5 s poll.
        let bound = 2.0 * (seconds / 0.5 + 2.0);
        assert!(
            (polls as f64) <= bound,
            "{polls} squeue/sacct calls in {seconds:.1} s (bound {bound:.0})\n{calls}"
        );
        assert!(others <= 4 + workers, "{others} other calls\n{calls}");
        // The agents ask once each (their walltime), never per block.
        assert!(
            from_jobs <= 2 * workers,
            "{from_jobs} calls from jobs\n{calls}"
        );
        assert!(
            (polls + others + from_jobs) * 10 < blocks as usize,
            "scheduler calls grow with the blocks: {report:?}"
        );
    }
    eprintln!("{}", report.join("\n"));
}

/// A job of another name (`sleep 300`) that must survive the run's cancellation; cancelled
/// when dropped.
struct OtherJob(String);

impl OtherJob {
    fn start() -> OtherJob {
        let name = format!("bo-e2e-other-{}", std::process::id());
        let out = slurm(
            "sbatch",
            &[
                "--parsable",
                "-J",
                &name,
                &format!("--exclude={FAIL_NODE}"),
                "-o",
                "/dev/null",
                "--wrap",
                "sleep 300",
            ],
        );
        OtherJob(out.trim().split(';').next().unwrap().to_string())
    }

    fn state(&self) -> String {
        slurm("squeue", &["-h", "-j", &self.0, "-o", "%T"])
            .trim()
            .to_string()
    }
}

impl Drop for OtherJob {
    fn drop(&mut self) {
        let _ = slurm_cmd("scancel", &[&self.0]);
    }
}

/// Waits until no job named `name` is alive.
fn wait_all_gone(name: &str, limit: Duration) {
    wait_for(
        &format!("every job named {name} to end"),
        limit,
        || live_jobs(name).is_empty().then_some(()),
        || format!("{:?}", live_jobs(name)),
    );
}

/// No block got done or charged: everything in flight was given back.
fn assert_nothing_charged(job: &Job) {
    let state = job.state();
    for t in state.tasks() {
        for (id, e) in t.blocks() {
            assert_eq!(e.failures_in_budget(), 0, "block {id}: {e:?}");
        }
    }
}

/// Scenario 10: `blockorch cancel LEDGER` after the orchestrator died (SIGKILL): it cancels every worker
/// job of the run by id, and nothing else (a job of another name keeps running).
#[test]
fn cancel_cancels_the_runs_jobs_and_nothing_else() {
    let other = OtherJob::start();
    let job = Job::new(
        "cancel",
        &[row_task(
            "t",
            6,
            &[("SLURM_E2E_SLEEP_S", "120")],
            json!({"num_workers": 3}),
        )],
    );
    let run = job.spawn_submit(&[]);
    wait_for(
        "three running blocks",
        Duration::from_secs(60),
        || (job.events().iter().filter(|e| e.ev == "start").count() >= 3).then_some(()),
        || run.output_so_far(),
    );
    // What status shows meanwhile: each worker's job id (and, through the SLURM probe, its
    // scheduler state and node).
    let status = job.run(
        &["status", "task.ledger", "--json"],
        Duration::from_secs(30),
    );
    assert_eq!(status.code, Some(0), "{}", status.text());
    let doc: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    let listed = doc["workers"]["workers"].as_array().unwrap();
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert!(listed.iter().all(|w| w["job_id"].is_string()), "{listed:?}");
    // `status` shows the scheduler's state and node next to the ledger's view.
    assert!(
        listed.iter().all(|w| w["scheduler_state"] == "Running"
            && w["node"].as_str().is_some_and(|n| n.starts_with("node"))),
        "{listed:?}"
    );
    let mut probe =
        blockorch::backend::slurm::SlurmProbe::new(blockorch::backend::slurm::CommandConfig {
            env: vec![("SLURM_CONF".into(), slurm_conf().into())],
            ..Default::default()
        });
    let state = job.state();
    let entries: Vec<_> = state.workers().iter().collect();
    use blockorch::status::SchedulerProbe;
    let seen = probe.states(&entries);
    assert!(
        seen.iter().all(|s| s
            .as_ref()
            .is_some_and(|v| v.state == blockorch::backend::JobStatus::Running
                && v.node.as_deref().is_some_and(|n| n.starts_with("node")))),
        "{seen:?}"
    );
    for e in &entries {
        let node = probe.node(e.job_id.as_deref().unwrap());
        assert!(node.is_some_and(|n| n.starts_with("node")), "{node:?}");
    }

    run.kill9();
    assert_eq!(live_jobs(&job.run_name()).len(), 3);
    let out = job.run(&["cancel", "task.ledger"], Duration::from_secs(90));
    assert_eq!(out.code, Some(0), "{}", out.text());
    wait_all_gone(&job.run_name(), Duration::from_secs(30));
    assert_eq!(other.state(), "RUNNING", "the other job was touched");
    for e in &entries {
        let end = sacct_state(e.job_id.as_deref().unwrap(), Duration::from_secs(20));
        assert!(end.starts_with("CANCELLED"), "{}: {end}", e.worker_id);
    }
    assert_nothing_charged(&job);
}

/// Scenario 11: `submit --detach --backend slurm`: the orchestrator runs as its own small job
/// (`<run>-orchestrator`), says how to follow it, and finishes the run; `blockorch cancel`
/// stops a detached run: orchestrator job and workers, nothing else.
#[test]
fn detached_orchestrator_runs_as_its_own_job() {
    // A run to its end.
    let job = Job::new(
        "detach",
        &[row_task(
            "t",
            4,
            &[("SLURM_E2E_SLEEP_S", "0.2")],
            json!({"num_workers": 2}),
        )],
    );
    let mut args = vec!["submit", "task.json", "--detach"];
    args.extend_from_slice(SUBMIT);
    let out = job.run(&args, Duration::from_secs(30));
    assert_eq!(out.code, Some(0), "{}", out.text());
    assert!(
        out.stdout.contains("blockorch status") && out.stdout.contains("--watch"),
        "{}",
        out.text()
    );
    let id = blockorch::backend::slurm::recorded_orchestrator_job(&job.ledger())
        .expect("the orchestrator's job id is recorded in the ledger");
    assert!(out.stdout.contains(&id), "{}", out.text());
    let orchestrator = format!("{}-orchestrator", job.run_name());
    wait_all_gone(&orchestrator, Duration::from_secs(90));
    assert_eq!(sacct_state(&id, Duration::from_secs(20)), "COMPLETED");
    assert_all_done(&job, 4);
    let events = job.events();
    assert!(events.iter().all(|e| e.job.as_deref() != Some(id.as_str())));
    let log = std::fs::read_dir(job.ledger().join("logs/slurm"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find(|n| n == &format!("orchestrator-{id}.out"));
    assert!(log.is_some(), "the orchestrator's output is in the ledger");

    // A detached run cancelled while its workers run.
    let other = OtherJob::start();
    let job = Job::new(
        "detach-cancel",
        &[row_task(
            "t",
            4,
            &[("SLURM_E2E_SLEEP_S", "120")],
            json!({"num_workers": 2}),
        )],
    );
    let out = job.run(&args, Duration::from_secs(30));
    assert_eq!(out.code, Some(0), "{}", out.text());
    wait_for(
        "two running blocks",
        Duration::from_secs(60),
        || (job.events().iter().filter(|e| e.ev == "start").count() >= 2).then_some(()),
        String::new,
    );
    let orchestrator = format!("{}-orchestrator", job.run_name());
    assert_eq!(live_jobs(&orchestrator).len(), 1);
    let out = job.run(&["cancel", "task.ledger"], Duration::from_secs(90));
    assert_eq!(out.code, Some(0), "{}", out.text());
    wait_all_gone(&job.run_name(), Duration::from_secs(30));
    wait_all_gone(&orchestrator, Duration::from_secs(30));
    assert_eq!(other.state(), "RUNNING", "the other job was touched");
    assert_nothing_charged(&job);
}
