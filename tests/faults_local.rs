//! The fault suite on the local backend (issue 8): SIGTERM and SIGUSR2 to worker agents, and
//! kill -9 of the orchestrator followed by a resume, at seeded random moments, with worker
//! programs that stop at once and ones that finish their block first. Every verdict comes
//! from the programs' own timestamps (`tests/fixtures/faults/timed_worker.py`, checked by
//! `run_common::timing`): 0 same-block overlaps, 0 conflicting overlaps, 0 lost blocks.
//!
//! Sizes (defaults fit CI): `BLOCKORCH_FAULT_REPS` jobs for the SIGTERM cases of the issue's
//! "Must show" (20), `BLOCKORCH_FAULT_REPS_SMALL` for the others (4),
//! `BLOCKORCH_FAULT_SIGNALS` signals per job (2), `BLOCKORCH_FAULT_KILLS` orchestrator kills
//! per job (2), `BLOCKORCH_FAULT_SEED` the first seed (1).

mod run_common;

use run_common::timing::*;
use run_common::*;
use serde_json::{json, Value};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long the programs of a killed orchestrator may take to stop (a block of at most
/// 700 ms, the agents' notice, and the kill grace on a loaded machine).
const STOP_LIMIT: Duration = Duration::from_secs(20);

/// What a worker program does on SIGTERM (`FAULT_ON_TERM` of the timed worker).
#[derive(Clone, Copy, Debug)]
enum OnTerm {
    /// Finishes the block it is in first (a Python program inside a long numpy call).
    Finish,
    /// Stops at once.
    Stop,
}

impl OnTerm {
    fn as_str(self) -> &'static str {
        match self {
            OnTerm::Finish => "finish",
            OnTerm::Stop => "stop",
        }
    }
}

/// The timed worker of the fault suite; each block takes 300–700 ms.
fn timed_worker(on_term: OnTerm) -> Value {
    python_program(
        &repo().join("tests/fixtures/faults/timed_worker.py"),
        &[],
        &[
            ("FAULT_ON_TERM", on_term.as_str()),
            ("FAULT_SLEEP_MS", "300,700"),
        ],
    )
}

/// The conflicting task of issue 8: 2-D, write ROIs tiling 16×16 cells (16 blocks of 4×4),
/// each read ROI its write ROI plus one cell all round (so neighbours conflict), 3 workers.
fn grid_task(on_term: OnTerm) -> Value {
    task(
        "grid",
        (&[0, 0], &[18, 18]),
        (&[0, 0], &[6, 6]),
        (&[1, 1], &[4, 4]),
        json!({"read_write_conflict": true, "num_workers": 3, "worker": timed_worker(on_term)}),
    )
}

/// The run's timing log (the programs run in the job directory).
fn timing_log(job: &Job) -> PathBuf {
    job.path("timing.log")
}

/// The worker agents of a local orchestrator: its `blockorch worker` children.
fn agents_of(orchestrator: u32) -> Vec<u32> {
    children_of(orchestrator)
        .into_iter()
        .filter(|&p| cmdline_of(p).contains(" worker "))
        .collect()
}

/// An agent of `orchestrator` to signal: the one whose program started its current block
/// last, when one is in the middle of a block (that block has the most work left, the
/// longest time to be run twice), else any.
fn pick_agent(orchestrator: u32, log: &Path, rng: &mut SplitMix) -> Option<u32> {
    let agents = agents_of(orchestrator);
    let busy = in_flight(log)
        .iter()
        .filter_map(|s| Some((s.start, parent_of(s.pid)?)))
        .filter(|(_, p)| agents.contains(p))
        .max();
    if let Some((_, agent)) = busy {
        return Some(agent);
    }
    (!agents.is_empty()).then(|| agents[rng.range(0, agents.len() as u64) as usize])
}

/// Waits until some program has started a block at or after `since` (CLOCK_MONOTONIC ns).
fn wait_for_work(log: &Path, since: u64) {
    wait_until(SAFETY, "a block to start", || {
        read_spans(log).iter().any(|s| s.start >= since)
    });
}

