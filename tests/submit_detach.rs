//! `submit --detach` on this machine (local and LSF backends): the orchestrator runs on in
//! the background with every setting of the command line (the argument list is built once
//! from the parsed arguments) and finishes the run; its output goes to the ledger.

mod lsf_common;
mod run_common;

use blockorch::ledger::BlockState;
use lsf_common::Sim;
use run_common::*;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
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
    let pid = detached_pid(&out);
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

/// The pid `submit --detach` printed.
fn detached_pid(out: &RunOutput) -> u32 {
    out.stdout
        .split("(pid ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {}", out.text()))
}

/// Every file under `dir`.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// The bug this guards: the detached orchestrator of a non-SLURM run dropped `--template`.
#[test]
fn a_detached_lsf_run_uses_the_template_given() {
    let sim = Sim::new();
    let job = Job::new(&[task(
        "t",
        (&[0], &[40]),
        (&[0], &[10]),
        (&[0], &[10]),
        json!({"read_write_conflict": false, "num_workers": 2, "worker": blockwork(None)}),
    )]);
    let plan = job.plan();
    let bundled = std::fs::read_to_string(repo().join("templates/lsf.bsub")).unwrap();
    let marker = "# the template given with --template";
    std::fs::write(job.path("mine.bsub"), format!("{bundled}\n{marker}\n")).unwrap();
    let mut command = Command::new(bin());
    command
        .args(["submit", "task.json", "--backend", "lsf", "--detach"])
        .args(["--template", "mine.bsub", "--poll-interval", "0.2"])
        .args(["--max-poll-interval", "1"])
        .current_dir(&job.root)
        .envs(sim.env());
    let out = spawn_logged(command, &job.root, "lsf-detach").wait(SAFETY);
    assert_eq!(out.code, Some(0), "{}", out.text());
    let pid = detached_pid(&out);
    let start = Instant::now();
    while alive(pid) {
        assert!(
            start.elapsed() < SAFETY,
            "the detached orchestrator still runs"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_ledger_all(&job, &plan, BlockState::Done);
    let scripts: Vec<PathBuf> = files(&job.ledger())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "bsub"))
        .collect();
    assert!(!scripts.is_empty(), "no job script in the ledger");
    for script in scripts {
        let text = std::fs::read_to_string(&script).unwrap();
        assert!(text.contains(marker), "{}: {text}", script.display());
    }
}
