//! Shared helpers of the LSF tests (`tests/lsf_*.rs`): a private LSF simulator
//! (`cluster-tests/lsf-sim/`) per test, with its programs first on `PATH` and its state in a
//! temporary `BLOCKORCH_LSF_SIM_DIR`, and an [`LsfBackend`] wired to it.
//!
//! The simulator's clock is sped up: one simulated minute (`-W`, `-wt`) lasts one second, and
//! bkill's SIGINT/SIGTERM → SIGKILL interval is one second.
#![allow(dead_code)]

use blockorch::backend::lsf::{LsfBackend, LsfConfig, LsfTask, BUILTIN_TEMPLATE};
use blockorch::backend::slurm::{Backoff, CommandConfig};
use blockorch::backend::{Backend, JobStatus, LaunchRequest, LaunchedAgent};
use blockorch::task::LsfSettings;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The simulator's programs.
pub fn sim_bin() -> PathBuf {
    repo().join("cluster-tests/lsf-sim/bin")
}

/// The Python interpreter behind `python3` (the simulator runs faster without a version
/// manager's shim in front of every call).
fn python() -> &'static str {
    static PYTHON: OnceLock<String> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let out = Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .output()
            .expect("python3 is needed by the LSF simulator");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    })
}

/// One simulated LSF cluster.
pub struct Sim {
    dir: tempfile::TempDir,
}

impl Sim {
    /// A fresh simulator (its settings are fixed on first use from the environment below).
    pub fn new() -> Sim {
        let dir = tempfile::Builder::new()
            .prefix("bo-lsf-sim")
            .tempdir()
            .unwrap();
        Sim { dir }
    }

    /// Its state directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The environment every LSF command (and every job) sees.
    pub fn env(&self) -> Vec<(String, String)> {
        let path = format!(
            "{}:{}",
            sim_bin().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        vec![
            ("PATH".into(), path),
            (
                "BLOCKORCH_LSF_SIM_DIR".into(),
                self.dir.path().join("state").display().to_string(),
            ),
            ("BLOCKORCH_LSF_SIM_PYTHON".into(), python().into()),
            ("BLOCKORCH_LSF_SIM_MINUTE_SECONDS".into(), "1".into()),
            ("BLOCKORCH_LSF_SIM_TERMINATE_INTERVAL".into(), "1".into()),
            ("BLOCKORCH_LSF_SIM_RUNLIMIT_KILL_MINUTES".into(), "2".into()),
        ]
    }

    /// Runs a simulator program by hand (as a user would), returning its output.
    pub fn run(&self, program: &str, args: &[&str]) -> Output {
        Command::new(sim_bin().join(program))
            .args(args)
            .envs(self.env())
            .output()
            .unwrap_or_else(|e| panic!("{program}: {e}"))
    }

    /// Like [`Sim::run`], asserting success and returning stdout.
    pub fn ok(&self, program: &str, args: &[&str]) -> String {
        let out = self.run(program, args);
        assert!(
            out.status.success(),
            "{program} {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Every call of `program` the simulator logged, as its argument lists.
    pub fn calls(&self, program: &str) -> Vec<Vec<String>> {
        let log = self.dir.path().join("state/commands.log");
        std::fs::read_to_string(log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["program"] == program)
            .map(|v| {
                v["argv"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a.as_str().unwrap().to_owned())
                    .collect()
            })
            .collect()
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.run("lsf-sim", &["kill-all"]);
    }
}

/// The built-in template with its `exec blockorch worker` body replaced by `body`.
pub fn test_template(dir: &Path, body: &str) -> PathBuf {
    let header = BUILTIN_TEMPLATE
        .split("# One identity per array element")
        .next()
        .expect("the built-in template has a worker section");
    let path = dir.join("test.bsub");
    std::fs::write(&path, format!("{header}{body}\n")).unwrap();
    path
}

/// A backend on `sim` whose jobs run `body` (a shell snippet) under the built-in template's
/// `#BSUB` header with `settings`.
pub struct Run {
    pub sim: Sim,
    pub name: String,
    pub ledger: tempfile::TempDir,
    pub backend: LsfBackend,
}

/// A run named after `test`, configured by `tweak`.
pub fn run_with(
    test: &str,
    body: &str,
    settings: LsfSettings,
    tweak: impl FnOnce(&mut LsfConfig),
) -> Run {
    let sim = Sim::new();
    let ledger = tempfile::Builder::new()
        .prefix("bo-lsf-test")
        .tempdir()
        .unwrap();
    let template = test_template(ledger.path(), body);
    let name = format!("bo-test-{test}");
    let task = LsfTask {
        name: "t".into(),
        settings,
        template: Some(template),
        job: Default::default(),
    };
    let mut config = LsfConfig::new(vec![task], &name, "/bin/true".into());
    config.commands = CommandConfig {
        env: sim.env(),
        ..CommandConfig::default()
    };
    config.vanish_grace = Duration::from_secs(5);
    config.signal_grace = Duration::ZERO;
    config.submit_backoff = Backoff {
        attempts: 4,
        initial: Duration::from_millis(50),
        factor: 2.0,
        max_delay: Duration::from_millis(200),
    };
    tweak(&mut config);
    Run {
        sim,
        name,
        backend: LsfBackend::new(config),
        ledger,
    }
}

/// A run with the default configuration.
pub fn run(test: &str, body: &str, settings: LsfSettings) -> Run {
    run_with(test, body, settings, |_| {})
}

impl Run {
    /// Starts `count` workers.
    pub fn launch(&mut self, count: u32) -> Vec<LaunchedAgent> {
        let request = self.request(count);
        self.backend.launch(&request).expect("launch")
    }

    /// The launch request for `count` workers.
    pub fn request(&self, count: u32) -> LaunchRequest {
        LaunchRequest {
            task: 0,
            task_name: "t".into(),
            count,
            slots_per_agent: 1,
            ledger: self.ledger.path().to_owned(),
            run_name: self.name.clone(),
            epoch: 1,
            workdir: self.ledger.path().to_owned(),
            agent_scale: 1,
        }
    }

    /// The directory the jobs write their logs to.
    pub fn log_dir(&self) -> PathBuf {
        blockorch::backend::lsf::log_dir(self.ledger.path(), "t")
    }

    /// Polls (every 200 ms) until `done` holds for the statuses; returns them and how many
    /// polls it took.
    pub fn wait(
        &mut self,
        agents: &[LaunchedAgent],
        limit: Duration,
        what: &str,
        done: impl Fn(&[JobStatus]) -> bool,
    ) -> (Vec<JobStatus>, u64) {
        let start = Instant::now();
        let mut polls = 0;
        loop {
            let statuses = self.backend.poll(agents).expect("poll");
            polls += 1;
            if done(&statuses) {
                return (statuses, polls);
            }
            assert!(
                start.elapsed() < limit,
                "{what}: still {statuses:?} after {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// True when every job ended.
pub fn all_ended(statuses: &[JobStatus]) -> bool {
    statuses.iter().all(|s| !s.is_alive())
}

/// True when every job runs.
pub fn all_running(statuses: &[JobStatus]) -> bool {
    statuses.iter().all(|s| *s == JobStatus::Running)
}