/// `reps` jobs of the grid task; in each, `signals` deliveries of `signal` to an agent at
/// random moments; the orchestrator replaces the agents and finishes the job (exit 0).
fn signal_agents(test: &str, signal: i32, on_term: OnTerm, reps: u64) {
    let signals = env_count("BLOCKORCH_FAULT_SIGNALS", 2);
    let seed = env_count("BLOCKORCH_FAULT_SEED", 1);
    let mut tally = Tally::new(test, "local");
    for rep in 0..reps {
        let mut rng = SplitMix(seed * 1000 + rep);
        let job = Job::new(&[grid_task(on_term)]);
        let plan = job.plan();
        let log = timing_log(&job);
        let since = monotonic_ns();
        let mut run = job.spawn_submit(&["--quiet"]);
        wait_for_work(&log, since);
        for _ in 0..signals {
            std::thread::sleep(Duration::from_millis(rng.range(100, 1500)));
            if run.exited().is_some() {
                break;
            }
            let Some(agent) = pick_agent(run.pid(), &log, &mut rng) else {
                continue;
            };
            // SAFETY: kill has no memory-safety preconditions.
            if unsafe { libc::kill(agent as i32, signal) } == 0 {
                tally.faults += 1;
            }
        }
        let out = run.wait(SAFETY);
        assert_eq!(out.code, Some(0), "rep {rep}: {}", out.text());
        wait_programs_gone(&log, STOP_LIMIT);
        if !tally.add_run(&format!("rep {rep}"), &plan, &log, &job.ledger()) {
            break;
        }
    }
    tally.finish();
}

/// The "Must show" case: SIGTERM to agents whose programs finish their block first.
#[test]
fn sigterm_to_agents_programs_finish_their_block() {
    let reps = env_count("BLOCKORCH_FAULT_REPS", 20);
    signal_agents(
        "sigterm_to_agents_programs_finish_their_block",
        libc::SIGTERM,
        OnTerm::Finish,
        reps,
    );
}

#[test]
fn sigterm_to_agents_programs_stop_at_once() {
    let reps = env_count("BLOCKORCH_FAULT_REPS_SMALL", 4);
    signal_agents(
        "sigterm_to_agents_programs_stop_at_once",
        libc::SIGTERM,
        OnTerm::Stop,
        reps,
    );
}

/// LSF's warning before the run limit.
#[test]
fn sigusr2_to_agents_programs_finish_their_block() {
    let reps = env_count("BLOCKORCH_FAULT_REPS_SMALL", 4);
    signal_agents(
        "sigusr2_to_agents_programs_finish_their_block",
        libc::SIGUSR2,
        OnTerm::Finish,
        reps,
    );
}

#[test]
fn sigusr2_to_agents_programs_stop_at_once() {
    let reps = env_count("BLOCKORCH_FAULT_REPS_SMALL", 4);
    signal_agents(
        "sigusr2_to_agents_programs_stop_at_once",
        libc::SIGUSR2,
        OnTerm::Stop,
        reps,
    );
}

/// `reps` jobs of the grid task; in each, the orchestrator is killed (-9) `kills` times at a
/// random moment after its first block started and `submit` is run again at once (the killed
/// orchestrator's agents and programs may still be stopping), then a last `submit` finishes.
fn kill_orchestrator(test: &str, on_term: OnTerm, reps: u64) {
    let kills = env_count("BLOCKORCH_FAULT_KILLS", 2);
    let seed = env_count("BLOCKORCH_FAULT_SEED", 1);
    let mut tally = Tally::new(test, "local");
    for rep in 0..reps {
        let mut rng = SplitMix(seed * 1000 + 500 + rep);
        let job = Job::new(&[grid_task(on_term)]);
        let plan = job.plan();
        let log = timing_log(&job);
        for _ in 0..kills {
            let since = monotonic_ns();
            let mut run = job.spawn_submit(&["--quiet"]);
            wait_for_work(&log, since);
            std::thread::sleep(Duration::from_millis(rng.range(0, 1500)));
            if run.exited().is_some() {
                break;
            }
            run.kill9();
            tally.faults += 1;
        }
        let out = job.submit(&["--quiet"]);
        assert_eq!(out.code, Some(0), "rep {rep}: {}", out.text());
        wait_programs_gone(&log, STOP_LIMIT);
        if !tally.add_run(&format!("rep {rep}"), &plan, &log, &job.ledger()) {
            break;
        }
    }
    tally.finish();
}

