//! The LSF backend against the LSF simulator (`cluster-tests/lsf-sim/`): LSF itself cannot be
//! installed here. Every test has its own simulator, so they run in parallel.
//!
//! The jobs run the real built-in template's `#BSUB` header with a test body instead of the
//! `exec blockorch worker` line.

mod lsf_common;

use blockorch::backend::lsf::LsfJobId;
use blockorch::backend::{Backend, JobEnd, JobStatus, LaunchedAgent};
use blockorch::task::{LsfSettings, LsfWalltime, Memory, SchedulerName};
use lsf_common::*;
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(30);

fn ended(end: JobEnd) -> JobStatus {
    JobStatus::Ended(end)
}

/// Start and end times (seconds) each element wrote into `<log_dir>/times-<index>`.
fn intervals(run: &Run) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(run.log_dir()).unwrap() {
        let path = entry.unwrap().path();
        if !path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("times-")
        {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let t: Vec<f64> = text
            .split_whitespace()
            .map(|v| v.parse().unwrap())
            .collect();
        out.push((t[0], t[1]));
    }
    out
}

#[test]
fn array_completes_within_its_running_limit_with_one_bjobs_per_poll() {
    let body = r#"start=$(date +%s.%N); sleep 0.4
echo "$start $(date +%s.%N)" > "$(dirname "$LSB_OUTPUTFILE")/times-$LSB_JOBINDEX"
test -n "$LSB_JOBID" && test "$LSB_JOBINDEX" -ge 1"#;
    let mut run = run_with("complete", body, LsfSettings::default(), |c| {
        c.max_running = Some(2);
    });
    let agents = run.launch(5);
    let ids: Vec<&str> = agents
        .iter()
        .map(|a| a.job_id.as_deref().unwrap())
        .collect();
    let array = LsfJobId::parse(ids[0]).unwrap().job;
    assert_eq!(
        ids,
        (1..=5).map(|i| format!("{array}[{i}]")).collect::<Vec<_>>()
    );
    assert_eq!(agents[4].worker_id, format!("lsf-{array}_5"));
    let (statuses, polls) = run.wait(&agents, LIMIT, "array", all_ended);
    assert_eq!(statuses, vec![ended(JobEnd::Completed); 5]);
    let counts = run.backend.command_counts();
    assert_eq!(counts.get("bjobs"), Some(&polls), "{counts:?}");
    assert_eq!(counts.get("bsub"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("bparams"), Some(&1), "{counts:?}");
    assert_eq!(run.sim.calls("bjobs").len() as u64, polls);
    // %2: never more than two elements at once.
    let times = intervals(&run);
    assert_eq!(times.len(), 5);
    for &(start, _) in &times {
        let running = times
            .iter()
            .filter(|&&(s, e)| s <= start && start < e)
            .count();
        assert!(running <= 2, "{running} elements ran at once: {times:?}");
    }
    // The script bsub read is kept in the ledger; its output went to the documented logs.
    let script = std::fs::read_dir(run.log_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "bsub"))
        .expect("the submitted script");
    assert!(std::fs::read_to_string(script)
        .unwrap()
        .contains(&format!("#BSUB -J {}[1-5]%2\n", run.name)));
    assert!(run.log_dir().join(format!("{array}_3.out")).exists());
    // Finished jobs are never asked about again.
    run.backend.poll(&agents).unwrap();
    assert_eq!(run.backend.command_counts().get("bjobs"), Some(&polls));
}

#[test]
fn exit_1_is_a_failure_with_its_code() {
    let mut run = run("exit1", "exit 1", LsfSettings::default());
    let agents = run.launch(2);
    let (statuses, _) = run.wait(&agents, LIMIT, "exit 1", all_ended);
    let failed = ended(JobEnd::Failed {
        exit_code: Some(1),
        signal: None,
    });
    assert_eq!(statuses, [failed.clone(), failed]);
    if let JobStatus::Ended(end) = &statuses[0] {
        assert_eq!(end.blame(), blockorch::backend::Blame::Block);
    }
}

