//! The records of the three logs and who writes them.
//!
//! Compatibility rule: the encoding is positional (bincode), so new enum variants go at the end
//! and existing variants and fields never change; anything else bumps
//! [`FORMAT_VERSION`](super::frame::FORMAT_VERSION). Times are µs since the UNIX epoch; tasks
//! are indexes into the ledger header's task list; blocks are daisy block ids.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::frame::{LogKind, LogRecord};

/// How far one orchestrator log was read: frames before `offset` (a frame boundary) are
/// included. Used by snapshots (what they cover) and by `EpochStarted` (what it sealed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LogCoverage {
    /// The epoch whose log this is.
    pub epoch: u64,
    /// Byte offset up to which it was read.
    pub offset: u64,
}

/// A record of `orchestrator/epoch-N.log`, written only by the orchestrator owning epoch N.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum OrchestratorRecord {
    /// First record of every epoch log. `sealed` lists how far this owner read each older
    /// epoch's log when it took over; later appends to those logs are ignored by every fold.
    EpochStarted {
        /// The epoch.
        epoch: u64,
        /// Host of the orchestrator.
        host: String,
        /// Its pid.
        pid: u32,
        /// When it started.
        time_us: u64,
        /// Read extent of every older epoch log (an older log not listed is sealed empty).
        sealed: Vec<LogCoverage>,
    },
    /// Result of a task's init step.
    TaskInit {
        /// Task index.
        task: u32,
        /// Whether init succeeded.
        ok: bool,
        /// Last lines of the init output.
        output_tail: String,
        /// When it finished.
        time_us: u64,
    },
    /// A worker got a ledger-wide index (`index` = number of workers registered before it).
    WorkerRegistered {
        /// Index used by later records.
        index: u32,
        /// Its string id (directory name under `workers/`).
        worker_id: String,
        /// Backend name, e.g. "local", "slurm", "lsf".
        backend: String,
        /// Scheduler job id, if any.
        job_id: Option<String>,
        /// When it was registered.
        time_us: u64,
    },
    /// A worker is gone (said Bye, job ended, declared dead).
    WorkerEnded {
        /// Worker index.
        worker: u32,
        /// Why.
        reason: String,
        /// When.
        time_us: u64,
    },
    /// A block was handed to a worker as attempt `attempt` (greater than every earlier one).
    Assigned {
        /// Task index.
        task: u32,
        /// Block id.
        block: u64,
        /// Attempt number (fencing token).
        attempt: u32,
        /// Worker index.
        worker: u32,
        /// When.
        time_us: u64,
    },
    /// A worker's report of an attempt, copied from its outbox.
    Finished {
        /// Task index.
        task: u32,
        /// Block id.
        block: u64,
        /// Attempt reported.
        attempt: u32,
        /// Worker index that reported it (whose outbox it came from).
        worker: u32,
        /// What happened.
        outcome: Outcome,
        /// When the orchestrator recorded it.
        time_us: u64,
    },
    /// An assigned block was taken back without a report (worker died, job TIMEOUT/NODE_FAIL/
    /// PREEMPTED, orchestrator restart, ...).
    Returned {
        /// Task index.
        task: u32,
        /// Block id.
        block: u64,
        /// Attempt taken back.
        attempt: u32,
        /// Why.
        reason: String,
        /// Whether it uses up one of the block's retries (e.g. out of memory) or is an
        /// infrastructure event that does not.
        counts_against_block: bool,
        /// When.
        time_us: u64,
    },
    /// Every block's retry budget starts afresh; failed blocks become pending.
    RetryBudgetReset {
        /// When.
        time_us: u64,
    },
    /// The orchestrator of this epoch finished its run.
    RunEnded {
        /// Why.
        reason: RunEndReason,
        /// Human detail.
        message: String,
        /// When.
        time_us: u64,
    },
    /// The task a registered worker serves (written right after `WorkerRegistered`), so a
    /// later orchestrator can adopt the worker even when it has nothing in flight.
    WorkerServes {
        /// Worker index.
        worker: u32,
        /// Task index.
        task: u32,
        /// When.
        time_us: u64,
    },
}

impl LogRecord for OrchestratorRecord {
    const KIND: LogKind = LogKind::Orchestrator;
    const NAME: &'static str = "orchestrator";
}

/// Why an orchestrator's run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RunEndReason {
    /// Every block is done or skipped.
    Completed,
    /// Some blocks exhausted their retries.
    BlocksFailed,
    /// Interrupted by a signal or the user.
    Interrupted,
    /// A newer epoch took over.
    Superseded,
    /// The orchestrator hit an error.
    Error,
}