#[test]
fn kill_9_orchestrator_then_resume_programs_finish_their_block() {
    let reps = env_count("BLOCKORCH_FAULT_REPS_SMALL", 4);
    kill_orchestrator(
        "kill_9_orchestrator_then_resume_programs_finish_their_block",
        OnTerm::Finish,
        reps,
    );
}

#[test]
fn kill_9_orchestrator_then_resume_programs_stop_at_once() {
    let reps = env_count("BLOCKORCH_FAULT_REPS_SMALL", 4);
    kill_orchestrator(
        "kill_9_orchestrator_then_resume_programs_stop_at_once",
        OnTerm::Stop,
        reps,
    );
}

/// The checker itself, on hand-written timing logs over the grid task's real plan: it finds
/// same-block and conflicting overlaps (also against a program killed in a block), ignores
/// overlaps of blocks that do not conflict and spans that only touch, and counts a block no
/// program finished as lost.
/// An agent that falls silent (SIGSTOP: it writes nothing, while its programs stay in their
/// blocks) is not taken for dead: after the silence limit (60 s on a local disk) it is
/// cancelled, and its blocks stay with it until its end is confirmed; nobody else starts them
/// meanwhile. Once it runs again it takes the pending SIGTERM, leaves, and the run completes
/// with every block done once and no overlap.
#[test]
fn a_silent_agent_keeps_its_blocks_until_its_end_is_confirmed() {
    let mut worker = timed_worker(OnTerm::Finish);
    worker["env"]["FAULT_SLEEP_MS"] = json!("50,100");
    worker["env"]["FAULT_HOLD"] = json!("hold");
    let job = Job::new(&[task(
        "line",
        (&[0], &[80]),
        (&[0], &[10]),
        (&[0], &[10]),
        json!({"read_write_conflict": false, "num_workers": 2, "worker": worker}),
    )]);
    fs::write(job.path("hold"), "").unwrap();
    let plan = job.plan();
    let log = timing_log(&job);
    let run = job.spawn_submit(&["--quiet"]);
    wait_until(SAFETY, "both slots in a block", || {
        in_flight(&log).len() == 2
    });
    let held: Vec<u64> = in_flight(&log).iter().map(|s| s.block).collect();
    let agents = agents_of(run.pid());
    assert_eq!(agents.len(), 1, "one local agent of two slots: {agents:?}");
    // SAFETY: kill has no memory-safety preconditions.
    assert_eq!(unsafe { libc::kill(agents[0] as i32, libc::SIGSTOP) }, 0);
    let stderr = job.path("blockorch-1.stderr");
    let attempts_of = || -> Vec<Option<(blockorch::ledger::BlockState, u32)>> {
        let state = job.ledger_state();
        let entry = |b| state.block(0, b).map(|e| (e.state(), e.last_attempt()));
        held.iter().map(|&b| entry(b)).collect()
    };
    let before = attempts_of();
    assert!(
        before
            .iter()
            .all(|e| e.is_some_and(|(s, _)| s == blockorch::ledger::BlockState::Assigned)),
        "{before:?}"
    );
    let still_assigned = || attempts_of() == before;
    wait_until(Duration::from_secs(150), "the silence warning", || {
        !still_assigned()
            || fs::read_to_string(&stderr).is_ok_and(|t| t.contains("wrote nothing for"))
    });
    // Time for a wrongly returned block to be handed to the replacement agent.
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        still_assigned(),
        "a block of the silent agent ({held:?}) went back while its program was in it"
    );
    let spans = read_spans(&log);
    let overlaps = find_overlaps(&plan, &spans);
    assert!(
        overlaps.same_block.is_empty(),
        "a silent agent's block was run again while its program was in it: {:?}",
        overlaps.same_block
    );
    fs::remove_file(job.path("hold")).unwrap();
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(agents[0] as i32, libc::SIGCONT) }, 0);
    let out = run.wait(SAFETY);
    assert_eq!(out.code, Some(0), "{}", out.text());
    assert_eq!(summary_row(&out, "line"), [8, 8, 0, 0, 0], "{}", out.text());
    wait_programs_gone(&log, STOP_LIMIT);
    let mut tally = Tally::new("a_silent_agent_keeps_its_blocks", "local");
    tally.faults += 1;
    assert!(tally.add_run("silent", &plan, &log, &job.ledger()));
    tally.finish();
}

