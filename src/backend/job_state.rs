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

/// The scheduler's words for how a job ended (`TIMEOUT`, `NODE_FAIL`, `FAILED (exit 1)`…), as
/// the log lines show it.
impl std::fmt::Display for JobEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JobEnd::Completed => f.write_str("COMPLETED"),
            JobEnd::Failed {
                exit_code: Some(code),
                ..
            } => write!(f, "FAILED (exit {code})"),
            JobEnd::Failed {
                signal: Some(signal),
                ..
            } => write!(f, "FAILED (signal {signal})"),
            JobEnd::Failed { .. } => f.write_str("FAILED"),
            JobEnd::Timeout => f.write_str("TIMEOUT"),
            JobEnd::NodeFail => f.write_str("NODE_FAIL"),
            JobEnd::OutOfMemory => f.write_str("OUT_OF_MEMORY"),
            JobEnd::Preempted => f.write_str("PREEMPTED"),
            JobEnd::Cancelled => f.write_str("CANCELLED"),
            JobEnd::Deadline => f.write_str("DEADLINE"),
            JobEnd::Vanished => f.write_str("VANISHED (the scheduler has no record of it)"),
        }
    }
}

impl JobStatus {
    /// True when the job can still run blocks (or will).
    pub fn is_alive(&self) -> bool {
        !matches!(self, JobStatus::Ended(_))
    }
}

#[cfg(test)]
mod tests {
    use super::JobEnd;

    #[test]
    fn job_ends_read_as_the_scheduler_says_them() {
        let failed = |exit_code, signal| JobEnd::Failed { exit_code, signal }.to_string();
        assert_eq!(JobEnd::Timeout.to_string(), "TIMEOUT");
        assert_eq!(JobEnd::NodeFail.to_string(), "NODE_FAIL");
        assert_eq!(failed(Some(3), None), "FAILED (exit 3)");
        assert_eq!(failed(None, Some(9)), "FAILED (signal 9)");
        assert_eq!(failed(None, None), "FAILED");
    }
}
