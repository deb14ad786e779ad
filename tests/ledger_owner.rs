//! One orchestrator per ledger: epochs, Busy, stale takeover, force, racing claimants.

use std::sync::{Arc, Barrier};
use std::time::Duration;

use blockorch::ledger::{
    format_utc, hostname, now_us, ClaimOptions, Ledger, LedgerError, Liveness,
};
use serde_json::json;

fn ledger(dir: &std::path::Path) -> Ledger {
    Ledger::create_or_open(dir.join("run.ledger"), &json!({"tasks": []})).unwrap()
}

fn as_host(host: &str, pid: u32) -> ClaimOptions {
    ClaimOptions {
        host: host.to_string(),
        pid,
        ..ClaimOptions::default()
    }
}

fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

#[test]
fn live_owner_on_this_host_makes_second_claim_busy() {
    let dir = tempfile::tempdir().unwrap();
    let l = ledger(dir.path());
    assert!(l.current_owner().unwrap().is_none());
    let first = l.claim(&ClaimOptions::default()).unwrap();
    assert_eq!(first.epoch(), 1);
    let err = l.claim(&ClaimOptions::default()).unwrap_err();
    match &err {
        LedgerError::Busy {
            epoch,
            host,
            pid,
            since_us,
            heartbeat_age,
            ..
        } => {
            assert_eq!(*epoch, 1);
            assert_eq!(host, &hostname());
            assert_eq!(*pid, std::process::id());
            assert_eq!(*since_us, first.since_us());
            assert!(heartbeat_age.unwrap() < Duration::from_secs(30));
        }
        other => panic!("unexpected {other}"),
    }
    let msg = err.to_string();
    assert!(msg.contains(&format!(
        "pid {} on host {}",
        std::process::id(),
        hostname()
    )));
    assert!(msg.contains(&format_utc(first.since_us())), "{msg}");
    let owner = l.current_owner().unwrap().unwrap();
    assert_eq!((owner.epoch, owner.pid_alive), (1, Some(true)));
    assert_eq!(
        owner.liveness(now_us(), Duration::from_secs(60)),
        Liveness::Live
    );
    assert!(first.still_owner().unwrap());
}

#[test]
fn dead_pid_on_this_host_is_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let l = ledger(dir.path());
    let old = l.claim(&as_host(&hostname(), dead_pid())).unwrap();
    old.heartbeat_at(now_us()).unwrap(); // a fresh heartbeat does not save a dead pid
    let owner = l.current_owner().unwrap().unwrap();
    assert_eq!(
        owner.liveness(now_us(), Duration::from_secs(60)),
        Liveness::DeadPid
    );
    let new = l.claim(&ClaimOptions::default()).unwrap();
    assert_eq!(new.epoch(), 2);
    assert!(!old.still_owner().unwrap());
    assert!(matches!(
        old.heartbeat().unwrap_err(),
        LedgerError::Superseded {
            epoch: 1,
            newer: 2,
            ..
        }
    ));
    assert!(new.still_owner().unwrap());
}

#[test]
fn remote_owner_is_judged_by_heartbeat_age() {
    let dir = tempfile::tempdir().unwrap();
    let l = ledger(dir.path());
    let remote = l.claim(&as_host("node-elsewhere", 77)).unwrap();
    // Fresh heartbeat: busy (the pid cannot be checked on another host).
    let err = l.claim(&ClaimOptions::default()).unwrap_err();
    assert!(
        matches!(&err, LedgerError::Busy { host, pid: 77, .. } if host == "node-elsewhere"),
        "{err}"
    );
    // Heartbeat two minutes old: stale with the default bound.
    remote.heartbeat_at(now_us() - 120_000_000).unwrap();
    let owner = l.current_owner().unwrap().unwrap();
    assert_eq!(owner.pid_alive, None);
    assert!(matches!(
        owner.liveness(now_us(), Duration::from_secs(60)),
        Liveness::HeartbeatStale(age) if age >= Duration::from_secs(119)
    ));
    // ... but not with a longer bound.
    let patient = ClaimOptions {
        stale_after: Duration::from_secs(600),
        ..ClaimOptions::default()
    };
    assert!(matches!(l.claim(&patient), Err(LedgerError::Busy { .. })));
    let new = l.claim(&ClaimOptions::default()).unwrap();
    assert_eq!(new.epoch(), 2);
    assert!(!remote.still_owner().unwrap());
}

#[test]
fn force_takes_over_a_live_owner() {
    let dir = tempfile::tempdir().unwrap();
    let l = ledger(dir.path());
    let live = l.claim(&as_host("node-a", 1)).unwrap();
    let forced = l
        .claim(&ClaimOptions {
            force: true,
            ..ClaimOptions::default()
        })
        .unwrap();
    assert_eq!(forced.epoch(), 2);
    assert!(!live.still_owner().unwrap());
    assert!(forced.still_owner().unwrap());
}

