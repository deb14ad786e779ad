//! The SLURM backend against the real test cluster of `cluster-tests/`.
//!
//! These tests FAIL (never skip) when the cluster is not reachable: start it with
//! `bash cluster-tests/start-cluster.sh`. The cluster's `SLURM_CONF` is taken from the
//! environment, or else from the `env.sh` that start-cluster.sh writes into
//! `${BLOCKORCH_SLURM_DIR:-/tmp/blockorch-slurm}` (so a plain `cargo test` works).
//!
//! The jobs run the real built-in template's `#SBATCH` header with a test body instead of the
//! `exec blockorch worker` line. Every test uses its own job name; the node-failure test uses
//! node4 only and every other test keeps off node4.

use blockorch::backend::slurm::{
    AllocationBackend, CommandConfig, PollInterval, SlurmBackend, SlurmConfig, SlurmTask,
    BUILTIN_TEMPLATE,
};
use blockorch::backend::{Backend, JobEnd, JobStatus, LaunchRequest, LaunchedAgent};
use blockorch::task::{SlurmDirective, SlurmSettings, SlurmTime};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The directory start-cluster.sh keeps its state in.
fn state_dir() -> String {
    std::env::var("BLOCKORCH_SLURM_DIR").unwrap_or_else(|_| "/tmp/blockorch-slurm".into())
}

/// `SLURM_CONF` of the test cluster; panics with the fix when it is not reachable.
fn slurm_conf() -> String {
    let conf = std::env::var("SLURM_CONF")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| {
            let dir = std::env::var("BLOCKORCH_SLURM_DIR")
                .unwrap_or_else(|_| "/tmp/blockorch-slurm".into());
            let env_sh = std::fs::read_to_string(Path::new(&dir).join("env.sh")).ok()?;
            env_sh.lines().find_map(|l| {
                let value = l.trim().strip_prefix("export SLURM_CONF=")?;
                Some(value.trim_matches(|c| c == '\'' || c == '"').to_owned())
            })
        });
    let Some(conf) = conf else {
        panic!(
            "no SLURM test cluster: SLURM_CONF is unset and {}/env.sh is missing; \
             run `bash cluster-tests/start-cluster.sh` first",
            state_dir()
        );
    };
    let ping = Command::new("timeout")
        .args(["20", "scontrol", "ping"])
        .env("SLURM_CONF", &conf)
        .output();
    let up = ping
        .as_ref()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("is UP"));
    assert!(
        up,
        "the SLURM test cluster ({conf}) is not up ({ping:?}); run `bash cluster-tests/start-cluster.sh` first"
    );
    conf
}

