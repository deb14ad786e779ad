//! `blockorch cancel`: exactly the registered, not-ended jobs of a run are cancelled (scancel
//! and bkill replaced by recording scripts), local agents get SIGTERM, and a running local
//! run is interrupted cleanly through its orchestrator.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use blockorch::ledger::{
    hostname, ClaimOptions, Journal, Ledger, LogWriter, OrchestratorRecord, OutboxRecord,
};
use serde_json::{json, Value};

fn blockorch(dir: &Path, args: &[&str], path_prefix: Option<&Path>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_blockorch"));
    cmd.args(args).current_dir(dir).stdin(Stdio::null());
    if let Some(p) = path_prefix {
        let path = std::env::var("PATH").unwrap_or_default();
        cmd.env("PATH", format!("{}:{path}", p.display()));
    }
    cmd.output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn tasks() -> Value {
    json!({"tasks": [{"name": "t",
        "total_roi": {"offset": [0], "shape": [10]},
        "read_roi": {"offset": [0], "shape": [1]},
        "write_roi": {"offset": [0], "shape": [1]},
        "worker": {"command": ["true"]}}]})
}

fn register(j: &mut Journal, index: u32, id: &str, backend: &str, job: Option<&str>) {
    j.append(OrchestratorRecord::WorkerRegistered {
        index,
        worker_id: id.into(),
        backend: backend.into(),
        job_id: job.map(str::to_string),
        time_us: 1,
    })
    .unwrap();
}

fn hello(root: &Path, id: &str, host: &str, pid: u32) {
    let dir = root.join("workers").join(id);
    std::fs::create_dir_all(&dir).unwrap();
    let mut w = LogWriter::<OutboxRecord>::open_append(dir.join("outbox.log")).unwrap();
    w.append(&OutboxRecord::Hello {
        worker_id: id.into(),
        host: host.into(),
        pid,
        backend_job: None,
        slots: 1,
        time_us: blockorch::ledger::now_us(),
    })
    .unwrap();
    w.commit().unwrap();
}

/// A script `name` in `bin` that appends its arguments to `bin/<name>.calls`.
fn recorder(bin: &Path, name: &str) {
    let log = bin.join(format!("{name}.calls"));
    let script = bin.join(name);
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$@\" >> '{}'\n", log.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn cancels_exactly_the_live_registered_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let root = d.join("run.ledger");
    let l = Ledger::create_or_open(&root, &tasks()).unwrap();
    let own = l.claim(&ClaimOptions::default()).unwrap();
    let mut j = Journal::start(&l, &own).unwrap();
    register(&mut j, 0, "slurm-77_0", "slurm", Some("77_0"));
    register(&mut j, 1, "slurm-77_1", "slurm", Some("77_1"));
    register(&mut j, 2, "slurm-77_2", "slurm", Some("77_2"));
    register(&mut j, 3, "lsf-88_3", "lsf", Some("88[3]"));
    register(&mut j, 4, "local-e1-t-5", "local", None);
    register(&mut j, 5, "local-e1-t-6", "local", None);
    j.append(OrchestratorRecord::WorkerEnded {
        worker: 2,
        reason: "job ended".into(),
        time_us: 2,
    })
    .unwrap();
    j.commit().unwrap();
    // The orchestrator is gone (released), so only the jobs are cancelled.
    own.release().unwrap();
    hello(&root, "local-e1-t-5", "elsewhere", 4242);
    // A local agent on this host: a process whose command line names the worker.
    // The interpreter itself, not a version manager's shim: a shim execs through several
    // programs, and `cancel` reading the command line in the middle of an exec sees nothing.
    let python = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .unwrap();
    let python = String::from_utf8_lossy(&python.stdout).trim().to_owned();
    // `cancel` signals only what it can prove is this ledger's agent: a process of this user
    // named blockorch, with `worker --worker-id <id>` in its command line and a file of
    // workers/<id>/ open (here its stdout, as the local backend's agent.log).
    std::fs::create_dir_all(root.join("workers/local-e1-t-6")).unwrap();
    let agent_log = std::fs::File::create(root.join("workers/local-e1-t-6/agent.log")).unwrap();
    let mut agent = Command::new("bash")
        .args([
            "-c",
            &format!(
                "exec -a blockorch '{python}' -c 'import time; time.sleep(60)' \
                 worker --worker-id local-e1-t-6"
            ),
        ])
        .stdout(agent_log)
        .spawn()
        .unwrap();
    hello(&root, "local-e1-t-6", &hostname(), agent.id());
    // `cancel` only signals a pid whose command line names the worker: wait until the child
    // has exec'd python as `blockorch` (right after fork it still shows this test's command
    // line, and before the exec bash's own, which names the worker too).
    let cmdline = format!("/proc/{}/cmdline", agent.id());
    let exec_deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read(&cmdline)
        .map(|c| {
            c.starts_with(b"blockorch\0") && String::from_utf8_lossy(&c).contains("local-e1-t-6")
        })
        .unwrap_or(false)
    {
        assert!(
            Instant::now() < exec_deadline,
            "the stand-in agent never started"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // An unrelated process with a pid of the run is never signalled: only registry workers.
    let bin = d.join("bin");
    std::fs::create_dir(&bin).unwrap();
    recorder(&bin, "scancel");
    recorder(&bin, "bkill");

    let out = blockorch(d, &["cancel"], Some(&bin));
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert_eq!(
        std::fs::read_to_string(bin.join("scancel.calls")).unwrap(),
        "77_0 77_1\n"
    );
    assert_eq!(
        std::fs::read_to_string(bin.join("bkill.calls")).unwrap(),
        "88[3]\n"
    );
    let started = Instant::now();
    let status = loop {
        if let Some(s) = agent.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "agent not signalled; cancel said: {stdout}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.signal(), Some(libc::SIGTERM));
    assert!(
        stdout.contains("slurm: scancel 2 jobs: 77_0 77_1"),
        "{stdout}"
    );
    assert!(stdout.contains("lsf: bkill 1 job: 88[3]"), "{stdout}");
    assert!(
        stdout.contains(&format!("local: SIGTERM 1 agent pid: {}", agent.id())),
        "{stdout}"
    );
    assert!(
        stdout.contains("left alone: worker local-e1-t-5: it runs on host elsewhere (pid 4242)"),
        "{stdout}"
    );
}

const SLOW_WORKER: &str = r#"
import json, os, sys, time
out = os.fdopen(int(os.environ["BLOCKORCH_REPORT_FD"]), "w", buffering=1)
for line in sys.stdin:
    b = json.loads(line)
    time.sleep(0.3)
    out.write(json.dumps({"block_id": b["block_id"], "status": "done"}) + "\n")
"#;

#[test]
fn cancel_interrupts_a_running_local_run_through_its_orchestrator() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("w.py"), SLOW_WORKER).unwrap();
    let tasks = json!({"tasks": [{"name": "slow",
        "total_roi": {"offset": [0, 0], "shape": [20, 20]},
        "read_roi": {"offset": [0, 0], "shape": [2, 2]},
        "write_roi": {"offset": [0, 0], "shape": [2, 2]},
        "num_workers": 2, "worker": {"command": ["python3", "w.py"]}}]});
    std::fs::write(d.join("t.json"), tasks.to_string()).unwrap();
    let mut submit = Command::new(env!("CARGO_BIN_EXE_blockorch"))
        .args(["submit", "t.json", "--quiet"])
        .current_dir(d)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    // Wait until blocks are running, and look at the live run.
    let started = Instant::now();
    let live = loop {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "run never started"
        );
        std::thread::sleep(Duration::from_millis(100));
        if !d.join("t.ledger/ledger.json").exists() {
            continue;
        }
        let out = blockorch(d, &["status", "--json"], None);
        let Ok(s) = serde_json::from_slice::<Value>(&out.stdout) else {
            continue;
        };
        if s["tasks"][0]["running"].as_u64().unwrap_or(0) > 0
            && s["tasks"][0]["done"].as_u64().unwrap_or(0) > 0
        {
            break s;
        }
    };
    assert_eq!(live["owner"]["state"], "alive");
    assert_eq!(live["run_over"], false);
    let w = &live["workers"]["workers"][0];
    assert_eq!(w["state"], "active");
    assert_eq!(w["host"], hostname());
    assert!(!w["current_blocks"].as_array().unwrap().is_empty());
    assert_eq!(w["scheduler_state"], Value::Null);

    let out = blockorch(d, &["cancel"], None);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("sent SIGTERM, it stopped"), "{stdout}");
    let code = submit.wait().unwrap().code();
    assert_eq!(code, Some(130), "submit reports the interruption");

    let out = blockorch(d, &["status", "--json"], None);
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["owner"]["state"], "ended");
    assert_eq!(s["owner"]["run_end"]["reason"], "interrupted");
    assert_eq!(s["tasks"][0]["running"], 0);
    assert_eq!(s["run_over"], true);
    assert_eq!(s["workers"]["counts"]["ended"], 1);

    let out = blockorch(d, &["cancel"], None);
    assert!(out.status.success());
    assert!(text(&out.stdout).starts_with("nothing left to cancel"));
}
