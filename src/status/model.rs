//! What `blockorch status` reports, as typed structs (the `--json` document is exactly these).

use serde::{Deserialize, Serialize};

use crate::backend::JobStatus;

/// The whole status of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusReport {
    /// The ledger directory.
    pub ledger: String,
    /// When this report was made (µs since the UNIX epoch, this host's clock).
    pub now_us: u64,
    /// When the ledger was created.
    pub created_us: u64,
    /// Plan hash stored in the ledger.
    pub plan_hash: String,
    /// The orchestrator of the highest epoch, if one ever claimed the ledger.
    pub owner: Option<OwnerReport>,
    /// The task definition in force when a resume changed operational settings; `None` while
    /// the one the ledger was created with is.
    pub definition: Option<DefinitionReport>,
    /// The run is over: its owner ended (released, recorded its end, or its process is gone)
    /// and no block is running. `status --watch` stops then.
    pub run_over: bool,
    /// One entry per task of the plan, in task-file order.
    pub tasks: Vec<TaskStatus>,
    /// Sums over all tasks.
    pub totals: Totals,
    /// The workers of the run.
    pub workers: WorkerTable,
    /// Damaged data skipped while reading the ledger (torn tails, unusable snapshots).
    pub warnings: Vec<String>,
    /// How old this report was when it was shown, in seconds, when it is the one the running
    /// orchestrator recorded (`orchestrator/status-<N>.json`) rather than read from the
    /// ledger just now.
    #[serde(default)]
    pub recorded_age_s: Option<f64>,
}

/// A definition published by a resume that changed operational settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DefinitionReport {
    /// Its number: the epoch of the resume that published it.
    pub number: u64,
    /// What differs from the definition the ledger was created with, one line per value
    /// (`tasks[0].slurm.mem: "1G" -> "2G"`).
    pub changed: Vec<String>,
}

impl DefinitionReport {
    /// The changed fields by their own names (`mem`, `partition`), each once, in order.
    pub fn changed_fields(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for line in &self.changed {
            let path = line.split_once(": ").map_or(line.as_str(), |(p, _)| p);
            // After `tasks[i].`: a scheduler setting by its own name, a command's part as
            // `worker.env`, anything else by its first key.
            let rest = path.split_once("].").map_or(path, |(_, r)| r);
            let mut keys = rest.split('.');
            let first = keys.next().unwrap_or(rest);
            let name = match (first, keys.next()) {
                ("slurm" | "lsf", Some(key)) => key.to_owned(),
                ("worker" | "check" | "init", Some(key)) => format!("{first}.{key}"),
                _ => first.to_owned(),
            };
            let name = name.split('[').next().unwrap_or(&name).to_owned();
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names
    }
}

/// The orchestrator that owns (or owned) the ledger.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OwnerReport {
    /// Ownership epoch (1 for the first submit, +1 per resume).
    pub epoch: u64,
    /// Host it runs on.
    pub host: String,
    /// Its pid on that host.
    pub pid: u32,
    /// When it claimed the ledger.
    pub since_us: u64,
    /// Its last heartbeat.
    pub heartbeat_us: Option<u64>,
    /// Seconds since its last heartbeat (or claim).
    pub heartbeat_age_s: f64,
    /// Whether it is alive.
    pub state: OwnerState,
    /// How its run ended, if it recorded that.
    pub run_end: Option<RunEnd>,
}

/// Liveness of the orchestrator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OwnerState {
    /// Heartbeat recent (and, on this host, its process exists).
    Alive,
    /// No heartbeat for longer than the takeover bound: probably dead (node crash), a new
    /// `submit` may take over.
    Stale,
    /// Its process is gone (checked on this host only) without ending the run.
    Dead,
    /// It ended its run and released the ledger.
    Ended,
}

/// The `RunEnded` record of the owner's epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunEnd {
    /// `completed`, `blocks_failed`, `interrupted`, `superseded` or `error`.
    pub reason: String,
    /// Human detail.
    pub message: String,
    /// When.
    pub time_us: u64,
}

/// Number of blocks in each state. `total` = the sum of the other fields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockCounts {
    /// Blocks in the plan.
    pub total: u64,
    /// Processed successfully (in any run of this ledger).
    pub done: u64,
    /// Found already done by the task's check.
    pub skipped: u64,
    /// Assigned to a worker and running: at most one per slot of each worker that has not
    /// ended (see `queued`).
    pub running: u64,
    /// Assigned to a worker and not started yet: beyond one per slot, they wait in the
    /// worker's queue (or its program's stdin).
    pub queued: u64,
    /// The last attempt failed (while the run is live, some are retried).
    pub failed: u64,
    /// Depend (transitively) on a failed block: will not run in this run.
    pub orphaned: u64,
    /// Not run yet (waiting for dependencies, ready, or given back by the infrastructure).
    pub pending: u64,
}

impl BlockCounts {
    /// Adds `other` field by field.
    pub fn add(&mut self, other: &BlockCounts) {
        self.total += other.total;
        self.done += other.done;
        self.skipped += other.skipped;
        self.running += other.running;
        self.queued += other.queued;
        self.failed += other.failed;
        self.orphaned += other.orphaned;
        self.pending += other.pending;
    }