/// Runs a SLURM client command by hand (as a user would), returning stdout.
fn slurm(conf: &str, program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .env("SLURM_CONF", conf)
        .output()
        .expect(program);
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A test run: a temp ledger, a test template with `body`, a backend.
struct Run {
    conf: String,
    name: String,
    ledger: tempfile::TempDir,
    backend: SlurmBackend,
}

/// The built-in template with its `exec blockorch worker` body replaced by `body`.
fn test_template(dir: &Path, body: &str) -> PathBuf {
    let header = BUILTIN_TEMPLATE
        .split("# One identity per array element")
        .next()
        .expect("the built-in template has a worker section");
    let path = dir.join("test.sbatch");
    std::fs::write(&path, format!("{header}{body}\n")).unwrap();
    path
}

fn run(test: &str, body: &str, mut settings: SlurmSettings) -> Run {
    let conf = slurm_conf();
    let ledger = tempfile::Builder::new()
        .prefix("bo-slurm-test")
        .tempdir()
        .unwrap();
    let template = test_template(ledger.path(), body);
    if !settings
        .extra_directives
        .iter()
        .any(|d| d.as_str().starts_with("--nodelist"))
    {
        settings
            .extra_directives
            .push(SlurmDirective::try_from("--exclude=node4").unwrap());
    }
    let name = format!("bo-test-{test}-{}", std::process::id());
    let task = SlurmTask {
        name: "t".into(),
        settings,
        template: Some(template),
        job: Default::default(),
    };
    let mut config = SlurmConfig::new(vec![task], &name, "/bin/true".into());
    config.commands = CommandConfig {
        env: vec![("SLURM_CONF".into(), conf.clone())],
        ..CommandConfig::default()
    };
    config.vanish_grace = Duration::from_secs(30);
    config.signal_grace = Duration::from_secs(5);
    Run {
        conf,
        name,
        backend: SlurmBackend::new(config),
        ledger,
    }
}

impl Run {
    fn launch(&mut self, count: u32) -> Vec<LaunchedAgent> {
        let request = LaunchRequest {
            task: 0,
            task_name: "t".into(),
            count,
            slots_per_agent: 1,
            ledger: self.ledger.path().to_owned(),
            run_name: self.name.clone(),
            epoch: 1,
            workdir: self.ledger.path().to_owned(),
            agent_scale: 1,
        };
        self.backend.launch(&request).expect("launch")
    }

    /// Polls until `done` holds for the statuses; returns them and the number of polls.
    fn wait(
        &mut self,
        agents: &[LaunchedAgent],
        timeout: Duration,
        done: impl Fn(&[JobStatus]) -> bool,
    ) -> (Vec<JobStatus>, u64) {
        let started = Instant::now();
        let mut interval = PollInterval::new(Duration::from_millis(300), Duration::from_secs(1));
        let mut polls = 0;
        let mut last: Vec<JobStatus> = Vec::new();
        loop {
            let statuses = self.backend.poll(agents).expect("poll");
            polls += 1;
            if done(&statuses) {
                return (statuses, polls);
            }
            assert!(
                started.elapsed() < timeout,
                "{}: still {statuses:?} after {timeout:?}",
                self.name
            );
            let pause = interval.observe(statuses != last);
            last = statuses;
            std::thread::sleep(pause);
        }
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        // Never leave jobs behind, whatever the test did.
        let _ = Command::new("scancel")
            .arg(format!("--name={}", self.name))
            .env("SLURM_CONF", &self.conf)
            .status();
    }
}

fn all_ended(statuses: &[JobStatus]) -> bool {
    statuses.iter().all(|s| !s.is_alive())
}

fn all_running(statuses: &[JobStatus]) -> bool {
    statuses.iter().all(|s| *s == JobStatus::Running)
}

#[test]
fn array_completes_with_one_query_per_poll() {
    let mut run = run(
        "ok",
        "echo hello from $SLURM_ARRAY_TASK_ID; sleep 1",
        SlurmSettings::default(),
    );
    let agents = run.launch(12);
    let array = agents[0]
        .job_id
        .as_deref()
        .unwrap()
        .split('_')
        .next()
        .unwrap()
        .to_owned();
    for (i, agent) in agents.iter().enumerate() {
        assert_eq!(
            agent.job_id.as_deref(),
            Some(format!("{array}_{i}").as_str())
        );
        assert_eq!(agent.worker_id, format!("slurm-{array}_{i}"));
    }
    let (statuses, polls) = run.wait(&agents, Duration::from_secs(60), all_ended);
    assert!(
        statuses
            .iter()
            .all(|s| *s == JobStatus::Ended(JobEnd::Completed)),
        "{statuses:?}"
    );
    let counts = run.backend.command_counts();
    assert_eq!(counts.get("sbatch"), Some(&1), "{counts:?}");
    assert_eq!(
        counts.get("scontrol"),
        Some(&1),
        "MaxArraySize is read once: {counts:?}"
    );
    assert_eq!(
        counts.get("squeue"),
        Some(&polls),
        "one squeue per poll: {counts:?}"
    );
    assert!(
        counts.get("sacct").copied().unwrap_or(0) <= polls,
        "at most one sacct per poll: {counts:?}"
    );
    // Ended jobs are not asked about again.
    run.backend.poll(&agents).unwrap();
    assert_eq!(run.backend.command_counts().get("squeue"), Some(&polls));
    let log = run
        .ledger
        .path()
        .join(format!("logs/slurm/t/{array}_3.out"));
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "hello from 3\n");
}

#[test]
fn polling_many_jobs_costs_one_query() {
    let mut run = run("load", "sleep 4", SlurmSettings::default());
    let agents = run.launch(60);
    for _ in 0..5 {
        run.backend.poll(&agents).unwrap();
    }
    let counts = run.backend.command_counts();
    assert_eq!(counts.get("squeue"), Some(&5), "{counts:?}");
    assert_eq!(counts.get("sbatch"), Some(&1), "{counts:?}");
    let (_, polls) = run.wait(&agents, Duration::from_secs(90), all_ended);
    let counts = run.backend.command_counts();
    assert_eq!(counts.get("squeue"), Some(&(5 + polls)), "{counts:?}");
    assert!(
        counts.get("sacct").copied().unwrap_or(0) <= 5 + polls,
        "{counts:?}"
    );
}

#[test]
fn exit_1_is_a_failure_with_its_code() {
    let body = "case $SLURM_ARRAY_TASK_ID in 0) exit 0;; 1) exit 1;; *) kill -9 $$;; esac";
    let mut run = run("fail", body, SlurmSettings::default());
    let agents = run.launch(3);
    let (statuses, _) = run.wait(&agents, Duration::from_secs(60), all_ended);
    assert_eq!(
        statuses,
        [
            JobStatus::Ended(JobEnd::Completed),
            JobStatus::Ended(JobEnd::Failed {
                exit_code: Some(1),
                signal: None
            }),
            JobStatus::Ended(JobEnd::Failed {
                exit_code: None,
                signal: Some(9)
            }),
        ]
    );
}

