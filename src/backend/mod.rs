//! Where worker agents run: the local machine, SLURM or LSF, behind one trait.
//!
//! The orchestrator decides *how many* agents a task needs; a backend only starts them, says
//! whether they are alive (one query per poll for the whole run) and cancels them. Everything
//! about blocks goes through the ledger, never through the backend.

pub mod agent_command;
pub mod array_scheduler;
pub mod command;
mod job_state;
pub mod local;
pub mod local_gpus;
pub mod lsf;
pub mod probe;
pub mod slurm;
mod submit_error;

pub use job_state::{Blame, JobEnd, JobStatus};
pub use submit_error::SubmitError;

use std::path::PathBuf;
use thiserror::Error;

/// What the orchestrator asks a backend to start: `count` agents for one task.
#[derive(Clone, Debug)]
pub struct LaunchRequest {
    /// Index of the task in the task file.
    pub task: usize,
    /// Task name (used in job names and log paths).
    pub task_name: String,
    /// How many agents to start.
    pub count: u32,
    /// Worker program slots per agent (local: the task's `num_workers`; clusters: 1).
    pub slots_per_agent: u32,
    /// The ledger directory (absolute path).
    pub ledger: PathBuf,
    /// Name shared by every job of this run, so one scheduler query covers the run.
    pub run_name: String,
    /// The orchestrator's ownership epoch (agents follow this epoch's inbox).
    pub epoch: u64,
    /// Working directory of the task's programs (the task file's directory, absolute).
    pub workdir: PathBuf,
    /// The run's agent scale (`BLOCKORCH_AGENT_SCALE`, see [`crate::ledger::agent_scale`]).
    pub agent_scale: u32,
}

/// The request of the backends' unit tests: `count` agents of task 0 `seg`, run `bo-run`,
/// epoch 2, one slot each, ledger `/ledger`, working directory `/work`.
#[cfg(test)]
pub(crate) fn test_request(count: u32) -> LaunchRequest {
    LaunchRequest {
        task: 0,
        task_name: "seg".into(),
        count,
        slots_per_agent: 1,
        ledger: "/ledger".into(),
        run_name: "bo-run".into(),
        epoch: 2,
        workdir: "/work".into(),
        agent_scale: 1,
    }
}

/// One agent a backend started (or adopted), as the orchestrator tracks it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaunchedAgent {
    /// Worker identity, also the agent's directory name in the ledger.
    pub worker_id: String,
    /// Scheduler job id (`12345_7` for an array element, `12345.3` for a step), if any.
    pub job_id: Option<String>,
    /// Task the agent serves.
    pub task: usize,
}

/// Why a backend call failed.
#[derive(Debug, Error)]
pub enum BackendError {
    /// Starting an agent failed (after the backend's own retries).
    #[error("could not start workers for task {task:?}: {message}")]
    Launch {
        /// Task name.
        task: String,
        /// What went wrong (scheduler output included).
        message: String,
    },
    /// The job script cannot be written for this task (a template error, or a path or value
    /// that cannot go into a script): bad input, which retrying cannot fix.
    #[error("cannot write the job script for task {task:?}: {message}")]
    Script {
        /// Task name.
        task: String,
        /// What is wrong, naming the template line or the value.
        message: String,
    },
    /// The scheduler could not be queried; the orchestrator retries at the next poll.
    #[error("could not query the scheduler: {0}")]
    Query(String),
    /// Cancelling failed.
    #[error("could not cancel jobs: {0}")]
    Cancel(String),
    /// An I/O error while running a scheduler command or a local process.
    #[error("{context}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl BackendError {
    /// True for a local I/O error that retrying cannot cure (no permission, a read-only
    /// filesystem, a file where a directory must be): the run fails with the cause instead.
    pub fn is_permanent(&self) -> bool {
        use std::io::ErrorKind;
        match self {
            BackendError::Io { source, .. } => matches!(
                source.kind(),
                ErrorKind::PermissionDenied
                    | ErrorKind::ReadOnlyFilesystem
                    | ErrorKind::NotADirectory
                    | ErrorKind::IsADirectory
                    | ErrorKind::AlreadyExists
                    | ErrorKind::NotFound
            ),
            _ => false,
        }
    }

    /// True for a local I/O error (as opposed to a scheduler that refused or did not answer).
    pub fn is_io(&self) -> bool {
        matches!(self, BackendError::Io { .. })
    }
}

/// What `submit --dry-run` shows for one submission (a job array).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DrySubmission {
    /// Where the script would be written.
    pub script_path: PathBuf,
    /// The rendered script.
    pub script: String,
    /// The exact `sbatch` command line.
    pub command_line: String,
}

/// A place where worker agents run.
pub trait Backend {
    /// Short name (`local`, `slurm`, `lsf`).
    fn name(&self) -> &'static str;

    /// Starts the agents `request` asks for and returns them.
    fn launch(&mut self, request: &LaunchRequest) -> Result<Vec<LaunchedAgent>, BackendError>;

    /// The scheduler's view of `agents`, in the same order, from one query.
    fn poll(&mut self, agents: &[LaunchedAgent]) -> Result<Vec<JobStatus>, BackendError>;

    /// Cancels `agents` (only these: never anything the run did not start).
    fn cancel(&mut self, agents: &[LaunchedAgent]) -> Result<(), BackendError>;

    /// Worker program slots per agent for a task with `num_workers` workers: clusters run
    /// one worker per job; the local backend runs one agent with every slot.
    fn slots_per_agent(&self, num_workers: u32) -> u32 {
        let _ = num_workers;
        1
    }

    /// Takes over agents an earlier orchestrator of the same run started (after a resume), so
    /// the backend tracks them like its own.
    fn adopt(&mut self, agents: &[LaunchedAgent]) {
        let _ = agents;
    }

    /// What [`launch`](Self::launch) would submit for `request` (scripts and exact commands),
    /// submitting nothing; `None` for backends without job scripts.
    fn dry_run(
        &mut self,
        request: &LaunchRequest,
    ) -> Option<Result<Vec<DrySubmission>, BackendError>> {
        let _ = request;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Error, ErrorKind};

    #[test]
    fn only_io_errors_retrying_cannot_cure_are_permanent() {
        let io = |kind: ErrorKind| BackendError::Io {
            context: "preparing /l/workers/w".into(),
            source: Error::from(kind),
        };
        assert!(io(ErrorKind::PermissionDenied).is_permanent());
        assert!(io(ErrorKind::ReadOnlyFilesystem).is_permanent());
        assert!(io(ErrorKind::NotADirectory).is_permanent());
        assert!(!io(ErrorKind::StorageFull).is_permanent());
        assert!(!io(ErrorKind::Interrupted).is_permanent());
        assert!(io(ErrorKind::StorageFull).is_io());
        let refused = BackendError::Launch {
            task: "t".into(),
            message: "sbatch: error: Slurm temporarily unable to accept job".into(),
        };
        assert!(!refused.is_permanent() && !refused.is_io());
    }
}