#[test]
fn released_owner_is_free_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let l = ledger(dir.path());
    let a = l.claim(&as_host("node-a", 1)).unwrap();
    a.release().unwrap();
    assert!(l.current_owner().unwrap().unwrap().released);
    assert_eq!(l.claim(&ClaimOptions::default()).unwrap().epoch(), 2);
}

#[test]
fn racing_claimants_exactly_one_wins() {
    for round in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let l = ledger(dir.path());
        if round % 2 == 1 {
            // Also race for a takeover of a stale owner.
            l.claim(&as_host(&hostname(), dead_pid())).unwrap();
        }
        let n = 8;
        let barrier = Arc::new(Barrier::new(n));
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let l = l.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    l.claim(&as_host(&format!("node-{i}"), 100 + i as u32))
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(winners.len(), 1, "round {round}");
        let winner = winners[0];
        for r in &results {
            if let Err(e) = r {
                match e {
                    LedgerError::Busy {
                        epoch, host, pid, ..
                    } => {
                        assert_eq!(*epoch, winner.epoch(), "round {round}");
                        assert_eq!((host.as_str(), *pid), (winner.host(), winner.pid()));
                    }
                    other => panic!("round {round}: unexpected {other}"),
                }
            }
        }
        let claims = l.layout().list_epoch_claims().unwrap();
        assert_eq!(claims.last(), Some(&winner.epoch()));
        // No temporary files are left in owners/.
        let stray: Vec<_> = std::fs::read_dir(l.layout().owners_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(stray.is_empty(), "{stray:?}");
    }
}

/// A log whose file header is damaged (or of another kind) would be refused right after the
/// claim; it is refused before it, so that the refusal writes nothing (no new epoch).
#[test]
fn a_log_with_a_damaged_header_is_refused_before_the_claim() {
    let dir = tempfile::tempdir().unwrap();
    let l = ledger(dir.path());
    let own = l.claim(&as_host(&hostname(), dead_pid())).unwrap();
    let journal = blockorch::ledger::Journal::start(&l, &own).unwrap();
    drop(journal);
    let worker = blockorch::ledger::WorkerId::new("w1").unwrap();
    let outbox = l.outbox_path(&worker);
    std::fs::create_dir_all(outbox.parent().unwrap()).unwrap();
    let log = l.layout().orchestrator_log_path(1);
    for path in [&outbox, &log] {
        // An outbox that holds an orchestrator log's bytes, and a log whose magic is flipped.
        let saved = std::fs::read(path).ok();
        let mut bytes = std::fs::read(&log).unwrap();
        if path == &log {
            bytes[0] ^= 0x20;
        }
        std::fs::write(path, &bytes).unwrap();
        let err = l.claim(&ClaimOptions::default()).unwrap_err();
        assert!(
            matches!(err, LedgerError::NotALogFile { .. }),
            "{}: {err}",
            path.display()
        );
        assert!(
            err.to_string().contains(&path.display().to_string()),
            "{err}"
        );
        assert_eq!(l.layout().list_epoch_claims().unwrap(), vec![1]);
        match saved {
            Some(b) => std::fs::write(path, b).unwrap(),
            None => std::fs::remove_file(path).unwrap(),
        }
    }
    // Intact again: the claim goes through.
    assert_eq!(l.claim(&ClaimOptions::default()).unwrap().epoch(), 2);
}

#[test]
fn the_claim_records_the_runs_agent_scale_for_readers() {
    let dir = tempfile::tempdir().unwrap();
    let l = ledger(dir.path());
    let first = l
        .claim(&ClaimOptions {
            agent_scale: 6,
            ..ClaimOptions::default()
        })
        .unwrap();
    assert_eq!(first.agent_scale(), 6);
    assert_eq!(l.current_owner().unwrap().unwrap().agent_scale, Some(6));
    first.release().unwrap();
    // A claim written before the scale was recorded reads as unknown, not as 1.
    let second = l.claim(&ClaimOptions::default()).unwrap();
    assert_eq!(l.current_owner().unwrap().unwrap().agent_scale, Some(1));
    let claim = dir
        .path()
        .join("run.ledger/owners")
        .join(format!("epoch-{:08}.json", second.epoch()));
    let mut old: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&claim).unwrap()).unwrap();
    old.as_object_mut().unwrap().remove("agent_scale");
    std::fs::remove_file(&claim).unwrap();
    std::fs::write(&claim, serde_json::to_vec(&old).unwrap()).unwrap();
    let owner = l.current_owner().unwrap().unwrap();
    assert_eq!(owner.pid, std::process::id(), "the claim is still read");
    assert_eq!(owner.agent_scale, None);
}
