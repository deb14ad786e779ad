//! Runs of days on the real SLURM test cluster of `cluster-tests/` (these tests skip with a
//! message when it is down, and fail then under `BLOCKORCH_REQUIRE_SLURM=1`):
//!
//! - the task's `setup` lines and `container_prefix` run in the job (and show in `--dry-run`);
//! - a run interrupted and resumed with changed operational settings keeps its done blocks,
//!   renders the new `mem` and `partition`, and `status` names the definition in force; a
//!   changed `write_roi` is refused with exit 5;
//! - workers cancelled 20 times from outside while making progress do not stop the run;
//! - workers that crash at start-up 20 times in a row stop the task with the limit named.
//!
//! Each test takes well under a minute.

#[path = "fixtures/slurm/common.rs"]
mod common;

use blockorch::ledger::BlockState;
use common::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// Upper bound for one whole `submit` (a safety net against hangs).
const RUN_LIMIT: Duration = Duration::from_secs(90);

/// A row of `blocks` 10×10 blocks without conflicts, `extra` merged into the task.
fn row(blocks: i64, env: &[(&str, &str)], extra: Value) -> Value {
    let mut extra = extra;
    extra["read_write_conflict"] = json!(false);
    task(
        "a",
        (&[0, 0], &[10 * blocks, 10]),
        (&[0, 0], &[10, 10]),
        (&[0, 0], &[10, 10]),
        env,
        extra,
    )
}

/// The `slurm` section of these tests: off the node-failure test's node, plus `fields`.
fn slurm_section(fields: Value) -> Value {
    let mut section = json!({"extra_directives": [format!("--exclude={FAIL_NODE}")]});
    for (k, v) in fields.as_object().unwrap() {
        section[k] = v.clone();
    }
    section
}

/// Blocks of task 0 in state `Done`.
fn done_blocks(job: &Job) -> BTreeSet<u64> {
    if !job.ledger().join("ledger.json").exists() {
        return BTreeSet::new();
    }
    let state = job.state();
    state.tasks().first().map_or_else(BTreeSet::new, |t| {
        t.blocks()
            .filter(|(_, e)| e.state() == BlockState::Done)
            .map(|(id, _)| id)
            .collect()
    })
}

