//! Decision tests: events in, actions out, no processes.

use super::*;
use crate::geometry::{Coordinate, Roi};
use crate::worker::program::Exit;
use crate::worker::usage::Usage;
use std::time::Instant;

fn policy(per_block: bool, has_check: bool) -> Policy {
    Policy {
        worker_id: "w".into(),
        host: "h".into(),
        pid: 1,
        backend_job: None,
        slots: 1,
        per_block,
        has_check,
        timeout: Some(Duration::from_secs(10)),
        startup_timeout: None,
        write_ahead: true,
        max_program_crashes: 3,
        heartbeat_interval: Duration::from_secs(5),
        deadline_unix: None,
        deadline_margin: Duration::from_secs(30),
        exit_wait: Duration::from_secs(30),
        log_paths: vec!["workers/w/slot-0.stderr.log".into()],
    }
}

struct Clock {
    at: Instant,
    unix_us: u64,
}

impl Clock {
    fn new() -> Self {
        Self {
            at: Instant::now(),
            unix_us: 1_000_000_000_000,
        }
    }
    fn now(&self) -> Now {
        Now {
            at: self.at,
            unix_us: self.unix_us,
        }
    }
    fn advance(&mut self, d: Duration) {
        self.at += d;
        self.unix_us += d.as_micros() as u64;
    }
}

fn key(block: u64) -> AttemptKey {
    AttemptKey {
        task: 0,
        block,
        attempt: 1,
    }
}

fn message(block: u64) -> BlockMessage {
    let roi = Roi::new(Coordinate::new(&[0]), Coordinate::new(&[10]));
    BlockMessage {
        task: "t".into(),
        block_id: block,
        attempt: 1,
        read_roi: roi,
        write_roi: roi,
        total_roi: roi,
    }
}

fn exit(code: Option<i32>, signal: Option<i32>) -> Exit {
    Exit {
        code,
        signal,
        usage: Usage {
            cpu_seconds: Some(0.5),
            peak_rss_bytes: Some(4096),
        },
    }
}

fn spawned(actions: &[Action]) -> Vec<(ProcId, ProcKind)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Spawn { proc, kind, .. } => Some((*proc, kind.clone())),
            _ => None,
        })
        .collect()
}

fn records(actions: &[Action]) -> Vec<&OutboxRecord> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Record(r) => Some(r),
            _ => None,
        })
        .collect()
}

fn outcome(actions: &[Action]) -> Option<&Outcome> {
    records(actions).into_iter().find_map(|r| match r {
        OutboxRecord::Finished { outcome, .. } => Some(outcome),
        _ => None,
    })
}

fn failure_kind(actions: &[Action]) -> Option<FailureKind> {
    match outcome(actions) {
        Some(Outcome::Failed { kind, .. }) => Some(*kind),
        _ => None,
    }
}

/// A started persistent agent and the id of its program.
fn persistent(check: bool) -> (AgentState, Clock, ProcId) {
    let clock = Clock::new();
    let mut st = AgentState::new(policy(false, check));
    let actions = st.start(clock.now());
    assert!(matches!(records(&actions)[0], OutboxRecord::Hello { .. }));
    let spawns = spawned(&actions);
    assert_eq!(spawns.len(), 1);
    assert_eq!(spawns[0].1, ProcKind::Program);
    (st, clock, spawns[0].0)
}

/// The program `proc` ended by signal `sig`, with nothing on stderr.
fn signalled(proc: ProcId, sig: i32) -> Event {
    Event::Exited {
        proc,
        exit: exit(None, Some(sig)),
        stderr_tail: String::new(),
    }
}

/// The failure kind and message of the attempt the actions finish.
fn failure(actions: &[Action]) -> (FailureKind, String) {
    match outcome(actions) {
        Some(Outcome::Failed { kind, message }) => (*kind, message.clone()),
        other => panic!("not a failure: {other:?} in {actions:?}"),
    }
}

fn report(proc: ProcId, line: &str) -> Event {
    Event::Report {
        proc,
        line: line.into(),
        usage: Usage {
            cpu_seconds: Some(1.25),
            peak_rss_bytes: Some(1 << 20),
        },
    }
}

