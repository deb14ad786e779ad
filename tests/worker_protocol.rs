//! The worker program protocol through a real agent: persistent Python programs (done,
//! failed with traceback, stdout garbage), per-block placeholders, checks, Stop, stats.

#[path = "fixtures/workers/harness.rs"]
mod harness;

use blockorch::ledger::{FailureKind, OutboxRecord, Outcome};
use blockorch::worker::AgentExit;
use harness::*;
use serde_json::{json, Value};
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

#[test]
fn persistent_python_done_failed_traceback_and_stdout_garbage() {
    let mut h = Harness::new(task(json!({
        "worker": python_worker("persistent.py", &[], false),
    })));
    let mut opts = h.options();
    opts.slots = 2;
    let agent = h.spawn_agent(opts);
    h.assign(&[0, 1, 2, 3, 4]);
    let records = h.wait_for("five blocks", T, |r| finished(r).len() == 5);
    for block in [0, 1, 2, 4] {
        assert_eq!(
            outcome_of(&records, block),
            Some(Outcome::Done),
            "block {block}"
        );
        let done = std::fs::read_to_string(h.workdir.join(format!("done-{block}"))).unwrap();
        let begin = block * 10;
        assert!(
            done.starts_with(&format!("({begin},) ({},)", begin + 10)),
            "ROI reached the program: {done}"
        );
    }
    match outcome_of(&records, 3) {
        Some(Outcome::Failed { kind, message }) => {
            assert_eq!(kind, FailureKind::BlockError);
            assert!(message.contains("Traceback"), "{message}");
            assert!(
                message.contains("ValueError: block three is cursed"),
                "{message}"
            );
        }
        other => panic!("block 3: {other:?}"),
    }
    // Both slots were used, and the program started once per slot.
    let slots: std::collections::BTreeSet<u32> = records
        .iter()
        .filter_map(|r| match r {
            OutboxRecord::Started { slot, .. } => Some(*slot),
            _ => None,
        })
        .collect();
    assert_eq!(slots.len(), 2, "{records:#?}");
    let stdout = std::fs::read_to_string(h.ledger.worker_log_path(
        &h.worker,
        0,
        blockorch::ledger::LogStream::Stdout,
    ))
    .unwrap();
    assert!(
        stdout.contains("garbage {{{"),
        "prints went to the slot log: {stdout}"
    );
    h.stop();
    assert_eq!(join(agent, T), AgentExit::Stopped);
    let records = h.outbox();
    assert!(matches!(
        records.first(),
        Some(OutboxRecord::Hello { slots: 2, .. })
    ));
    assert_eq!(bye(&records).as_deref(), Some("stopped: run complete"));
}

#[test]
fn for_loop_helper_reports_exception_and_program_restarts() {
    let mut h = Harness::new(task(json!({
        "worker": python_worker("for_loop.py", &[], false),
    })));
    let agent = h.spawn_agent(h.options());
    h.assign(&[4, 5]);
    let records = h.wait_for("two blocks", T, |r| finished(r).len() == 2);
    match outcome_of(&records, 4) {
        Some(Outcome::Failed { kind, message }) => {
            assert_eq!(kind, FailureKind::BlockError);
            assert!(
                message.contains("RuntimeError: loop body failed on block 4"),
                "{message}"
            );
        }
        other => panic!("block 4: {other:?}"),
    }
    assert_eq!(outcome_of(&records, 5), Some(Outcome::Done));
    assert!(h.workdir.join("loop-5-1").exists());
    h.stop();
    assert_eq!(join(agent, T), AgentExit::Stopped);
}

