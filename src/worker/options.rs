//! What the agent is told on its command line ([`AgentOptions`]) and the worker identity it
//! derives from the scheduler's environment when none is given.

use std::path::PathBuf;
use std::time::Duration;

/// Default time between an agent's heartbeats: rare, since every record the agent writes is
/// one more round trip to a shared file system's server, and the orchestrator's silence
/// limit (60 s on a local disk, 120 s on a shared one, 300 s on clusters) allows for two
/// missed ones.
pub const AGENT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(30);

/// Settings of one agent run (`blockorch worker …`).
#[derive(Clone, Debug)]
pub struct AgentOptions {
    /// The ledger directory (`--ledger DIR`).
    pub ledger: PathBuf,
    /// The task this agent serves (`--task NAME`).
    pub task: String,
    /// Worker identity (`--worker-id ID`); `None` derives it with [`default_worker_id`].
    pub worker_id: Option<String>,
    /// Working directory of the task's programs (`--workdir DIR`, the task file's directory);
    /// `None` uses the agent's own working directory.
    pub workdir: Option<PathBuf>,
    /// Worker program slots, i.e. blocks run at once (`--slots N`, ≥ 1).
    pub slots: u32,
    /// Stop when this process is gone (`--parent-pid PID`, local backend).
    pub parent_pid: Option<u32>,
    /// Longest wait between inbox polls when idle (`--poll-ms`); busy agents poll every
    /// millisecond and back off towards this.
    pub poll: Duration,
    /// When the job's walltime ends, seconds since the UNIX epoch (`--deadline-unix SECS`);
    /// `None` asks SLURM/LSF when running under them.
    pub deadline_unix: Option<f64>,
    /// Safety margin before the deadline: a block is started only if the mean block duration
    /// plus this margin still fit (`--deadline-margin SECS`).
    pub deadline_margin: Duration,
    /// Time between SIGTERM and SIGKILL when terminating a program (`--kill-grace SECS`).
    pub kill_grace: Duration,
    /// A slot whose program dies this many times in a row without finishing a block makes the
    /// agent give up (`--max-program-crashes N`).
    pub max_program_crashes: u32,
    /// Time between the agent's heartbeats.
    pub heartbeat_interval: Duration,
    /// The orchestrator counts as gone when its heartbeat is older than this.
    pub orchestrator_timeout: Duration,
    /// After a newer owner epoch appears, how long to wait for its inbox before stopping; and
    /// after the owner's pid died on this host, how long to wait for a resume to take over.
    pub epoch_switch_timeout: Duration,
    /// Words put before the worker command (`--command-prefix WORD`, repeated: a container
    /// runtime such as `apptainer exec --nv image.sif`).
    pub command_prefix: Vec<String>,
}

impl AgentOptions {
    /// Options with the defaults for everything but the ledger and the task.
    pub fn new(ledger: impl Into<PathBuf>, task: impl Into<String>) -> Self {
        Self {
            ledger: ledger.into(),
            task: task.into(),
            worker_id: None,
            workdir: None,
            slots: 1,
            parent_pid: None,
            poll: Duration::from_millis(500),
            deadline_unix: None,
            deadline_margin: Duration::from_secs(30),
            kill_grace: Duration::from_secs(5),
            max_program_crashes: 3,
            heartbeat_interval: AGENT_HEARTBEAT_INTERVAL,
            orchestrator_timeout: Duration::from_secs(180),
            epoch_switch_timeout: Duration::from_secs(120),
            command_prefix: Vec::new(),
        }
    }
}

