//! Faults of the machine around a run: an unwritable stderr or stdout, a plan too large to
//! keep in memory, a worker directory that cannot be prepared, a worker that never says
//! Hello, and a full disk under the ledger followed by a resume.

mod run_common;

use run_common::*;
use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

/// Ten 1-D blocks (ids 0..9) without conflicts.
fn line_task() -> Value {
    task(
        "t",
        (&[0], &[100]),
        (&[0], &[10]),
        (&[0], &[10]),
        json!({"read_write_conflict": false, "num_workers": 2, "worker": blockwork(None)}),
    )
}

/// Runs `blockorch <args>` in `dir` with stderr (and stdout if `stdout_full`) on `/dev/full`;
/// returns the exit code.
fn run_on_full(dir: &Path, args: &[&str], stdout_full: bool) -> Option<i32> {
    let full = || {
        Stdio::from(
            fs::OpenOptions::new()
                .write(true)
                .open("/dev/full")
                .unwrap(),
        )
    };
    let mut command = Command::new(bin());
    command
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stderr(full());
    command.stdout(if stdout_full { full() } else { Stdio::null() });
    command.status().unwrap().code()
}

#[test]
fn an_unwritable_stderr_or_stdout_never_panics() {
    let job = Job::new(&[line_task()]);
    fs::write(job.path("bogus.json"), "{").unwrap();
    // Bad input: the documented 2, whatever happens to the message.
    for args in [
        &["plan", "bogus.json"][..],
        &["plan", "-vvv", "missing.json"],
        &["submit", "bogus.json"],
        &["submit", "-v", "bogus.json", "--ledger", "x.ledger"],
        &["status", "no-such.ledger"],
        &["no-such-command"],
    ] {
        assert_eq!(run_on_full(&job.root, args, false), Some(2), "{args:?}");
    }
    // Output that cannot be written is an I/O error: 1, not a panic (101).
    assert_eq!(
        run_on_full(&job.root, &["plan", "task.json", "--json"], true),
        Some(1)
    );
    // A whole run with every log line of the orchestrator lost still completes, and so does
    // its report that cannot be written to stdout (exit 1: the report is lost).
    let code = run_on_full(&job.root, &["submit", "task.json", "-vv"], false);
    assert_eq!(code, Some(0));
    let code = run_on_full(&job.root, &["submit", "task.json", "--json"], true);
    assert_eq!(code, Some(1));
}

#[test]
fn a_run_too_large_for_memory_is_refused_before_anything_is_written() {
    // (task, dimensions, blocks per axis, the count the message names)
    let cases = [
        ("line", 1, 1_000_000_000_000_000, "1000000000000000"),
        ("octo", 8, 100, "10000000000000000"),
    ];
    for (name, dims, per_axis, count) in cases {
        let zero = vec![0i64; dims];
        let t = task(
            name,
            (&zero, &vec![per_axis; dims]),
            (&zero, &vec![1; dims]),
            (&zero, &vec![1; dims]),
            json!({"worker": {"command": ["true"]}}),
        );
        let job = Job::new(&[t]);
        for extra in [&[][..], &["--detach"]] {
            let out = job.submit(extra);
            assert_eq!(out.code, Some(2), "{extra:?} {}", out.text());
            assert!(
                out.stderr.contains("100000000 blocks one run may have")
                    && out.stderr.contains(&format!("task {name:?}"))
                    && out.stderr.contains(count),
                "{}",
                out.text()
            );
            assert!(!job.ledger().exists(), "a ledger was left behind");
        }
    }
}

