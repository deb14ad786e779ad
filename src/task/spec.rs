//! The validated task-file model the orchestrator works from.

use super::backend_name::BackendName;
use super::duration;
use super::lsf_settings::LsfSettings;
use super::slurm_settings::SlurmSettings;
use crate::geometry::Roi;
use crate::plan::{BlockwiseSpec, Fit};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A parsed and fully validated task file: its tasks in file order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskFile {
    /// The file the tasks came from (for [`super::parse_task_file`], the display name).
    pub path: PathBuf,
    /// The tasks, in file order; names are unique and `upstream_tasks` form no cycle.
    pub tasks: Vec<TaskSpec>,
    /// The file's `"backend"`, if it names one (not part of the canonical form: the same
    /// ledger may be run on another backend).
    pub backend: Option<BackendName>,
}

impl TaskFile {
    /// The task called `name`.
    pub fn task(&self, name: &str) -> Option<&TaskSpec> {
        self.tasks.iter().find(|t| t.name == name)
    }

    /// The directory commands run in and relative program and template paths resolve against:
    /// the task file's directory (`.` for a bare file name).
    pub fn working_dir(&self) -> PathBuf {
        match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    /// The file path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// One block-wise task: daisy's `Task` (geometry, dependencies, retries) plus how to run its
/// workers locally or on a cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TaskSpec {
    /// Unique name; also a file name under the run directory (`[A-Za-z0-9_.-]`).
    pub name: String,
    /// The total region blocks read from (daisy's `total_roi`).
    pub total_roi: Roi,
    /// Read ROI of the first block.
    pub read_roi: Roi,
    /// Write ROI of the first block (inside `read_roi`).
    pub write_roi: Roi,
    /// Border policy.
    pub fit: Fit,
    /// Whether a block must not run while a neighbour writes what it reads.
    pub read_write_conflict: bool,
    /// Tasks whose output this task reads (names of tasks in the same file).
    pub upstream_tasks: Vec<String>,
    /// Workers of this task running at once (≥ 1).
    pub num_workers: u32,
    /// Extra attempts of a failing block (a block gets `max_retries + 1` attempts).
    pub max_retries: u32,
    /// Longest time one block may take; `None` for no limit.
    #[serde(serialize_with = "duration::serialize_opt")]
    pub timeout: Option<Duration>,
    /// The program that processes blocks.
    pub worker: WorkerSpec,
    /// Optional program that says whether a block is already done (skip it) and, after the
    /// block, whether it really is (see `docs/design/checks.md`).
    pub check: Option<CheckSpec>,
    /// Optional program run once when the task first becomes ready.
    pub init: Option<CommandSpec>,
    /// SLURM submission settings.
    pub slurm: SlurmSettings,
    /// LSF submission settings.
    pub lsf: LsfSettings,
}

impl TaskSpec {
    /// The geometry the planner needs.
    pub fn blockwise_spec(&self) -> BlockwiseSpec {
        BlockwiseSpec {
            total_roi: self.total_roi,
            read_roi: self.read_roi,
            write_roi: self.write_roi,
            fit: self.fit,
            read_write_conflict: self.read_write_conflict,
        }
    }

    /// Number of dimensions of the task's ROIs.
    pub fn dims(&self) -> usize {
        self.total_roi.dims()
    }
}

/// How to start a worker (see `docs/workers.md` for the protocol).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object with a \"command\" list")]
pub struct WorkerSpec {
    /// Program and arguments (argv, no shell); relative programs resolve in the task file's
    /// directory.
    pub command: Vec<String>,
    /// `false`: one long-lived process reads blocks as JSON lines on stdin; `true`: one process
    /// per block, with `{task}`, `{block_id}`, `{attempt}`, `{read_roi}`, `{write_roi}`
    /// substituted in the arguments.
    #[serde(default)]
    pub per_block: bool,
    /// Extra environment variables.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Longest time a freshly started persistent program may take to get ready for its first
    /// block (loading a model); `None`: the task's `timeout`. See `docs/workers.md`.
    #[serde(
        default,
        deserialize_with = "duration::deserialize_opt",
        serialize_with = "duration::serialize_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub startup_timeout: Option<Duration>,
    /// Whether the agent may write short blocks ahead into a persistent program's stdin
    /// (default true); false for programs that cannot take more than one line per read.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub write_ahead: bool,
}

fn yes() -> bool {
    true
}

fn is_true(value: &bool) -> bool {
    *value
}

/// The `check` program: per block (exit 0 = done), or persistent (fed blocks like a worker
/// program, answers on fd 3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object with a \"command\" list")]
pub struct CheckSpec {
    /// Program and arguments (argv, no shell).
    pub command: Vec<String>,
    /// Extra environment variables.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// `true`: started once per slot and fed blocks on stdin, answering `done` / `not_done`
    /// on fd 3; `false` (default): one process per check, exit 0 = done.
    #[serde(default, skip_serializing_if = "is_false")]
    pub persistent: bool,
}

fn is_false(value: &bool) -> bool {
    !*value
}

/// A helper program (`init`): argv and extra environment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object with a \"command\" list")]
pub struct CommandSpec {
    /// Program and arguments (argv, no shell).
    pub command: Vec<String>,
    /// Extra environment variables.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}
