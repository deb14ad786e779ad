//! The fault suite on the real SLURM test cluster (issue 8): `scancel --batch --signal=TERM`
//! (and `USR2`) of worker jobs at seeded random moments during a conflicting job, with worker
//! programs that finish their block first and ones that stop at once, the orchestrator
//! replacing the signalled agents; and kill -9 of the orchestrator followed at once by a
//! resume that adopts the live worker jobs. Checked from the programs' own CLOCK_MONOTONIC timestamps
//! (the cluster's nodes all run on this host, so they share the clock) by
//! `run_common::timing`: 0 same-block overlaps, 0 conflicting overlaps, 0 lost blocks.
//!
//! `--batch` because the agent is the batch step itself (the job script `exec`s it): a plain
//! `scancel --signal=TERM` reaches job steps only, of which a worker job has none. It is the
//! signal `--signal=B:TERM@…` sends before the walltime.
//!
//! Skipped when the cluster is not up, unless `BLOCKORCH_REQUIRE_SLURM=1` (scripts/test-all.sh).
//! Sizes: `BLOCKORCH_FAULT_REPS` (20) and `BLOCKORCH_FAULT_REPS_SMALL` (4) jobs,
//! `BLOCKORCH_FAULT_SIGNALS` signals per job (2), `BLOCKORCH_FAULT_SEED` (1).

#[path = "fixtures/slurm/common.rs"]
mod common;
mod run_common;

use common::*;
use run_common::timing::{
    env_count, in_flight, monotonic_ns, read_spans, wait_programs_gone, Tally,
};
use run_common::{plan_of, python_program, SplitMix};
use serde_json::{json, Value};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Upper bound for one whole `submit` (a safety net against hangs).
const RUN_LIMIT: Duration = Duration::from_secs(240);

/// The conflicting task of issue 8 (as in faults_local.rs): write ROIs tiling 16×16 cells in
/// 16 blocks of 4×4, read ROIs one cell larger all round, 3 workers; blocks take 300–700 ms;
/// `on_term` is `finish` or `stop` (see tests/fixtures/faults/timed_worker.py).
fn grid_task(on_term: &str) -> Value {
    let worker = python_program(
        &repo().join("tests/fixtures/faults/timed_worker.py"),
        &[],
        &[("FAULT_ON_TERM", on_term), ("FAULT_SLEEP_MS", "300,700")],
    );
    task(
        "grid",
        (&[0, 0], &[18, 18]),
        (&[0, 0], &[6, 6]),
        (&[1, 1], &[4, 4]),
        &[],
        json!({"read_write_conflict": true, "num_workers": 3, "worker": worker}),
    )
}

/// The SLURM job of process `pid` (a worker program inherits its agent's environment):
/// `<array job>_<index>` for an array element — its bare `SLURM_JOB_ID` would name the whole
/// array when it equals the array's id — else `SLURM_JOB_ID`.
fn job_of(pid: u32) -> Option<String> {
    let environ = fs::read(format!("/proc/{pid}/environ")).ok()?;
    let var = |name: &str| {
        environ.split(|&b| b == 0).find_map(|v| {
            let v = String::from_utf8_lossy(v);
            v.strip_prefix(name)
                .and_then(|r| r.strip_prefix('='))
                .map(str::to_string)
        })
    };
    match (var("SLURM_ARRAY_JOB_ID"), var("SLURM_ARRAY_TASK_ID")) {
        (Some(array), Some(index)) => Some(format!("{array}_{index}")),
        _ => var("SLURM_JOB_ID"),
    }
}

/// The worker job to signal: the one whose program started its current block last, when one
/// is in the middle of a block, else any running worker job of the run.
fn pick_job(job: &Job, log: &Path, rng: &mut SplitMix) -> Option<String> {
    let busy = in_flight(log)
        .iter()
        .filter_map(|s| Some((s.start, job_of(s.pid)?)))
        .max();
    if let Some((_, id)) = busy {
        return Some(id);
    }
    let running: Vec<String> = live_jobs(&job.run_name())
        .into_iter()
        .filter(|j| j.state == "RUNNING")
        .map(|j| j.id)
        .collect();
    (!running.is_empty()).then(|| running[rng.range(0, running.len() as u64) as usize].clone())
}

