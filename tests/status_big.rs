//! `status` on a ledger with 10^6 done blocks, built cheaply through the `Journal` API.
//!
//! The counts test runs by default; the timing is informational and ignored by default:
//! `cargo test --release --test status_big -- --ignored --nocapture`.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use blockorch::ledger::{ClaimOptions, Journal, Ledger, OrchestratorRecord, Outcome, RunEndReason};
use blockorch::status::{LedgerSnapshot, NoScheduler, OwnerState};
use blockorch::task::parse_task_file;
use serde_json::json;

const SIDE: i64 = 1000;
const WORKERS: u32 = 100;

/// The task file stored in the ledger: one 1000 × 1000 grid of 1-voxel blocks.
fn tasks() -> serde_json::Value {
    json!({"tasks": [{
        "name": "big",
        "total_roi": {"offset": [0, 0], "shape": [SIDE, SIDE]},
        "read_roi": {"offset": [0, 0], "shape": [1, 1]},
        "write_roi": {"offset": [0, 0], "shape": [1, 1]},
        "worker": {"command": ["true"]}
    }]})
}

/// Creates a ledger at `root` whose every block is done (all but `failed`, which failed),
/// with a snapshot, a tail after it, and a recorded end of the run.
fn build(root: &Path, failed: Option<u64>) -> u64 {
    let file = parse_task_file("t.json", &tasks().to_string()).unwrap();
    let plan = file.plan().unwrap();
    let ids: Vec<u64> = plan.task(0).blocks().map(|b| b.id).collect();
    let l = Ledger::create_or_open(root, &tasks()).unwrap();
    let own = l.claim(&ClaimOptions::default()).unwrap();
    let mut j = Journal::start(&l, &own).unwrap();
    for w in 0..WORKERS {
        j.append(OrchestratorRecord::WorkerRegistered {
            index: w,
            worker_id: format!("slurm-1000_{w}"),
            backend: "slurm".into(),
            job_id: Some(format!("1000_{w}")),
            time_us: 1,
        })
        .unwrap();
    }
    let t0 = blockorch::ledger::now_us();
    for (i, &block) in ids.iter().enumerate() {
        let worker = (i as u64 % u64::from(WORKERS)) as u32;
        let time_us = t0 + i as u64;
        j.append(OrchestratorRecord::Assigned {
            task: 0,
            block,
            attempt: 1,
            worker,
            time_us,
        })
        .unwrap();
        let outcome = if Some(block) == failed {
            Outcome::Failed {
                kind: blockorch::ledger::FailureKind::BlockError,
                message: "boom".into(),
            }
        } else {
            Outcome::Done
        };
        j.append(OrchestratorRecord::Finished {
            task: 0,
            block,
            attempt: 1,
            worker,
            outcome,
            time_us,
        })
        .unwrap();
        if i % 50_000 == 49_999 {
            j.commit().unwrap();
        }
        if i == ids.len() - 1000 {
            j.write_snapshot().unwrap();
        }
    }
    for w in 0..WORKERS {
        j.append(OrchestratorRecord::WorkerEnded {
            worker: w,
            reason: "finished".into(),
            time_us: t0,
        })
        .unwrap();
    }
    j.append(OrchestratorRecord::RunEnded {
        reason: RunEndReason::Completed,
        message: "done".into(),
        time_us: t0,
    })
    .unwrap();
    j.commit().unwrap();
    own.release().unwrap();
    ids.len() as u64
}

#[test]
fn a_million_done_blocks_are_counted_from_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("big.ledger");
    let n = build(&root, None);
    assert_eq!(n, (SIDE * SIDE) as u64);
    let snap = LedgerSnapshot::load(&root).unwrap();
    assert!(
        snap.view().loaded.snapshot.is_some(),
        "the fold uses the snapshot"
    );
    assert!(
        !snap.orphans_computed(),
        "no per-block scan without failures"
    );
    let r = snap.report(&mut NoScheduler).unwrap();
    let t = &r.tasks[0];
    assert_eq!(
        (
            t.counts.total,
            t.counts.done,
            t.counts.pending,
            t.counts.orphaned
        ),
        (n, n, 0, 0)
    );
    assert_eq!(r.workers.workers.len(), WORKERS as usize);
    assert_eq!(r.workers.counts.ended, u64::from(WORKERS));
    assert_eq!(r.owner.as_ref().unwrap().state, OwnerState::Ended);
    assert!(r.run_over);
}

#[test]
#[ignore = "benchmark: run in release mode with --ignored --nocapture"]
fn status_time_on_a_million_done_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("big.ledger");
    let started = Instant::now();
    build(&root, None);
    println!("built 10^6 done blocks in {:.2?}", started.elapsed());
    for _ in 0..3 {
        let started = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_blockorch"))
            .arg("status")
            .arg(&root)
            .output()
            .unwrap();
        assert!(out.status.success());
        println!("blockorch status: {:.2?}", started.elapsed());
        let started = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_blockorch"))
            .args(["status", "--json"])
            .arg(&root)
            .output()
            .unwrap();
        assert!(out.status.success());
        println!("blockorch status --json: {:.2?}", started.elapsed());
    }
    let started = Instant::now();
    let snap = LedgerSnapshot::load(&root).unwrap();
    let report = snap.report(&mut NoScheduler).unwrap();
    println!("library load + report: {:.2?}", started.elapsed());
    assert_eq!(report.totals.counts.done, (SIDE * SIDE) as u64);

    // With one failed block the orphan scan runs over every block.
    let dir2 = tempfile::tempdir().unwrap();
    let root2 = dir2.path().join("failed.ledger");
    build(&root2, Some(0));
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_blockorch"))
        .arg("status")
        .arg(&root2)
        .output()
        .unwrap();
    assert!(out.status.success());
    println!(
        "blockorch status with one failed block (orphan scan): {:.2?}",
        started.elapsed()
    );
}