#[test]
fn per_block_placeholders_expand_exactly() {
    let worker = python_worker(
        "per_block.py",
        &[
            "{task}",
            "{block_id}",
            "{attempt}",
            "{read_roi}",
            "{write_roi}",
            "x{block_id}y",
            "{unknown}",
        ],
        true,
    );
    let mut h = Harness::new(json!({
        "name": "t",
        "total_roi": {"offset": [0, -4], "shape": [20, 16]},
        "read_roi": {"offset": [0, -4], "shape": [10, 8]},
        "write_roi": {"offset": [1, -3], "shape": [8, 6]},
        "fit": "shrink",
        "read_write_conflict": false,
        "worker": worker,
    }));
    let agent = h.spawn_agent(h.options());
    // Block 4 is grid (1, 1) in 2-D: Cantor id (1+1)(1+1+1)/2 + 1 = 4.
    h.send(&[blockorch::ledger::InboxRecord::Assign {
        task: 0,
        block: 4,
        attempt: 2,
        time_us: 0,
    }]);
    let records = h.wait_for("block 4", T, |r| !finished(r).is_empty());
    assert_eq!(outcome_of(&records, 4), Some(Outcome::Done));
    let seen: Value =
        serde_json::from_str(&std::fs::read_to_string(h.workdir.join("args-4.json")).unwrap())
            .unwrap();
    assert_eq!(
        seen["argv"],
        json!(["t", "4", "2", "8,2:10,8", "9,3:8,6", "x4y", "{unknown}"])
    );
    assert_eq!(
        seen["block"],
        json!({"task": "t", "block_id": 4, "attempt": 2,
               "read_roi": {"offset": [8, 2], "shape": [10, 8]},
               "write_roi": {"offset": [9, 3], "shape": [8, 6]},
               "total_roi": {"offset": [0, -4], "shape": [20, 16]}})
    );
    assert_eq!(seen["write_end"], json!([17, 9]));
    assert_eq!(
        std::fs::canonicalize(seen["cwd"].as_str().unwrap()).unwrap(),
        std::fs::canonicalize(&h.workdir).unwrap()
    );
    h.stop();
    assert_eq!(join(agent, T), AgentExit::Stopped);
}

#[test]
fn per_block_exit_code_fails_the_attempt_with_stats() {
    let mut h = Harness::new(task(json!({
        "worker": python_worker("per_block.py", &[], true),
    })));
    let agent = h.spawn_agent(h.options());
    h.assign(&[5, 6]);
    let records = h.wait_for("two blocks", T, |r| finished(r).len() == 2);
    let all = finished(&records);
    let (_, outcome, stats) = all.iter().find(|(b, _, _)| *b == 5).unwrap();
    assert!(
        matches!(outcome, Outcome::Failed { kind: FailureKind::BlockError, message } if message.contains("exit code 3")),
        "{outcome:?}"
    );
    assert_eq!(stats.exit_code, Some(3));
    let (_, outcome, stats) = all.iter().find(|(b, _, _)| *b == 6).unwrap();
    assert_eq!(*outcome, Outcome::Done);
    assert_eq!(stats.exit_code, Some(0));
    assert!(stats.peak_rss_bytes > 1 << 20, "{stats:?}");
    assert!(stats.cpu_s > 0.0, "{stats:?}");
    assert!(
        stats.end_us > stats.start_us && stats.wall_s > 0.0,
        "{stats:?}"
    );
    h.stop();
    assert_eq!(join(agent, T), AgentExit::Stopped);
}

#[test]
fn check_skips_done_blocks_and_fails_missing_output() {
    let check = json!({
        "command": ["python3", fixtures().join("check.py").display().to_string()],
        "env": {"PYTHONPATH": python_dir().display().to_string()},
    });
    let mut h = Harness::new(task(json!({
        "worker": python_worker("checked_worker.py", &[], false),
        "check": check,
    })));
    std::fs::write(h.workdir.join("done-2"), "").unwrap();
    let agent = h.spawn_agent(h.options());
    h.assign(&[1, 2, 4]);
    let records = h.wait_for("three blocks", T, |r| finished(r).len() == 3);
    assert_eq!(outcome_of(&records, 1), Some(Outcome::Done));
    assert_eq!(outcome_of(&records, 2), Some(Outcome::Skipped));
    assert!(
        !h.workdir.join("seen-2").exists(),
        "a skipped block never reaches the program"
    );
    match outcome_of(&records, 4) {
        Some(Outcome::Failed { kind, .. }) => assert_eq!(kind, FailureKind::CheckFailed),
        other => panic!("block 4: {other:?}"),
    }
    // Block 1: checked before (not done) and after (done).
    assert_eq!(
        std::fs::read_to_string(h.workdir.join("checked-1")).unwrap(),
        "xx"
    );
    h.stop();
    assert_eq!(join(agent, T), AgentExit::Stopped);
}

