//! Faults inside a run on the local backend: a worker program killed mid-block, a block past
//! its timeout, a block that always fails (and the resume after fixing it), a worker program
//! that crashes at start-up, and a failing `init.command`.

mod run_common;

use blockorch::ledger::{BlockState, FailureKind, Outcome};
use run_common::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;

/// A 2-D conflicting task `a` (16 blocks, context 1) and a downstream task `b` (16 blocks).
fn grid_tasks(max_retries: u32) -> Vec<Value> {
    vec![
        task(
            "a",
            (&[0, 0], &[26, 26]),
            (&[0, 0], &[8, 8]),
            (&[1, 1], &[6, 6]),
            json!({"num_workers": 2, "max_retries": max_retries, "worker": blockwork(Some((2, 8))),
                   "init": python_command("init.py", &[], &[])}),
        ),
        task(
            "b",
            (&[1, 1], &[24, 24]),
            (&[0, 0], &[6, 6]),
            (&[0, 0], &[6, 6]),
            json!({"upstream_tasks": ["a"], "read_write_conflict": false, "num_workers": 2,
                   "worker": blockwork(Some((2, 8))), "init": python_command("init.py", &[], &[])}),
        ),
    ]
}

/// The retry went to the agent that was already running: it was not stopped while the failed
/// attempt's report waited for the journal commit (which would launch a new agent for it).
fn assert_one_agent(job: &Job) {
    let workers: Vec<String> = job
        .ledger_state()
        .workers()
        .iter()
        .map(|w| w.worker_id.clone())
        .collect();
    assert_eq!(workers.len(), 1, "{workers:?}");
}

#[test]
fn worker_program_killed_mid_block_is_retried() {
    let job = Job::new(&[ten_block_line(json!({}))]);
    job.ctl("sigkill-t-3");
    let plan = job.plan();
    let out = job.submit(&["--quiet"]);
    assert_eq!(out.code, Some(0), "{}", out.text());
    assert_eq!(summary_row(&out, "t"), [10, 10, 0, 0, 0]);
    let attempts = job.attempts();
    assert_outputs(&job, &plan, &attempts);
    assert_ledger_all(&job, &plan, BlockState::Done);
    let runs = &by_block(&attempts)[&("t".to_string(), 3)];
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!(runs[0].how.as_deref(), Some("sigkill"));
    assert!(runs[1].completed() && runs[1].attempt > runs[0].attempt);
    // The agent reported the death of the program as a failed attempt.
    let records = finished_records(&job, &plan, "t", 3);
    let (_, outcome, stats) = records
        .iter()
        .find(|r| r.0 == runs[0].attempt)
        .unwrap_or_else(|| panic!("no report of the killed attempt: {records:?}"));
    assert!(
        matches!(
            outcome,
            Outcome::Failed {
                kind: FailureKind::ProgramDied,
                ..
            }
        ),
        "{outcome:?}"
    );
    assert_eq!(stats.signal, Some(libc::SIGKILL), "{stats:?}");
    assert_one_agent(&job);
    // The other blocks ran once.
    for (key, runs) in by_block(&attempts) {
        if key.1 != 3 {
            assert_eq!(runs.len(), 1, "{key:?}: {runs:?}");
        }
    }
}

#[test]
fn block_past_its_timeout_is_killed_with_its_grandchild_and_retried() {
    // 3 s keeps the other blocks (a few milliseconds each) clear of the timeout even on a
    // loaded machine.
    let job = Job::new(&[ten_block_line(json!({"timeout": 3}))]);
    job.ctl("hang-t-2");
    let plan = job.plan();
    let out = job.submit(&["--quiet"]);
    assert_eq!(out.code, Some(0), "{}", out.text());
    assert_eq!(summary_row(&out, "t"), [10, 10, 0, 0, 0]);
    let attempts = job.attempts();
    assert_outputs(&job, &plan, &attempts);
    let runs = &by_block(&attempts)[&("t".to_string(), 2)];
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!(runs[0].how.as_deref(), Some("term"), "{runs:?}");
    assert!(runs[1].completed(), "{runs:?}");
    let records = finished_records(&job, &plan, "t", 2);
    let (_, outcome, stats) = records.iter().find(|r| r.0 == runs[0].attempt).unwrap();
    assert!(
        matches!(
            outcome,
            Outcome::Failed {
                kind: FailureKind::Timeout,
                ..
            }
        ),
        "{outcome:?}"
    );
    assert!(stats.wall_s >= 3.0, "{stats:?}");
    assert_one_agent(&job);
    let grandchild: u32 = read(&job.path("ctl/hang-t-2.grandchild"))
        .trim()
        .parse()
        .unwrap();
    assert_gone_within(
        &[grandchild],
        Duration::from_secs(5),
        "the grandchild of the timed-out block",
    );
}