#[test]
fn bkill_by_hand_and_by_the_backend_is_cancelled_and_touches_only_our_jobs() {
    let mut run = run("bkill", "sleep 60", LsfSettings::default());
    let agents = run.launch(3);
    // A job of someone else's with the same name: the backend must never touch it.
    let foreign = run.sim.ok("bsub", &["-J", &run.name, "sleep", "60"]);
    assert!(
        foreign.contains("is submitted to default queue <normal>"),
        "{foreign}"
    );
    run.wait(&agents, LIMIT, "start", all_running);
    let by_hand = agents[0].job_id.clone().unwrap();
    let out = run.sim.ok("bkill", &[&by_hand]);
    assert_eq!(out, format!("Job <{by_hand}> is being terminated\n"));
    run.backend.cancel(&agents[1..]).unwrap();
    let (statuses, _) = run.wait(&agents, LIMIT, "bkill", all_ended);
    assert_eq!(statuses, vec![ended(JobEnd::Cancelled); 3]);
    assert_eq!(run.sim.calls("bkill").len(), 2);
    assert_eq!(
        run.sim.calls("bkill")[1],
        [
            agents[1].job_id.clone().unwrap(),
            agents[2].job_id.clone().unwrap()
        ]
    );
    let foreign_id = foreign
        .split(['<', '>'])
        .nth(1)
        .expect("a job id")
        .to_owned();
    let stat = run
        .sim
        .ok("bjobs", &["-noheader", "-o", "stat", &foreign_id]);
    assert_eq!(stat.trim(), "RUN");
    // Cancelling jobs that already ended is not an error.
    run.backend.cancel(&agents).unwrap();
}

#[test]
fn run_limit_is_a_timeout_after_the_warning_signal() {
    // -W 4 (four simulated minutes: seconds here), -wa TERM -wt 1 (a quarter of the limit):
    // SIGTERM after three seconds, which the body notes and survives; SIGUSR2 at the limit
    // ends it.
    let body = r#"trap 'touch "$(dirname "$LSB_OUTPUTFILE")/warned-$LSB_JOBINDEX"' TERM
while true; do sleep 0.1 || true; done"#;
    let settings = LsfSettings {
        walltime: Some(LsfWalltime::try_from("4").unwrap()),
        ..LsfSettings::default()
    };
    let mut run = run_with("walltime", body, settings, |c| {
        c.signal_grace = Duration::from_secs(60);
    });
    let agents = run.launch(1);
    let (statuses, _) = run.wait(&agents, LIMIT, "run limit", all_ended);
    assert_eq!(statuses, [ended(JobEnd::Timeout)]);
    assert!(run.log_dir().join("warned-1").exists());
    let id = agents[0].job_id.clone().unwrap();
    let reason = run
        .sim
        .ok("bjobs", &["-noheader", "-o", "exit_reason", &id]);
    assert!(reason.starts_with("TERM_RUNLIMIT"), "{reason}");
}

#[test]
fn memory_limit_is_out_of_memory() {
    let body = r#"python3 -c 'x = b"a" * (300 * 1024 * 1024); import time; time.sleep(30)'"#;
    let settings = LsfSettings {
        mem: Some(Memory::try_from("60M").unwrap()),
        ..LsfSettings::default()
    };
    let mut run = run("mem", body, settings);
    let agents = run.launch(1);
    let (statuses, _) = run.wait(&agents, LIMIT, "memory limit", all_ended);
    assert_eq!(statuses, [ended(JobEnd::OutOfMemory)]);
}

#[test]
fn lost_host_is_not_an_end_until_lsf_says_so() {
    let mut run = run("host", "sleep 60", LsfSettings::default());
    let agents = run.launch(2);
    run.wait(&agents, LIMIT, "start", all_running);
    let first = agents[0].job_id.clone().unwrap();
    let host = run.sim.ok("lsf-sim", &["lose-host-of", &first]);
    let stat = run.sim.ok("bjobs", &["-noheader", "-o", "stat", &first]);
    assert_eq!(stat.trim(), "UNKWN");
    let statuses = run.backend.poll(&agents).unwrap();
    assert_eq!(statuses[0], JobStatus::Running);
    run.sim.ok("lsf-sim", &["force-exit", &first, "TERM_HOST"]);
    run.sim.ok("lsf-sim", &["host-back", host.trim()]);
    let (statuses, _) = run.wait(&agents, LIMIT, "host failure", |s| !s[0].is_alive());
    assert_eq!(statuses[0], ended(JobEnd::NodeFail));
    assert_eq!(statuses[1], JobStatus::Running);
    run.backend.cancel(&agents).unwrap();
}

#[test]
fn suspended_jobs_are_suspended() {
    let mut run = run("suspend", "sleep 60", LsfSettings::default());
    let agents = run.launch(1);
    run.wait(&agents, LIMIT, "start", all_running);
    let id = agents[0].job_id.clone().unwrap();
    run.sim.ok("bstop", &[&id]);
    run.wait(&agents, LIMIT, "bstop", |s| s[0] == JobStatus::Suspended);
    run.sim.ok("bresume", &[&id]);
    run.wait(&agents, LIMIT, "bresume", all_running);
    run.backend.cancel(&agents).unwrap();
    let (statuses, _) = run.wait(&agents, LIMIT, "cancel", all_ended);
    assert_eq!(statuses, [ended(JobEnd::Cancelled)]);
}

