//! On the LSF simulator: a task file that names `"backend": "lsf"` runs there without
//! `--backend`, its `lsf.setup` lines run in the job before the agent, its
//! `container_prefix` is put before the worker command, and `max_running`/`requeue` reach the
//! `#BSUB` lines (`-J name[1-N]%M`, `-r`).

mod lsf_common;
mod run_common;

use lsf_common::Sim;
use run_common::*;
use serde_json::json;
use std::collections::BTreeSet;
use std::process::Command;

#[test]
fn setup_lines_and_the_container_prefix_run_in_the_lsf_job() {
    let sim = Sim::new();
    let mut t = task(
        "a",
        (&[0], &[60]),
        (&[0], &[10]),
        (&[0], &[10]),
        json!({"num_workers": 2, "worker": blockwork(None)}),
    );
    t["lsf"] = json!({
        "setup": ["export SETUP_MARK=from-setup", "echo \"$LSB_JOBID\" >> setup-ran.log"],
        "container_prefix": ["./wrap.sh", "--tag", "my tag"],
        "max_running": 1,
        "requeue": true,
    });
    let job = Job::new(&[]);
    std::fs::write(
        job.task_file(),
        serde_json::to_string(&json!({"backend": "lsf", "tasks": [t]})).unwrap(),
    )
    .unwrap();
    let wrap = job.path("wrap.sh");
    std::fs::write(
        &wrap,
        "#!/bin/sh\necho \"$1|$2|$SETUP_MARK|$LSB_JOBID\" >> wrap.log\nshift 2\nexec \"$@\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&wrap, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let blockorch = |args: &[&str]| {
        let mut command = Command::new(bin());
        command
            .args(["submit", "task.json", "--quiet"])
            .args(["--poll-interval", "0.1", "--max-poll-interval", "0.5"])
            .args(args)
            .current_dir(&job.root)
            .envs(sim.env());
        command
    };

    let out = spawn_logged(blockorch(&["--dry-run"]), &job.root, "dry").wait(SAFETY);
    assert_eq!(out.code, Some(0), "{}", out.text());
    for line in [
        "[1-2]%1",
        "#BSUB -r\n",
        "export SETUP_MARK=from-setup\n",
        "--command-prefix=./wrap.sh \\\n    --command-prefix=--tag \\\n    --command-prefix='my tag' \\\n",
    ] {
        assert!(out.stdout.contains(line), "{line:?} missing:\n{}", out.stdout);
    }
    assert!(sim.calls("bsub").is_empty(), "the dry run submitted");

    let out = spawn_logged(blockorch(&[]), &job.root, "run").wait(SAFETY);
    assert_eq!(out.code, Some(0), "{}", out.text());
    assert_ledger_all(&job, &job.plan(), blockorch::ledger::BlockState::Done);
    let setup_ran = std::fs::read_to_string(job.path("setup-ran.log")).unwrap();
    let jobs: BTreeSet<&str> = setup_ran.lines().collect();
    let wrapped = std::fs::read_to_string(job.path("wrap.log")).unwrap();
    assert!(!wrapped.is_empty());
    for line in wrapped.lines() {
        let (fixed, job_id) = line.rsplit_once('|').unwrap();
        assert_eq!(fixed, "--tag|my tag|from-setup", "{wrapped}");
        assert!(
            jobs.contains(job_id),
            "prefix ran outside a set-up job: {wrapped}"
        );
    }
    // Submitted as written: throttled to one running element, rerunnable.
    let submitted = std::fs::read_dir(job.ledger().join("logs/lsf/a"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".bsub"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect::<Vec<_>>();
    assert!(!submitted.is_empty());
    assert!(submitted
        .iter()
        .all(|s| s.contains("%1\n") && s.contains("#BSUB -r\n")));
}
