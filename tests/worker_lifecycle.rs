//! How an agent ends: its parent (the local orchestrator) dies, its walltime runs out, a
//! newer orchestrator takes over.

#[path = "fixtures/workers/harness.rs"]
mod harness;

use blockorch::ledger::{
    ClaimOptions, InboxRecord, Journal, LogWriter, OutboxRecord, Outcome, Ownership,
};
use blockorch::worker::AgentExit;
use harness::*;
use serde_json::json;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(20);

#[test]
fn parent_death_stops_the_agent_and_its_programs() {
    let mut h = Harness::new(task(json!({
        "worker": python_worker("misbehave.py", &[], false),
    })));
    let mut parent = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .unwrap();
    let mut opts = h.options();
    opts.parent_pid = Some(parent.id());
    let agent = h.spawn_agent(opts);
    h.assign(&[2]);
    let victim: i32 = wait_file(&h.workdir.join("victim.pid"), T).parse().unwrap();
    parent.kill().unwrap();
    parent.wait().unwrap();
    assert_eq!(join(agent, T), AgentExit::OrchestratorGone);
    let records = h.outbox();
    let reason = bye(&records).unwrap();
    assert!(reason.contains("parent process"), "{reason}");
    assert!(
        finished(&records).is_empty(),
        "nothing reported for the in-flight block"
    );
    assert!(!running(victim), "the program was terminated");
}

#[test]
fn walltime_deadline_stops_taking_blocks() {
    let mut h = Harness::new(task(json!({
        "worker": python_worker("persistent.py", &[], false),
    })));
    let mut opts = h.options();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    opts.deadline_unix = Some(now + 3.0);
    opts.deadline_margin = Duration::from_secs(2);
    let agent = h.spawn_agent(opts);
    h.assign(&[0]);
    h.wait_for("block 0", T, |r| !finished(r).is_empty());
    std::thread::sleep(Duration::from_millis(1500));
    h.assign(&[1]);
    assert_eq!(join(agent, T), AgentExit::Walltime);
    let records = h.outbox();
    assert_eq!(outcome_of(&records, 0), Some(Outcome::Done));
    assert!(outcome_of(&records, 1).is_none());
    assert!(bye(&records).unwrap().starts_with("walltime:"));
}

#[test]
fn newer_epoch_inbox_is_followed_and_resent_blocks_deduplicated() {
    let mut h = Harness::new(task(json!({
        "worker": python_worker("persistent.py", &[], false),
    })));
    let agent = h.spawn_agent(h.options());
    h.assign(&[0]);
    h.wait_for("block 0", T, |r| !finished(r).is_empty());
    // A new orchestrator takes over (forcibly) and re-sends the assignment plus a new one.
    let second = h
        .ledger
        .claim(&ClaimOptions {
            force: true,
            ..ClaimOptions::default()
        })
        .unwrap();
    let mut inbox: LogWriter<InboxRecord> =
        LogWriter::open_append(h.ledger.inbox_path(&h.worker, second.epoch())).unwrap();
    for (block, attempt) in [(0, 1), (1, 1)] {
        inbox
            .append(&InboxRecord::Assign {
                task: 0,
                block,
                attempt,
                time_us: 0,
            })
            .unwrap();
    }
    inbox
        .append(&InboxRecord::Stop {
            reason: "epoch 2 done".into(),
        })
        .unwrap();
    inbox.commit().unwrap();
    assert_eq!(join(agent, T), AgentExit::Stopped);
    let records = h.outbox();
    let started: Vec<u64> = records
        .iter()
        .filter_map(|r| match r {
            OutboxRecord::Started { block, .. } => Some(*block),
            _ => None,
        })
        .collect();
    assert_eq!(started, [0, 1], "block 0 ran once: {records:#?}");
    assert_eq!(bye(&records).as_deref(), Some("stopped: epoch 2 done"));
}