#[test]
fn scancel_by_hand_is_cancelled() {
    let mut run = run("scancel", "sleep 300", SlurmSettings::default());
    let agents = run.launch(1);
    run.wait(&agents, Duration::from_secs(30), all_running);
    slurm(
        &run.conf,
        "scancel",
        &[agents[0].job_id.as_deref().unwrap()],
    );
    let (statuses, _) = run.wait(&agents, Duration::from_secs(30), all_ended);
    assert_eq!(statuses, [JobStatus::Ended(JobEnd::Cancelled)]);
}

#[test]
fn walltime_is_a_timeout() {
    let settings = SlurmSettings {
        time: Some(SlurmTime::try_from("1").unwrap()),
        ..SlurmSettings::default()
    };
    // The job ignores SIGTERM: the template's walltime warning (`--signal=B:TERM@…`) and the
    // time limit's own SIGTERM would otherwise race to end it (FAILED 0:15 vs TIMEOUT); only
    // the time limit's SIGKILL, KillWait later, ends it.
    let mut run = run("timeout", "trap '' TERM\nsleep 300", settings);
    let agents = run.launch(1);
    let script = std::fs::read_dir(run.ledger.path().join("logs/slurm/t"))
        .unwrap()
        .flatten()
        .find(|e| e.path().extension().is_some_and(|x| x == "sbatch"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .unwrap();
    assert!(script.contains("#SBATCH --time=1\n"), "{script}");
    run.wait(&agents, Duration::from_secs(30), all_running);
    let job = format!("JobId={}", agents[0].job_id.as_deref().unwrap());
    slurm(&run.conf, "scontrol", &["update", &job, "EndTime=now+2"]);
    let (statuses, _) = run.wait(&agents, Duration::from_secs(60), all_ended);
    assert_eq!(statuses, [JobStatus::Ended(JobEnd::Timeout)]);
}

/// Sets a node DOWN and always resumes it.
struct DownNode<'a> {
    conf: &'a str,
    node: &'a str,
}

impl Drop for DownNode<'_> {
    fn drop(&mut self) {
        let node = format!("NodeName={}", self.node);
        let _ = Command::new("scontrol")
            .args(["update", &node, "State=RESUME"])
            .env("SLURM_CONF", self.conf)
            .status();
    }
}

#[test]
fn node_down_is_a_node_failure() {
    let settings = SlurmSettings {
        extra_directives: vec![SlurmDirective::try_from("--nodelist=node4").unwrap()],
        ..SlurmSettings::default()
    };
    let mut run = run("nodefail", "sleep 300", settings);
    let agents = run.launch(1);
    run.wait(&agents, Duration::from_secs(30), all_running);
    let conf = run.conf.clone();
    let statuses = {
        let _down = DownNode {
            conf: &conf,
            node: "node4",
        };
        slurm(
            &conf,
            "scontrol",
            &[
                "update",
                "NodeName=node4",
                "State=DOWN",
                "Reason=blockorch-test",
            ],
        );
        run.wait(&agents, Duration::from_secs(60), all_ended).0
    };
    assert_eq!(statuses, [JobStatus::Ended(JobEnd::NodeFail)]);
    let state = slurm(&conf, "sinfo", &["-h", "-n", "node4", "-o", "%T"]);
    assert!(!state.contains("down"), "node4 was not resumed: {state}");
}

#[test]
fn cancel_cancels_exactly_our_jobs() {
    let mut run = run("cancel", "sleep 300", SlurmSettings::default());
    let other_name = format!("bo-test-other-{}", std::process::id());
    let other = slurm(
        &run.conf,
        "sbatch",
        &[
            "--parsable",
            "-J",
            &other_name,
            "--exclude=node4",
            "-o",
            "/dev/null",
            "--wrap",
            "sleep 300",
        ],
    );
    let other = other.trim().to_owned();
    let agents = run.launch(3);
    run.wait(&agents, Duration::from_secs(30), all_running);
    run.backend.cancel(&agents).unwrap();
    let (statuses, _) = run.wait(&agents, Duration::from_secs(30), all_ended);
    assert!(
        statuses
            .iter()
            .all(|s| *s == JobStatus::Ended(JobEnd::Cancelled)),
        "{statuses:?}"
    );
    let still = slurm(&run.conf, "squeue", &["-h", "-j", &other, "-o", "%T"]);
    slurm(&run.conf, "scancel", &[&other]);
    assert!(
        matches!(still.trim(), "RUNNING" | "PENDING"),
        "the other job was touched: {still:?}"
    );
    assert_eq!(run.backend.command_counts().get("scancel"), Some(&1));
}