#[test]
fn permanent_failure_orphans_dependents_then_resume_finishes_them() {
    let job = Job::new(&grid_tasks(1));
    let plan = job.plan();
    // The corner block of `a`: same-task conflicting blocks and downstream blocks depend on it.
    let victim = plan
        .blocks_of("a")
        .find(|b| b.write.offset == [1, 1])
        .unwrap()
        .id;
    job.ctl(&format!("fail-a-{victim}"));
    let orphans = plan.dependents_closure("a", victim);
    let orphans_in = |t: &str| orphans.iter().filter(|o| o.0 == t).count() as u64;
    assert!(orphans_in("a") > 0 && orphans_in("b") > 0, "{orphans:?}");

    let out = job.submit(&["--quiet"]);
    assert_eq!(out.code, Some(3), "{}", out.text());
    assert_eq!(
        summary_row(&out, "a"),
        [16, 15 - orphans_in("a"), 0, 1, orphans_in("a")]
    );
    assert_eq!(
        summary_row(&out, "b"),
        [16, 16 - orphans_in("b"), 0, 0, orphans_in("b")]
    );
    // max_retries + 1 = 2 attempts, counted from the worker's own files.
    let attempts = job.attempts();
    let grouped = by_block(&attempts);
    let runs = &grouped[&("a".to_string(), victim)];
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert!(runs.iter().all(|r| r.how.as_deref() == Some("fail")));
    // Orphans never ran; everything else ran once and is done.
    let state = job.ledger_state();
    for b in &plan.blocks {
        let key = (b.task.clone(), b.id);
        let s = state
            .block(plan.task_index(&b.task), b.id)
            .map(|e| e.state());
        if orphans.contains(&key) {
            assert!(!grouped.contains_key(&key), "orphan {key:?} ran");
            assert!(
                s.is_none() || s == Some(BlockState::Pending),
                "{key:?}: {s:?}"
            );
        } else if b.task == "a" && b.id == victim {
            assert_eq!(s, Some(BlockState::Failed));
        } else {
            assert_eq!(s, Some(BlockState::Done), "{key:?}");
            assert_eq!(grouped[&key].len(), 1, "{key:?}");
        }
    }
    assert_status_agrees(&job, &plan, &attempts);
    let status = status_blocks(&job);
    let line = &status[&("a".to_string(), victim)];
    let tried: Vec<&str> = line["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(tried, ["failed", "failed"], "{line}");
    assert!(
        orphans.iter().all(|o| status[o]["state"] == "orphaned"),
        "orphans are listed as orphaned"
    );
    // The summary groups the failure by cause: the last line of its traceback, the block,
    // and the command that shows it.
    let text = &out.stdout;
    assert!(text.contains(&format!("(block {victim})")), "{text}");
    assert!(
        text.contains(&format!("RuntimeError: planned failure of block {victim}")),
        "{text}"
    );
    let command = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("blockorch logs "))
        .unwrap_or_else(|| panic!("no logs command in the summary:\n{text}"));
    assert!(
        command.ends_with(&format!("--task a --block {victim}")),
        "{command}"
    );
    let args: Vec<&str> = command.split_whitespace().skip(1).collect();
    let shown = job.run(&args);
    assert_eq!(shown.code, Some(0), "{}", shown.text());
    assert!(
        shown
            .stdout
            .contains(&format!("RuntimeError: planned failure of block {victim}")),
        "{}",
        shown.stdout
    );
    assert!(
        shown
            .stdout
            .contains(&format!("task a, block {victim}, attempt 2 of 2: failed")),
        "{}",
        shown.stdout
    );

    // Fix the worker and resume: failed and orphaned blocks run, done blocks do not.
    let done_before: BTreeSet<(String, u64)> = grouped
        .iter()
        .filter(|(_, runs)| runs.iter().any(Attempt::completed))
        .map(|(k, _)| k.clone())
        .collect();
    job.rm_ctl(&format!("fail-a-{victim}"));
    let second = job.submit(&["--quiet"]);
    assert_eq!(second.code, Some(0), "{}", second.text());
    assert_eq!(summary_row(&second, "a"), [16, 16, 0, 0, 0]);
    assert_eq!(summary_row(&second, "b"), [16, 16, 0, 0, 0]);
    let attempts = job.attempts();
    assert_outputs(&job, &plan, &attempts);
    assert_no_conflicting_overlap(&plan, &attempts);
    assert_upstream_order(&plan, &attempts);
    assert_ledger_all(&job, &plan, BlockState::Done);
    for a in attempts.iter().filter(|a| a.start > second.started_ns) {
        let key = (a.task.clone(), a.block);
        assert!(!done_before.contains(&key), "done block re-ran: {a:?}");
        assert!(
            orphans.contains(&key) || (a.task == "a" && a.block == victim),
            "{a:?}"
        );
    }
    let rerun: BTreeSet<(String, u64)> = attempts
        .iter()
        .filter(|a| a.start > second.started_ns)
        .map(|a| (a.task.clone(), a.block))
        .collect();
    assert_eq!(rerun.len(), orphans.len() + 1);
}

