//! SIGTERM to a real `blockorch worker` process: it gives its unfinished blocks back,
//! terminates its program, says Bye and exits 143.

#[path = "fixtures/workers/harness.rs"]
mod harness;

use blockorch::ledger::OutboxRecord;
use harness::*;
use serde_json::json;
use std::process::Command;
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(20);

#[test]
fn sigterm_gives_back_in_flight_and_queued_blocks() {
    gives_back_on(libc::SIGTERM, "SIGTERM");
}

/// LSF sends SIGUSR2 at the run limit: the agent gives its blocks back just as on SIGTERM.
#[test]
fn sigusr2_gives_back_in_flight_and_queued_blocks() {
    gives_back_on(libc::SIGUSR2, "SIGUSR2");
}

/// A real `blockorch worker` process for the harness's worker, with `kill_grace` seconds
/// between SIGTERM and SIGKILL of its programs.
fn spawn_agent(h: &Harness, kill_grace: &str) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_blockorch"))
        .arg("worker")
        .arg("--ledger")
        .arg(h.ledger.root())
        .args(["--task", "t", "--worker-id", h.worker.as_str()])
        .arg("--workdir")
        .arg(&h.workdir)
        .args(["--poll-ms", "20", "--kill-grace", kill_grace])
        .spawn()
        .unwrap()
}

fn gives_back_on(signal: i32, name: &str) {
    let mut h = Harness::new(task(json!({
        "worker": python_worker("misbehave.py", &[], false),
    })));
    let mut agent = spawn_agent(&h, "1");
    h.assign(&[2, 3]);
    let victim: i32 = wait_file(&h.workdir.join("victim.pid"), T).parse().unwrap();
    // SAFETY: kill has no memory-safety preconditions.
    assert_eq!(unsafe { libc::kill(agent.id() as i32, signal) }, 0);
    let until = Instant::now() + T;
    let status = loop {
        if let Some(status) = agent.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < until,
            "the agent did not exit after {name}"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(status.code(), Some(128 + signal));
    let records = h.outbox();
    let given_back: Vec<(u64, String)> = records
        .iter()
        .filter_map(|r| match r {
            OutboxRecord::Abandoned { block, reason, .. } => Some((*block, reason.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        given_back,
        [
            (3, format!("agent terminated ({name})")),
            (2, format!("agent terminated ({name})"))
        ]
    );
    assert!(finished(&records).is_empty(), "{records:#?}");
    assert!(bye(&records).unwrap().contains(name));
    assert!(matches!(records.last(), Some(OutboxRecord::Bye { .. })));
    assert!(!running(victim), "the program was terminated");
}

/// The defect of issue 8: a program that finishes its block after SIGTERM (a Python worker
/// in a long numpy call) kept writing while its block was already given back. Now the block
/// is reported done, and nothing is given back before the program's last write.
#[test]
fn a_block_is_never_given_back_while_its_program_still_runs() {
    let mut h = Harness::new(task(json!({
        "worker": python_worker("finish_on_term.py", &["1.5"], false),
    })));
    let mut agent = spawn_agent(&h, "5");
    h.assign(&[1, 2]);
    wait_file(&h.workdir.join("worker.pid"), T);
    // SAFETY: kill has no memory-safety preconditions.
    assert_eq!(unsafe { libc::kill(agent.id() as i32, libc::SIGTERM) }, 0);
    let until = Instant::now() + T;
    while agent.try_wait().unwrap().is_none() {
        assert!(Instant::now() < until, "the agent did not exit");
        std::thread::sleep(Duration::from_millis(10));
    }
    let log = std::fs::read_to_string(h.workdir.join("blocks.log")).unwrap();
    let ends: Vec<(u64, u64)> = log
        .lines()
        .map(|l| {
            let f: Vec<u64> = l.split(' ').map(|v| v.parse().unwrap()).collect();
            (f[1], f[3] / 1000)
        })
        .collect();
    assert_eq!(ends.len(), 1, "only block 1 ran: {log}");
    let (block, end_us) = ends[0];
    assert_eq!(block, 1);
    let records = h.outbox();
    for r in &records {
        if let OutboxRecord::Abandoned { block, time_us, .. } = r {
            assert!(
                *block != 1 || *time_us >= end_us,
                "block 1 given back at {time_us} while its program wrote until {end_us}"
            );
        }
    }
    assert_eq!(
        outcome_of(&records, 1),
        Some(blockorch::ledger::Outcome::Done),
        "its report during the grace counts: {records:#?}"
    );
}

#[test]
fn unknown_task_is_refused_naming_the_known_tasks() {
    let h = Harness::new(task(json!({
        "worker": python_worker("persistent.py", &[], false),
    })));
    let out = Command::new(env!("CARGO_BIN_EXE_blockorch"))
        .arg("worker")
        .arg("--ledger")
        .arg(h.ledger.root())
        .args(["--task", "nope", "--worker-id", "w-x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no task \"nope\""), "{stderr}");
    assert!(stderr.contains("(its tasks: t)"), "{stderr}");
}