/// The worker identity the scheduler's environment implies:
/// `slurm-<array job>_<array task>` for a SLURM array element, `slurm-<job>.<step>` for a job
/// step (srun inside an allocation), `slurm-<job>` for a plain job, `lsf-<job>_<index>` for an
/// LSF array element, `lsf-<job>` for a plain LSF job; otherwise `local-<host>-<pid>`.
pub fn default_worker_id(env: &dyn Fn(&str) -> Option<String>, host: &str, pid: u32) -> String {
    let var = |name: &str| env(name).filter(|v| !v.is_empty());
    // The batch script's own step has a special id (0xFFFFFFFE and neighbours): not a step.
    let step = var("SLURM_STEP_ID").filter(|s| s.parse::<u64>().is_ok_and(|n| n < 0xFFFF_FFF0));
    if let (Some(job), Some(task)) = (var("SLURM_ARRAY_JOB_ID"), var("SLURM_ARRAY_TASK_ID")) {
        return match step {
            Some(step) => format!("slurm-{job}_{task}.{step}"),
            None => format!("slurm-{job}_{task}"),
        };
    }
    if let Some(job) = var("SLURM_JOB_ID") {
        return match step {
            Some(step) => format!("slurm-{job}.{step}"),
            None => format!("slurm-{job}"),
        };
    }
    if let Some(job) = var("LSB_JOBID") {
        return match var("LSB_JOBINDEX").filter(|i| i != "0") {
            Some(index) => format!("lsf-{job}_{index}"),
            None => format!("lsf-{job}"),
        };
    }
    let host: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(100)
        .collect();
    format!("local-{host}-{pid}")
}

/// The scheduler's job id for `Hello`: `12345_7` (SLURM array element), `12345.3` (step),
/// `12345`, `55[4]` (LSF array element) or `55`; `None` outside a scheduler.
pub fn scheduler_job(env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let var = |name: &str| env(name).filter(|v| !v.is_empty());
    let step = var("SLURM_STEP_ID").filter(|s| s.parse::<u64>().is_ok_and(|n| n < 0xFFFF_FFF0));
    if let Some(job) = slurm_job(env) {
        return Some(match step {
            Some(step) => format!("{job}.{step}"),
            None => job,
        });
    }
    lsf_job(env)
}

/// The SLURM job this process runs in: `<array job>_<task>` for an array element, else
/// `SLURM_JOB_ID`. (The last element of an array has the array's own id as its
/// `SLURM_JOB_ID`, and `squeue -j <that id>` lists every element of the array.)
pub fn slurm_job(env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let var = |name: &str| env(name).filter(|v| !v.is_empty());
    match (var("SLURM_ARRAY_JOB_ID"), var("SLURM_ARRAY_TASK_ID")) {
        (Some(job), Some(task)) => Some(format!("{job}_{task}")),
        _ => var("SLURM_JOB_ID"),
    }
}

/// The LSF job this process runs in: `55[4]` for an array element, else `LSB_JOBID`.
pub fn lsf_job(env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let var = |name: &str| env(name).filter(|v| !v.is_empty());
    let job = var("LSB_JOBID")?;
    Some(match var("LSB_JOBINDEX").filter(|i| i != "0") {
        Some(index) => format!("{job}[{index}]"),
        None => job,
    })
}

/// The worker identity from the real environment.
pub fn worker_id_from_env() -> String {
    let host = crate::ledger::hostname();
    default_worker_id(&|name| std::env::var(name).ok(), &host, std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(vars: &[(&str, &str)]) -> String {
        let env = |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        };
        default_worker_id(&env, "node1.cluster", 42)
    }

    #[test]
    fn identities_from_the_environment() {
        assert_eq!(
            id(&[
                ("SLURM_JOB_ID", "101"),
                ("SLURM_ARRAY_JOB_ID", "100"),
                ("SLURM_ARRAY_TASK_ID", "7")
            ]),
            "slurm-100_7"
        );
        assert_eq!(
            id(&[("SLURM_JOB_ID", "100"), ("SLURM_STEP_ID", "3")]),
            "slurm-100.3"
        );
        assert_eq!(id(&[("SLURM_JOB_ID", "100")]), "slurm-100");
        assert_eq!(
            id(&[("SLURM_JOB_ID", "100"), ("SLURM_STEP_ID", "4294967294")]),
            "slurm-100"
        );
        assert_eq!(
            id(&[("LSB_JOBID", "55"), ("LSB_JOBINDEX", "4")]),
            "lsf-55_4"
        );
        assert_eq!(id(&[("LSB_JOBID", "55"), ("LSB_JOBINDEX", "0")]), "lsf-55");
        assert_eq!(id(&[]), "local-node1-cluster-42");
    }
}
