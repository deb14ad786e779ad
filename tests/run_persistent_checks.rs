//! Fast checks (docs/design/checks.md): a persistent check program started once per slot, its
//! crashes, pre-checks written ahead to it, blocks written ahead to the worker beside it, and a
//! Python worker answering the pre-check itself with blocks written ahead.

mod run_common;

use blockorch::ledger::{FailureKind, Outcome};
use run_common::*;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

/// The `"check"` object of the persistent `check_server.py`.
fn check_server() -> serde_json::Value {
    let mut check = python_command("check_server.py", &[], &[]);
    check["persistent"] = json!(true);
    check
}

/// `checks.log` of `check_server.py`: per block, its answers in order, and the pids that
/// answered.
fn check_log(job: &Job) -> (BTreeMap<u64, Vec<u32>>, BTreeSet<u32>) {
    let mut calls: BTreeMap<u64, Vec<u32>> = BTreeMap::new();
    let mut pids = BTreeSet::new();
    for line in read(&job.path("checks.log")).lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let id: u64 = parts[0].strip_prefix("t-").unwrap().parse().unwrap();
        calls.entry(id).or_default().push(parts[2].parse().unwrap());
        pids.insert(parts[3].parse().unwrap());
    }
    (calls, pids)
}

/// Skipped blocks were checked once (done); the others before (not done) and after (done).
fn assert_checked_before_and_after(job: &Job, plan: &Plan, skipped: &[u64]) {
    let (calls, _) = check_log(job);
    for b in &plan.blocks {
        let want = if skipped.contains(&b.id) {
            vec![1]
        } else {
            vec![0, 1]
        };
        assert_eq!(calls.get(&b.id), Some(&want), "block {}", b.id);
    }
}

#[test]
fn persistent_check_skips_done_blocks_and_runs_the_others() {
    let t = task(
        "t",
        (&[0], &[300]),
        (&[0], &[10]),
        (&[0], &[10]),
        json!({"read_write_conflict": false, "num_workers": 2, "worker": blockwork(None),
               "check": check_server()}),
    );
    let job = Job::new(&[t]);
    let skipped: Vec<u64> = (0..30).filter(|i| i % 3 == 1).collect();
    for id in &skipped {
        job.ctl(&format!("skip-t-{id}"));
    }
    let plan = job.plan();
    let out = job.submit(&["--quiet"]);
    assert_eq!(out.code, Some(0), "{}", out.text());
    assert_eq!(summary_row(&out, "t"), [30, 20, 10, 0, 0]);
    assert_skipped_or_ran_once(&job, &plan, "t", &skipped);
    assert_checked_before_and_after(&job, &plan, &skipped);
    let (_, pids) = check_log(&job);
    // 50 checks, answered by one check program per slot: no process per check.
    assert!(
        pids.len() <= 2,
        "{} check processes answered: {pids:?}",
        pids.len()
    );
}

#[test]
fn crashed_check_program_fails_its_attempt_and_is_replaced() {
    let t = task(
        "t",
        (&[0], &[60]),
        (&[0], &[10]),
        (&[0], &[10]),
        json!({"read_write_conflict": false, "num_workers": 1, "worker": blockwork(None),
               "check": check_server()}),
    );
    let job = Job::new(&[t]);
    job.ctl("checkcrash-t-2");
    let plan = job.plan();
    let out = job.submit(&["--quiet"]);
    assert_eq!(out.code, Some(0), "{}", out.text());
    assert_eq!(summary_row(&out, "t"), [6, 6, 0, 0, 0]);
    // Block 2's first attempt failed with the check program's death; the second ran.
    let records = finished_records(&job, &plan, "t", 2);
    assert_eq!(records.len(), 2, "{records:?}");
    match &records[0].1 {
        Outcome::Failed { kind, message } => {
            assert_eq!(*kind, FailureKind::CheckFailed);
            assert!(
                message
                    .contains("the check program died (signal 9 (SIGKILL)) while checking block 2"),
                "{message}"
            );
        }
        other => panic!("first attempt of block 2: {other:?}"),
    }
    assert_eq!(records[1].1, Outcome::Done);
    let (_, pids) = check_log(&job);
    assert_eq!(
        pids.len(),
        2,
        "one check program before the crash, one after: {pids:?}"
    );
}

/// The slot-0 stdout logs of all workers of `job`, concatenated.
fn slot_logs(job: &Job) -> String {
    let mut logs = String::new();
    for worker in std::fs::read_dir(job.ledger().join("workers")).unwrap() {
        let path = worker.unwrap().path().join("slot-0.stdout.log");
        if path.exists() {
            logs += &read(&path);
        }
    }
    logs
}

