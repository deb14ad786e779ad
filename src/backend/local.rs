//! The local backend: worker agents are child processes of the orchestrator.

use super::local_gpus::{visible_gpus, SLOT_GPUS_ENV};
use super::{Backend, BackendError, JobEnd, JobStatus, LaunchRequest, LaunchedAgent};
use crate::ledger::{AGENT_SCALE_ENV, EPOCH_ENV};
use std::collections::HashMap;
use std::fs;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// Environment variable: how many slots one local agent gets (default: all of a task's
/// workers in one agent). Benchmarks set it to 1 to run many agents, each with its own inbox
/// and outbox, on one machine (`bench/fs/scale.sh`).
pub const SLOTS_PER_AGENT_ENV: &str = "BLOCKORCH_LOCAL_SLOTS_PER_AGENT";

/// How many threads at most create the directories and logs of the agents of one launch.
const PREPARE_THREADS: usize = 8;

/// Runs agents as `blockorch worker` child processes on this machine.
pub struct LocalBackend {
    exe: PathBuf,
    /// [`SLOTS_PER_AGENT_ENV`], if set to a positive number.
    slots_per_agent: Option<u32>,
    children: HashMap<String, Child>,
    ended: HashMap<String, JobEnd>,
    launched: u64,
    /// The GPUs handed out to slots ([`visible_gpus`]), found once.
    gpus: Vec<String>,
}

impl LocalBackend {
    /// A backend that starts agents with the `blockorch` executable at `exe`.
    pub fn new(exe: PathBuf) -> Self {
        Self {
            exe,
            slots_per_agent: std::env::var(SLOTS_PER_AGENT_ENV)
                .ok()
                .and_then(|v| v.parse::<u32>().ok())
                .filter(|&n| n >= 1),
            children: HashMap::new(),
            ended: HashMap::new(),
            launched: 0,
            gpus: visible_gpus(std::env::var("CUDA_VISIBLE_DEVICES").ok().as_deref()),
        }
    }

    /// Creates `worker_id`'s directory and opens its `agent.log` (the agent's stdout and
    /// stderr, so that even its earliest failure is on record).
    fn prepare(request: &LaunchRequest, worker_id: &str) -> Result<fs::File, BackendError> {
        let layout = crate::ledger::Layout::new(&request.ledger);
        let dir = layout.worker_dir_named(worker_id);
        let io = |source| BackendError::Io {
            context: format!("preparing {}", dir.display()),
            source,
        };
        fs::create_dir_all(&dir).map_err(io)?;
        fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(layout.agent_log_path(worker_id))
            .map_err(io)
    }

    /// [`Self::prepare`] for every one of `worker_ids`, by up to [`PREPARE_THREADS`] threads
    /// at once: on a shared file system each is a few metadata round trips, which would
    /// otherwise delay the start of a run of many agents by their sum.
    fn prepare_all(
        request: &LaunchRequest,
        worker_ids: &[String],
    ) -> Result<Vec<fs::File>, BackendError> {
        let mut ids: Vec<&String> = worker_ids.iter().collect();
        crate::parallel::try_map(&mut ids, PREPARE_THREADS, |id| Self::prepare(request, id))
    }

    fn spawn(
        &mut self,
        request: &LaunchRequest,
        worker_id: &str,
        log: fs::File,
    ) -> Result<Child, BackendError> {
        let io = |source| BackendError::Io {
            context: format!("preparing the log of worker {worker_id}"),
            source,
        };
        let log_err = log.try_clone().map_err(io)?;
        let mut command = Command::new(&self.exe);
        command
            .arg("worker")
            .arg("--ledger")
            .arg(&request.ledger)
            .arg("--task")
            .arg(&request.task_name)
            .arg("--worker-id")
            .arg(worker_id)
            .arg("--slots")
            .arg(request.slots_per_agent.to_string())
            .arg("--workdir")
            .arg(&request.workdir)
            .arg("--parent-pid")
            .arg(std::process::id().to_string())
            // One GPU per slot, as SLURM gives each job step its own (docs/workers.md).
            .env(SLOT_GPUS_ENV, self.gpus.join(","))
            .env(AGENT_SCALE_ENV, request.agent_scale.to_string())
            .env(EPOCH_ENV, request.epoch.to_string())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            // Own process group: a Ctrl-C on the terminal reaches the orchestrator, which
            // then stops agents in order instead of having them killed mid-block.
            .process_group(0);
        command.spawn().map_err(|source| BackendError::Io {
            context: format!("starting {} worker", self.exe.display()),
            source,
        })
    }
}