/// `chown -R nobody:nogroup dir`.
fn give_to_nobody(dir: &Path) {
    let status = Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(dir)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn a_worker_directory_that_cannot_be_prepared_fails_the_run_with_its_cause() {
    let job = Job::new(&[line_task()]);
    let file = blockorch::task::load_task_file(&job.task_file()).unwrap();
    blockorch::orchestrator::open_ledger(&file, &job.ledger()).unwrap();
    let workers = job.ledger().join("workers");
    let root = unsafe { libc::geteuid() } == 0;
    let setpriv = Command::new("setpriv").arg("--version").output().is_ok();
    let mut command = Command::new(bin());
    let expected = if !root || setpriv {
        // Read-only `workers/`, as a user to whom permissions apply.
        fs::set_permissions(&workers, fs::Permissions::from_mode(0o555)).unwrap();
        if root {
            eprintln!("running as root: submit runs as nobody through setpriv");
            give_to_nobody(&job.root);
            command = Command::new("setpriv");
            command
                .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
                .arg(bin());
        }
        "Permission denied"
    } else {
        // Root without setpriv bypasses permissions: a file where the worker's directory
        // must go instead.
        eprintln!("running as root without setpriv: a file in place of the worker directory");
        fs::write(workers.join("local-e1-t-1"), "").unwrap();
        "File exists"
    };
    command.args(["submit", "task.json", "--quiet"]);
    command.current_dir(&job.root);
    let out = spawn_logged(command, &job.root, "submit").wait(SAFETY);
    assert_eq!(out.code, Some(1), "{}", out.text());
    let cause = format!("preparing {}", workers.join("local-e1-t-1").display());
    assert!(
        out.stderr.contains(&cause) && out.stderr.contains(expected),
        "{}",
        out.text()
    );
    assert!(out.elapsed < std::time::Duration::from_secs(30), "{out:?}");
}

/// Records in the ledger what an orchestrator that died right after starting a local worker
/// leaves behind: `local-e1-t-1` registered for task `t`, block `block` assigned to it as
/// attempt 1, and no outbox (the worker never said Hello).
fn register_silent_worker(job: &Job, block: u64) {
    use blockorch::ledger::{ClaimOptions, Journal, Ledger, OrchestratorRecord};
    let file = blockorch::task::load_task_file(&job.task_file()).unwrap();
    blockorch::orchestrator::open_ledger(&file, &job.ledger()).unwrap();
    let ledger = Ledger::open(job.ledger()).unwrap();
    let owner = ledger.claim(&ClaimOptions::default()).unwrap();
    let mut journal = Journal::start(&ledger, &owner).unwrap();
    let now = blockorch::ledger::now_us();
    for record in [
        OrchestratorRecord::WorkerRegistered {
            index: 0,
            worker_id: "local-e1-t-1".into(),
            backend: "local".into(),
            job_id: None,
            time_us: now,
        },
        OrchestratorRecord::WorkerServes {
            worker: 0,
            task: 0,
            time_us: now,
        },
        OrchestratorRecord::Assigned {
            task: 0,
            block,
            attempt: 1,
            worker: 0,
            time_us: now,
        },
    ] {
        journal.append(record).unwrap();
    }
    journal.commit().unwrap();
    owner.release().unwrap();
}

#[test]
fn a_worker_that_never_says_hello_is_replaced_without_charging_its_blocks() {
    let job = Job::new(&[line_task()]);
    let plan = job.plan();
    register_silent_worker(&job, 3);
    // The adopted worker holds the task's only agent slot (local: one agent per task) and has
    // no pid to watch: it used to make the resume wait forever. A local worker of a dead
    // orchestrator that never said Hello is retired at once (its parent is gone, so is it);
    // the Hello bound (kept long here) is not needed for it.
    let out = job
        .spawn_submit(&["--quiet", "--hello-timeout", "600"])
        .wait(std::time::Duration::from_secs(60));
    assert_eq!(out.code, Some(0), "{}", out.text());
    assert_eq!(summary_row(&out, "t"), [10, 10, 0, 0, 0]);
    assert_ledger_all(&job, &plan, blockorch::ledger::BlockState::Done);
    let state = job.ledger_state();
    let entry = state.block(0, 3).unwrap();
    assert_eq!(entry.failures_in_budget(), 0, "charged to the block");
    assert_eq!(entry.infra_returns(), 1);
    let silent = &state.workers()[0];
    assert!(
        silent
            .ended
            .as_ref()
            .is_some_and(|e| e.0.contains("job ended: Vanished")),
        "{silent:?}"
    );
    assert!(out.elapsed < std::time::Duration::from_secs(20), "{out:?}");
}

/// A tmpfs of `size` mounted on `dir` (an empty directory) until dropped.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    /// Mounts it, or says why it cannot.
    fn mount(dir: &Path, size: &str) -> Result<Tmpfs, String> {
        if unsafe { libc::geteuid() } != 0 {
            return Err("mounting a tmpfs needs root".into());
        }
        fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Writes `path` until the filesystem is full; returns the bytes written.
fn fill(path: &Path) -> u64 {
    use std::io::Write;
    let mut file = fs::File::create(path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    let mut written = 0u64;
    loop {
        match file.write(&chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => written += n as u64,
        }
    }
    let _ = file.sync_all();
    written
}

#[test]
fn a_full_disk_under_the_ledger_then_a_resume_completes_every_block() {
    let job = Job::new(&[task(
        "t",
        (&[0], &[400]),
        (&[0], &[2]),
        (&[0], &[2]),
        json!({"read_write_conflict": false, "num_workers": 2,
               "worker": blockwork(Some((5, 15)))}),
    )]);
    let plan = job.plan();
    // The ledger directory is the tmpfs; the programs write their outputs elsewhere.
    let _tmpfs = match Tmpfs::mount(&job.ledger(), "16m") {
        Ok(t) => t,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let run = job.spawn_submit(&["--quiet", "--hello-timeout", "3"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while job.attempts().iter().filter(|a| a.completed()).count() < 20 {
        assert!(std::time::Instant::now() < deadline, "no progress");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let filler = job.ledger().join("filler");
    assert!(fill(&filler) > 0);
    let first = run.wait(std::time::Duration::from_secs(90));
    assert_ne!(first.code, Some(101), "{}", first.text());
    fs::remove_file(&filler).unwrap();
    let state = job.ledger_state();
    for (id, entry) in state.task(0).unwrap().blocks() {
        assert_eq!(
            entry.failures_in_budget(),
            0,
            "block {id} was charged: {entry:?}"
        );
    }
    let resume = job
        .spawn_submit(&["--quiet", "--hello-timeout", "3"])
        .wait(std::time::Duration::from_secs(90));
    assert_eq!(resume.code, Some(0), "{}", resume.text());
    assert_eq!(summary_row(&resume, "t"), [200, 200, 0, 0, 0]);
    assert_ledger_all(&job, &plan, blockorch::ledger::BlockState::Done);
    let state = job.ledger_state();
    for (id, entry) in state.task(0).unwrap().blocks() {
        assert_eq!(
            entry.failures_in_budget(),
            0,
            "block {id} was charged: {entry:?}"
        );
    }
    assert_outputs(&job, &plan, &job.attempts());
    // No agent panicked (exit 101) on its log file on the full disk.
    for agent in fs::read_dir(job.ledger().join("workers")).unwrap() {
        let log = fs::read_to_string(agent.unwrap().path().join("agent.log")).unwrap_or_default();
        assert!(!log.contains("panicked"), "{log}");
    }
}

#[test]
fn a_worker_that_cannot_write_its_outbox_stops_and_its_blocks_are_not_charged() {
    let job = Job::new(&[task(
        "t",
        (&[0], &[400]),
        (&[0], &[2]),
        (&[0], &[2]),
        json!({"read_write_conflict": false, "num_workers": 2,
               "worker": blockwork(Some((5, 15)))}),
    )]);
    let plan = job.plan();
    let file = blockorch::task::load_task_file(&job.task_file()).unwrap();
    blockorch::orchestrator::open_ledger(&file, &job.ledger()).unwrap();
    // Only the workers' directory fills up: the orchestrator's journal stays writable.
    let workers = job.ledger().join("workers");
    let _tmpfs = match Tmpfs::mount(&workers, "4m") {
        Ok(t) => t,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let run = job.spawn_submit(&["--quiet", "--hello-timeout", "5"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while job.attempts().iter().filter(|a| a.completed()).count() < 20 {
        assert!(std::time::Instant::now() < deadline, "no progress");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let filler = workers.join("filler");
    assert!(fill(&filler) > 0);
    // The agent gives up on its outbox (after 10 s) and exits 5; then the space comes back.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
    let ended = loop {
        let state = job.ledger_state();
        if let Some((reason, _)) = state.workers().first().and_then(|w| w.ended.clone()) {
            break reason;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the agent did not stop"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    fs::remove_file(&filler).unwrap();
    assert!(ended.contains("exit_code: Some(5)"), "{ended}");
    let out = run.wait(std::time::Duration::from_secs(90));
    assert_eq!(out.code, Some(0), "{}", out.text());
    assert_eq!(summary_row(&out, "t"), [200, 200, 0, 0, 0]);
    assert_ledger_all(&job, &plan, blockorch::ledger::BlockState::Done);
    let state = job.ledger_state();
    let mut returned = 0;
    for (id, entry) in state.task(0).unwrap().blocks() {
        assert_eq!(
            entry.failures_in_budget(),
            0,
            "block {id} was charged: {entry:?}"
        );
        returned += entry.infra_returns();
    }
    assert!(
        returned > 0,
        "no block was in flight when the agent stopped"
    );
    assert_outputs(&job, &plan, &job.attempts());
}