/// The outcome of one attempt at a block.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Outcome {
    /// The block was processed.
    Done,
    /// The check said the block was already done.
    Skipped,
    /// The attempt failed.
    Failed {
        /// Failure category.
        kind: FailureKind,
        /// Human detail.
        message: String,
    },
}

/// Category of a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FailureKind {
    /// The block program reported an error.
    BlockError,
    /// The attempt exceeded its time limit.
    Timeout,
    /// The completion check failed after processing.
    CheckFailed,
    /// The program exited or was killed unexpectedly.
    ProgramDied,
    /// The program ran out of memory.
    OutOfMemory,
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BlockError => "block error",
            Self::Timeout => "timeout",
            Self::CheckFailed => "check failed",
            Self::ProgramDied => "program died",
            Self::OutOfMemory => "out of memory",
        })
    }
}

/// Resource usage of one attempt.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AttemptStats {
    /// Start time.
    pub start_us: u64,
    /// End time.
    pub end_us: u64,
    /// Wall-clock seconds.
    pub wall_s: f64,
    /// CPU seconds (user + system).
    pub cpu_s: f64,
    /// Peak resident set size.
    pub peak_rss_bytes: u64,
    /// Exit code, if the program exited.
    pub exit_code: Option<i32>,
    /// Signal, if the program was killed by one.
    pub signal: Option<i32>,
}

/// A record of `workers/<id>/outbox.log`, written only by that worker's agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum OutboxRecord {
    /// First record of an agent's session.
    Hello {
        /// The worker id (its directory name).
        worker_id: String,
        /// Host it runs on.
        host: String,
        /// Agent pid.
        pid: u32,
        /// Scheduler job id, e.g. "12345_7".
        backend_job: Option<String>,
        /// Parallel block slots.
        slots: u32,
        /// When.
        time_us: u64,
    },
    /// Sign of life.
    Heartbeat {
        /// When.
        time_us: u64,
    },
    /// An attempt started on a slot.
    Started {
        /// Task index.
        task: u32,
        /// Block id.
        block: u64,
        /// Attempt number from the Assign.
        attempt: u32,
        /// Slot index.
        slot: u32,
        /// When.
        time_us: u64,
    },
    /// An attempt ended.
    Finished {
        /// Task index.
        task: u32,
        /// Block id.
        block: u64,
        /// Attempt number from the Assign.
        attempt: u32,
        /// What happened.
        outcome: Outcome,
        /// Resource usage.
        stats: AttemptStats,
        /// The attempt's log file.
        log_path: String,
    },
    /// The agent is exiting.
    Bye {
        /// Why.
        reason: String,
        /// When.
        time_us: u64,
    },
    /// The agent gives an assigned attempt back unfinished (it was terminated, or its walltime
    /// or program gave out): the block returns to the pool without using up a retry.
    Abandoned {
        /// Task index.
        task: u32,
        /// Block id.
        block: u64,
        /// Attempt number from the Assign.
        attempt: u32,
        /// Why, e.g. "agent terminated (SIGTERM)".
        reason: String,
        /// When.
        time_us: u64,
    },
}

impl OutboxRecord {
    /// The time a record carries, if any (`Finished` uses its end time).
    pub fn time_us(&self) -> u64 {
        match self {
            Self::Hello { time_us, .. }
            | Self::Heartbeat { time_us }
            | Self::Started { time_us, .. }
            | Self::Bye { time_us, .. }
            | Self::Abandoned { time_us, .. } => *time_us,
            Self::Finished { stats, .. } => stats.end_us,
        }
    }
}

impl LogRecord for OutboxRecord {
    const KIND: LogKind = LogKind::Outbox;
    const NAME: &'static str = "outbox";
}

/// A record of `workers/<id>/inbox-N.log`, written only by the orchestrator of epoch N.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum InboxRecord {
    /// Process this block as this attempt.
    Assign {
        /// Task index.
        task: u32,
        /// Block id.
        block: u64,
        /// Attempt number to echo in Started/Finished.
        attempt: u32,
        /// When.
        time_us: u64,
    },
    /// Stop working on this attempt (kill it if running).
    Revoke {
        /// Task index.
        task: u32,
        /// Block id.
        block: u64,
        /// Attempt revoked.
        attempt: u32,
    },
    /// Finish running attempts (or not, per reason) and exit.
    Stop {
        /// Why.
        reason: String,
    },
}

impl LogRecord for InboxRecord {
    const KIND: LogKind = LogKind::Inbox;
    const NAME: &'static str = "inbox";
}
