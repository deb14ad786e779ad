//! Decision tests: events in, actions out, no processes. The helpers are here, the tests by
//! theme in the modules below.

use super::*;
use crate::geometry::{Coordinate, Roi};
use crate::worker::program::Exit;
use crate::worker::usage::Usage;
use std::time::Instant;

mod block_life;
mod check_ahead;
mod checks;
mod failures;
mod shutdown;
mod startup;
mod worker_ahead;
mod write_ahead;

fn policy(per_block: bool, has_check: bool) -> Policy {
    Policy {
        worker_id: "w".into(),
        host: "h".into(),
        pid: 1,
        backend_job: None,
        slots: 1,
        per_block,
        has_check,
        persistent_check: false,
        timeout: Some(Duration::from_secs(10)),
        startup_timeout: None,
        write_ahead: true,
        max_program_crashes: 3,
        heartbeat_interval: Duration::from_secs(5),
        stagger: Stagger::NONE,
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
    assign(&mut st, 100, clock.now());
    clock.advance(Duration::from_micros(10));
    st.handle_event(
        report(prog, r#"{"block_id":100,"status":"done"}"#),
        clock.now(),
    );
    let mut last = Vec::new();
    for b in 1..=n {
        last = assign(&mut st, b, clock.now());
    }
    (st, clock, prog, last)
}

fn with_policy(p: Policy) -> (AgentState, Clock, ProcId) {
    let clock = Clock::new();
    let mut st = AgentState::new(p);
    let actions = st.start(clock.now());
    let prog = spawned(&actions)[0].0;
    (st, clock, prog)
}

/// Block `block` assigned to the agent.
fn assign(st: &mut AgentState, block: u64, now: Now) -> Vec<Action> {
    st.handle_event(Event::Assign(key(block), Ok(Box::new(message(block)))), now)
}

/// `proc` reports `status` for block `block` (a worker's report or a check program's answer).
fn answer(st: &mut AgentState, proc: ProcId, block: u64, status: &str, now: Now) -> Vec<Action> {
    let line = format!(r#"{{"block_id":{block},"status":"{status}"}}"#);
    st.handle_event(report(proc, &line), now)
}

/// The blocks given back (`Abandoned`) in `actions`, whatever the reason.
fn abandoned_blocks(actions: &[Action]) -> Vec<u64> {
    records(actions)
        .into_iter()
        .filter_map(|r| match r {
            OutboxRecord::Abandoned { block, .. } => Some(*block),
            _ => None,
        })
        .collect()
}
