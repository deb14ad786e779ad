//! Creating ledgers, journals across epochs, split brain, snapshots vs full replay.

use std::fs;
use std::ops::ControlFlow;
use std::path::Path;

use blockorch::ledger::tasks_hash;
use blockorch::ledger::{
    BlockState, ClaimOptions, FailureKind, Journal, Ledger, LedgerError, LedgerState, LogReader,
    LogWriter, OrchestratorRecord, Outcome, RunEndReason, WarningKind,
};
use proptest::prelude::*;
use serde_json::json;

fn new_ledger(dir: &Path) -> Ledger {
    Ledger::create_or_open(dir.join("l"), &json!({"tasks": ["a", "b"]})).unwrap()
}

fn claim(l: &Ledger) -> Journal {
    let own = l.claim(&ClaimOptions::default()).unwrap();
    Journal::start(l, &own).unwrap()
}

fn register(j: &mut Journal, id: &str) -> u32 {
    let index = j.state().next_worker_index();
    j.append(OrchestratorRecord::WorkerRegistered {
        index,
        worker_id: id.into(),
        backend: "local".into(),
        job_id: None,
        time_us: 1,
    })
    .unwrap();
    j.commit().unwrap();
    index
}

fn assign(j: &mut Journal, task: u32, block: u64, worker: u32) -> u32 {
    let attempt = j.state().next_attempt(task, block);
    j.append(OrchestratorRecord::Assigned {
        task,
        block,
        attempt,
        worker,
        time_us: 2,
    })
    .unwrap();
    attempt
}

fn finish(
    task: u32,
    block: u64,
    attempt: u32,
    worker: u32,
    outcome: Outcome,
) -> OrchestratorRecord {
    OrchestratorRecord::Finished {
        task,
        block,
        attempt,
        worker,
        outcome,
        time_us: 3,
    }
}

/// Applies every record of every orchestrator log, in epoch order, ignoring seals.
fn full_replay(l: &Ledger) -> LedgerState {
    let mut s = LedgerState::new();
    for e in l.layout().list_orchestrator_logs().unwrap() {
        let mut r = LogReader::<OrchestratorRecord>::new(l.layout().orchestrator_log_path(e));
        r.poll_with(|rec| {
            s.apply(&rec);
            ControlFlow::Continue(())
        })
        .unwrap();
    }
    s
}

#[test]
fn create_open_and_plan_change() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("l");
    let tasks = json!({"tasks": [{"name": "seg"}]});
    let l = Ledger::create_or_open(&root, &tasks).unwrap();
    assert_eq!(l.header().plan_hash, tasks_hash(&tasks));
    assert_eq!(l.header().format, "blockorch-ledger");
    let again = Ledger::create_or_open(&root, &tasks).unwrap();
    assert_eq!(again.header().tasks, tasks);
    let new_tasks = json!({"tasks": [{"name": "seg2"}]});
    match Ledger::create_or_open(&root, &new_tasks).unwrap_err() {
        LedgerError::PlanChanged {
            old_hash,
            new_hash,
            old_tasks,
            new_tasks: nt,
            ..
        } => {
            assert_eq!(
                (old_hash, new_hash),
                (tasks_hash(&tasks), tasks_hash(&new_tasks))
            );
            assert_eq!((*old_tasks, *nt), (tasks.clone(), new_tasks));
        }
        other => panic!("unexpected {other}"),
    }
    // A non-empty directory that is not a ledger is refused and left alone.
    let home = dir.path().join("home");
    fs::create_dir(&home).unwrap();
    fs::write(home.join("thesis.tex"), b"...").unwrap();
    let err = Ledger::create_or_open(&home, &tasks).unwrap_err();
    assert!(err.to_string().contains("is not empty"), "{err}");
    assert_eq!(fs::read_dir(&home).unwrap().count(), 1);
    assert!(matches!(
        Ledger::open(dir.path().join("nothing")),
        Err(LedgerError::NotALedger { .. })
    ));
}

