//! Damage to the ledger's caches and logs, end to end on the local backend: a deleted epoch
//! log does not make a finished run's blocks run again (its last snapshot stands in for it),
//! and a `snapshots/` directory that cannot be written only warns.

mod run_common;

use blockorch::ledger::BlockState;
use run_common::*;

fn tasks() -> Vec<serde_json::Value> {
    vec![task(
        "a",
        (&[0, 0], &[12, 12]),
        (&[0, 0], &[4, 4]),
        (&[0, 0], &[4, 4]),
        serde_json::json!({"num_workers": 2, "worker": blockwork(None)}),
    )]
}

#[test]
fn deleting_the_epoch_log_of_a_finished_run_reruns_nothing() {
    let job = Job::new(&tasks());
    let out = job.submit(&["--quiet"]);
    assert_eq!(out.code, Some(0), "{}", out.text());
    let ran = job.attempts().len();
    assert_eq!(ran, 9);
    std::fs::remove_file(job.ledger().join("orchestrator/epoch-00000001.log")).unwrap();

    let out = job.submit(&["--quiet"]);
    assert_eq!(out.code, Some(0), "{}", out.text());
    assert!(
        out.stderr.contains("epoch-00000001.log is missing"),
        "{}",
        out.text()
    );
    assert_eq!(job.attempts().len(), ran, "blocks ran again");
    let state = job.ledger_state();
    assert_eq!(state.tasks()[0].counts().get(BlockState::Done), 9);
    // And once more: the new epoch sealed the deleted log where the snapshot covers it.
    let out = job.submit(&["--quiet"]);
    assert_eq!(out.code, Some(0), "{}", out.text());
    assert_eq!(job.attempts().len(), ran, "blocks ran again");
}

#[test]
fn deleting_the_epoch_log_of_a_killed_run_is_refused() {
    let job = Job::new(&[task(
        "a",
        (&[0, 0], &[12, 12]),
        (&[0, 0], &[4, 4]),
        (&[0, 0], &[4, 4]),
        serde_json::json!({"worker": blockwork(Some((300, 300)))}),
    )]);
    let mut running = job.spawn_submit(&["--quiet"]);
    let deadline = std::time::Instant::now() + SAFETY;
    while job.attempts().len() < 2 {
        assert!(running.exited().is_none(), "the run ended early");
        assert!(std::time::Instant::now() < deadline, "no block finished");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    running.kill9();
    std::fs::remove_file(job.ledger().join("orchestrator/epoch-00000001.log")).unwrap();
    let out = job.submit(&["--quiet"]);
    assert_eq!(out.code, Some(1), "{}", out.text());
    assert!(
        out.stderr.contains("epoch-00000001.log is missing"),
        "{}",
        out.text()
    );
    assert!(out.stderr.contains("run again"), "{}", out.text());
}

#[test]
fn an_unwritable_snapshots_directory_only_warns() {
    let job = Job::new(&tasks());
    // A real ledger (a run killed as soon as its header exists), then snapshots/ made a
    // place nobody can create files in, not even root (the tests run as root, for whom a
    // chmod 555 directory is still writable).
    let running = job.spawn_submit(&["--quiet"]);
    let header = job.ledger().join("ledger.json");
    let until = std::time::Instant::now() + SAFETY;
    while !header.exists() {
        assert!(std::time::Instant::now() < until, "no ledger.json");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    running.kill9();
    let snapshots = job.ledger().join("snapshots");
    let _ = std::fs::remove_dir_all(&snapshots);
    std::os::unix::fs::symlink("/proc/self", &snapshots).unwrap();

    let out = job.submit(&["--quiet"]);
    assert_eq!(out.code, Some(0), "{}", out.text());
    assert!(
        out.stderr.contains("cannot write a snapshot"),
        "{}",
        out.text()
    );
    assert!(
        !out.stderr.contains('\u{1b}'),
        "colour codes in logs that go to a file: {:?}",
        out.stderr
    );
    assert_eq!(
        job.ledger_state().tasks()[0].counts().get(BlockState::Done),
        9
    );
}