#[test]
fn checker_finds_overlaps_in_synthetic_logs() {
    let job = Job::new(&[grid_task(OnTerm::Stop)]);
    let plan = job.plan();
    let conflicts = |a: u64, b: u64| {
        let (x, y) = (plan.block("grid", a), plan.block("grid", b));
        x.write.intersects(&y.read) || y.write.intersects(&x.read)
    };
    let ids: Vec<u64> = plan.blocks.iter().map(|b| b.id).collect();
    let (near, far) = {
        let a = ids[0];
        let near = *ids.iter().find(|&&b| b != a && conflicts(a, b)).unwrap();
        let far = *ids
            .iter()
            .find(|&&b| b != a && b != near && !conflicts(a, b) && !conflicts(near, b))
            .unwrap();
        (near, far)
    };
    let a = ids[0];
    let log = job.path("synthetic.log");
    let write = |lines: &[(u32, u64, u64, Option<u64>, &str)], torn: &str| {
        let mut text = String::new();
        for &(pid, block, start, end, how) in lines {
            let end = end.map_or("-".to_string(), |e| e.to_string());
            text += &format!("{pid} {block} {start} - grid 1 start\n");
            if how != "killed" {
                text += &format!("{pid} {block} {start} {end} grid 1 {how}\n");
            }
        }
        text += torn;
        fs::write(&log, text).unwrap();
        let spans = read_spans(&log);
        let found = find_overlaps(&plan, &spans);
        (found.same_block.len(), found.conflicting.len())
    };

    // One after the other (touching ends), and far blocks at the same time: no overlap.
    let mut clean = vec![
        (1, a, 100, Some(200), "stopped"),
        (2, a, 200, Some(300), "done"),
        (3, near, 300, Some(400), "done"),
        (4, far, 100, Some(400), "done"),
    ];
    assert_eq!(write(&clean, "9 9 1 - gr"), (0, 0));
    // The same block in two programs at once.
    assert_eq!(
        write(&[clean[0], (5, a, 150, Some(160), "done")], ""),
        (1, 0)
    );
    // Conflicting neighbours at once.
    assert_eq!(
        write(&[clean[1], (5, near, 299, Some(350), "done")], ""),
        (0, 1)
    );
    // A program killed in a block (no end line) runs on forever for the checker.
    assert_eq!(
        write(&[(6, a, 50, None, "killed"), clean[1], clean[2]], ""),
        (1, 1)
    );

    // The whole job, run without faults, then checked against logs that miss a block.
    let out = job.submit(&["--quiet"]);
    assert_eq!(out.code, Some(0), "{}", out.text());
    let real = timing_log(&job);
    let mut tally = Tally::new("checker", "local");
    assert!(tally.add_run("real", &plan, &real, &job.ledger()));
    assert_eq!((tally.lost, tally.runs, tally.blocks), (0, 1, 16));
    clean.truncate(3);
    write(&clean, "");
    assert!(!tally.add_run("synthetic", &plan, &log, &job.ledger()));
    assert_eq!(tally.lost, 14, "16 blocks, 2 of them finished");
    assert_eq!(
        (tally.same_block_overlaps, tally.conflicting_overlaps),
        (0, 0)
    );
}