#[test]
fn polling_many_jobs_of_several_arrays_costs_one_bjobs() {
    let mut run = run_with("many", "sleep 60", LsfSettings::default(), |c| {
        c.max_array_size = Some(8);
    });
    let mut agents = run.launch(20);
    agents.extend(run.launch(10));
    let arrays: std::collections::BTreeSet<u64> = agents
        .iter()
        .map(|a| LsfJobId::parse(a.job_id.as_deref().unwrap()).unwrap().job)
        .collect();
    // 20 → 8 + 8 + 4, 10 → 8 + 2: five arrays.
    assert_eq!(arrays.len(), 5);
    assert_eq!(run.backend.command_counts().get("bsub"), Some(&5));
    for _ in 0..4 {
        let statuses = run.backend.poll(&agents).unwrap();
        assert_eq!(statuses.len(), 30);
        assert!(statuses.iter().all(JobStatus::is_alive), "{statuses:?}");
    }
    assert_eq!(run.backend.command_counts().get("bjobs"), Some(&4));
    let last = run.sim.calls("bjobs").pop().unwrap();
    let asked: Vec<String> = arrays.iter().map(u64::to_string).collect();
    assert_eq!(last[4..], asked[..], "{last:?}");
    assert_eq!(
        last[..4],
        [
            "-a",
            "-noheader",
            "-o",
            "jobid jobindex stat exit_code exec_host exit_reason delimiter='^'"
        ]
    );
    run.backend.cancel(&agents).unwrap();
    // 30 ids fit in one bkill.
    assert_eq!(run.backend.command_counts().get("bkill"), Some(&1));
}

#[test]
fn ambiguous_bsub_failure_is_reconciled_by_job_name() {
    let mut run = run("reconcile", "sleep 60", LsfSettings::default());
    // The first bsub creates the job but reports a failure.
    run.sim.ok(
        "lsf-sim",
        &[
            "fail-next",
            "bsub",
            "1",
            "LSF is down. Please wait...",
            "--created",
        ],
    );
    let agents = run.launch(3);
    let counts = run.backend.command_counts();
    assert_eq!(counts.get("bsub"), Some(&1), "{counts:?}");
    assert_eq!(counts.get("bjobs"), Some(&1), "{counts:?}");
    let all = run
        .sim
        .ok("bjobs", &["-a", "-noheader", "-o", "jobid jobindex"]);
    assert_eq!(all.lines().count(), 3, "one array only: {all}");
    let array = all.split_whitespace().next().unwrap();
    assert_eq!(agents[0].job_id.as_deref(), Some(&*format!("{array}[1]")));
    run.backend.cancel(&agents).unwrap();
}

#[test]
fn transient_bsub_failures_are_retried_and_rejections_are_not() {
    let mut run = run("retry", "true", LsfSettings::default());
    run.sim.ok(
        "lsf-sim",
        &[
            "fail-next",
            "bsub",
            "2",
            "batch system daemon not responding ... still trying",
        ],
    );
    let agents = run.launch(1);
    assert_eq!(run.backend.command_counts().get("bsub"), Some(&3));
    // Each failure was followed by a look for the job under the run's name.
    assert_eq!(run.backend.command_counts().get("bjobs"), Some(&2));
    let (statuses, _) = run.wait(&agents, LIMIT, "retried job", all_ended);
    assert_eq!(statuses, [ended(JobEnd::Completed)]);

    let settings = LsfSettings {
        queue: Some(SchedulerName::try_from("nosuch").unwrap()),
        ..LsfSettings::default()
    };
    let mut rejected = run_with("rejected", "true", settings, |_| {});
    let request = rejected.request(2);
    let err = rejected.backend.launch(&request).unwrap_err();
    assert_eq!(
        err.to_string(),
        "could not start workers for task \"t\": bsub failed (exit code 255): \
         nosuch: No such queue. Job not submitted."
    );
    assert_eq!(rejected.backend.command_counts().get("bsub"), Some(&1));
}

#[test]
fn unknown_jobs_vanish_after_the_grace() {
    let mut run = run_with("vanish", "true", LsfSettings::default(), |c| {
        c.vanish_grace = Duration::from_millis(600);
    });
    let ghost = LaunchedAgent {
        worker_id: "lsf-9999_1".into(),
        job_id: Some("9999[1]".into()),
        task: 0,
    };
    run.backend.adopt(std::slice::from_ref(&ghost));
    assert_eq!(
        run.backend.poll(std::slice::from_ref(&ghost)).unwrap(),
        [JobStatus::Queued]
    );
    let (statuses, _) = run.wait(&[ghost], LIMIT, "vanish", all_ended);
    assert_eq!(statuses, [ended(JobEnd::Vanished)]);
}

