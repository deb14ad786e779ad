//! Timeouts, program deaths and the start-up crash bound, with real processes.

#[path = "fixtures/workers/harness.rs"]
mod harness;

use blockorch::ledger::{FailureKind, Outcome};
use blockorch::worker::AgentExit;
use harness::*;
use serde_json::json;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(20);

#[test]
fn timeout_kills_the_process_group_and_next_block_runs_in_a_new_program() {
    let mut h = Harness::new(task(json!({
        "worker": python_worker("misbehave.py", &[], false),
        "timeout": 1.5,
    })));
    let agent = h.spawn_agent(h.options());
    h.assign(&[1, 7]);
    let grandchild: i32 = wait_file(&h.workdir.join("grandchild.pid"), T)
        .parse()
        .unwrap();
    assert!(running(grandchild));
    let records = h.wait_for("two blocks", T, |r| finished(r).len() == 2);
    let all = finished(&records);
    let (_, outcome, stats) = all.iter().find(|(b, _, _)| *b == 1).unwrap();
    match outcome {
        Outcome::Failed { kind, message } => {
            assert_eq!(*kind, FailureKind::Timeout);
            assert!(message.contains("timeout of 1.5s"), "{message}");
        }
        other => panic!("block 1: {other:?}"),
    }
    assert_eq!(stats.signal, Some(libc::SIGTERM), "{stats:?}");
    assert!(stats.wall_s >= 1.5 && stats.wall_s < 5.0, "{stats:?}");
    assert_eq!(outcome_of(&records, 7), Some(Outcome::Done));
    let until = Instant::now() + Duration::from_secs(5);
    while running(grandchild) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !running(grandchild),
        "the grandchild sleep survived the timeout"
    );
    let starts = std::fs::read_to_string(h.workdir.join("starts.log")).unwrap();
    assert_eq!(
        starts.lines().count(),
        2,
        "program restarted once: {starts}"
    );
    h.stop();
    assert_eq!(join(agent, T), AgentExit::Stopped);
}

#[test]
fn killed_program_fails_its_block_and_is_restarted() {
    let mut h = Harness::new(task(json!({
        "worker": python_worker("misbehave.py", &[], false),
    })));
    let agent = h.spawn_agent(h.options());
    h.assign(&[2, 3]);
    let victim: i32 = wait_file(&h.workdir.join("victim.pid"), T).parse().unwrap();
    // SAFETY: kill has no memory-safety preconditions.
    assert_eq!(unsafe { libc::kill(victim, libc::SIGKILL) }, 0);
    let records = h.wait_for("two blocks", T, |r| finished(r).len() == 2);
    let all = finished(&records);
    let (_, outcome, stats) = all.iter().find(|(b, _, _)| *b == 2).unwrap();
    match outcome {
        Outcome::Failed { kind, message } => {
            assert_eq!(*kind, FailureKind::ProgramDied);
            assert!(message.contains("signal 9 (SIGKILL)"), "{message}");
            assert!(message.contains("block 2"), "{message}");
        }
        other => panic!("block 2: {other:?}"),
    }
    assert_eq!(stats.signal, Some(libc::SIGKILL));
    assert_eq!(outcome_of(&records, 3), Some(Outcome::Done));
    h.stop();
    assert_eq!(join(agent, T), AgentExit::Stopped);
}

#[test]
fn program_that_cannot_start_makes_the_agent_give_up_with_its_stderr() {
    let mut h = Harness::new(task(json!({
        "worker": python_worker("crash_on_start.py", &[], false),
    })));
    let started = Instant::now();
    let agent = h.spawn_agent(h.options());
    h.assign(&[0]);
    assert_eq!(join(agent, T), AgentExit::GaveUp);
    assert!(started.elapsed() < Duration::from_secs(10));
    let records = h.outbox();
    let reason = bye(&records).expect("a Bye");
    assert!(reason.contains("3 times in a row"), "{reason}");
    assert!(reason.contains("No module named 'torch'"), "{reason}");
    assert_eq!(AgentExit::GaveUp.code(), 4);
}

#[test]
fn missing_program_gives_up_too() {
    let mut h = Harness::new(task(json!({
        "worker": {"command": ["./no-such-worker"]},
    })));
    let agent = h.spawn_agent(h.options());
    h.assign(&[0]);
    assert_eq!(join(agent, T), AgentExit::GaveUp);
    let reason = bye(&h.outbox()).unwrap();
    assert!(reason.contains("no-such-worker"), "{reason}");
}

#[test]
fn slow_start_up_is_not_counted_against_the_block_timeout() {
    // 2.5 s of start-up, a 1.5 s block timeout: the start-up allowance covers it, and the
    // block's clock starts when the helper says it is ready.
    let mut worker = python_worker("slow_start.py", &["2.5"], false);
    worker["startup_timeout"] = json!(20);
    let mut h = Harness::new(task(json!({"worker": worker, "timeout": 1.5})));
    let agent = h.spawn_agent(h.options());
    h.assign(&[1, 2]);
    let records = h.wait_for("two blocks", T, |r| finished(r).len() == 2);
    assert_eq!(outcome_of(&records, 1), Some(Outcome::Done));
    assert_eq!(outcome_of(&records, 2), Some(Outcome::Done));
    h.stop();
    assert_eq!(join(agent, T), AgentExit::Stopped);
}

#[test]
fn start_up_longer_than_the_limit_fails_with_a_hint() {
    let mut h = Harness::new(task(json!({
        "worker": python_worker("slow_start.py", &["4"], false),
        "timeout": 1,
    })));
    let agent = h.spawn_agent(h.options());
    h.assign(&[1]);
    let records = h.wait_for("block 1", T, |r| finished(r).len() == 1);
    match outcome_of(&records, 1) {
        Some(Outcome::Failed { kind, message }) => {
            assert_eq!(kind, FailureKind::Timeout);
            assert!(message.contains("neither said it was ready"), "{message}");
            assert!(message.contains("worker.startup_timeout"), "{message}");
        }
        other => panic!("block 1: {other:?}"),
    }
    h.stop();
    assert_eq!(join(agent, T), AgentExit::Stopped);
}

/// A program that closes fd 3 and runs on would hang a task without `timeout` forever: the
/// end of the channel is seen, the block fails and the next block runs in a fresh program.
#[test]
fn a_program_that_closes_its_report_channel_fails_the_block_without_a_timeout() {
    let mut h = Harness::new(task(json!({
        "worker": python_worker("close_fd3.py", &[], false),
    })));
    let agent = h.spawn_agent(h.options());
    h.assign(&[4, 5]);
    let records = h.wait_for("both blocks", T, |r| finished(r).len() == 2);
    match outcome_of(&records, 4) {
        Some(Outcome::Failed { kind, message }) => {
            assert_eq!(kind, FailureKind::BlockError);
            assert!(message.contains("closed its report channel"), "{message}");
        }
        other => panic!("block 4: {other:?}"),
    }
    assert_eq!(outcome_of(&records, 5), Some(Outcome::Done));
    h.stop();
    assert_eq!(join(agent, T), AgentExit::Stopped);
}