#[test]
fn worker_program_crashing_at_start_up_fails_the_task_with_its_stderr() {
    let job = Job::new(&[ten_block_line(json!({
        "num_workers": 1,
        "worker": python_command("blockwork.py", &["--crash-on-start"], &[]),
    }))]);
    let out = job.submit(&["--quiet"]);
    assert_eq!(out.code, Some(3), "{}", out.text());
    // Blocks whose attempts were lost with the crashing program are failed or orphaned, the
    // others never ran (pending), as `status` counts them.
    let [total, done, skipped, _, _] = summary_row(&out, "t");
    assert_eq!((total, done, skipped), (10, 0, 0));
    assert!(
        out.stdout
            .contains("blockwork: cannot load the model: weights.bin is missing"),
        "the summary does not show the program's stderr:\n{}",
        out.text()
    );
    // Bounded: a few starts, not a restart loop.
    let starts = read(&job.path("starts.log")).lines().count();
    assert!((1..=6).contains(&starts), "{starts} starts");
    assert!(job.attempts().is_empty());
}

#[test]
fn failing_init_command_stops_its_task_and_the_downstream_task() {
    let job = Job::new(&grid_tasks(2));
    job.ctl("init-fail-a");
    let out = job.submit(&["--quiet"]);
    assert_eq!(out.code, Some(3), "{}", out.text());
    assert!(
        out.stdout
            .contains("init of a: cannot create out/volume.zarr: disk quota exceeded"),
        "the summary does not show the init output:\n{}",
        out.text()
    );
    // No block ran: none failed, all are pending (as `status` counts them); the task's stop
    // reason is the init output above.
    assert_eq!(summary_row(&out, "a"), [16, 0, 0, 0, 0]);
    assert_eq!(summary_row(&out, "b"), [16, 0, 0, 0, 0]);
    assert!(
        job.attempts().is_empty(),
        "blocks ran: {:?}",
        job.attempts()
    );
    // b's init never ran: it never had a ready block.
    let inits: Vec<String> = read(&job.path("init.log"))
        .lines()
        .map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(inits, ["a start"]);
    let state = job.ledger_state();
    let init = state.tasks()[0].init().expect("init result in the ledger");
    assert!(!init.ok && init.output_tail.contains("disk quota exceeded"));

    // Once the cause is fixed, a resume runs the failed init again, then every block.
    job.rm_ctl("init-fail-a");
    let again = job.submit(&["--quiet"]);
    assert_eq!(again.code, Some(0), "{}", again.text());
    let plan = job.plan();
    let attempts = job.attempts();
    assert_outputs(&job, &plan, &attempts);
    assert_upstream_order(&plan, &attempts);
    let inits: Vec<String> = init_log(&job)
        .iter()
        .map(|l| format!("{} {}", l.0, l.1))
        .collect();
    assert_eq!(inits, ["a start", "a start", "a end", "b start", "b end"]);
}