#[test]
fn without_an_exit_reason_field_ends_are_told_by_exit_code() {
    let mut run = run("old-lsf", "exit 3", LsfSettings::default());
    run.sim
        .ok("lsf-sim", &["config", "exit_reason_field=false"]);
    let agents = run.launch(1);
    let (statuses, polls) = run.wait(&agents, LIMIT, "old lsf", all_ended);
    assert_eq!(
        statuses,
        [ended(JobEnd::Failed {
            exit_code: Some(3),
            signal: None
        })]
    );
    // The refused field costs one extra call, once.
    assert_eq!(
        run.backend.command_counts().get("bjobs"),
        Some(&(polls + 1))
    );
}

/// `blockorch status`'s LSF probe: one bjobs answers for the run's `lsf` workers (state and
/// execution host); workers of other backends, or without a job id, get nothing.
#[test]
fn status_probe_reports_state_and_host_of_lsf_workers() {
    use blockorch::backend::lsf::LsfProbe;
    use blockorch::backend::slurm::CommandConfig;
    use blockorch::ledger::WorkerEntry;
    use blockorch::status::SchedulerProbe;

    let mut run = run("probe", "sleep 30", LsfSettings::default());
    let agents = run.launch(2);
    run.wait(&agents, LIMIT, "running", all_running);
    let entry = |backend: &str, job_id: Option<&str>| WorkerEntry {
        worker_id: format!("w-{backend}-{job_id:?}"),
        backend: backend.into(),
        job_id: job_id.map(str::to_owned),
        registered_us: 0,
        ended: None,
        task: Some(0),
    };
    let mut entries: Vec<WorkerEntry> = agents
        .iter()
        .map(|a| entry("lsf", a.job_id.as_deref()))
        .collect();
    entries.push(entry("slurm", agents[0].job_id.as_deref()));
    entries.push(entry("lsf", None));
    let refs: Vec<&WorkerEntry> = entries.iter().collect();
    let calls_before = run.sim.calls("bjobs").len();
    let mut probe = LsfProbe::new(CommandConfig {
        env: run.sim.env(),
        ..CommandConfig::default()
    });
    let seen = probe.states(&refs);
    assert_eq!(run.sim.calls("bjobs").len(), calls_before + 1, "one bjobs");
    for view in &seen[..2] {
        let view = view.as_ref().expect("an lsf worker has a scheduler state");
        assert_eq!(view.state, JobStatus::Running, "{view:?}");
        assert!(
            view.node.as_deref().is_some_and(|n| !n.is_empty()),
            "{view:?}"
        );
    }
    assert_eq!(seen[2], None, "a slurm worker is not LSF's");
    assert_eq!(seen[3], None, "no job id");
    run.backend.cancel(&agents).unwrap();
    run.wait(&agents, LIMIT, "cancelled", all_ended);
    let seen = probe.states(&refs);
    assert!(
        seen[..2]
            .iter()
            .all(|v| v.as_ref().is_some_and(|v| !v.state.is_alive())),
        "{seen:?}"
    );
}

/// `blockorch status` on a ledger whose live worker is an LSF job: the scheduler's state and
/// host are shown next to the ledger's view.
#[test]
fn status_shows_what_lsf_says_about_live_workers() {
    use blockorch::ledger::{ClaimOptions, Journal, Ledger, OrchestratorRecord};

    let mut run = run("status", "sleep 30", LsfSettings::default());
    let agents = run.launch(1);
    run.wait(&agents, LIMIT, "running", all_running);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("run.ledger");
    let tasks = serde_json::json!({"tasks": [{"name": "t",
        "total_roi": {"offset": [0], "shape": [10]},
        "read_roi": {"offset": [0], "shape": [1]},
        "write_roi": {"offset": [0], "shape": [1]},
        "worker": {"command": ["true"]}}]});
    let ledger = Ledger::create_or_open(&root, &tasks).unwrap();
    let owner = ledger.claim(&ClaimOptions::default()).unwrap();
    let mut journal = Journal::start(&ledger, &owner).unwrap();
    journal
        .append(OrchestratorRecord::WorkerRegistered {
            index: 0,
            worker_id: agents[0].worker_id.clone(),
            backend: "lsf".into(),
            job_id: agents[0].job_id.clone(),
            time_us: 1,
        })
        .unwrap();
    journal.commit().unwrap();
    owner.release().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_blockorch"))
        .args(["status", "--json"])
        .arg(&root)
        .envs(run.sim.env())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let w = &doc["workers"]["workers"][0];
    assert_eq!(w["scheduler_state"], "Running", "{w:#}");
    assert!(w["node"].as_str().is_some_and(|n| !n.is_empty()), "{w:#}");
    run.backend.cancel(&agents).unwrap();
}