#[test]
fn busy_block_stats_from_proc() {
    let mut h = Harness::new(task(json!({
        "worker": python_worker("misbehave.py", &[], false),
    })));
    let agent = h.spawn_agent(h.options());
    h.assign(&[6]);
    let records = h.wait_for("block 6", T, |r| !finished(r).is_empty());
    let (_, outcome, stats) = finished(&records).remove(0);
    assert_eq!(outcome, Outcome::Done);
    assert!(stats.cpu_s >= 0.2, "busy loop of 0.3 s CPU: {stats:?}");
    assert!(stats.peak_rss_bytes >= 50 << 20, "50 MB touched: {stats:?}");
    assert!(stats.wall_s >= 0.25, "{stats:?}");
    assert_eq!(stats.exit_code, None, "the persistent program did not exit");
    h.stop();
    assert_eq!(join(agent, T), AgentExit::Stopped);
}

#[test]
fn stop_drains_queued_blocks_first() {
    let mut h = Harness::new(task(json!({
        "worker": python_worker("persistent.py", &[], false),
    })));
    let agent = h.spawn_agent(h.options());
    h.assign(&[0, 1, 2, 4, 5, 6, 7]);
    h.stop();
    assert_eq!(join(agent, T), AgentExit::Stopped);
    let records = h.outbox();
    assert_eq!(finished(&records).len(), 7, "{records:#?}");
    assert!(matches!(records.last(), Some(OutboxRecord::Bye { .. })));
    assert!(records
        .iter()
        .all(|r| !matches!(r, OutboxRecord::Abandoned { .. })));
}

#[test]
fn hand_out_latency_stays_low_with_a_slow_idle_poll() {
    let mut h = Harness::new(task(json!({
        "worker": python_worker("for_loop.py", &[], false),
    })));
    let mut opts = h.options();
    opts.poll = Duration::from_millis(500);
    let agent = h.spawn_agent(opts);
    h.wait_for("Hello", T, |r| !r.is_empty());
    // The orchestrator hands out the next block only after the previous one finished.
    let started = std::time::Instant::now();
    for (i, block) in [0u64, 1, 2, 3, 5, 6, 7, 8, 9].iter().enumerate() {
        h.assign(&[*block]);
        h.wait_for("the block", T, |r| finished(r).len() == i + 1);
    }
    let elapsed = started.elapsed();
    // Polling at the idle interval (500 ms) would take over two seconds on average.
    assert!(elapsed < Duration::from_millis(1500), "{elapsed:?}");
    h.stop();
    assert_eq!(join(agent, T), AgentExit::Stopped);
}

/// Short blocks are written ahead to the program's stdin (several per read), still run one
/// at a time in order on each slot, and every block is reported exactly once.
#[test]
fn short_blocks_are_written_ahead_and_run_in_order() {
    let most_per_read = run_400_short_blocks(true);
    assert!(most_per_read > 1, "no block was written ahead");
}

/// `"write_ahead": false`: one block at a time, for programs that read one line per read.
#[test]
fn write_ahead_off_hands_one_block_at_a_time() {
    assert_eq!(run_400_short_blocks(false), 1);
}

