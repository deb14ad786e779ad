//! A deleted orchestrator log: the snapshot that provably holds all of it is used (done blocks
//! stay done, across later epochs too); where nothing provably holds it, loading is refused
//! with an error naming the file instead of silently forgetting done blocks.

use std::fs;
use std::path::Path;

use blockorch::ledger::{
    BlockState, ClaimOptions, Journal, Ledger, LedgerError, OrchestratorRecord, Outcome,
    WarningKind,
};
use serde_json::json;

fn new_ledger(dir: &Path) -> Ledger {
    Ledger::create_or_open(dir.join("l"), &json!({"tasks": ["a"]})).unwrap()
}

/// Claims the next epoch, taking over from an owner that did not release (as after kill -9).
fn claim(l: &Ledger) -> Journal {
    let own = l.claim(&force()).unwrap();
    Journal::start(l, &own).unwrap()
}

fn force() -> ClaimOptions {
    ClaimOptions {
        force: true,
        ..ClaimOptions::default()
    }
}

/// Registers a worker and finishes `blocks` of task 0 with it, committed.
fn run_blocks(j: &mut Journal, worker_id: &str, blocks: std::ops::Range<u64>) {
    let worker = j.state().next_worker_index();
    j.append(OrchestratorRecord::WorkerRegistered {
        index: worker,
        worker_id: worker_id.into(),
        backend: "local".into(),
        job_id: None,
        time_us: 1,
    })
    .unwrap();
    j.commit().unwrap();
    for block in blocks {
        let attempt = j.state().next_attempt(0, block);
        for record in [
            OrchestratorRecord::Assigned {
                task: 0,
                block,
                attempt,
                worker,
                time_us: 2,
            },
            OrchestratorRecord::Finished {
                task: 0,
                block,
                attempt,
                worker,
                outcome: Outcome::Done,
                time_us: 3,
            },
        ] {
            j.append(record).unwrap();
        }
    }
    j.commit().unwrap();
}

fn done(l: &Ledger) -> u64 {
    l.load_state()
        .unwrap()
        .state
        .tasks()
        .first()
        .map_or(0, |t| t.counts().get(BlockState::Done))
}

fn delete_log(l: &Ledger, epoch: u64) {
    fs::remove_file(l.layout().orchestrator_log_path(epoch)).unwrap();
}

#[test]
fn the_final_snapshot_of_a_released_run_stands_in_for_its_deleted_log() {
    let dir = tempfile::tempdir().unwrap();
    let l = new_ledger(dir.path());
    let mut j = claim(&l);
    run_blocks(&mut j, "w1", 0..10);
    j.write_snapshot().unwrap();
    j.ownership().release().unwrap();
    drop(j);
    delete_log(&l, 1);

    let loaded = l.load_state().unwrap();
    assert_eq!(loaded.state.tasks()[0].counts().get(BlockState::Done), 10);
    assert!(
        loaded
            .warnings
            .iter()
            .any(|w| matches!(w.kind, WarningKind::LogMissing { .. })
                && w.to_string().contains("is missing")),
        "{:?}",
        loaded.warnings
    );
    // A new epoch seals the deleted log where the snapshot covers it, so later folds (with or
    // without a newer snapshot) keep the done blocks.
    let mut j2 = claim(&l);
    run_blocks(&mut j2, "w2", 10..12);
    drop(j2);
    assert_eq!(done(&l), 12);
    let mut j3 = claim(&l);
    j3.write_snapshot().unwrap();
    j3.ownership().release().unwrap();
    drop(j3);
    assert_eq!(done(&l), 12);
}

#[test]
fn a_deleted_log_of_a_run_that_did_not_end_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let l = new_ledger(dir.path());
    let mut j = claim(&l);
    run_blocks(&mut j, "w1", 0..10);
    j.write_snapshot().unwrap();
    // Blocks done after the snapshot; then the orchestrator is killed (no release).
    run_blocks(&mut j, "w2", 10..15);
    drop(j);
    delete_log(&l, 1);
    let err = l.load_state().unwrap_err();
    assert!(matches!(err, LedgerError::HistoryMissing { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("epoch-00000001.log is missing"), "{text}");
    assert!(text.contains("run again"), "{text}");
    // A new orchestrator cannot start on it either (it would rerun blocks 10..15), and is
    // refused before it claims an epoch: the refusal writes nothing.
    let before = l.layout().list_epoch_claims().unwrap();
    assert!(matches!(
        l.claim(&force()),
        Err(LedgerError::HistoryMissing { .. })
    ));
    assert_eq!(l.layout().list_epoch_claims().unwrap(), before);
    assert!(!l.layout().heartbeat_path(2).exists());
}

#[test]
fn a_deleted_older_log_is_covered_by_the_newer_epochs_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let l = new_ledger(dir.path());
    let mut j1 = claim(&l);
    run_blocks(&mut j1, "w1", 0..6);
    drop(j1); // killed, no snapshot: epoch 2 seals its log
    let mut j2 = claim(&l);
    run_blocks(&mut j2, "w2", 6..9);
    j2.write_snapshot().unwrap();
    drop(j2);
    delete_log(&l, 1);
    assert_eq!(done(&l), 9);
}

#[test]
fn a_deleted_older_log_without_any_snapshot_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let l = new_ledger(dir.path());
    let mut j1 = claim(&l);
    run_blocks(&mut j1, "w1", 0..6);
    drop(j1);
    let j2 = claim(&l);
    drop(j2);
    delete_log(&l, 1);
    let err = l.load_state().unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("epoch 2 read") && text.contains("epoch-00000001.log is missing"),
        "{text}"
    );
}