impl Backend for LocalBackend {
    fn name(&self) -> &'static str {
        "local"
    }

    fn slots_per_agent(&self, num_workers: u32) -> u32 {
        let all = num_workers.max(1);
        self.slots_per_agent.map_or(all, |n| n.min(all))
    }

    fn launch(&mut self, request: &LaunchRequest) -> Result<Vec<LaunchedAgent>, BackendError> {
        let worker_ids: Vec<String> = (0..request.count)
            .map(|_| {
                self.launched += 1;
                format!(
                    "local-e{}-{}-{}",
                    request.epoch, request.task_name, self.launched
                )
            })
            .collect();
        let logs = Self::prepare_all(request, &worker_ids)?;
        let mut agents = Vec::new();
        for (worker_id, log) in worker_ids.into_iter().zip(logs) {
            let child = self.spawn(request, &worker_id, log)?;
            self.children.insert(worker_id.clone(), child);
            agents.push(LaunchedAgent {
                worker_id,
                job_id: None,
                task: request.task,
            });
        }
        Ok(agents)
    }

    fn poll(&mut self, agents: &[LaunchedAgent]) -> Result<Vec<JobStatus>, BackendError> {
        let mut out = Vec::with_capacity(agents.len());
        for agent in agents {
            if let Some(end) = self.ended.get(&agent.worker_id) {
                out.push(JobStatus::Ended(end.clone()));
                continue;
            }
            let Some(child) = self.children.get_mut(&agent.worker_id) else {
                // Not ours (from an earlier orchestrator): the orchestrator judges it by its
                // pid and heartbeat instead.
                out.push(JobStatus::Unknown(
                    "not a child of this orchestrator".into(),
                ));
                continue;
            };
            match child.try_wait() {
                Ok(None) => out.push(JobStatus::Running),
                Ok(Some(status)) => {
                    let end = if status.success() {
                        JobEnd::Completed
                    } else {
                        JobEnd::Failed {
                            exit_code: status.code(),
                            signal: status.signal(),
                        }
                    };
                    self.children.remove(&agent.worker_id);
                    self.ended.insert(agent.worker_id.clone(), end.clone());
                    out.push(JobStatus::Ended(end));
                }
                Err(source) => {
                    return Err(BackendError::Io {
                        context: format!("waiting for worker {}", agent.worker_id),
                        source,
                    })
                }
            }
        }
        Ok(out)
    }

    fn cancel(&mut self, agents: &[LaunchedAgent]) -> Result<(), BackendError> {
        for agent in agents {
            if let Some(child) = self.children.get(&agent.worker_id) {
                // SIGTERM: the agent gives its in-flight blocks back and exits.
                let _ = sigterm(child.id());
            }
        }
        Ok(())
    }
}

impl Drop for LocalBackend {
    fn drop(&mut self) {
        // Never leave agents behind; they also watch our pid, this is just faster.
        for child in self.children.values_mut() {
            if let Ok(None) = child.try_wait() {
                let _ = sigterm(child.id());
                let _ = child.wait();
            }
        }
    }
}

/// SIGTERM to an agent process this backend started: it gives its blocks back and exits.
fn sigterm(pid: u32) -> nix::Result<()> {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
}