fn write_executable(path: &std::path::Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

#[test]
fn setup_lines_and_the_container_prefix_run_in_the_slurm_job() {
    if !cluster_up_or_skip("setup_lines_and_the_container_prefix_run_in_the_slurm_job") {
        return;
    }
    let section = slurm_section(json!({
        "setup": ["export SETUP_MARK=from-setup", "echo \"$SLURM_JOB_ID\" >> setup-ran.log"],
        "container_prefix": ["./wrap.sh", "--tag", "my tag"],
    }));
    let job = Job::new(
        "setup",
        &[row(4, &[], json!({"num_workers": 2, "slurm": section}))],
    );
    // The "container": records its arguments and what the set-up exported, then runs the
    // worker command it is given.
    write_executable(
        &job.root.join("wrap.sh"),
        "#!/bin/sh\necho \"$1|$2|$SETUP_MARK|$SLURM_JOB_ID\" >> wrap.log\nshift 2\nexec \"$@\"\n",
    );
    let out = job.run(
        &[
            "submit",
            "task.json",
            "--dry-run",
            "--backend",
            "slurm",
            "--slurm-mode",
            "submit",
        ],
        Duration::from_secs(30),
    );
    assert_eq!(out.code, Some(0), "{}", out.text());
    for line in [
        "export SETUP_MARK=from-setup\n",
        "--command-prefix=./wrap.sh \\\n    --command-prefix=--tag \\\n    --command-prefix='my tag' \\\n",
    ] {
        assert!(out.stdout.contains(line), "{line:?} missing:\n{}", out.stdout);
    }
    assert!(!job.ledger().exists(), "the dry run created the ledger");

    let out = job.spawn_submit(&[]).wait(RUN_LIMIT);
    assert_eq!(out.code, Some(0), "{}", out.text());
    assert_eq!(done_blocks(&job).len(), 4);
    let setup_ran = std::fs::read_to_string(job.root.join("setup-ran.log")).unwrap();
    let jobs: BTreeSet<&str> = setup_ran.lines().collect();
    assert!(
        !jobs.is_empty() && jobs.iter().all(|j| !j.is_empty()),
        "{setup_ran}"
    );
    let wrapped = std::fs::read_to_string(job.root.join("wrap.log")).unwrap();
    for line in wrapped.lines() {
        let (fixed, job_id) = line.rsplit_once('|').unwrap();
        assert_eq!(fixed, "--tag|my tag|from-setup", "{wrapped}");
        assert!(
            jobs.contains(job_id),
            "prefix ran outside a set-up job: {wrapped}"
        );
    }
    // Every block ran behind the prefix, in a SLURM job.
    let events = job.events();
    let workers: BTreeSet<&str> = events.iter().map(|e| e.job.as_deref().unwrap()).collect();
    assert_eq!(
        wrapped.lines().count(),
        workers.len(),
        "{wrapped} vs {workers:?}"
    );
}

/// The task of the resume test: `mark` recorded per program start by a shell wrapper.
fn changing_task(
    mark: &str,
    workers: u32,
    timeout: u32,
    retries: u32,
    mem: &str,
    partition: &str,
    write: i64,
) -> Value {
    let mut t = row(
        40,
        &[("SLURM_E2E_SLEEP_S", "0.3"), ("MARK", mark)],
        json!({
            "num_workers": workers, "timeout": timeout, "max_retries": retries,
            "slurm": slurm_section(json!({"mem": mem, "partition": partition})),
        }),
    );
    t["write_roi"]["shape"] = json!([write, 10]);
    t["worker"]["command"] = json!([
        "sh",
        "-c",
        format!("echo {mark} >> marks.log; exec python3 worker.py")
    ]);
    t
}

#[test]
fn a_resume_on_slurm_takes_over_changed_settings_and_keeps_done_blocks() {
    if !cluster_up_or_skip("a_resume_on_slurm_takes_over_changed_settings_and_keeps_done_blocks") {
        return;
    }
    let job = Job::new(
        "resume",
        &[changing_task("v1", 2, 60, 2, "300M", "debug", 10)],
    );
    let running = job.spawn_submit(&[]);
    wait_for(
        "8 blocks done",
        Duration::from_secs(45),
        || (done_blocks(&job).len() >= 8).then_some(()),
        || running.output_so_far(),
    );
    // Interrupted as on Ctrl-C: the workers are cancelled, their blocks given back.
    let killed = std::process::Command::new("kill")
        .args(["-INT", &running.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = running.wait(Duration::from_secs(45));
    assert_eq!(out.code, Some(130), "{}", out.text());
    let done_before = done_blocks(&job);

    // A changed write_roi defines other blocks: refused with exit 5, naming it.
    job.write_tasks(&[changing_task("v1", 2, 60, 2, "300M", "debug", 5)]);
    let mut args = vec!["submit", "task.json"];
    args.extend_from_slice(SUBMIT);
    let out = job.run(&args, Duration::from_secs(30));
    assert_eq!(out.code, Some(5), "{}", out.text());
    assert!(out.text().contains("write_roi"), "{}", out.text());

    // Every operational field changed at once.
    job.write_tasks(&[changing_task("v2", 3, 30, 4, "400M", "gpu", 10)]);
    let out = job.spawn_submit(&[]).wait(RUN_LIMIT);
    assert_eq!(out.code, Some(0), "{}", out.text());
    assert!(
        out.stderr.contains("resuming with changed settings"),
        "{}",
        out.text()
    );
    assert_eq!(done_blocks(&job).len(), 40);
    // No block done before the interruption ran again.
    let mut starts: BTreeMap<u64, usize> = BTreeMap::new();
    for e in job.events().iter().filter(|e| e.ev == "start") {
        *starts.entry(e.block).or_default() += 1;
    }
    for b in &done_before {
        assert_eq!(starts.get(b), Some(&1), "done block {b} ran again");
    }
    let marks = std::fs::read_to_string(job.root.join("marks.log")).unwrap();
    assert!(marks.lines().any(|l| l == "v2"), "{marks}");
    // The job scripts of the resume ask for the new memory and partition, the first run's
    // for the old ones.
    let scripts_dir = job.ledger().join("logs/slurm/a");
    let scripts: Vec<String> = std::fs::read_dir(&scripts_dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".sbatch"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    let with = |a: &str, b: &str| {
        scripts
            .iter()
            .filter(|s| s.contains(a) && s.contains(b))
            .count()
    };
    assert!(with("#SBATCH --mem=300M\n", "#SBATCH --partition=debug\n") >= 1);
    assert!(with("#SBATCH --mem=400M\n", "#SBATCH --partition=gpu\n") >= 1);

    // `status` names the definition in force and what it changed.
    let out = job.run(&["status", "task.ledger"], Duration::from_secs(30));
    assert_eq!(out.code, Some(0), "{}", out.text());
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("definition "))
        .unwrap_or_else(|| panic!("no definition line:\n{}", out.stdout));
    for field in [
        "num_workers",
        "timeout",
        "max_retries",
        "mem",
        "partition",
        "worker.env",
        "worker.command",
    ] {
        assert!(line.contains(field), "{field} missing in {line:?}");
    }
    let out = job.run(
        &["status", "task.ledger", "--json"],
        Duration::from_secs(30),
    );
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        report["definition"]["number"], report["owner"]["epoch"],
        "{report}"
    );
    let changed = report["definition"]["changed"].as_array().unwrap();
    assert!(
        changed
            .iter()
            .any(|c| c == "tasks[0].slurm.mem: \"300M\" -> \"400M\""),
        "{changed:?}"
    );
}

#[test]
fn workers_cancelled_twenty_times_while_making_progress_finish_the_run() {
    if !cluster_up_or_skip("workers_cancelled_twenty_times_while_making_progress_finish_the_run") {
        return;
    }
    let job = Job::new(
        "replaced",
        &[row(
            120,
            &[("SLURM_E2E_SLEEP_S", "0.2")],
            json!({"num_workers": 2}),
        )],
    );
    let running = job.spawn_submit(&[]);
    let mut cancelled = BTreeSet::new();
    let until = Instant::now() + Duration::from_secs(50);
    while cancelled.len() < 20 {
        assert!(
            Instant::now() < until,
            "only {} workers replaced:\n{}",
            cancelled.len(),
            running.output_so_far()
        );
        let productive: BTreeSet<String> = job
            .events()
            .into_iter()
            .filter(|e| e.ev == "end")
            .map(|e| e.worker)
            .collect();
        for worker in productive.difference(&cancelled.clone()) {
            // `slurm-<array job>_<index>`: cancelled by id from outside, as an admin would.
            let id = worker.trim_start_matches("slurm-");
            slurm("scancel", &[id]);
            cancelled.insert(worker.clone());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = running.wait(RUN_LIMIT);
    assert_eq!(out.code, Some(0), "{}", out.text());
    assert_eq!(done_blocks(&job).len(), 120);
    // Each cancelled worker had finished a block: none of these launches counted.
    assert!(cancelled.len() >= 20);
}

#[test]
fn workers_crashing_at_start_up_twenty_times_stop_the_task_with_the_limit_named() {
    if !cluster_up_or_skip(
        "workers_crashing_at_start_up_twenty_times_stop_the_task_with_the_limit_named",
    ) {
        return;
    }
    // A set-up line that fails, as a `module load` of a module that does not exist.
    let section =
        slurm_section(json!({"setup": ["echo 'module: cannot load cuda/99' >&2", "exit 1"]}));
    let job = Job::new(
        "crashing",
        &[row(4, &[], json!({"num_workers": 20, "slurm": section}))],
    );
    let out = job
        .spawn_submit(&["--max-failed-starts", "20"])
        .wait(RUN_LIMIT);
    assert_eq!(out.code, Some(3), "{}", out.text());
    let text = out.text();
    assert!(
        text.contains("20 workers in a row ended without finishing a block"),
        "{text}"
    );
    assert!(
        text.contains("--max-failed-starts 20"),
        "the limit and how to raise it: {text}"
    );
    assert!(done_blocks(&job).is_empty());
    // The jobs' own error output says why.
    let logs = job.ledger().join("logs/slurm/a");
    let said = std::fs::read_dir(&logs)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".err"))
        .any(|e| {
            std::fs::read_to_string(e.path())
                .unwrap()
                .contains("cannot load cuda/99")
        });
    assert!(said, "no job log says why");
}

#[test]
fn the_detached_orchestrator_gets_its_own_resources_and_the_backend_comes_from_the_file() {
    if !cluster_up_or_skip("the_detached_orchestrator_gets_its_own_resources") {
        return;
    }
    let section = slurm_section(json!({
        "partition": "debug",
        "orchestrator": {"time": "10", "partition": "gpu", "mem": "300M"},
    }));
    let job = Job::new("detach-res", &[]);
    let t = row(
        4,
        &[("SLURM_E2E_SLEEP_S", "0.1")],
        json!({"num_workers": 2, "slurm": section}),
    );
    std::fs::write(
        job.task_file(),
        serde_json::to_string(&json!({"backend": "slurm", "tasks": [t]})).unwrap(),
    )
    .unwrap();
    // No --backend: the task file names it.
    let args = [
        "submit",
        "task.json",
        "--detach",
        "--slurm-mode",
        "submit",
        "--poll-interval",
        "0.5",
        "--max-poll-interval",
        "2",
        "--quiet",
    ];
    let out = job.run(&args, Duration::from_secs(30));
    assert_eq!(out.code, Some(0), "{}", out.text());
    let id = blockorch::backend::slurm::recorded_orchestrator_job(&job.ledger())
        .expect("submitted as a SLURM job");
    let shown = slurm("scontrol", &["show", "job", &id]);
    for field in ["Partition=gpu", "TimeLimit=00:10:00", "MinMemoryNode=300M"] {
        assert!(shown.contains(field), "{field} missing:\n{shown}");
    }
    let orchestrator = format!("{}-orchestrator", job.run_name());
    wait_for(
        "the orchestrator job to end",
        Duration::from_secs(60),
        || live_jobs(&orchestrator).is_empty().then_some(()),
        || format!("{:?}", live_jobs(&orchestrator)),
    );
    assert_eq!(done_blocks(&job).len(), 4);
}