    /// Blocks that may still run: pending, queued and running.
    pub fn remaining(&self) -> u64 {
        self.pending + self.queued + self.running
    }

    /// Done or skipped, as a fraction of the total (1 for an empty task).
    pub fn fraction_ok(&self) -> f64 {
        if self.total == 0 {
            1.0
        } else {
            (self.done + self.skipped) as f64 / self.total as f64
        }
    }
}

/// One task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskStatus {
    /// Task name.
    pub name: String,
    /// Block counts.
    #[serde(flatten)]
    pub counts: BlockCounts,
    /// The task's init step.
    pub init: InitState,
    /// Blocks finished (done or skipped) per second over the recent window.
    pub rate_per_s: Option<f64>,
    /// Seconds until `pending + running` blocks are finished at that rate.
    pub eta_s: Option<f64>,
}

/// All tasks together.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// Summed block counts.
    #[serde(flatten)]
    pub counts: BlockCounts,
    /// Summed rate.
    pub rate_per_s: Option<f64>,
    /// Seconds until every remaining block is finished at that rate.
    pub eta_s: Option<f64>,
    /// Length of the window the rates are measured over, in seconds.
    pub rate_window_s: Option<f64>,
}

/// A task's init step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum InitState {
    /// The task has no `init` command.
    None,
    /// It has one that has not finished yet.
    NotRun,
    /// It succeeded.
    Ok {
        /// When.
        time_us: u64,
    },
    /// It failed: the task's blocks do not run.
    Failed {
        /// When.
        time_us: u64,
        /// Last lines of its output.
        output_tail: String,
    },
}

/// The workers of the run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkerTable {
    /// How many workers are in each state.
    pub counts: WorkerStateCounts,
    /// Every worker: registered ones by registration order, then directories the
    /// orchestrator log does not know (yet).
    pub workers: Vec<WorkerStatus>,
}

/// Workers per state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerStateCounts {
    /// Registered, no Hello in its outbox yet (queued, or starting).
    pub starting: u64,
    /// Said hello and wrote something recently.
    pub active: u64,
    /// Nothing written for longer than the silence bound.
    pub silent: u64,
    /// Gone (said Bye, or recorded ended by the orchestrator).
    pub ended: u64,
}

/// Where a worker stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkerState {
    /// Registered, no Hello yet.
    Starting,
    /// Said hello and wrote something recently.
    Active,
    /// Nothing written for longer than the silence bound.
    Silent,
    /// Gone.
    Ended,
}

/// One worker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkerStatus {
    /// Worker id (its directory under `workers/`).
    pub worker_id: String,
    /// Backend (`local`, `slurm`, `lsf`), if registered.
    pub backend: Option<String>,
    /// Scheduler job id.
    pub job_id: Option<String>,
    /// Host, from its Hello.
    pub host: Option<String>,
    /// Agent pid on that host, from its Hello.
    pub pid: Option<u32>,
    /// Program slots, from its Hello.
    pub slots: Option<u32>,
    /// When it was registered.
    pub registered_us: Option<u64>,
    /// Its latest record (its last sign of life).
    pub last_seen_us: Option<u64>,
    /// Blocks assigned to it and not reported yet, per the orchestrator log.
    pub current_blocks: Vec<CurrentBlock>,
    /// Where it stands.
    pub state: WorkerState,
    /// Why it said Bye.
    pub bye_reason: Option<String>,
    /// Why the orchestrator recorded it ended, and when.
    pub ended_reason: Option<String>,
    /// When it ended.
    pub ended_us: Option<u64>,
    /// What the scheduler says about its job (SLURM: squeue, sacct), when asked.
    pub scheduler_state: Option<JobStatus>,
    /// The node its job runs or ran on, when the scheduler says.
    pub node: Option<String>,
}

/// A block assigned to a worker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentBlock {
    /// Task name.
    pub task: String,
    /// daisy block id.
    pub block_id: u64,
    /// Attempt number.
    pub attempt: u32,
}

/// What a map cell shows. Ordered by urgency: a downsampled cell shows the most urgent state
/// among its blocks (so a cell is done only when all its blocks are).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CellState {
    /// Processed.
    Done,
    /// Found already done by the check.
    Skipped,
    /// Not run yet.
    Pending,
    /// Assigned to a worker.
    Running,
    /// Depends on a failed block.
    Orphaned,
    /// Its last attempt failed.
    Failed,
}

impl CellState {
    /// Every state, in legend order.
    pub const ALL: [CellState; 6] = [
        CellState::Pending,
        CellState::Running,
        CellState::Done,
        CellState::Skipped,
        CellState::Failed,
        CellState::Orphaned,
    ];

    /// The letter drawn without colours.
    pub fn letter(self) -> char {
        match self {
            CellState::Pending => '.',
            CellState::Running => 'r',
            CellState::Done => '#',
            CellState::Skipped => 's',
            CellState::Failed => 'F',
            CellState::Orphaned => 'o',
        }
    }

    /// The name in the legend.
    pub fn name(self) -> &'static str {
        match self {
            CellState::Pending => "pending",
            CellState::Running => "running",
            CellState::Done => "done",
            CellState::Skipped => "skipped",
            CellState::Failed => "failed",
            CellState::Orphaned => "orphaned",
        }
    }
}