#[test]
fn resume_keeps_attempts_monotonic_and_fences_old_reports() {
    let dir = tempfile::tempdir().unwrap();
    let l = new_ledger(dir.path());
    let mut j1 = claim(&l);
    let w0 = register(&mut j1, "local-0");
    let a1 = assign(&mut j1, 0, 10, w0);
    let a2 = assign(&mut j1, 0, 11, w0);
    j1.commit().unwrap();
    j1.append(finish(0, 10, a1, w0, Outcome::Done)).unwrap();
    j1.commit().unwrap();
    j1.ownership().release().unwrap();
    drop(j1);

    // A new orchestrator: block 11 is orphaned (assigned in epoch 1).
    let mut j2 = claim(&l);
    assert_eq!(j2.epoch(), 2);
    assert_eq!(j2.state().block(0, 10).unwrap().state(), BlockState::Done);
    assert_eq!(j2.state().assigned_blocks(), vec![(0, 11, a2, w0)]);
    j2.append(OrchestratorRecord::Returned {
        task: 0,
        block: 11,
        attempt: a2,
        reason: "orchestrator restart".into(),
        counts_against_block: false,
        time_us: 4,
    })
    .unwrap();
    let w1 = register(&mut j2, "local-1");
    let b2 = assign(&mut j2, 0, 11, w1);
    assert!(b2 > a2);
    j2.commit().unwrap();
    // The old worker's late report of the returned attempt does not count...
    assert!(!j2.state().accepts_report(0, 11, a2, w0));
    j2.append(finish(0, 11, a2, w0, Outcome::Done)).unwrap();
    // ... nor does a duplicate Done of block 10.
    j2.append(finish(0, 10, a1, w0, Outcome::Done)).unwrap();
    j2.commit().unwrap();
    assert_eq!(
        j2.state().block(0, 11).unwrap().state(),
        BlockState::Assigned
    );
    assert_eq!(j2.state().stale_reports(), 2);
    assert_eq!(j2.state().task(0).unwrap().counts().done, 1);
    j2.append(finish(
        0,
        11,
        b2,
        w1,
        Outcome::Failed {
            kind: FailureKind::Timeout,
            message: "3600 s".into(),
        },
    ))
    .unwrap();
    j2.append(OrchestratorRecord::RunEnded {
        reason: RunEndReason::BlocksFailed,
        message: "1 block failed".into(),
        time_us: 5,
    })
    .unwrap();
    j2.commit().unwrap();

    let loaded = l.load_state().unwrap();
    assert_eq!(&loaded.state, j2.state());
    assert_eq!(loaded.state, full_replay(&l));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let e = loaded.state.block(0, 11).unwrap();
    assert_eq!(
        (e.state(), e.last_error()),
        (BlockState::Failed, Some("timeout: 3600 s"))
    );
    assert_eq!(loaded.state.epochs().len(), 2);
    assert_eq!(
        loaded.state.epochs()[1].ended.as_ref().unwrap().0,
        RunEndReason::BlocksFailed
    );
}

#[test]
fn split_brain_zombie_appends_after_takeover_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let l = new_ledger(dir.path());
    let mut zombie = claim(&l);
    let w = register(&mut zombie, "w");
    let a = assign(&mut zombie, 1, 5, w);
    zombie.commit().unwrap();
    zombie.write_snapshot().unwrap();

    // A second orchestrator forces a takeover while the first still runs.
    let own2 = l
        .claim(&ClaimOptions {
            force: true,
            ..ClaimOptions::default()
        })
        .unwrap();
    let mut j2 = Journal::start(&l, &own2).unwrap();
    // The zombie has not noticed yet: it records a completion, and snapshots it.
    zombie.append(finish(1, 5, a, w, Outcome::Done)).unwrap();
    zombie.commit().unwrap();
    zombie.write_snapshot().unwrap();
    assert!(!zombie.ownership().still_owner().unwrap());
    assert!(matches!(
        zombie.prune_snapshots(1),
        Err(LedgerError::Superseded { .. })
    ));

    // The new owner re-assigns the block; its view is the fold for everyone.
    let b = assign(&mut j2, 1, 5, w);
    j2.commit().unwrap();
    let loaded = l.load_state().unwrap();
    assert_eq!(&loaded.state, j2.state());
    assert_eq!(
        loaded.state.block(1, 5).unwrap().state(),
        BlockState::Assigned
    );
    assert_eq!(loaded.state.block(1, 5).unwrap().last_attempt(), b);
    let kinds: Vec<_> = loaded.warnings.iter().map(|w| w.kind.clone()).collect();
    assert!(
        kinds.contains(&WarningKind::AfterTakeover { sealed_by: 2 }),
        "{kinds:?}"
    );
    assert!(
        kinds
            .iter()
            .any(|k| matches!(k, WarningKind::SnapshotSkipped { .. })),
        "the zombie's late snapshot must be skipped: {kinds:?}"
    );
    // The fold started from the zombie's pre-takeover snapshot (still consistent).
    assert!(loaded
        .snapshot
        .unwrap()
        .ends_with("snapshot-00000001-00000001.bin"));

    // After the new owner snapshots, a third epoch sees the same.
    j2.write_snapshot().unwrap();
    assert_eq!(j2.prune_snapshots(1).unwrap(), 2);
    let loaded = l.load_state().unwrap();
    assert_eq!(&loaded.state, j2.state());
    assert!(loaded
        .snapshot
        .unwrap()
        .ends_with("snapshot-00000002-00000001.bin"));
}