/// A persistent worker whose every block takes `seconds`.
fn sleeping_worker(seconds: f64) -> serde_json::Value {
    let mut worker = python_worker("persistent.py", &[], false);
    worker["command"] = json!([
        "python3",
        "-c",
        format!(
            "import time\nfrom blockorch_worker import run\nrun(lambda b: time.sleep({seconds}))"
        ),
    ]);
    worker
}

/// Claims the next epoch for `pid` (forcibly), starts its log and opens this worker's inbox
/// of it, as a (resumed) orchestrator would.
fn claim_as(h: &Harness, pid: u32) -> (Ownership, LogWriter<InboxRecord>) {
    let ownership = h
        .ledger
        .claim(&ClaimOptions {
            force: true,
            pid,
            ..ClaimOptions::default()
        })
        .unwrap();
    drop(Journal::start(&h.ledger, &ownership).unwrap());
    let inbox = LogWriter::open_append(h.ledger.inbox_path(&h.worker, ownership.epoch())).unwrap();
    (ownership, inbox)
}

/// The pid of a process that has exited.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    child.wait().unwrap();
    child.id()
}

fn send(inbox: &mut LogWriter<InboxRecord>, records: &[InboxRecord]) {
    for r in records {
        inbox.append(r).unwrap();
    }
    inbox.commit().unwrap();
}

fn assign(block: u64) -> InboxRecord {
    InboxRecord::Assign {
        task: 0,
        block,
        attempt: 1,
        time_us: 0,
    }
}

/// An orchestrator killed on the agent's host (its pid dead) is usually resumed at once: the
/// agent does not kill the block it runs, reports it, and follows the successor's inbox.
#[test]
fn a_dead_orchestrator_pid_leaves_the_running_block_to_finish_for_a_resume() {
    let h = Harness::new(task(json!({"worker": sleeping_worker(3.0)})));
    let (_dead, mut first) = claim_as(&h, dead_pid());
    let mut opts = h.options();
    opts.epoch_switch_timeout = Duration::from_secs(30);
    let agent = h.spawn_agent(opts);
    send(&mut first, &[assign(0)]);
    // The agent looks at the (dead) owner every second while the block runs.
    let records = h.wait_for("block 0", T, |r| !finished(r).is_empty());
    assert_eq!(outcome_of(&records, 0), Some(Outcome::Done), "{records:#?}");
    assert_eq!(bye(&records), None, "the agent left: {records:#?}");
    // The resume: a new owner re-sends the block and stops the agent.
    let (_resumed, mut second) = claim_as(&h, std::process::id());
    send(
        &mut second,
        &[
            assign(0),
            InboxRecord::Stop {
                reason: "resumed run done".into(),
            },
        ],
    );
    assert_eq!(join(agent, T), AgentExit::Stopped);
    let records = h.outbox();
    assert_eq!(
        finished(&records).len(),
        1,
        "block 0 ran once: {records:#?}"
    );
    assert_eq!(bye(&records).as_deref(), Some("stopped: resumed run done"));
}

/// Without a successor the agent of a dead orchestrator leaves once the epoch-switch bound
/// has passed.
#[test]
fn a_dead_orchestrator_pid_without_a_successor_ends_the_agent_after_the_bound() {
    let h = Harness::new(task(json!({"worker": sleeping_worker(0.0)})));
    let (_dead, mut first) = claim_as(&h, dead_pid());
    let mut opts = h.options();
    opts.epoch_switch_timeout = Duration::from_secs(2);
    let started = Instant::now();
    let agent = h.spawn_agent(opts);
    send(&mut first, &[assign(0)]);
    assert_eq!(join(agent, T), AgentExit::OrchestratorGone);
    assert!(started.elapsed() >= Duration::from_secs(2));
    let records = h.outbox();
    assert_eq!(outcome_of(&records, 0), Some(Outcome::Done), "{records:#?}");
    let reason = bye(&records).unwrap();
    assert!(reason.contains("no newer orchestrator"), "{reason}");
}
