//! Read-only views (status), outbox summaries and the inbox follower.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::SystemTime;

use blockorch::ledger::{
    summarize_outbox, AttemptStats, ClaimOptions, InboxFollower, InboxRecord, Journal, Ledger,
    LedgerView, LogReader, LogWriter, OrchestratorRecord, OutboxDetail, OutboxRecord,
    OutboxSummary, Outcome, WarningKind, WorkerId,
};
use serde_json::json;

/// Every path under `root` with its size and mtime.
fn listing(root: &Path) -> BTreeMap<String, (u64, SystemTime)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let m = e.metadata().unwrap();
            out.insert(
                e.path().display().to_string(),
                (m.len(), m.modified().unwrap()),
            );
            if m.is_dir() {
                stack.push(e.path());
            }
        }
    }
    out
}

fn hello(id: &str) -> OutboxRecord {
    OutboxRecord::Hello {
        worker_id: id.into(),
        host: "node3".into(),
        pid: 99,
        backend_job: Some("12345_7".into()),
        slots: 2,
        time_us: 1_000,
    }
}

fn started(block: u64, t: u64) -> OutboxRecord {
    OutboxRecord::Started {
        task: 0,
        block,
        attempt: 1,
        slot: (block % 2) as u32,
        time_us: t,
    }
}

fn finished(block: u64, t: u64) -> OutboxRecord {
    OutboxRecord::Finished {
        task: 0,
        block,
        attempt: 1,
        outcome: Outcome::Done,
        stats: AttemptStats {
            end_us: t,
            ..AttemptStats::default()
        },
        log_path: format!("workers/x/slot-{}.stdout.log", block % 2),
    }
}

/// The summary computed from every record (what the tail scan must agree with).
fn summary_by_full_read(path: &Path) -> (Option<String>, Option<u64>, Vec<u64>, bool) {
    let recs = LogReader::<OutboxRecord>::read_closed(path)
        .unwrap()
        .records;
    let mut host = None;
    let mut last = None;
    let mut running = Vec::new();
    let mut bye = false;
    for r in recs {
        last = Some(last.unwrap_or(0).max(r.time_us()));
        match r {
            OutboxRecord::Hello { host: h, .. } => {
                host = Some(h);
                running.clear();
                bye = false;
            }
            OutboxRecord::Started { block, .. } => running.push(block),
            OutboxRecord::Finished { block, .. } | OutboxRecord::Abandoned { block, .. } => {
                running.retain(|&b| b != block)
            }
            OutboxRecord::Bye { .. } => bye = true,
            OutboxRecord::Heartbeat { .. } => {}
        }
    }
    (host, last, running, bye)
}

fn digest(s: &OutboxSummary) -> (Option<String>, Option<u64>, Vec<u64>, bool) {
    (
        s.hello.as_ref().map(|h| h.host.clone()),
        s.last_seen_us,
        s.running.iter().map(|r| r.block).collect(),
        s.bye.is_some(),
    )
}

#[test]
fn outbox_summary_reads_only_the_tail_and_agrees_with_a_full_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("outbox.log");
    let mut w = LogWriter::<OutboxRecord>::open_append(&path).unwrap();
    w.append(&hello("slurm-1_1")).unwrap();
    let mut t = 2_000;
    for b in 0..5_000u64 {
        w.append(&started(b, t)).unwrap();
        if b % 1000 != 999 {
            w.append(&finished(b, t + 1)).unwrap();
        }
        w.append(&OutboxRecord::Heartbeat { time_us: t + 2 })
            .unwrap();
        t += 3;
    }
    w.append(&started(9_999, t)).unwrap();
    w.commit().unwrap();
    let s = summarize_outbox(&path).unwrap().unwrap();
    assert!(!s.whole_file, "the file is larger than the window");
    let (host, last, running, bye) = summary_by_full_read(&path);
    assert_eq!(
        s.hello.as_ref().unwrap().backend_job.as_deref(),
        Some("12345_7")
    );
    assert_eq!(s.hello.as_ref().map(|h| h.host.clone()), host);
    assert_eq!(s.last_seen_us, last);
    // Only attempts started in the tail window are visible as running there: a suffix of
    // what a full read finds.
    assert_eq!(running, [999, 1_999, 2_999, 3_999, 4_999, 9_999]);
    let tail_running: Vec<u64> = s.running.iter().map(|r| r.block).collect();
    assert!(running.ends_with(&tail_running), "{tail_running:?}");
    assert!(tail_running.len() < running.len() && tail_running.ends_with(&[9_999]));
    assert!(!bye && s.bye.is_none());
    assert!(s.finished_in_tail > 0 && s.finished_in_tail < 5_000);
    assert_eq!(s.warning, None);

    // A torn last frame is reported; the rest of the summary still holds.
    w.append(&OutboxRecord::Bye {
        reason: "done".into(),
        time_us: t + 10,
    })
    .unwrap();
    w.commit().unwrap();
    let full = summarize_outbox(&path).unwrap().unwrap();
    assert_eq!(full.bye, Some(("done".into(), t + 10)));
    let len = fs::metadata(&path).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len - 2)
        .unwrap();
    let torn = summarize_outbox(&path).unwrap().unwrap();
    assert_eq!(torn.bye, None);
    assert_eq!(torn.last_seen_us, Some(t));
    assert_eq!(torn.warning.unwrap().kind, WarningKind::TornTail);

    // Small outboxes are read whole and agree with the full read too.
    let small = dir.path().join("small.log");
    let mut w = LogWriter::<OutboxRecord>::open_append(&small).unwrap();
    for r in [hello("a"), started(1, 5), finished(1, 6), started(2, 7)] {
        w.append(&r).unwrap();
    }
    w.commit().unwrap();
    let s = summarize_outbox(&small).unwrap().unwrap();
    assert!(s.whole_file);
    assert_eq!(digest(&s), summary_by_full_read(&small));
    assert_eq!(
        summarize_outbox(&dir.path().join("none.log")).unwrap(),
        None
    );
}