/// `reps` jobs of the grid task on SLURM; in each, `BLOCKORCH_FAULT_SIGNALS` worker jobs get
/// `signal` (`TERM`, `USR2`) at random moments; the run must finish (exit 0) and pass the
/// checker.
fn scancel_signal(test: &str, signal: &str, on_term: &str, reps: u64) {
    if !cluster_up_or_skip(test) {
        return;
    }
    let signals = env_count("BLOCKORCH_FAULT_SIGNALS", 2);
    let seed = env_count("BLOCKORCH_FAULT_SEED", 1);
    let mut tally = Tally::new(test, "slurm");
    for rep in 0..reps {
        let mut rng = SplitMix(seed * 1000 + 900 + rep);
        let job = Job::new("faults", &[grid_task(on_term)]);
        let plan = plan_of(&job.task_file());
        let log: PathBuf = job.root.join("timing.log");
        let since = monotonic_ns();
        let mut run = job.spawn_submit(&[]);
        wait_for(
            "a block to start",
            RUN_LIMIT,
            || {
                read_spans(&log)
                    .iter()
                    .any(|s| s.start >= since)
                    .then_some(())
            },
            || run.output_so_far(),
        );
        for _ in 0..signals {
            std::thread::sleep(Duration::from_millis(rng.range(100, 1500)));
            if run.exited().is_some() {
                break;
            }
            let Some(id) = pick_job(&job, &log, &mut rng) else {
                continue;
            };
            let out = slurm_cmd("scancel", &["--batch", &format!("--signal={signal}"), &id]);
            if out.status.success() {
                tally.faults += 1;
            }
        }
        let out = run.wait(RUN_LIMIT);
        assert_eq!(out.code, Some(0), "rep {rep}: {}", out.text());
        wait_programs_gone(&log, Duration::from_secs(30));
        if !tally.add_run(&format!("rep {rep}"), &plan, &log, &job.ledger()) {
            break;
        }
    }
    tally.finish();
}

/// The "Must show" case on SLURM: programs that finish their block first.
#[test]
fn scancel_term_to_worker_jobs_programs_finish_their_block() {
    let reps = env_count("BLOCKORCH_FAULT_REPS", 20);
    scancel_signal(
        "scancel_term_to_worker_jobs_programs_finish_their_block",
        "TERM",
        "finish",
        reps,
    );
}

#[test]
fn scancel_term_to_worker_jobs_programs_stop_at_once() {
    let reps = env_count("BLOCKORCH_FAULT_REPS_SMALL", 4);
    scancel_signal(
        "scancel_term_to_worker_jobs_programs_stop_at_once",
        "TERM",
        "stop",
        reps,
    );
}

/// SIGUSR2 (LSF's run-limit warning) reaches an agent on SLURM too.
#[test]
fn scancel_usr2_to_worker_jobs_programs_finish_their_block() {
    let reps = env_count("BLOCKORCH_FAULT_REPS_SMALL", 4);
    scancel_signal(
        "scancel_usr2_to_worker_jobs_programs_finish_their_block",
        "USR2",
        "finish",
        reps,
    );
}

/// kill -9 of the orchestrator at a random moment, `BLOCKORCH_FAULT_KILLS` times per job, each
/// time followed at once by the same `submit`, which adopts the worker jobs still alive; a
/// last `submit` finishes the job.
#[test]
fn kill_9_orchestrator_then_resume_programs_finish_their_block() {
    let test = "kill_9_orchestrator_then_resume_programs_finish_their_block";
    if !cluster_up_or_skip(test) {
        return;
    }
    let reps = env_count("BLOCKORCH_FAULT_REPS_SMALL", 4).div_ceil(2);
    let kills = env_count("BLOCKORCH_FAULT_KILLS", 2);
    let seed = env_count("BLOCKORCH_FAULT_SEED", 1);
    let mut tally = Tally::new(test, "slurm");
    for rep in 0..reps {
        let mut rng = SplitMix(seed * 1000 + 950 + rep);
        let job = Job::new("faults-kill", &[grid_task("finish")]);
        let plan = plan_of(&job.task_file());
        let log: PathBuf = job.root.join("timing.log");
        for _ in 0..kills {
            let since = monotonic_ns();
            let mut run = job.spawn_submit(&[]);
            wait_for(
                "a block to start",
                RUN_LIMIT,
                || {
                    read_spans(&log)
                        .iter()
                        .any(|s| s.start >= since)
                        .then_some(())
                },
                || run.output_so_far(),
            );
            std::thread::sleep(Duration::from_millis(rng.range(0, 1500)));
            if run.exited().is_some() {
                break;
            }
            run.kill9();
            tally.faults += 1;
        }
        let out = job.spawn_submit(&[]).wait(RUN_LIMIT);
        assert_eq!(out.code, Some(0), "rep {rep}: {}", out.text());
        wait_programs_gone(&log, Duration::from_secs(30));
        if !tally.add_run(&format!("rep {rep}"), &plan, &log, &job.ledger()) {
            break;
        }
    }
    tally.finish();
}
