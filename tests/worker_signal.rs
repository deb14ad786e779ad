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

fn gives_back_on(signal: i32, name: &str) {
    let mut h = Harness::new(task(json!({
        "worker": python_worker("misbehave.py", &[], false),
    })));
    let mut agent = Command::new(env!("CARGO_BIN_EXE_blockorch"))
        .arg("worker")
        .arg("--ledger")
        .arg(h.ledger.root())
        .args(["--task", "t", "--worker-id", h.worker.as_str()])
        .arg("--workdir")
        .arg(&h.workdir)
        .args(["--poll-ms", "20", "--kill-grace", "1"])
        .spawn()
        .unwrap();
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