#[test]
fn view_reads_everything_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("l");
    let l = Ledger::create_or_open(&root, &json!({"tasks": ["t"]})).unwrap();
    let own = l.claim(&ClaimOptions::default()).unwrap();
    let mut j = Journal::start(&l, &own).unwrap();
    for (i, id) in ["local-0", "local-1"].iter().enumerate() {
        j.append(OrchestratorRecord::WorkerRegistered {
            index: i as u32,
            worker_id: id.to_string(),
            backend: "local".into(),
            job_id: None,
            time_us: 1,
        })
        .unwrap();
    }
    j.append(OrchestratorRecord::Assigned {
        task: 0,
        block: 42,
        attempt: 1,
        worker: 1,
        time_us: 2,
    })
    .unwrap();
    j.append(OrchestratorRecord::WorkerEnded {
        worker: 0,
        reason: "bye".into(),
        time_us: 3,
    })
    .unwrap();
    j.write_snapshot().unwrap();
    let w1 = WorkerId::new("local-1").unwrap();
    let mut out = LogWriter::<OutboxRecord>::open_append(l.outbox_path(&w1)).unwrap();
    out.append(&hello("local-1")).unwrap();
    out.append(&started(42, 2_000)).unwrap();
    out.commit().unwrap();
    // A worker directory the orchestrator log does not know (yet).
    fs::create_dir_all(l.worker_dir(&WorkerId::new("slurm-9_1").unwrap())).unwrap();

    let before = listing(&root);
    let view = LedgerView::open(&root).unwrap();
    let view_all = LedgerView::open_with(&root, OutboxDetail::All).unwrap();
    assert_eq!(listing(&root), before, "a view must not write");

    assert_eq!(
        view.header.plan_hash,
        blockorch::ledger::tasks_hash(&json!({"tasks": ["t"]}))
    );
    assert_eq!(view.owner.as_ref().unwrap().epoch, 1);
    assert_eq!(&view.loaded.state, j.state());
    let ids: Vec<_> = view.workers.iter().map(|w| w.worker_id.as_str()).collect();
    assert_eq!(ids, ["local-0", "local-1", "slurm-9_1"]);
    let w1v = &view.workers[1];
    assert_eq!(w1v.assigned, vec![(0, 42, 1)]);
    let ob = w1v.outbox.as_ref().unwrap();
    assert_eq!(ob.hello.as_ref().unwrap().pid, 99);
    assert_eq!(ob.running.len(), 1);
    assert_eq!(ob.last_seen_us, Some(2_000));
    // Ended workers are summarized only on request (local-0 has no outbox anyway).
    assert!(view.workers[0].outbox.is_none());
    assert!(view.workers[2].index.is_none() && view.workers[2].outbox.is_none());
    assert_eq!(view_all.workers.len(), 3);
}

#[test]
fn inbox_follower_switches_to_the_newest_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let l = Ledger::create_or_open(dir.path().join("l"), &json!({})).unwrap();
    let w = WorkerId::new("lsf-77_3").unwrap();
    let mut f = InboxFollower::new(l.layout().clone(), w.clone());
    let p = f.poll(false).unwrap();
    assert_eq!((p.epoch, p.records.len()), (None, 0));
    let assign = |block| InboxRecord::Assign {
        task: 0,
        block,
        attempt: 1,
        time_us: 0,
    };
    let mut in1 = LogWriter::<InboxRecord>::open_append(l.inbox_path(&w, 1)).unwrap();
    in1.append(&assign(1)).unwrap();
    in1.commit().unwrap();
    let p = f.poll(false).unwrap();
    assert_eq!(
        (p.epoch, p.switched, p.records),
        (Some(1), true, vec![assign(1)])
    );
    let mut in3 = LogWriter::<InboxRecord>::open_append(l.inbox_path(&w, 3)).unwrap();
    in3.append(&assign(3)).unwrap();
    in3.commit().unwrap();
    // A poll of the open inbox sees its appends without listing the directory (the
    // agent rescans when it sees a newer epoch claimed).
    in1.append(&assign(2)).unwrap();
    in1.commit().unwrap();
    let p = f.poll(false).unwrap();
    assert_eq!((p.epoch, p.records), (Some(1), vec![assign(2)]));
    assert!(f.rescan().unwrap(), "switches to the newest epoch's inbox");
    // The superseded orchestrator keeps writing its inbox: ignored.
    in1.append(&assign(4)).unwrap();
    in1.commit().unwrap();
    let p = f.poll(true).unwrap();
    assert_eq!((p.epoch, p.records), (Some(3), vec![assign(3)]));
    let p = f.poll(false).unwrap();
    assert_eq!((p.switched, p.records.len()), (false, 0));
    assert!(!f.rescan().unwrap());
}