#[test]
fn pre_checks_are_written_ahead_to_the_check_program() {
    let t = task(
        "t",
        (&[0], &[3000]),
        (&[0], &[10]),
        (&[0], &[10]),
        json!({"read_write_conflict": false, "num_workers": 1, "worker": blockwork(None),
               "check": check_server()}),
    );
    let job = Job::new(&[t]);
    // Mostly done blocks, so checks are short (the first one also waits for the check program
    // to start, which the recent mean takes a while to forget).
    let skipped: Vec<u64> = (0..300).filter(|i| i % 100 != 0).collect();
    for id in &skipped {
        job.ctl(&format!("skip-t-{id}"));
    }
    let plan = job.plan();
    let out = job.submit(&["--quiet"]);
    assert_eq!(out.code, Some(0), "{}", out.text());
    assert_eq!(summary_row(&out, "t"), [300, 3, 297, 0, 0]);
    assert_skipped_or_ran_once(&job, &plan, "t", &skipped);
    assert_checked_before_and_after(&job, &plan, &skipped);
    // The agent marks each block it writes to the check program (`… (check)`) in the slot's
    // log, and the program prints `checked …` when it takes one up: pre-checks written ahead
    // show as check markers that follow each other with no `checked` line in between.
    let logs = slot_logs(&job);
    let lines: Vec<&str> = logs
        .lines()
        .filter(|l| l.ends_with(" (check) ===") || l.starts_with("checked t-"))
        .collect();
    let checked = lines.iter().filter(|l| l.starts_with("checked")).count();
    assert_eq!(checked, 303, "{logs}");
    let back_to_back = lines
        .windows(2)
        .filter(|w| w[0].ends_with(" (check) ===") && w[1].ends_with(" (check) ==="))
        .count();
    assert!(
        back_to_back >= 5,
        "only {back_to_back} pre-checks were written ahead:\n{logs}"
    );
}

#[test]
fn worker_answers_the_pre_check_and_blocks_are_written_ahead() {
    let t = task(
        "t",
        (&[0], &[2000]),
        (&[0], &[10]),
        (&[0], &[10]),
        json!({"read_write_conflict": false, "num_workers": 1,
               "worker": python_command("blockwork.py", &[], &[("BLOCKWORK_PRECHECK", "1")])}),
    );
    let job = Job::new(&[t]);
    let skipped: Vec<u64> = (0..200).filter(|i| i % 10 != 0).collect();
    for id in &skipped {
        job.ctl(&format!("skip-t-{id}"));
    }
    let plan = job.plan();
    let out = job.submit(&["--quiet"]);
    assert_eq!(out.code, Some(0), "{}", out.text());
    assert_eq!(summary_row(&out, "t"), [200, 20, 180, 0, 0]);
    assert_skipped_or_ran_once(&job, &plan, "t", &skipped);
    // Write-ahead (how much depends on how short the blocks were on this machine, so only a
    // few are required): the agent marks each block in the slot's stdout log when it writes it to
    // the program, and the program prints `check …` when it takes it up. Blocks written ahead
    // show as marker lines that follow each other with no `check` line in between.
    // (The helper's own `(started)` markers, printed when it takes a block up, are left out.)
    let logs = slot_logs(&job);
    let lines: Vec<&str> = logs
        .lines()
        .filter(|l| !l.ends_with(" (started) ==="))
        .collect();
    let markers = lines
        .iter()
        .filter(|l| l.starts_with("=== blockorch"))
        .count();
    let checks = lines.iter().filter(|l| l.starts_with("check t-")).count();
    assert_eq!((markers, checks), (200, 200), "{logs}");
    let back_to_back = lines
        .windows(2)
        .filter(|w| w[0].starts_with("=== blockorch") && w[1].starts_with("=== blockorch"))
        .count();
    assert!(
        back_to_back >= 5,
        "only {back_to_back} blocks were written ahead:\n{logs}"
    );
}

#[test]
fn blocks_checked_not_done_are_written_ahead_to_the_worker_beside_the_check_program() {
    let t = task(
        "t",
        (&[0], &[6000]),
        (&[0], &[10]),
        (&[0], &[10]),
        json!({"read_write_conflict": false, "num_workers": 1,
               "worker": python_command("blockwork.py", &[],
                   &[("BLOCKWORK_PEEK", "1"), ("BLOCKWORK_SLEEP_MS", "2,3")]),
               "check": check_server()}),
    );
    let job = Job::new(&[t]);
    // Mostly done blocks, so the recent mean is short; the others take a few milliseconds, so
    // the check program answers the next ones while the worker is at it.
    let skipped: Vec<u64> = (0..600).filter(|i| i % 10 != 0).collect();
    for id in &skipped {
        job.ctl(&format!("skip-t-{id}"));
    }
    let plan = job.plan();
    let out = job.submit(&["--quiet"]);
    assert_eq!(out.code, Some(0), "{}", out.text());
    assert_eq!(summary_row(&out, "t"), [600, 60, 540, 0, 0]);
    assert_skipped_or_ran_once(&job, &plan, "t", &skipped);
    assert_checked_before_and_after(&job, &plan, &skipped);
    // The worker logs, per block it finished (before reporting it), how many block lines
    // were already readable on its stdin: more than none means the agent wrote the next
    // block (checked not done) to it before it reported this one.
    let mut waiting: BTreeMap<u64, Vec<u32>> = BTreeMap::new();
    for line in read(&job.path("waiting.log")).lines() {
        let (name, n) = line.split_once(' ').unwrap();
        let id: u64 = name.strip_prefix("t-").unwrap().parse().unwrap();
        waiting.entry(id).or_default().push(n.parse().unwrap());
    }
    let ran: Vec<u64> = (0..600).filter(|i| i % 10 == 0).collect();
    assert_eq!(
        waiting.keys().copied().collect::<Vec<_>>(),
        ran,
        "every block not done reached the worker, no skipped one did"
    );
    assert!(waiting.values().all(|n| n.len() == 1), "{waiting:?}");
    let ahead = waiting.values().filter(|n| n[0] > 0).count();
    assert!(
        ahead >= 5,
        "only {ahead} blocks had the next one written ahead: {waiting:?}"
    );
}
