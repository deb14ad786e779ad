//! Whose ledger is trusted (issue 8, items 2, 4 and 6): another user's ledger, a
//! group-writable one, an edited `ledger.json`, a ledger that lost its header, deleted claims,
//! and `cancel` faced with pids that are not this ledger's. Real `blockorch` processes; the
//! second-user cases create a user with `useradd` and need root (skipped otherwise, saying
//! why).

mod run_common;

use blockorch::ledger::{
    hostname, ClaimOptions, Journal, Ledger, LogWriter, OrchestratorRecord, OutboxRecord,
};
use run_common::*;
use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Exit code of a ledger that cannot be trusted (README, "Exit codes").
const UNTRUSTED: i32 = 6;
/// The second user the tests create.
const MALLORY: &str = "bo-mallory";

fn line_task(sleep_ms: Option<(u32, u32)>) -> Value {
    task(
        "t",
        (&[0], &[100]),
        (&[0], &[4]),
        (&[0], &[4]),
        json!({"num_workers": 2, "worker": blockwork(sleep_ms)}),
    )
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// `blockorch <args>` in `dir` with `umask` and extra environment, to its end.
fn blockorch_in(dir: &Path, args: &[&str], umask: u32, env: &[(&str, &str)]) -> RunOutput {
    let mut command = Command::new(bin());
    command
        .args(args)
        .current_dir(dir)
        .envs(env.iter().copied())
        .stdin(Stdio::null());
    // SAFETY: umask(2) is async-signal-safe and cannot fail.
    unsafe {
        command.pre_exec(move || {
            libc::umask(umask as libc::mode_t);
            Ok(())
        });
    }
    spawn_logged(command, dir, &format!("blockorch-{}", now_ns())).wait(SAFETY)
}

/// The uid and gid of [`MALLORY`], created if needed; `None` (and why) when this test cannot
/// create users.
fn second_user() -> Result<(u32, u32), String> {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Err("not running as root: cannot create a second user".into());
    }
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id").args([flag, MALLORY]).output().ok()?;
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    if id("-u").is_none() {
        let made = Command::new("useradd")
            .args(["--no-create-home", "--shell", "/bin/sh", MALLORY])
            .status();
        match made {
            Ok(s) if s.success() => {}
            Ok(s) => return Err(format!("useradd {MALLORY} failed ({s})")),
            Err(e) => return Err(format!("useradd is not available: {e}")),
        }
    }
    match (id("-u"), id("-g")) {
        (Some(u), Some(g)) => Ok((u, g)),
        _ => Err(format!("cannot read the ids of {MALLORY}")),
    }
}

/// Rewrites `tasks[0].worker.command` in `ledger.json`, leaving `plan_hash` alone.
fn forge_command(ledger: &Path, command: &[&str]) {
    let path = ledger.join("ledger.json");
    let mut header: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    header["tasks"]["tasks"][0]["worker"]["command"] = json!(command);
    fs::write(&path, serde_json::to_vec_pretty(&header).unwrap()).unwrap();
}

fn assert_nothing_ran(job: &Job, out: &RunOutput) {
    assert!(job.attempts().is_empty(), "blocks ran:\n{}", out.text());
    assert!(
        !out.stdout.lines().any(|l| l.starts_with("t ")),
        "a summary of blocks was reported:\n{}",
        out.text()
    );
}

