//! The orchestrator dies (kill -9 at seeded random moments) or is interrupted (SIGINT) in the
//! middle of a conflicting two-task job; the next `submit` finishes it. Checked from the
//! workers' own timestamps and the ledger: nothing is lost, only blocks in flight at the kill
//! run again, conflicting blocks never overlap across runs, and the killed orchestrator's agents
//! leave by themselves.

mod run_common;

use blockorch::ledger::{BlockState, OrchestratorRecord};
use run_common::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;

/// How far a worker's timestamps may be from the moment of a kill and still count as "at the
/// kill": an agent notices its orchestrator is gone at its next tick (50 ms), later on a
/// loaded machine; until then it goes on with the blocks it holds.
const AT_KILL_NS: u128 = 1_000_000_000;

/// A 3-D conflicting task with context (64 blocks) and a downstream task (64 blocks); every
/// block sleeps 20–50 ms; each task's `init.py` zeroes its output volume.
fn tasks() -> Vec<Value> {
    let sleep = Some((20, 50));
    vec![
        task(
            "a",
            (&[0, 0, 0], &[26, 26, 26]),
            (&[0, 0, 0], &[8, 8, 8]),
            (&[1, 1, 1], &[6, 6, 6]),
            json!({"num_workers": 3, "worker": blockwork(sleep), "init": init()}),
        ),
        task(
            "b",
            (&[1, 1, 1], &[24, 24, 24]),
            (&[0, 0, 0], &[6, 6, 6]),
            (&[0, 0, 0], &[6, 6, 6]),
            json!({"upstream_tasks": ["a"], "read_write_conflict": false, "num_workers": 2,
                   "worker": blockwork(sleep), "init": init()}),
        ),
    ]
}

fn init() -> Value {
    python_command("init.py", &[], &[])
}

/// Once the ledger records that a task's init succeeded, it never runs again (it would wipe
/// the output of done blocks); every task's init ran to its end once.
fn assert_init_ran_once(job: &Job) {
    let mut first_ok: std::collections::BTreeMap<u32, u64> = Default::default();
    for (_, r) in orchestrator_records(job) {
        if let OrchestratorRecord::TaskInit {
            task,
            ok: true,
            time_us,
            ..
        } = r
        {
            first_ok.entry(task).or_insert(time_us);
        }
    }
    assert_eq!(first_ok.len(), 2, "{first_ok:?}");
    let log = init_log(job);
    for (index, name) in ["a", "b"].iter().enumerate() {
        let ok_at = first_ok[&(index as u32)] as u128 * 1000;
        let late: Vec<_> = log
            .iter()
            .filter(|l| l.0 == *name && l.1 == "start" && l.2 > ok_at)
            .collect();
        assert!(
            late.is_empty(),
            "init of {name} ran again after it succeeded: {late:?}"
        );
        assert!(log.iter().any(|l| l.0 == *name && l.1 == "end"), "{log:?}");
    }
}

/// (a), (b), (c) and an all-done ledger.
fn check_complete(job: &Job, plan: &Plan) -> Vec<Attempt> {
    let attempts = job.attempts();
    assert_outputs(job, plan, &attempts);
    assert!(assert_no_conflicting_overlap(plan, &attempts) > 0);
    assert!(assert_upstream_order(plan, &attempts) > 0);
    assert_ledger_all(job, plan, BlockState::Done);
    assert_status_agrees(job, plan, &attempts);
    assert_init_ran_once(job);
    attempts
}

/// Kills the orchestrator `kills` times at seeded random moments, then lets a last `submit`
/// finish. With `wait_for_agents`, each restart waits until the killed orchestrator's agents
/// are gone; otherwise it restarts at once (the new orchestrator meets them still alive).
fn kill_and_resume(seed: u64, kills: usize, wait_for_agents: bool) {
    let job = Job::new(&tasks());
    let plan = job.plan();
    let mut rng = SplitMix(seed);
    let mut kill_times = Vec::new();
    let mut pending_victims = Vec::new();
    // Block 0 of `a` (the first level) sleeps 1.5 s on every attempt; each kill comes at a
    // random moment 0–1 s into its run, with the rest of the job wherever it got to.
    job.ctl("slow-a-0");
    for round in 0..kills {
        let mut run = job.spawn_submit(&["--quiet"]);
        let since = run.started_ns;
        wait_until(SAFETY, "block 0 of a starting", || {
            job.attempts()
                .iter()
                .any(|a| a.task == "a" && a.block == 0 && a.start > since)
        });
        let delay = rng.range(0, 1000);
        std::thread::sleep(Duration::from_millis(delay));
        assert!(
            run.exited().is_none(),
            "round {round}: the run ended before the kill"
        );
        let agents = children_of(run.pid());
        let killed = run.kill9();
        kill_times.push(killed);
        // The agents, and the worker programs that ran before the kill.
        let mut victims = agents;
        victims.extend(job.program_pids_started_before(killed));
        if wait_for_agents {
            assert_gone_within(
                &victims,
                Duration::from_secs(10),
                "agents and programs of the killed orchestrator",
            );
        } else {
            pending_victims.extend(victims);
        }
    }
    let last = job.spawn_submit(&["--quiet"]);
    if !wait_for_agents {
        assert_gone_within(
            &pending_victims,
            Duration::from_secs(10),
            "agents and programs of the killed orchestrators",
        );
    }
    let out = last.wait(SAFETY);
    assert_eq!(out.code, Some(0), "{}", out.text());
    let attempts = check_complete(&job, &plan);

    // Only blocks in flight at a kill ran again: every run of a block but its last one was
    // started before some kill, had not finished before it, and no agent reported it done.
    let reported = reported_done(&job, &plan);
    let mut cut = 0;
    for ((task, block), runs) in by_block(&attempts) {
        assert!(
            runs.len() <= 1 + kills,
            "block {block} of {task} ran {} times: {runs:?}",
            runs.len()
        );
        assert!(runs.last().unwrap().completed(), "{runs:?}");
        for early in &runs[..runs.len() - 1] {
            assert!(
                !reported.contains(&(task.clone(), block, early.attempt)),
                "block {block} of {task} ran again although a worker reported {early:?} done"
            );
            let at_a_kill = kill_times.iter().any(|&k| {
                early.start < k + AT_KILL_NS
                    && !(early.completed() && early.end.unwrap() + AT_KILL_NS < k)
            });
            assert!(
                at_a_kill,
                "block {block} of {task} ran again although its run {early:?} was not in \
                 flight at any kill (kills at {kill_times:?})"
            );
            cut += 1;
        }
    }
    // Every kill hit block 0 of `a` while it ran: it was terminated and ran again each time.
    let slow = &by_block(&attempts)[&("a".to_string(), 0)];
    assert_eq!(slow.len(), kills + 1, "{slow:?}");
    assert!(
        slow[..kills]
            .iter()
            .all(|a| a.how.as_deref() == Some("term")),
        "{slow:?}"
    );
    assert!(cut >= kills);
}

