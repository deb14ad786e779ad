//! What a run logs at `submit`'s default level: each worker launch and end, each block
//! failure and retry, each task's end and the run's end, and not a line per finished block;
//! no colour codes when stderr is not a terminal; `--log-file` gets the same lines, with
//! timestamps, appended run after run.

mod run_common;

use run_common::*;
use serde_json::json;

/// Ten blocks of task `t` on two workers; block 3 fails on each of its two attempts.
fn failing_run() -> Job {
    let mut t = ten_block_line(json!({"max_retries": 1}));
    t["name"] = json!("t");
    let job = Job::new(&[t]);
    job.ctl("fail-t-3");
    job
}

/// The lines of `text` that contain `what`.
fn lines_with<'a>(text: &'a str, what: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.contains(what)).collect()
}

#[test]
fn a_run_logs_launches_failures_and_ends_but_not_each_block() {
    let job = failing_run();
    let log = job.path("run.log");
    let out = job.submit(&["--quiet", "--log-file", log.to_str().unwrap()]);
    assert_eq!(out.code, Some(3), "{}", out.text());
    let err = &out.stderr;
    assert!(!err.contains('\u{1b}'), "colour codes in a file:\n{err}");

    let launched = lines_with(err, "worker launched");
    assert!(!launched.is_empty(), "{err}");
    assert!(
        launched
            .iter()
            .all(|l| l.contains("INFO") && l.contains("task=t") && l.contains("backend=local")),
        "{launched:?}"
    );
    let ended = lines_with(err, "worker ended");
    assert_eq!(ended.len(), launched.len(), "{err}");
    // The only lines about single blocks are block 3's two failures.
    let blocks = lines_with(err, "block=");
    assert_eq!(blocks.len(), 2, "{err}");
    assert!(
        blocks[0].contains("block failed, retrying")
            && blocks[0].contains("block=3")
            && blocks[0].contains("attempt=1")
            && blocks[0].contains("planned failure of block 3"),
        "{blocks:?}"
    );
    assert!(
        blocks[1].contains("WARN")
            && blocks[1].contains("no retries left")
            && blocks[1].contains("attempt=2"),
        "{blocks:?}"
    );
    let task_end = lines_with(err, "task ended");
    assert_eq!(task_end.len(), 1, "{err}");
    assert!(
        task_end[0].contains("done=9") && task_end[0].contains("failed=1"),
        "{task_end:?}"
    );
    assert_eq!(lines_with(err, "run ended").len(), 1, "{err}");

    // The log file: the same lines, with timestamps, no colour codes.
    let first = read(&log);
    assert!(!first.contains('\u{1b}'), "{first}");
    for what in ["worker launched", "block failed, retrying", "task ended"] {
        assert_eq!(
            lines_with(&first, what).len(),
            lines_with(err, what).len(),
            "{what}:\n{first}"
        );
    }
    let stamped = first
        .lines()
        .all(|l| l.len() > 20 && l.as_bytes()[4] == b'-' && l.as_bytes()[10] == b'T');
    assert!(stamped, "lines without an RFC 3339 timestamp:\n{first}");

    // A resume appends to the file.
    job.rm_ctl("fail-t-3");
    let again = job.submit(&["--quiet", "--log-file", log.to_str().unwrap()]);
    assert_eq!(again.code, Some(0), "{}", again.text());
    let both = read(&log);
    assert!(
        both.starts_with(&first),
        "the first run's lines were not kept"
    );
    assert_eq!(lines_with(&both, "run ended").len(), 2, "{both}");
}

#[test]
fn an_unwritable_log_file_is_bad_input() {
    let job = failing_run();
    let out = job.submit(&["--log-file", "/nonexistent-dir/run.log"]);
    assert_eq!(out.code, Some(2), "{}", out.text());
    assert!(
        out.stderr
            .contains("cannot open --log-file /nonexistent-dir/run.log"),
        "{}",
        out.text()
    );
}