#[test]
fn another_users_ledger_is_refused_and_its_command_never_runs() {
    let (uid, gid) = match second_user() {
        Ok(ids) => ids,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    // A shared scratch directory: everybody may create entries in it.
    let victim = Job::new(&[line_task(None)]);
    chmod(&victim.root, 0o1777);
    let marker = victim.path("FORGED");

    // 1. The other user pre-creates the --ledger directory (empty).
    let made = Command::new("mkdir")
        .arg(victim.ledger())
        .uid(uid)
        .gid(gid)
        .status()
        .unwrap();
    assert!(made.success());
    let out = victim.submit(&["--quiet"]);
    assert_eq!(out.code, Some(UNTRUSTED), "{}", out.text());
    assert!(
        out.stderr.contains(&victim.ledger().display().to_string()) && out.stderr.contains(MALLORY),
        "the error does not name the directory and its owner:\n{}",
        out.text()
    );
    assert!(
        fs::read_dir(victim.ledger()).unwrap().next().is_none(),
        "something was written into the other user's directory"
    );
    assert_nothing_ran(&victim, &out);
    fs::remove_dir(victim.ledger()).unwrap();

    // 2. The other user plants a finished ledger of the same task definition, its worker
    //    command edited to touch a marker (plan_hash left alone), owned by them.
    let shop = Job::new(&[line_task(None)]);
    let done = shop.submit(&["--quiet"]);
    assert_eq!(done.code, Some(0), "{}", done.text());
    for forged_command in [false, true] {
        let copied = Command::new("cp")
            .arg("-a")
            .arg(shop.ledger())
            .arg(victim.ledger())
            .status()
            .unwrap();
        assert!(copied.success());
        if forged_command {
            let touch = format!("touch {}", marker.display());
            forge_command(&victim.ledger(), &["sh", "-c", &touch]);
        }
        let chowned = Command::new("chown")
            .args(["-R", &format!("{uid}:{gid}")])
            .arg(victim.ledger())
            .status()
            .unwrap();
        assert!(chowned.success());
        let out = victim.submit(&["--quiet"]);
        assert_eq!(out.code, Some(UNTRUSTED), "{}", out.text());
        assert!(out.stderr.contains(MALLORY), "{}", out.text());
        assert!(!marker.exists(), "the forged command ran");
        assert_nothing_ran(&victim, &out);
        // `status` does not show the forged results either.
        let status = victim.run(&["status", "task.ledger"]);
        assert_eq!(status.code, Some(UNTRUSTED), "{}", status.text());
        fs::remove_dir_all(victim.ledger()).unwrap();
    }
    // The victim's own run then works, in a ledger of its own.
    let out = victim.submit(&["--quiet"]);
    assert_eq!(out.code, Some(0), "{}", out.text());
    assert!(!marker.exists());
    assert_eq!(summary_row(&out, "t")[1], 25);
}

#[test]
fn a_group_writable_ledger_is_refused_unless_the_group_is_shared_on_purpose() {
    let job = Job::new(&[line_task(None)]);
    // Created under a lab group's umask 002: still nothing in the ledger is group-writable,
    // while what the task's programs create keeps the user's umask.
    let first = blockorch_in(&job.root, &["submit", "task.json", "--quiet"], 0o002, &[]);
    assert_eq!(first.code, Some(0), "{}", first.text());
    let mut entries = vec![job.ledger()];
    let mut i = 0;
    while i < entries.len() {
        if entries[i].is_dir() {
            for e in fs::read_dir(&entries[i]).unwrap() {
                entries.push(e.unwrap().path());
            }
        }
        i += 1;
    }
    assert!(entries.len() > 10, "{entries:?}");
    for e in &entries {
        let mode = fs::symlink_metadata(e).unwrap().mode();
        assert_eq!(mode & 0o022, 0, "{} has mode {mode:o}", e.display());
    }
    let program_dir = fs::metadata(job.path("done")).unwrap().mode();
    assert_eq!(
        program_dir & 0o020,
        0o020,
        "the program did not get umask 002"
    );
    let runs = job.attempts().len();

    // A group member could now forge an outbox: refused.
    let outbox = fs::read_dir(job.ledger().join("workers"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
        .join("outbox.log");
    chmod(&outbox, 0o664);
    let out = job.submit(&["--quiet"]);
    assert_eq!(out.code, Some(UNTRUSTED), "{}", out.text());
    assert!(
        out.stderr.contains(&outbox.display().to_string()) && out.stderr.contains("0664"),
        "the error does not name the file and its mode:\n{}",
        out.text()
    );
    assert!(out.stderr.contains("--shared-group"), "{}", out.text());
    // Writable by everyone: refused even for a shared group.
    chmod(&outbox, 0o646);
    let out = job.submit(&["--quiet", "--shared-group"]);
    assert_eq!(out.code, Some(UNTRUSTED), "{}", out.text());
    // Opted in: accepted (the flag, and the variable for status).
    chmod(&outbox, 0o664);
    let out = job.submit(&["--quiet", "--shared-group"]);
    assert_eq!(out.code, Some(0), "{}", out.text());
    assert_eq!(job.attempts().len(), runs, "blocks ran again");
    let status = blockorch_in(&job.root, &["status"], 0o022, &[]);
    assert_eq!(status.code, Some(UNTRUSTED), "{}", status.text());
    let status = blockorch_in(
        &job.root,
        &["status"],
        0o022,
        &[("BLOCKORCH_SHARED_GROUP", "1")],
    );
    assert_eq!(status.code, Some(0), "{}", status.text());
}

#[test]
fn an_edited_ledger_json_is_refused_and_the_edited_command_never_runs() {
    let job = Job::new(&[line_task(None)]);
    // A fresh ledger of this task file, nothing run yet.
    let file = blockorch::task::load_task_file(&job.task_file()).unwrap();
    blockorch::orchestrator::open_ledger(&file, &job.ledger()).unwrap();
    let marker = job.path("EDITED");
    let touch = format!("touch {}", marker.display());
    forge_command(&job.ledger(), &["sh", "-c", &touch]);

    let out = job.submit(&["--quiet"]);
    assert_eq!(out.code, Some(UNTRUSTED), "{}", out.text());
    assert!(
        out.stderr.contains("ledger.json was modified"),
        "{}",
        out.text()
    );
    assert!(!marker.exists(), "the edited command ran");
    assert_nothing_ran(&job, &out);
    // An agent started by hand on the edited ledger refuses too.
    let agent = job.run(&[
        "worker",
        "--ledger",
        "task.ledger",
        "--task",
        "t",
        "--worker-id",
        "manual-1",
    ]);
    assert_eq!(agent.code, Some(UNTRUSTED), "{}", agent.text());
    assert!(!marker.exists(), "the edited command ran");
}

#[test]
fn a_ledger_that_lost_ledger_json_is_not_adopted_by_another_definition() {
    let v1 = line_task(None);
    let job = Job::new(&[v1]);
    let first = job.submit(&["--quiet"]);
    assert_eq!(first.code, Some(0), "{}", first.text());
    let runs = job.attempts().len();
    assert_eq!(runs, 25);
    fs::remove_file(job.ledger().join("ledger.json")).unwrap();

    let v2 = task(
        "t",
        (&[0], &[324]),
        (&[0], &[4]),
        (&[0], &[4]),
        json!({"num_workers": 2, "worker": blockwork(None)}),
    );
    job.write_tasks(&[v2]);
    let out = job.submit(&["--quiet"]);
    assert_ne!(out.code, Some(0), "{}", out.text());
    assert!(
        out.stderr.contains("has no ledger.json") && out.stderr.contains("new --ledger"),
        "{}",
        out.text()
    );
    assert_eq!(job.attempts().len(), runs, "v2 ran blocks");
    assert!(
        !job.ledger().join("ledger.json").exists(),
        "a header was written"
    );
    assert!(
        !out.stdout.lines().any(|l| l.starts_with("t ")),
        "blocks were counted:\n{}",
        out.text()
    );
}

#[test]
fn deleting_owners_never_reuses_an_epoch() {
    let job = Job::new(&[line_task(Some((100, 150)))]);
    let run = job.spawn_submit(&["--quiet"]);
    let deadline = Instant::now() + SAFETY;
    while job.attempts().iter().filter(|a| a.end.is_some()).count() < 4 {
        assert!(Instant::now() < deadline, "no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
    run.kill9();
    let log1 = job.ledger().join("orchestrator/epoch-00000001.log");
    let len1 = fs::metadata(&log1).unwrap().len();
    let workers1: Vec<String> = fs::read_dir(job.ledger().join("workers"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!workers1.is_empty());
    fs::remove_dir_all(job.ledger().join("owners")).unwrap();

    let out = job.submit(&["--quiet"]);
    assert_eq!(out.code, Some(0), "{}", out.text());
    let owners: Vec<String> = fs::read_dir(job.ledger().join("owners"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("epoch-"))
        .collect();
    assert_eq!(owners, ["epoch-00000002.json"], "epoch 1 was claimed again");
    assert_eq!(
        fs::metadata(&log1).unwrap().len(),
        len1,
        "the old epoch's log was written to"
    );
    assert!(job
        .ledger()
        .join("orchestrator/epoch-00000002.log")
        .exists());
    // No inbox of the old epoch was written to after the resume, and new workers have new ids.
    for w in fs::read_dir(job.ledger().join("workers")).unwrap() {
        let name = w.unwrap().file_name().to_string_lossy().into_owned();
        if !workers1.contains(&name) {
            assert!(name.starts_with("local-e2-"), "{name}");
            assert!(
                !job.ledger()
                    .join("workers")
                    .join(&name)
                    .join("inbox-00000001.log")
                    .exists(),
                "{name} got an epoch-1 inbox"
            );
        }
    }
    let state = job.ledger_state();
    assert_eq!(state.epochs().len(), 2);
    let plan = job.plan();
    assert_ledger_all(&job, &plan, blockorch::ledger::BlockState::Done);
}

#[test]
fn cancel_signals_no_process_it_cannot_prove_is_this_ledgers() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("run.ledger");
    let tasks = json!({"tasks": [{"name": "t",
        "total_roi": {"offset": [0], "shape": [10]},
        "read_roi": {"offset": [0], "shape": [1]},
        "write_roi": {"offset": [0], "shape": [1]},
        "worker": {"command": ["true"]}}]});
    let l = Ledger::create_or_open(&root, &tasks).unwrap();
    // An unrelated process of this user, named as the orchestrator and as a local agent.
    let mut sleep = Command::new("sleep").arg("60").spawn().unwrap();
    let own = l
        .claim(&ClaimOptions {
            pid: sleep.id(),
            ..ClaimOptions::default()
        })
        .unwrap();
    let mut j = Journal::start(&l, &own).unwrap();
    j.append(OrchestratorRecord::WorkerRegistered {
        index: 0,
        worker_id: "local-e1-t-0".into(),
        backend: "local".into(),
        job_id: None,
        time_us: 1,
    })
    .unwrap();
    j.commit().unwrap();
    let wdir = root.join("workers/local-e1-t-0");
    fs::create_dir_all(&wdir).unwrap();
    let mut w = LogWriter::<OutboxRecord>::open_append(wdir.join("outbox.log")).unwrap();
    w.append(&OutboxRecord::Hello {
        worker_id: "local-e1-t-0".into(),
        host: hostname(),
        pid: sleep.id(),
        backend_job: None,
        slots: 1,
        time_us: blockorch::ledger::now_us(),
    })
    .unwrap();
    w.commit().unwrap();

    let out = blockorch_in(dir.path(), &["cancel", "run.ledger"], 0o022, &[]);
    assert_eq!(out.code, Some(0), "{}", out.text());
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        sleep.try_wait().unwrap().is_none(),
        "cancel killed an unrelated process:\n{}",
        out.text()
    );
    assert!(
        out.stdout
            .contains(&format!("orchestrator pid {}", sleep.id()))
            && out.stdout.contains("not blockorch"),
        "{}",
        out.text()
    );
    assert!(out.stdout.contains("local-e1-t-0"), "{}", out.text());
    sleep.kill().unwrap();
    sleep.wait().unwrap();
}