#[test]
fn rejected_submission_fails_at_once() {
    let settings = SlurmSettings {
        partition: Some("nosuch".try_into().unwrap()),
        ..SlurmSettings::default()
    };
    let mut run = run("reject", "true", settings);
    let started = Instant::now();
    let request = LaunchRequest {
        task: 0,
        task_name: "t".into(),
        count: 2,
        slots_per_agent: 1,
        ledger: run.ledger.path().to_owned(),
        run_name: run.name.clone(),
        epoch: 1,
        workdir: run.ledger.path().to_owned(),
        agent_scale: 1,
    };
    let err = run.backend.launch(&request).unwrap_err().to_string();
    assert!(err.contains("Invalid partition name specified"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a rejection is not retried"
    );
    assert_eq!(run.backend.command_counts().get("sbatch"), Some(&1));
}

#[test]
fn allocation_runs_workers_as_steps() {
    let conf = slurm_conf();
    let dir = tempfile::Builder::new()
        .prefix("bo-slurm-alloc")
        .tempdir()
        .unwrap();
    let name = format!("bo-test-alloc-{}", std::process::id());
    let holder = slurm(
        &conf,
        "sbatch",
        &[
            "--parsable",
            "-J",
            &name,
            "-n3",
            "-c1",
            "--gres=gpu:2",
            "--exclude=node4",
            "-o",
            "/dev/null",
            "--wrap",
            "sleep 120",
        ],
    );
    let holder = holder.trim().to_owned();
    let _cleanup = CancelOnDrop {
        conf: conf.clone(),
        ids: vec![holder.clone()],
    };
    // A stand-in for `blockorch worker`: records its identity and GPU, fails for worker .2.
    let fake = dir.path().join("fake-blockorch");
    std::fs::write(
        &fake,
        "#!/bin/sh\nid=$(echo \"$@\" | sed 's/.*--worker-id //')\n\
         echo \"$id step=$SLURM_STEP_ID gpu=$CUDA_VISIBLE_DEVICES\" > \"$(dirname \"$0\")/$id.seen\"\n\
         sleep 2\ncase $id in *.2) exit 3;; esac\nexit 0\n",
    )
    .unwrap();
    Command::new("chmod")
        .arg("755")
        .arg(&fake)
        .status()
        .unwrap();
    let started = Instant::now();
    while slurm(&conf, "squeue", &["-h", "-j", &holder, "-o", "%T"]).trim() != "RUNNING" {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "allocation did not start"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let settings = SlurmSettings {
        gpus_per_worker: Some(1),
        ..SlurmSettings::default()
    };
    let task = SlurmTask {
        name: "t".into(),
        settings,
        template: None,
        job: Default::default(),
    };
    let mut config = SlurmConfig::new(vec![task], &name, fake.clone());
    config.commands = CommandConfig {
        env: vec![("SLURM_CONF".into(), conf.clone())],
        ..CommandConfig::default()
    };
    let mut backend = AllocationBackend::new(&holder, config);
    let request = LaunchRequest {
        task: 0,
        task_name: "t".into(),
        count: 3,
        slots_per_agent: 1,
        ledger: dir.path().to_owned(),
        run_name: name.clone(),
        epoch: 1,
        workdir: dir.path().to_owned(),
        agent_scale: 1,
    };
    let agents = backend.launch(&request).unwrap();
    let ids: Vec<&str> = agents.iter().map(|a| a.worker_id.as_str()).collect();
    assert_eq!(
        ids,
        [
            format!("slurm-{holder}.0"),
            format!("slurm-{holder}.1"),
            format!("slurm-{holder}.2")
        ]
    );
    let started = Instant::now();
    let statuses = loop {
        let statuses = backend.poll(&agents).unwrap();
        if all_ended(&statuses) {
            break statuses;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "steps still {statuses:?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(
        statuses,
        [
            JobStatus::Ended(JobEnd::Completed),
            JobStatus::Ended(JobEnd::Completed),
            JobStatus::Ended(JobEnd::Failed {
                exit_code: Some(3),
                signal: None
            }),
        ]
    );
    let mut gpus = Vec::new();
    for id in &ids {
        let seen = std::fs::read_to_string(dir.path().join(format!("{id}.seen"))).unwrap();
        assert!(seen.starts_with(&format!("{id} step=")), "{seen}");
        gpus.push(seen.trim().rsplit("gpu=").next().unwrap().to_owned());
    }
    assert!(
        gpus.iter().all(|g| g == "0" || g == "1"),
        "each step sees one GPU: {gpus:?}"
    );
}

/// Cancels jobs submitted by hand when the test ends.
struct CancelOnDrop {
    conf: String,
    ids: Vec<String>,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        let _ = Command::new("scancel")
            .args(&self.ids)
            .env("SLURM_CONF", &self.conf)
            .status();
    }
}