/// Runs 400 no-op blocks on 2 slots of `queue_probe.py`, checks each was reported once and
/// ran in order without overlap per slot; returns the most blocks one `read` delivered.
fn run_400_short_blocks(write_ahead: bool) -> u64 {
    let mut worker = python_worker("queue_probe.py", &[], false);
    worker["write_ahead"] = json!(write_ahead);
    let mut h = Harness::new(task(json!({
        "total_roi": {"offset": [0], "shape": [4000]},
        "worker": worker,
    })));
    let mut opts = h.options();
    opts.slots = 2;
    let agent = h.spawn_agent(opts);
    let blocks: Vec<u64> = (0..400).collect();
    h.assign(&blocks);
    let records = h.wait_for("400 blocks", T, |r| finished(r).len() == 400);
    let done = finished(&records);
    let ids: std::collections::BTreeSet<u64> = done.iter().map(|(b, _, _)| *b).collect();
    assert_eq!(ids.len(), 400, "every block reported exactly once");
    assert!(done.iter().all(|(_, o, _)| *o == Outcome::Done));
    // Per slot: attempts never overlap (each starts after the one before it ended).
    let mut slot_of = std::collections::HashMap::new();
    for r in &records {
        if let OutboxRecord::Started { block, slot, .. } = r {
            assert!(
                slot_of.insert(*block, *slot).is_none(),
                "started twice: {block}"
            );
        }
    }
    for slot in 0..2u32 {
        let mut spans: Vec<(u64, u64)> = done
            .iter()
            .filter(|(b, _, _)| slot_of[b] == slot)
            .map(|(_, _, s)| (s.start_us, s.end_us))
            .collect();
        spans.sort();
        for pair in spans.windows(2) {
            assert!(pair[1].0 >= pair[0].1, "slot {slot} overlaps: {pair:?}");
        }
    }
    // The programs saw blocks arrive several at a time, and in the order they started.
    let mut most_per_read = 0;
    let mut seen = 0;
    for slot in 0..2 {
        let probe = std::fs::read_to_string(h.workdir.join(format!("probe-{slot}.txt"))).unwrap();
        let order: Vec<u64> = probe
            .lines()
            .map(|l| {
                let mut f = l.split(' ').map(|v| v.parse::<u64>().unwrap());
                let (block, per_read) = (f.next().unwrap(), f.next().unwrap());
                most_per_read = most_per_read.max(per_read);
                block
            })
            .collect();
        let started: Vec<u64> = records
            .iter()
            .filter_map(|r| match r {
                OutboxRecord::Started { block, slot: s, .. } if *s == slot => Some(*block),
                _ => None,
            })
            .collect();
        assert_eq!(
            order, started,
            "slot {slot} ran its blocks in the order they started"
        );
        seen += order.len();
    }
    assert_eq!(seen, 400);
    // Every block has its marker line in its slot's logs.
    for slot in 0..2u32 {
        let log = std::fs::read_to_string(h.ledger.worker_log_path(
            &h.worker,
            slot,
            blockorch::ledger::LogStream::Stderr,
        ))
        .unwrap();
        for r in &records {
            if let OutboxRecord::Started { block, slot: s, .. } = r {
                if *s == slot {
                    let marker = format!("=== blockorch: task t block {block} attempt 1");
                    let ahead = format!("{marker} (written ahead) ===");
                    let sent = format!("{marker} ===");
                    assert!(
                        log.contains(&sent) || log.contains(&ahead),
                        "slot {slot}: no {sent}"
                    );
                }
            }
        }
    }
    h.stop();
    assert_eq!(join(agent, T), AgentExit::Stopped);
    most_per_read
}

/// The Python helper, by itself: `blocks()` says it is ready before the first block, and
/// each report carries the program's time.
#[test]
fn helper_says_ready_first_and_times_its_reports() {
    let dir = tempfile::tempdir().unwrap();
    let block = |id: u64| {
        json!({"task": "t", "block_id": id, "attempt": 1,
               "read_roi": {"offset": [0], "shape": [10]},
               "write_roi": {"offset": [0], "shape": [10]},
               "total_roi": {"offset": [0], "shape": [100]}})
        .to_string()
    };
    std::fs::write(
        dir.path().join("in.jsonl"),
        format!("{}\n{}\n", block(3), block(4)),
    )
    .unwrap();
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let status = std::process::Command::new("sh")
        .args([
            "-c",
            "python3 -c 'from blockorch_worker import blocks\nfor b in blocks(): pass' \
             3>out.jsonl < in.jsonl",
        ])
        .current_dir(dir.path())
        .env("PYTHONPATH", python_dir())
        .status()
        .unwrap();
    assert!(status.success());
    let out = std::fs::read_to_string(dir.path().join("out.jsonl")).unwrap();
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(lines[0], json!({"ready": true}));
    for (line, id) in lines[1..].iter().zip([3, 4]) {
        assert_eq!(line["block_id"], id, "{out}");
        assert_eq!(line["status"], "done", "{out}");
        let t = line["time"].as_f64().unwrap();
        assert!(t >= before && t < before + 60.0, "{out}");
    }
}