#[test]
fn torn_tail_of_a_crashed_orchestrator_is_reported_and_sealed() {
    let dir = tempfile::tempdir().unwrap();
    let l = new_ledger(dir.path());
    let mut j1 = claim(&l);
    let w = register(&mut j1, "w");
    assign(&mut j1, 0, 1, w);
    j1.commit().unwrap();
    let good = j1.state().clone();
    let path = l.layout().orchestrator_log_path(1);
    let good_len = fs::metadata(&path).unwrap().len();
    // Crash midway through the next commit.
    assign(&mut j1, 0, 2, w);
    j1.commit().unwrap();
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
    drop(j1);

    let loaded = l.load_state().unwrap();
    assert_eq!(loaded.state, good);
    assert_eq!(loaded.warnings.len(), 1);
    assert_eq!(loaded.warnings[0].kind, WarningKind::TornTail);
    assert_eq!(loaded.warnings[0].offset, good_len);
    // The next owner (the crashed one's pid is this live process: force) seals at the good
    // length; the torn bytes stay ignored.
    let own = l
        .claim(&ClaimOptions {
            force: true,
            ..ClaimOptions::default()
        })
        .unwrap();
    let j2 = Journal::start(&l, &own).unwrap();
    assert_eq!(j2.state().block(0, 2), None);
    assert_eq!(j2.coverage()[0].offset, good_len);
}

#[derive(Clone, Debug)]
enum Op {
    Record(OrchestratorRecord),
    Commit,
    Snapshot,
    Restart,
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        Just(Outcome::Done),
        Just(Outcome::Skipped),
        (0..5u8).prop_map(|k| Outcome::Failed {
            kind: [
                FailureKind::BlockError,
                FailureKind::Timeout,
                FailureKind::CheckFailed,
                FailureKind::ProgramDied,
                FailureKind::OutOfMemory
            ][k as usize],
            message: format!("m{k}"),
        }),
    ]
}

fn record() -> impl Strategy<Value = OrchestratorRecord> {
    let task = 0..2u32;
    let block = 0..6u64;
    let attempt = 0..5u32;
    let worker = 0..3u32;
    prop_oneof![
        1 => (0..4u32).prop_map(|i| OrchestratorRecord::WorkerRegistered {
            index: i,
            worker_id: format!("w{i}"),
            backend: "slurm".into(),
            job_id: Some(format!("{i}")),
            time_us: 1,
        }),
        3 => (task.clone(), block.clone(), attempt.clone(), worker.clone())
            .prop_map(|(task, block, attempt, worker)| OrchestratorRecord::Assigned {
                task, block, attempt, worker, time_us: 2 }),
        3 => (task.clone(), block.clone(), attempt.clone(), worker.clone(), outcome())
            .prop_map(|(task, block, attempt, worker, outcome)| OrchestratorRecord::Finished {
                task, block, attempt, worker, outcome, time_us: 3 }),
        1 => (task.clone(), block, attempt, any::<bool>()).prop_map(|(task, block, attempt, c)| {
            OrchestratorRecord::Returned {
                task, block, attempt, reason: "preempted".into(),
                counts_against_block: c, time_us: 4 }
        }),
        1 => Just(OrchestratorRecord::RetryBudgetReset { time_us: 5 }),
        1 => (worker, ".*").prop_map(|(worker, reason)| OrchestratorRecord::WorkerEnded {
            worker, reason, time_us: 6 }),
        1 => task.prop_map(|task| OrchestratorRecord::TaskInit {
            task, ok: task == 0, output_tail: "init\n".into(), time_us: 7 }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => record().prop_map(Op::Record),
        3 => Just(Op::Commit),
        1 => Just(Op::Snapshot),
        1 => Just(Op::Restart),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn snapshot_plus_tail_equals_full_replay(ops in prop::collection::vec(op(), 1..60)) {
        let dir = tempfile::tempdir().unwrap();
        let l = new_ledger(dir.path());
        let mut j = claim(&l);
        for op in ops {
            match op {
                Op::Record(r) => j.append(r).unwrap(),
                Op::Commit => { j.commit().unwrap(); }
                Op::Snapshot => { j.write_snapshot().unwrap(); }
                Op::Restart => {
                    j.commit().unwrap();
                    j.ownership().release().unwrap();
                    j = claim(&l);
                }
            }
        }
        j.commit().unwrap();
        let replay = full_replay(&l);
        prop_assert_eq!(j.state(), &replay);
        let loaded = l.load_state().unwrap();
        prop_assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        prop_assert_eq!(&loaded.state, &replay);
        // Without snapshots the fold is the same.
        fs::remove_dir_all(l.layout().snapshots_dir()).unwrap();
        prop_assert_eq!(l.load_state().unwrap().state, replay);
    }
}

#[test]
fn journal_applies_records_only_after_commit() {
    let dir = tempfile::tempdir().unwrap();
    let l = new_ledger(dir.path());
    let mut j = claim(&l);
    let w = register(&mut j, "w");
    let before = j.state().clone();
    assign(&mut j, 0, 1, w);
    assert_eq!(j.state(), &before);
    assert_eq!(j.commit().unwrap(), 1);
    assert_ne!(j.state(), &before);
    // Writers of other epochs cannot be opened as a different kind of log.
    assert!(LogWriter::<blockorch::ledger::InboxRecord>::open_append(
        l.layout().orchestrator_log_path(1)
    )
    .is_err());
}
