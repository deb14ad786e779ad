//! Load time of a ledger with 10^6 done blocks (ignored by default; run in release mode):
//! `cargo test --release --test ledger_perf -- --ignored --nocapture`.

use std::time::{Duration, Instant};

use blockorch::ledger::{ClaimOptions, Journal, Ledger, LedgerView, OrchestratorRecord, Outcome};
use serde_json::json;

const BLOCKS: u64 = 1_000_000;
const WORKERS: u32 = 100;

fn timed<T>(what: &str, f: impl FnOnce() -> T) -> (T, Duration) {
    let start = Instant::now();
    let out = f();
    let took = start.elapsed();
    println!("{what}: {took:.2?}");
    (out, took)
}

#[test]
#[ignore = "benchmark: run in release mode with --ignored"]
fn load_a_million_done_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("big.ledger");
    let l = Ledger::create_or_open(&root, &json!({"tasks": ["t"]})).unwrap();
    let own = l.claim(&ClaimOptions::default()).unwrap();
    let mut j = Journal::start(&l, &own).unwrap();
    timed("write 2e6 records (group commits of 20k)", || {
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
        for b in 0..BLOCKS {
            let worker = (b % u64::from(WORKERS)) as u32;
            let block = b * 7 + 3; // sparse ids, as daisy's are
            j.append(OrchestratorRecord::Assigned {
                task: 0,
                block,
                attempt: 1,
                worker,
                time_us: 1_700_000_000_000_000 + b,
            })
            .unwrap();
            j.append(OrchestratorRecord::Finished {
                task: 0,
                block,
                attempt: 1,
                worker,
                outcome: Outcome::Done,
                time_us: 1_700_000_000_000_000 + b,
            })
            .unwrap();
            if b % 10_000 == 9_999 {
                j.commit().unwrap();
            }
        }
        j.commit().unwrap();
    });
    assert_eq!(j.state().total_counts().done, BLOCKS);
    let log_len = std::fs::metadata(l.layout().orchestrator_log_path(1))
        .unwrap()
        .len();
    println!("orchestrator log: {} MB", log_len / 1_000_000);

    let (loaded, replay) = timed("load_state without snapshot (full replay)", || {
        l.load_state().unwrap()
    });
    assert_eq!(&loaded.state, j.state());
    drop(loaded);

    let (path, _) = timed("write_snapshot", || j.write_snapshot().unwrap());
    println!(
        "snapshot: {} MB",
        std::fs::metadata(&path).unwrap().len() / 1_000_000
    );
    // A tail after the snapshot, as after a while of running.
    for b in 0..10_000u64 {
        j.append(OrchestratorRecord::Assigned {
            task: 0,
            block: BLOCKS * 7 + b,
            attempt: 1,
            worker: 0,
            time_us: 2,
        })
        .unwrap();
    }
    j.commit().unwrap();

    let (loaded, resume) = timed("load_state (snapshot + tail): resume", || {
        l.load_state().unwrap()
    });
    assert_eq!(&loaded.state, j.state());
    assert!(loaded.snapshot.is_some());
    let (view, status) = timed("LedgerView::open: status", || {
        LedgerView::open(&root).unwrap()
    });
    assert_eq!(view.loaded.state.total_counts().done, BLOCKS);
    if !cfg!(debug_assertions) {
        assert!(resume < Duration::from_secs(1), "resume took {resume:?}");
        assert!(status < Duration::from_secs(1), "status took {status:?}");
    }
    let _ = replay;
}