#[test]
fn kill_9_at_random_moments_then_resume_seed_1() {
    kill_and_resume(1, 2, true);
}

#[test]
fn kill_9_at_random_moments_then_resume_seed_2() {
    kill_and_resume(2, 1, true);
}

#[test]
fn kill_9_and_restart_at_once_seed_3() {
    kill_and_resume(3, 2, false);
}

#[test]
fn ctrl_c_exits_130_loses_nothing_and_resume_skips_done_blocks() {
    let job = Job::new(&tasks());
    let plan = job.plan();
    let run = job.spawn_submit(&["--quiet"]);
    wait_until(SAFETY, "ten finished blocks", || {
        job.attempts().iter().filter(|a| a.completed()).count() >= 10
    });
    let agents = children_of(run.pid());
    run.signal(libc::SIGINT);
    let out = run.wait(Duration::from_secs(30));
    assert_eq!(out.code, Some(130), "{}", out.text());
    assert!(out.stdout.contains("interrupted"), "{}", out.text());
    assert_gone_within(&agents, Duration::from_secs(5), "agents after Ctrl-C");

    // Nothing lost: no block is left assigned, and every attempt a worker reported done is
    // done in the ledger.
    let state = job.ledger_state();
    let mut done = BTreeSet::new();
    for b in &plan.blocks {
        let entry = state.block(plan.task_index(&b.task), b.id);
        let s = entry.map(|e| e.state());
        assert_ne!(
            s,
            Some(BlockState::Assigned),
            "block {} of {}",
            b.id,
            b.task
        );
        if s == Some(BlockState::Done) {
            done.insert((b.task.clone(), b.id));
        }
    }
    let reported = reported_done(&job, &plan);
    for (task, block, attempt) in &reported {
        assert!(
            done.contains(&(task.clone(), *block)),
            "attempt {attempt} of block {block} of {task} was reported done before Ctrl-C but \
             the block is not done"
        );
    }
    assert!(
        !reported.is_empty() && done.len() < plan.blocks.len(),
        "{done:?}"
    );

    let second = job.submit(&["--quiet"]);
    assert_eq!(second.code, Some(0), "{}", second.text());
    let attempts = check_complete(&job, &plan);
    let rerun: Vec<&Attempt> = attempts
        .iter()
        .filter(|a| a.start > second.started_ns && done.contains(&(a.task.clone(), a.block)))
        .collect();
    assert!(
        rerun.is_empty(),
        "blocks done before Ctrl-C ran again: {rerun:?}"
    );
}

#[test]
fn init_command_dies_with_a_killed_orchestrator_and_runs_again_on_resume() {
    let job = Job::new(&tasks());
    let plan = job.plan();
    job.ctl("init-slow-a");
    let run = job.spawn_submit(&["--quiet"]);
    wait_until(SAFETY, "the init of a starting", || {
        init_log(&job).iter().any(|l| l.1 == "start")
    });
    let init_pid = init_log(&job)[0].3;
    run.kill9();
    assert_gone_within(
        &[init_pid],
        Duration::from_secs(5),
        "the init command of the killed orchestrator",
    );
    job.rm_ctl("init-slow-a");
    let out = job.submit(&["--quiet"]);
    assert_eq!(out.code, Some(0), "{}", out.text());
    check_complete(&job, &plan);
    let starts: Vec<u32> = init_log(&job)
        .iter()
        .filter(|l| l.0 == "a" && l.1 == "start")
        .map(|l| l.3)
        .collect();
    assert_eq!(starts.len(), 2, "{:?}", init_log(&job));
}
