//! A scheduler-neutral view of a job's life, and whose fault its end was.

use serde::{Deserialize, Serialize};

/// What a scheduler says about one agent's job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobStatus {
    /// Waiting to start (PENDING, CONFIGURING, REQUEUED, PEND, WAIT…).
    Queued,
    /// Running (RUNNING, COMPLETING, RUN).
    Running,
    /// Paused by the scheduler: alive but not progressing; its blocks are not timed out.
    Suspended,
    /// Gone, with the reason.
    Ended(JobEnd),
    /// A state this version does not know; treated as not terminal (warned about once).
    Unknown(String),
}

/// How a job ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobEnd {
    /// Exit 0.
    Completed,
    /// Non-zero exit or killed by a signal.
    Failed {
        /// Exit code, if known.
        exit_code: Option<i32>,
        /// Signal number, if known.
        signal: Option<i32>,
    },
    /// The job's walltime ran out.
    Timeout,
    /// The node died (NODE_FAIL) or never booted (BOOT_FAIL).
    NodeFail,
    /// The job hit its memory limit.
    OutOfMemory,
    /// Taken away by a higher-priority job.
    Preempted,
    /// Cancelled (by us, a user or an admin).
    Cancelled,
    /// Its deadline passed.
    Deadline,
    /// The scheduler no longer knows the job and has no record of how it ended.
    Vanished,
}

/// Who is to blame for a job's end, which decides whose retry budget an in-flight block uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Blame {
    /// Ended normally: nothing to blame.
    Nobody,
    /// The block itself (crash, out of memory): counts against the block's `max_retries`.
    Block,
    /// The cluster (walltime, node failure, preemption, cancellation): retried under a
    /// separate bound, never against the block.
    Infrastructure,
}

impl JobEnd {
    /// Whose fault this end is.
    pub fn blame(&self) -> Blame {
        match self {
            JobEnd::Completed => Blame::Nobody,
            // The agent could not write to the ledger (full disk): the cluster's fault.
            JobEnd::Failed {
                exit_code: Some(crate::worker::LEDGER_UNWRITABLE_EXIT),
                ..
            } => Blame::Infrastructure,
            JobEnd::Failed { .. } | JobEnd::OutOfMemory => Blame::Block,
            JobEnd::Timeout
            | JobEnd::NodeFail
            | JobEnd::Preempted
            | JobEnd::Cancelled
            | JobEnd::Deadline
            | JobEnd::Vanished => Blame::Infrastructure,
        }
    }
}

impl JobStatus {
    /// True when the job can still run blocks (or will).
    pub fn is_alive(&self) -> bool {
        !matches!(self, JobStatus::Ended(_))
    }
}
