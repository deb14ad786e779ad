//! `submit --detach` on this machine: the orchestrator runs on in the background with every
//! setting of the command line (the argument list is built once from the parsed arguments)
//! and finishes the run; its output goes to the ledger.

mod run_common;

use blockorch::ledger::BlockState;
use run_common::*;
use serde_json::json;
use std::time::{Duration, Instant};

/// The arguments of process `pid` (empty once it is gone).
fn cmdline(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|raw| {
            raw.split(|&b| b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `pid` still runs (a zombie does not).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            !stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .trim()
                .starts_with('Z')
        })
        .unwrap_or(false)
}

#[test]
fn a_detached_local_run_keeps_its_settings_and_finishes() {
    let job = Job::new(&[task(
        "t",
        (&[0], &[60]),
        (&[0], &[10]),
        (&[0], &[10]),
        json!({"read_write_conflict": false, "num_workers": 2,
               "worker": blockwork(Some((300, 400)))}),
    )]);
    let plan = job.plan();
    let out = job.submit(&[
        "--detach",
        "--hello-timeout",
        "17",
        "--poll-interval",
        "0.25",
        "--max-failed-starts",
        "5",
    ]);
    assert_eq!(out.code, Some(0), "{}", out.text());
    let pid: u32 = out
        .stdout
        .split("(pid ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {}", out.text()));
    let args = cmdline(pid);
    let after = |flag: &str| {
        let at = args.iter().position(|a| a == flag);
        at.and_then(|i| args.get(i + 1)).map(String::as_str)
    };
    assert_eq!(after("--hello-timeout"), Some("17"), "{args:?}");
    assert_eq!(after("--poll-interval"), Some("0.25"), "{args:?}");
    assert_eq!(after("--max-failed-starts"), Some("5"), "{args:?}");
    let ledger = job.ledger().display().to_string();
    assert_eq!(after("--ledger"), Some(ledger.as_str()), "{args:?}");
    assert!(args.iter().any(|a| a == "--quiet"), "{args:?}");
    assert!(!args.iter().any(|a| a == "--detach"), "{args:?}");

    let start = Instant::now();
    while alive(pid) {
        assert!(
            start.elapsed() < SAFETY,
            "the detached orchestrator still runs"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_ledger_all(&job, &plan, BlockState::Done);
    assert!(job.ledger().join("orchestrator.log").is_file());
}