#[test]
fn assigned_block_is_sent_and_reported_done_with_stats() {
    let (mut st, mut clock, prog) = persistent(false);
    let a = st.handle_event(Event::Assign(key(7), Ok(Box::new(message(7)))), clock.now());
    assert!(matches!(
        records(&a)[0],
        OutboxRecord::Started {
            block: 7,
            slot: 0,
            ..
        }
    ));
    assert!(a.iter().any(
        |x| matches!(x, Action::Send { proc, block, .. } if *proc == prog && block.block_id == 7)
    ));
    clock.advance(Duration::from_millis(1500));
    let a = st.handle_event(
        report(prog, r#"{"block_id":7,"status":"done"}"#),
        clock.now(),
    );
    let Some(OutboxRecord::Finished {
        outcome,
        stats,
        log_path,
        ..
    }) = records(&a).first().copied()
    else {
        panic!("no Finished in {a:?}");
    };
    assert_eq!(*outcome, Outcome::Done);
    assert_eq!(stats.wall_s, 1.5);
    assert_eq!(stats.cpu_s, 1.25);
    assert_eq!(stats.peak_rss_bytes, 1 << 20);
    assert_eq!(log_path, "workers/w/slot-0.stderr.log");
    assert!(!st.is_busy());
}

#[test]
fn resent_assignments_are_ignored() {
    let (mut st, clock, _) = persistent(false);
    st.handle_event(Event::Assign(key(1), Ok(Box::new(message(1)))), clock.now());
    st.handle_event(Event::Assign(key(2), Ok(Box::new(message(2)))), clock.now());
    assert_eq!(st.queued(), 1);
    let a = st.handle_event(Event::Assign(key(2), Ok(Box::new(message(2)))), clock.now());
    assert!(a.is_empty(), "{a:?}");
    assert_eq!(st.queued(), 1);
}

#[test]
fn reported_failure_and_invalid_report() {
    let (mut st, clock, prog) = persistent(false);
    st.handle_event(Event::Assign(key(1), Ok(Box::new(message(1)))), clock.now());
    let a = st.handle_event(
        report(
            prog,
            r#"{"block_id":1,"status":"failed","error":"Traceback: boom"}"#,
        ),
        clock.now(),
    );
    assert_eq!(failure_kind(&a), Some(FailureKind::BlockError));
    st.handle_event(Event::Assign(key(2), Ok(Box::new(message(2)))), clock.now());
    let a = st.handle_event(report(prog, "not json"), clock.now());
    assert!(a.contains(&Action::Terminate(prog)), "{a:?}");
    let a = st.handle_event(signalled(prog, 15), clock.now());
    assert_eq!(failure_kind(&a), Some(FailureKind::BlockError));
    // Killed by us: not a crash, and a new program starts.
    assert_eq!(st.slots()[0].crashes, 0);
    assert_eq!(spawned(&a).len(), 1);
}

#[test]
fn timeout_terminates_then_fails_and_restarts() {
    let (mut st, mut clock, prog) = persistent(false);
    st.handle_event(Event::Assign(key(1), Ok(Box::new(message(1)))), clock.now());
    st.handle_event(Event::Assign(key(2), Ok(Box::new(message(2)))), clock.now());
    clock.advance(Duration::from_secs(5));
    assert!(!st
        .handle_event(Event::Tick, clock.now())
        .contains(&Action::Terminate(prog)));
    clock.advance(Duration::from_secs(6));
    let a = st.handle_event(Event::Tick, clock.now());
    assert!(a.contains(&Action::Terminate(prog)), "{a:?}");
    let a = st.handle_event(signalled(prog, 15), clock.now());
    assert_eq!(failure_kind(&a), Some(FailureKind::Timeout));
    let Some(OutboxRecord::Finished { stats, .. }) = records(&a).first().copied() else {
        panic!()
    };
    assert_eq!(stats.signal, Some(15));
    // Block 2 goes to a new program.
    let spawns = spawned(&a);
    assert_eq!(spawns.len(), 1);
    assert!(a.iter().any(
        |x| matches!(x, Action::Send { proc, block, .. } if *proc == spawns[0].0 && block.block_id == 2)
    ));
}

#[test]
fn program_death_fails_block_and_crash_bound_gives_up() {
    let (mut st, clock, mut prog) = persistent(false);
    st.handle_event(Event::Assign(key(1), Ok(Box::new(message(1)))), clock.now());
    let death = |proc| Event::Exited {
        proc,
        exit: exit(Some(1), None),
        stderr_tail: "ImportError: no module named torch".into(),
    };
    let a = st.handle_event(death(prog), clock.now());
    assert_eq!(failure_kind(&a), Some(FailureKind::ProgramDied));
    let Some(Outcome::Failed { message, .. }) = outcome(&a) else {
        panic!()
    };
    assert!(message.contains("ImportError"), "{message}");
    prog = spawned(&a)[0].0;
    let a = st.handle_event(death(prog), clock.now());
    prog = spawned(&a)[0].0;
    let a = st.handle_event(death(prog), clock.now());
    let bye = records(&a)
        .into_iter()
        .find_map(|r| match r {
            OutboxRecord::Bye { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .expect("Bye after three crashes");
    assert!(
        bye.contains("3 times") && bye.contains("ImportError"),
        "{bye}"
    );
    assert_eq!(
        a.last(),
        Some(&Action::Exit(super::super::AgentExit::GaveUp))
    );
}

#[test]
fn stop_drains_queue_then_closes_stdin_and_says_bye() {
    let (mut st, clock, prog) = persistent(false);
    st.handle_event(Event::Assign(key(1), Ok(Box::new(message(1)))), clock.now());
    st.handle_event(Event::Assign(key(2), Ok(Box::new(message(2)))), clock.now());
    let a = st.handle_event(Event::Stop("run complete".into()), clock.now());
    assert!(!a.contains(&Action::CloseStdin(prog)));
    st.handle_event(
        report(prog, r#"{"block_id":1,"status":"done"}"#),
        clock.now(),
    );
    let a = st.handle_event(
        report(prog, r#"{"block_id":2,"status":"done"}"#),
        clock.now(),
    );
    assert!(a.contains(&Action::CloseStdin(prog)), "{a:?}");
    let a = st.handle_event(
        Event::Exited {
            proc: prog,
            exit: exit(Some(0), None),
            stderr_tail: String::new(),
        },
        clock.now(),
    );
    assert!(matches!(records(&a)[0], OutboxRecord::Bye { .. }));
    assert_eq!(
        a.last(),
        Some(&Action::Exit(super::super::AgentExit::Stopped))
    );
}

/// The blocks given back (`Abandoned`) in `actions`.
fn given_back(actions: &[Action]) -> Vec<u64> {
    records(actions)
        .into_iter()
        .filter_map(|r| match r {
            OutboxRecord::Abandoned { block, reason, .. } => {
                assert_eq!(reason, "agent terminated (SIGTERM)");
                Some(*block)
            }
            _ => None,
        })
        .collect()
}

#[test]
fn signal_gives_back_queued_blocks_at_once_and_the_running_one_when_its_program_is_gone() {
    let (mut st, clock, prog) = persistent(false);
    st.handle_event(Event::Assign(key(1), Ok(Box::new(message(1)))), clock.now());
    st.handle_event(Event::Assign(key(2), Ok(Box::new(message(2)))), clock.now());
    let a = st.handle_event(Event::Signal(libc::SIGTERM), clock.now());
    assert_eq!(given_back(&a), [2], "only the block no program has seen");
    assert!(a.contains(&Action::Terminate(prog)));
    let a = st.handle_event(Event::Tick, clock.now());
    assert!(given_back(&a).is_empty(), "still running: {a:?}");
    let a = st.handle_event(signalled(prog, 15), clock.now());
    assert!(
        outcome(&a).is_none(),
        "no Finished after giving back: {a:?}"
    );
    assert_eq!(given_back(&a), [1]);
    assert_eq!(
        a.last(),
        Some(&Action::Exit(super::super::AgentExit::Signalled(15)))
    );
}

#[test]
fn a_program_that_finishes_its_block_after_the_signal_gets_it_counted() {
    let (mut st, mut clock, prog) = persistent(false);
    st.handle_event(Event::Assign(key(1), Ok(Box::new(message(1)))), clock.now());
    st.handle_event(Event::Signal(libc::SIGTERM), clock.now());
    clock.advance(Duration::from_secs(3));
    let a = st.handle_event(
        report(prog, r#"{"block_id":1,"status":"done"}"#),
        clock.now(),
    );
    assert_eq!(outcome(&a), Some(&Outcome::Done));
    let a = st.handle_event(signalled(prog, 15), clock.now());
    assert!(given_back(&a).is_empty(), "{a:?}");
    assert!(outcome(&a).is_none());
}

#[test]
fn a_terminated_program_is_waited_for_however_long_it_takes() {
    let (mut st, mut clock, prog) = persistent(false);
    st.handle_event(Event::Assign(key(1), Ok(Box::new(message(1)))), clock.now());
    st.handle_event(Event::Signal(libc::SIGTERM), clock.now());
    for _ in 0..10 {
        clock.advance(Duration::from_secs(60));
        let a = st.handle_event(Event::Tick, clock.now());
        assert!(given_back(&a).is_empty(), "{a:?}");
        assert!(!a.iter().any(|x| matches!(x, Action::Exit(_))), "{a:?}");
    }
    let a = st.handle_event(signalled(prog, 9), clock.now());
    assert_eq!(given_back(&a), [1]);
}

#[test]
fn orchestrator_gone_reports_nothing_more() {
    let (mut st, clock, prog) = persistent(false);
    st.handle_event(Event::Assign(key(1), Ok(Box::new(message(1)))), clock.now());
    let a = st.handle_event(Event::OrchestratorGone("parent died".into()), clock.now());
    assert!(records(&a).is_empty(), "{a:?}");
    assert!(a.contains(&Action::Terminate(prog)));
    let a = st.handle_event(signalled(prog, 15), clock.now());
    let recs = records(&a);
    assert_eq!(recs.len(), 1);
    assert!(matches!(recs[0], OutboxRecord::Bye { reason, .. } if reason.contains("parent died")));
}

#[test]
fn an_unwritable_ledger_stops_the_agent_with_its_own_exit_code() {
    let (mut st, clock, prog) = persistent(false);
    st.handle_event(Event::Assign(key(1), Ok(Box::new(message(1)))), clock.now());
    let a = st.handle_event(Event::LedgerUnwritable("ENOSPC".into()), clock.now());
    assert!(records(&a).is_empty(), "nothing given back: {a:?}");
    assert!(a.contains(&Action::Terminate(prog)));
    // A SIGTERM meanwhile does not turn it into a signalled exit (charged differently).
    st.handle_event(Event::Signal(15), clock.now());
    let a = st.handle_event(signalled(prog, 15), clock.now());
    assert!(
        a.contains(&Action::Exit(super::super::AgentExit::LedgerUnwritable)),
        "{a:?}"
    );
    assert_eq!(super::super::AgentExit::LedgerUnwritable.code(), 5);
}

#[test]
fn check_skips_and_post_check_fails() {
    let clock = Clock::new();
    let mut st = AgentState::new(policy(true, true));
    assert!(spawned(&st.start(clock.now())).is_empty());
    let a = st.handle_event(Event::Assign(key(1), Ok(Box::new(message(1)))), clock.now());
    let (check, kind) = spawned(&a)[0].clone();
    assert!(matches!(kind, ProcKind::Check(_)));
    let a = st.handle_event(
        Event::Exited {
            proc: check,
            exit: exit(Some(0), None),
            stderr_tail: String::new(),
        },
        clock.now(),
    );
    assert_eq!(outcome(&a), Some(&Outcome::Skipped));

    let a = st.handle_event(Event::Assign(key(2), Ok(Box::new(message(2)))), clock.now());
    let check = spawned(&a)[0].0;
    let a = st.handle_event(
        Event::Exited {
            proc: check,
            exit: exit(Some(1), None),
            stderr_tail: String::new(),
        },
        clock.now(),
    );
    let (run, kind) = spawned(&a)[0].clone();
    assert!(matches!(kind, ProcKind::PerBlock(_)));
    let a = st.handle_event(
        Event::Exited {
            proc: run,
            exit: exit(Some(0), None),
            stderr_tail: String::new(),
        },
        clock.now(),
    );
    let post = spawned(&a)[0].0;
    let a = st.handle_event(
        Event::Exited {
            proc: post,
            exit: exit(Some(2), None),
            stderr_tail: "output missing".into(),
        },
        clock.now(),
    );
    assert_eq!(failure_kind(&a), Some(FailureKind::CheckFailed));
    let Some(OutboxRecord::Finished { stats, .. }) = records(&a).first().copied() else {
        panic!()
    };
    assert_eq!(stats.exit_code, Some(2));
    assert_eq!(stats.cpu_s, 1.5, "three processes of 0.5 s each");
}

#[test]
fn per_block_exit_codes() {
    let clock = Clock::new();
    let mut st = AgentState::new(policy(true, false));
    st.start(clock.now());
    let a = st.handle_event(Event::Assign(key(1), Ok(Box::new(message(1)))), clock.now());
    let run = spawned(&a)[0].0;
    let a = st.handle_event(
        Event::Exited {
            proc: run,
            exit: exit(Some(3), None),
            stderr_tail: "bad input".into(),
        },
        clock.now(),
    );
    assert_eq!(failure_kind(&a), Some(FailureKind::BlockError));
    let a = st.handle_event(Event::Assign(key(2), Ok(Box::new(message(2)))), clock.now());
    let run = spawned(&a)[0].0;
    let a = st.handle_event(
        Event::SpawnFailed {
            proc: run,
            error: "no such file".into(),
        },
        clock.now(),
    );
    assert_eq!(failure_kind(&a), Some(FailureKind::ProgramDied));
}

#[test]
fn walltime_refuses_blocks_that_cannot_finish() {
    let mut clock = Clock::new();
    let mut p = policy(true, false);
    let now_s = clock.unix_us as f64 / 1e6;
    p.deadline_unix = Some(now_s + 100.0);
    p.deadline_margin = Duration::from_secs(10);
    let mut st = AgentState::new(p);
    st.start(clock.now());
    let a = st.handle_event(Event::Assign(key(1), Ok(Box::new(message(1)))), clock.now());
    let run = spawned(&a)[0].0;
    clock.advance(Duration::from_secs(50));
    st.handle_event(
        Event::Exited {
            proc: run,
            exit: exit(Some(0), None),
            stderr_tail: String::new(),
        },
        clock.now(),
    );
    // 50 s left, mean 50 s + margin 10 s: does not fit.
    let a = st.handle_event(Event::Assign(key(2), Ok(Box::new(message(2)))), clock.now());
    assert!(spawned(&a).is_empty());
    assert!(records(&a)
        .iter()
        .any(|r| matches!(r, OutboxRecord::Abandoned { block: 2, .. })));
    assert!(records(&a)
        .iter()
        .any(|r| matches!(r, OutboxRecord::Bye { reason, .. } if reason.starts_with("walltime"))));
    assert_eq!(
        a.last(),
        Some(&Action::Exit(super::super::AgentExit::Walltime))
    );
}

#[test]
fn revoke_kills_silently() {
    let (mut st, clock, prog) = persistent(false);
    st.handle_event(Event::Assign(key(1), Ok(Box::new(message(1)))), clock.now());
    let a = st.handle_event(Event::Revoke(key(1)), clock.now());
    assert!(a.contains(&Action::Terminate(prog)));
    let a = st.handle_event(signalled(prog, 15), clock.now());
    assert!(outcome(&a).is_none());
    assert_eq!(spawned(&a).len(), 1, "program restarted");
}

#[test]
fn heartbeat_every_interval() {
    let (mut st, mut clock, _) = persistent(false);
    clock.advance(Duration::from_secs(4));
    assert!(records(&st.handle_event(Event::Tick, clock.now())).is_empty());
    clock.advance(Duration::from_secs(2));
    let a = st.handle_event(Event::Tick, clock.now());
    assert!(matches!(records(&a)[..], [OutboxRecord::Heartbeat { .. }]));
}

#[test]
fn unknown_block_is_failed_right_away() {
    let (mut st, clock, _) = persistent(false);
    let a = st.handle_event(
        Event::Assign(key(99), Err("block 99 is not a block of task \"t\"".into())),
        clock.now(),
    );
    assert_eq!(failure_kind(&a), Some(FailureKind::BlockError));
    assert!(spawned(&a).is_empty());
}

#[test]
fn announced_exit_is_not_a_crash() {
    let (mut st, clock, prog) = persistent(false);
    st.handle_event(Event::Assign(key(1), Ok(Box::new(message(1)))), clock.now());
    st.handle_event(Event::Assign(key(2), Ok(Box::new(message(2)))), clock.now());
    let a = st.handle_event(
        report(
            prog,
            r#"{"block_id":1,"status":"failed","error":"tb","exit":true}"#,
        ),
        clock.now(),
    );
    assert_eq!(failure_kind(&a), Some(FailureKind::BlockError));
    assert!(a.contains(&Action::CloseStdin(prog)));
    assert!(
        !a.iter().any(|x| matches!(x, Action::Send { .. })),
        "block 2 waits for a new program: {a:?}"
    );
    let a = st.handle_event(
        Event::Exited {
            proc: prog,
            exit: exit(Some(1), None),
            stderr_tail: String::new(),
        },
        clock.now(),
    );
    assert_eq!(st.slots()[0].crashes, 0);
    let new = spawned(&a)[0].0;
    assert!(a.iter().any(
        |x| matches!(x, Action::Send { proc, block, .. } if *proc == new && block.block_id == 2)
    ));
}

fn sent(actions: &[Action]) -> Vec<u64> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send { block, .. } => Some(block.block_id),
            _ => None,
        })
        .collect()
}

fn started(actions: &[Action]) -> Vec<u64> {
    records(actions)
        .into_iter()
        .filter_map(|r| match r {
            OutboxRecord::Started { block, .. } => Some(*block),
            _ => None,
        })
        .collect()
}

/// A persistent agent that ran block 100 in 10 µs (so blocks are short), with blocks
/// `1..=n` assigned afterwards; returns the actions of the last assignment.
fn short_blocks_queued(n: u64) -> (AgentState, Clock, ProcId, Vec<Action>) {
    let (mut st, mut clock, prog) = persistent(false);
    st.handle_event(
        Event::Assign(key(100), Ok(Box::new(message(100)))),
        clock.now(),
    );
    clock.advance(Duration::from_micros(10));
    st.handle_event(
        report(prog, r#"{"block_id":100,"status":"done"}"#),
        clock.now(),
    );
    let mut last = Vec::new();
    for b in 1..=n {
        last = st.handle_event(Event::Assign(key(b), Ok(Box::new(message(b)))), clock.now());
    }
    (st, clock, prog, last)
}

#[test]
fn short_blocks_are_written_ahead_and_start_in_order() {
    let (mut st, mut clock, prog) = persistent(false);
    // Nothing observed yet: one block at a time.
    st.handle_event(Event::Assign(key(1), Ok(Box::new(message(1)))), clock.now());
    let a = st.handle_event(Event::Assign(key(2), Ok(Box::new(message(2)))), clock.now());
    assert!(sent(&a).is_empty(), "{a:?}");
    assert_eq!(st.queued(), 1);
    // Block 1 took 10 µs: block 2 starts, and the queue is written ahead.
    for b in 3..=6 {
        st.handle_event(Event::Assign(key(b), Ok(Box::new(message(b)))), clock.now());
    }
    clock.advance(Duration::from_micros(10));
    let a = st.handle_event(
        report(prog, r#"{"block_id":1,"status":"done"}"#),
        clock.now(),
    );
    assert_eq!(sent(&a), [2, 3, 4, 5, 6], "{a:?}");
    assert_eq!(started(&a), [2]);
    assert_eq!(st.queued(), 0);
    // Reporting block 2 starts block 3 without another write.
    clock.advance(Duration::from_micros(10));
    let a = st.handle_event(
        report(prog, r#"{"block_id":2,"status":"done"}"#),
        clock.now(),
    );
    assert!(sent(&a).is_empty(), "{a:?}");
    assert_eq!(started(&a), [3]);
    assert_eq!(outcome(&a), Some(&Outcome::Done));
    // A report out of order is a protocol error.
    let a = st.handle_event(
        report(prog, r#"{"block_id":5,"status":"done"}"#),
        clock.now(),
    );
    assert!(a.contains(&Action::Terminate(prog)), "{a:?}");
}

#[test]
fn written_ahead_blocks_of_a_dead_program_are_run_again_not_failed() {
    let (mut st, mut clock, prog, _) = short_blocks_queued(4);
    clock.advance(Duration::from_millis(1));
    let a = st.handle_event(signalled(prog, 9), clock.now());
    let finished: Vec<(u64, Outcome)> = records(&a)
        .into_iter()
        .filter_map(|r| match r {
            OutboxRecord::Finished { block, outcome, .. } => Some((*block, outcome.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(finished.len(), 1, "only the running block fails: {a:?}");
    assert_eq!(finished[0].0, 1);
    assert!(matches!(
        finished[0].1,
        Outcome::Failed {
            kind: FailureKind::ProgramDied,
            ..
        }
    ));
    // A new program is started and the others go to it in order, block 2 first.
    let spawns = spawned(&a);
    assert_eq!(spawns.len(), 1);
    let new_prog = spawns[0].0;
    assert_ne!(new_prog, prog);
    assert_eq!(started(&a), [2]);
    assert!(a.iter().any(
        |x| matches!(x, Action::Send { proc, block, .. } if *proc == new_prog && block.block_id == 2)
    ));
}

#[test]
fn signal_gives_back_written_ahead_blocks_once_their_program_is_gone() {
    let (mut st, clock, prog, _) = short_blocks_queued(3);
    let a = st.handle_event(Event::Signal(libc::SIGTERM), clock.now());
    assert!(
        given_back(&a).is_empty(),
        "all in the program's stdin: {a:?}"
    );
    assert!(a.contains(&Action::Terminate(prog)));
    let a = st.handle_event(signalled(prog, 15), clock.now());
    let mut back = given_back(&a);
    back.sort();
    assert_eq!(back, [1, 2, 3]);
}

#[test]
fn timeout_of_the_running_block_requeues_those_behind_it() {
    let (mut st, mut clock, prog, _) = short_blocks_queued(3);
    clock.advance(Duration::from_secs(11));
    let a = st.handle_event(Event::Tick, clock.now());
    assert!(a.contains(&Action::Terminate(prog)));
    let a = st.handle_event(signalled(prog, 15), clock.now());
    assert_eq!(failure_kind(&a), Some(FailureKind::Timeout));
    let failed: Vec<u64> = records(&a)
        .into_iter()
        .filter_map(|r| match r {
            OutboxRecord::Finished { block, .. } => Some(*block),
            _ => None,
        })
        .collect();
    assert_eq!(failed, [1]);
    assert_eq!(started(&a), [2]);
}

#[test]
fn long_blocks_are_not_written_ahead() {
    let (mut st, mut clock, prog) = persistent(false);
    st.handle_event(Event::Assign(key(1), Ok(Box::new(message(1)))), clock.now());
    for b in 2..=4 {
        st.handle_event(Event::Assign(key(b), Ok(Box::new(message(b)))), clock.now());
    }
    clock.advance(Duration::from_millis(50));
    let a = st.handle_event(
        report(prog, r#"{"block_id":1,"status":"done"}"#),
        clock.now(),
    );
    assert_eq!(sent(&a), [2], "{a:?}");
    assert_eq!(st.queued(), 2);
}

#[test]
fn revoking_a_written_ahead_block_stops_the_program() {
    let (mut st, mut clock, prog, _) = short_blocks_queued(3);
    let a = st.handle_event(Event::Revoke(key(3)), clock.now());
    assert!(a.contains(&Action::Terminate(prog)), "{a:?}");
    let abandoned = |a: &[Action]| -> Vec<u64> {
        records(a)
            .into_iter()
            .filter_map(|r| match r {
                OutboxRecord::Abandoned { block, .. } => Some(*block),
                _ => None,
            })
            .collect()
    };
    assert!(abandoned(&a).is_empty(), "not while it may run: {a:?}");
    clock.advance(Duration::from_millis(1));
    let a = st.handle_event(signalled(prog, 15), clock.now());
    assert_eq!(abandoned(&a), [1], "the running block goes back: {a:?}");
    assert!(outcome(&a).is_none(), "{a:?}");
    assert_eq!(
        started(&a),
        [2],
        "block 2 runs on the new program, 3 never: {a:?}"
    );
    assert_eq!(st.queued(), 0);
}

fn with_policy(p: Policy) -> (AgentState, Clock, ProcId) {
    let clock = Clock::new();
    let mut st = AgentState::new(p);
    let actions = st.start(clock.now());
    let prog = spawned(&actions)[0].0;
    (st, clock, prog)
}

#[test]
fn ready_line_starts_the_first_blocks_clock() {
    let (mut st, mut clock, prog) = persistent(false);
    st.handle_event(Event::Assign(key(1), Ok(Box::new(message(1)))), clock.now());
    clock.advance(Duration::from_secs(8)); // loading a model
    st.handle_event(Event::Ready(prog), clock.now());
    clock.advance(Duration::from_secs(4)); // 12 s after the hand-over, 4 s after ready
    let a = st.handle_event(Event::Tick, clock.now());
    assert!(!a.contains(&Action::Terminate(prog)), "{a:?}");
    clock.advance(Duration::from_secs(7)); // 11 s after ready
    let a = st.handle_event(Event::Tick, clock.now());
    assert!(a.contains(&Action::Terminate(prog)), "{a:?}");
    let a = st.handle_event(signalled(prog, 15), clock.now());
    let (kind, message) = failure(&a);
    assert_eq!(kind, FailureKind::Timeout);
    assert!(message.contains("timeout of 10.0s"), "{message}");
}

#[test]
fn startup_timeout_bounds_a_program_that_never_gets_ready() {
    let mut p = policy(false, false);
    p.startup_timeout = Some(Duration::from_secs(60));
    let (mut st, mut clock, mut prog) = with_policy(p);
    for round in 1..=3u64 {
        st.handle_event(
            Event::Assign(key(round), Ok(Box::new(message(round)))),
            clock.now(),
        );
        clock.advance(Duration::from_secs(30)); // past timeout, within the start-up limit
        let a = st.handle_event(Event::Tick, clock.now());
        assert!(!a.contains(&Action::Terminate(prog)), "{a:?}");
        clock.advance(Duration::from_secs(31));
        let a = st.handle_event(Event::Tick, clock.now());
        assert!(a.contains(&Action::Terminate(prog)), "{a:?}");
        let a = st.handle_event(signalled(prog, 15), clock.now());
        let (kind, message) = failure(&a);
        assert_eq!(kind, FailureKind::Timeout);
        assert!(message.contains("within 60.0s of starting"), "{message}");
        assert!(message.contains("worker.startup_timeout"), "{message}");
        if round < 3 {
            prog = spawned(&a)[0].0;
        } else {
            // Three start-ups in a row that never got ready: the agent gives up.
            assert!(
                matches!(
                    a.last(),
                    Some(Action::Exit(super::super::AgentExit::GaveUp))
                ),
                "{a:?}"
            );
        }
    }
}

#[test]
fn an_idle_fresh_program_does_not_eat_into_the_first_blocks_timeout() {
    // No ready line, no startup_timeout: the first block still gets the whole timeout from
    // its hand-over, however long the program waited for it.
    let (mut st, mut clock, prog) = persistent(false);
    clock.advance(Duration::from_secs(50));
    st.handle_event(Event::Assign(key(1), Ok(Box::new(message(1)))), clock.now());
    clock.advance(Duration::from_secs(9));
    let a = st.handle_event(Event::Tick, clock.now());
    assert!(!a.contains(&Action::Terminate(prog)), "{a:?}");
    clock.advance(Duration::from_secs(2));
    let a = st.handle_event(Event::Tick, clock.now());
    assert!(a.contains(&Action::Terminate(prog)), "{a:?}");
}

#[test]
fn blocks_behind_an_announced_exit_go_to_the_next_program() {
    let (mut st, mut clock, prog, _) = short_blocks_queued(3);
    let a = st.handle_event(
        report(
            prog,
            r#"{"block_id":1,"status":"failed","error":"boom","exit":true}"#,
        ),
        clock.now(),
    );
    assert_eq!(failure(&a).0, FailureKind::BlockError);
    assert!(a.contains(&Action::CloseStdin(prog)), "{a:?}");
    assert!(
        started(&a).is_empty(),
        "nothing starts on a closing program: {a:?}"
    );
    clock.advance(Duration::from_millis(1));
    let a = st.handle_event(
        Event::Exited {
            proc: prog,
            exit: exit(Some(1), None),
            stderr_tail: String::new(),
        },
        clock.now(),
    );
    assert!(
        outcome(&a).is_none(),
        "an announced exit fails nothing more: {a:?}"
    );
    let new_prog = spawned(&a)[0].0;
    assert_eq!(started(&a), [2]);
    assert!(a.iter().any(
        |x| matches!(x, Action::Send { proc, block, .. } if *proc == new_prog && block.block_id == 2)
    ));
}

#[test]
fn the_programs_report_time_ends_the_block_and_starts_the_next_one() {
    let (mut st, mut clock, prog, _) = short_blocks_queued(3);
    let started_at = clock.unix_us;
    clock.advance(Duration::from_millis(5)); // the agent reads the report late
    let t = (started_at + 1_000) as f64 / 1e6; // the program finished 1 ms after the start
    let line = format!(r#"{{"block_id":1,"status":"done","time":{t}}}"#);
    let a = st.handle_event(report(prog, &line), clock.now());
    let end = records(&a).into_iter().find_map(|r| match r {
        OutboxRecord::Finished { stats, .. } => Some(stats.end_us),
        _ => None,
    });
    let next = records(&a).into_iter().find_map(|r| match r {
        OutboxRecord::Started {
            block: 2, time_us, ..
        } => Some(*time_us),
        _ => None,
    });
    assert_eq!(end, Some(started_at + 1_000), "{a:?}");
    assert_eq!(next, Some(started_at + 1_000), "{a:?}");
    // A time outside what the agent can vouch for is clamped.
    let a = st.handle_event(
        report(
            prog,
            r#"{"block_id":2,"status":"done","time":4102444800.0}"#,
        ),
        clock.now(),
    );
    let end = records(&a).into_iter().find_map(|r| match r {
        OutboxRecord::Finished { stats, .. } => Some(stats.end_us),
        _ => None,
    });
    assert_eq!(
        end,
        Some(clock.unix_us),
        "a time in the future ends at the agent's now"
    );
}

#[test]
fn write_ahead_can_be_switched_off() {
    let mut p = policy(false, false);
    p.write_ahead = false;
    let (mut st, mut clock, prog) = with_policy(p);
    st.handle_event(Event::Assign(key(1), Ok(Box::new(message(1)))), clock.now());
    for b in 2..=5 {
        st.handle_event(Event::Assign(key(b), Ok(Box::new(message(b)))), clock.now());
    }
    clock.advance(Duration::from_micros(10));
    let a = st.handle_event(
        report(prog, r#"{"block_id":1,"status":"done"}"#),
        clock.now(),
    );
    assert_eq!(sent(&a), [2], "one block at a time: {a:?}");
    assert_eq!(st.queued(), 3);
}

#[test]
fn tasks_with_a_check_get_one_block_at_a_time() {
    let (mut st, mut clock, prog) = persistent(true);
    // Block 100: pre-check says not done, the program runs it quickly, post-check passes.
    let a = st.handle_event(
        Event::Assign(key(100), Ok(Box::new(message(100)))),
        clock.now(),
    );
    let pre = spawned(&a)[0].0;
    for b in 1..=4 {
        st.handle_event(Event::Assign(key(b), Ok(Box::new(message(b)))), clock.now());
    }
    st.handle_event(
        Event::Exited {
            proc: pre,
            exit: exit(Some(1), None),
            stderr_tail: String::new(),
        },
        clock.now(),
    );
    clock.advance(Duration::from_micros(10));
    let a = st.handle_event(
        report(prog, r#"{"block_id":100,"status":"done"}"#),
        clock.now(),
    );
    let post = spawned(&a)[0].0;
    // The post-check passes: block 100 took 10 µs, so blocks are short.
    let a = st.handle_event(
        Event::Exited {
            proc: post,
            exit: exit(Some(0), None),
            stderr_tail: String::new(),
        },
        clock.now(),
    );
    assert_eq!(outcome(&a), Some(&Outcome::Done));
    let pre = spawned(&a)[0].0;
    // Block 1's pre-check says "not done": only block 1 goes to the program.
    let a = st.handle_event(
        Event::Exited {
            proc: pre,
            exit: exit(Some(1), None),
            stderr_tail: String::new(),
        },
        clock.now(),
    );
    assert_eq!(
        sent(&a),
        [1],
        "nothing written ahead when there is a check: {a:?}"
    );
    assert_eq!(st.queued(), 3);
}

#[test]
fn a_report_time_before_the_start_is_clamped_to_it() {
    let (mut st, mut clock, prog, _) = short_blocks_queued(2);
    let started_at = clock.unix_us;
    clock.advance(Duration::from_millis(3));
    let a = st.handle_event(
        report(prog, r#"{"block_id":1,"status":"done","time":1.5}"#),
        clock.now(),
    );
    let end = records(&a).into_iter().find_map(|r| match r {
        OutboxRecord::Finished { stats, .. } => Some(stats.end_us),
        _ => None,
    });
    assert_eq!(end, Some(started_at), "{a:?}");
}

#[test]
fn a_first_report_ends_the_start_up_too() {
    // No ready line: the first block's report says the program is up, so later blocks get
    // the plain timeout (10 s), not the start-up allowance (60 s).
    let mut p = policy(false, false);
    p.startup_timeout = Some(Duration::from_secs(60));
    let (mut st, mut clock, prog) = with_policy(p);
    st.handle_event(Event::Assign(key(1), Ok(Box::new(message(1)))), clock.now());
    clock.advance(Duration::from_secs(20));
    st.handle_event(
        report(prog, r#"{"block_id":1,"status":"done"}"#),
        clock.now(),
    );
    let a = st.handle_event(Event::Assign(key(2), Ok(Box::new(message(2)))), clock.now());
    assert_eq!(sent(&a), [2]);
    clock.advance(Duration::from_secs(11));
    let a = st.handle_event(Event::Tick, clock.now());
    assert!(a.contains(&Action::Terminate(prog)), "{a:?}");
}

#[test]
fn a_start_up_limit_shorter_than_the_timeout_waits_for_both() {
    let mut p = policy(false, false);
    p.startup_timeout = Some(Duration::from_secs(2));
    let (mut st, mut clock, prog) = with_policy(p);
    st.handle_event(Event::Assign(key(1), Ok(Box::new(message(1)))), clock.now());
    clock.advance(Duration::from_secs(5)); // past the start-up limit, within the timeout
    let a = st.handle_event(Event::Tick, clock.now());
    assert!(!a.contains(&Action::Terminate(prog)), "{a:?}");
    clock.advance(Duration::from_secs(6));
    let a = st.handle_event(Event::Tick, clock.now());
    assert!(a.contains(&Action::Terminate(prog)), "{a:?}");
}

#[test]
fn a_start_up_limit_without_a_task_timeout_still_bounds_the_start_up() {
    let mut p = policy(false, false);
    p.timeout = None;
    p.startup_timeout = Some(Duration::from_secs(30));
    let (mut st, mut clock, prog) = with_policy(p);
    st.handle_event(Event::Assign(key(1), Ok(Box::new(message(1)))), clock.now());
    clock.advance(Duration::from_secs(31));
    let a = st.handle_event(Event::Tick, clock.now());
    assert!(a.contains(&Action::Terminate(prog)), "{a:?}");
    // Once ready, no limit at all.
    let (mut st, mut clock, prog) = {
        let mut p = policy(false, false);
        p.timeout = None;
        p.startup_timeout = Some(Duration::from_secs(30));
        with_policy(p)
    };
    st.handle_event(Event::Assign(key(1), Ok(Box::new(message(1)))), clock.now());
    st.handle_event(Event::Ready(prog), clock.now());
    clock.advance(Duration::from_secs(3600));
    let a = st.handle_event(Event::Tick, clock.now());
    assert!(!a.contains(&Action::Terminate(prog)), "{a:?}");
}

#[test]
fn a_program_that_closes_its_report_channel_fails_its_block_and_is_restarted() {
    let (mut st, clock, prog) = persistent(false);
    st.handle_event(Event::Assign(key(1), Ok(Box::new(message(1)))), clock.now());
    let a = st.handle_event(Event::ReportClosed(prog), clock.now());
    assert!(a.contains(&Action::Terminate(prog)), "{a:?}");
    let a = st.handle_event(signalled(prog, 15), clock.now());
    let (kind, msg) = failure(&a);
    assert_eq!(kind, FailureKind::BlockError);
    assert!(msg.contains("closed its report channel"), "{msg}");
    assert_eq!(spawned(&a).len(), 1, "a fresh program: {a:?}");
}

#[test]
fn an_idle_program_that_closes_its_report_channel_counts_as_a_crash() {
    let (mut st, clock, mut prog) = persistent(false);
    for _ in 0..policy(false, false).max_program_crashes {
        let a = st.handle_event(Event::ReportClosed(prog), clock.now());
        assert!(a.contains(&Action::Terminate(prog)), "{a:?}");
        let a = st.handle_event(signalled(prog, 15), clock.now());
        if let Some((next, _)) = spawned(&a).first() {
            prog = *next;
        } else {
            assert!(
                records(&a)
                    .iter()
                    .any(|r| matches!(r, OutboxRecord::Bye { reason, .. } if reason.contains("report channel"))),
                "{a:?}"
            );
            return;
        }
    }
    panic!("the agent never gave up");
}
