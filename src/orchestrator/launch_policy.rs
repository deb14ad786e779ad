//! When a task may launch agents again: the launch budget (failed starts in a row), the
//! back-off after agents that ended badly or launches that failed, and the bound on launches
//! failing with a local I/O error. One per task; the scheduler outage bound is run-wide
//! (`Jobs`).

use crate::backend::BackendError;
use std::time::{Duration, Instant};

/// Launches in a row of one task that may fail with a local I/O error (e.g. a full disk
/// while preparing a worker directory) before the run fails with the cause.
const MAX_LAUNCH_IO_FAILURES: u32 = 5;

/// The default bound on failed starts in a row: two waves of `num_workers` and a few more,
/// so one bad wave (a broken environment) stops the task soon, while a run of days whose
/// workers are replaced by the cluster again and again is never stopped.
pub fn default_max_failed_starts(num_workers: u32) -> u32 {
    num_workers.saturating_mul(2).saturating_add(6)
}

/// How an agent's end counts for its task's launches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AgentEnd {
    /// It finished at least one block (resets the failed starts).
    pub finished_any: bool,
    /// It ended without finishing a block and without being stopped, and was launched by
    /// this run (backs off the next launch).
    pub ended_badly: bool,
    /// The cluster ended it (walltime, preemption, node failure, a cancellation or signal
    /// from outside): never a failed start.
    pub by_cluster: bool,
}

/// One task's launch policy.
#[derive(Debug)]
pub struct LaunchPolicy {
    /// Launches in a row whose worker ended without finishing a block, not by the cluster's
    /// doing (failed to start, crashed before its first block).
    failed_starts_in_a_row: u32,
    /// The bound on `failed_starts_in_a_row` that stops the task.
    max_failed_starts: u32,
    /// Agents that ended badly or launches that failed, in a row (sizes the back-off).
    consecutive_agent_failures: u32,
    /// Launches in a row that failed with a local I/O error (bounded by
    /// `MAX_LAUNCH_IO_FAILURES`, then the run fails with the cause).
    launch_io_failures: u32,
    next_launch_after: Instant,
}

impl LaunchPolicy {
    /// Nothing failed yet; the task stops after `max_failed_starts` failed starts in a row.
    pub fn new(max_failed_starts: u32) -> Self {
        Self {
            failed_starts_in_a_row: 0,
            max_failed_starts,
            consecutive_agent_failures: 0,
            launch_io_failures: 0,
            next_launch_after: Instant::now(),
        }
    }

    /// True while a back-off keeps the task from launching at `now`.
    pub fn backing_off(&self, now: Instant) -> bool {
        now < self.next_launch_after
    }

    /// True once the failed starts in a row reached the bound: the task launches no more.
    pub fn exhausted(&self) -> bool {
        self.failed_starts_in_a_row >= self.max_failed_starts
    }

    /// Failed starts in a row so far.
    pub fn failed_starts(&self) -> u32 {
        self.failed_starts_in_a_row
    }

    /// The bound on failed starts in a row (`--max-failed-starts`).
    pub fn max_failed_starts(&self) -> u32 {
        self.max_failed_starts
    }

    /// An agent of the task was retired at `now`, having ended like `end`.
    pub fn agent_ended(&mut self, end: AgentEnd, now: Instant) {
        if end.finished_any {
            self.failed_starts_in_a_row = 0;
        } else if end.ended_badly && !end.by_cluster {
            self.failed_starts_in_a_row += 1;
        }
        if end.ended_badly {
            self.consecutive_agent_failures += 1;
            let backoff =
                Duration::from_millis(500) * 2u32.pow(self.consecutive_agent_failures.min(7));
            self.next_launch_after = now + backoff.min(Duration::from_secs(60));
        } else {
            self.consecutive_agent_failures = 0;
        }
    }

    /// A launch failed at `now` with `err` (a scheduler that refused or did not answer, or a
    /// local error; already counted against the scheduler outage bound). Gives the error
    /// back when retrying cannot help: a permanent error (a permission error), or too many
    /// I/O errors in a row. Otherwise warns and backs off (2 s doubling, at most 32 s).
    pub fn launch_failed(&mut self, err: BackendError, now: Instant) -> Result<(), BackendError> {
        if err.is_io() {
            self.launch_io_failures += 1;
        }
        // Retrying cannot cure a permission error; a transient I/O error gets a few tries
        // (a scheduler that refuses or does not answer keeps its back-off).
        if err.is_permanent() || self.launch_io_failures >= MAX_LAUNCH_IO_FAILURES {
            return Err(err);
        }
        let cause = std::error::Error::source(&err)
            .map(|s| format!(": {s}"))
            .unwrap_or_default();
        tracing::warn!("{err}{cause}; retrying");
        self.consecutive_agent_failures += 1;
        self.next_launch_after =
            now + Duration::from_secs(2u64.pow(self.consecutive_agent_failures.min(5)));
        Ok(())
    }

    /// A launch succeeded: earlier I/O errors no longer count.
    pub fn launched(&mut self) {
        self.launch_io_failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAILED_START: AgentEnd = AgentEnd {
        finished_any: false,
        ended_badly: true,
        by_cluster: false,
    };

    #[test]
    fn the_default_bound_allows_two_bad_waves() {
        assert_eq!(default_max_failed_starts(1), 8);
        assert_eq!(default_max_failed_starts(100), 206);
        assert_eq!(default_max_failed_starts(u32::MAX), u32::MAX);
    }

    #[test]
    fn only_failed_starts_count_and_progress_resets_them() {
        let now = Instant::now();
        let mut p = LaunchPolicy::new(2);
        p.agent_ended(FAILED_START, now);
        assert_eq!(p.failed_starts(), 1);
        assert!(p.backing_off(now + Duration::from_millis(999)));
        assert!(!p.backing_off(now + Duration::from_secs(1)));
        // Ended by the cluster: backs off, but is no failed start.
        let by_cluster = AgentEnd {
            by_cluster: true,
            ..FAILED_START
        };
        p.agent_ended(by_cluster, now);
        assert_eq!(p.failed_starts(), 1);
        assert!(!p.exhausted());
        p.agent_ended(FAILED_START, now);
        assert!(
            p.exhausted(),
            "two failed starts in a row reach the bound of 2"
        );
        p.agent_ended(
            AgentEnd {
                finished_any: true,
                ended_badly: false,
                by_cluster: false,
            },
            now,
        );
        assert_eq!(p.failed_starts(), 0);
        // The back-off starts over: 1 s after the next failed start, not 4 s.
        p.agent_ended(FAILED_START, now);
        assert!(!p.backing_off(now + Duration::from_secs(1)));
    }

    #[test]
    fn the_back_off_after_agents_that_ended_badly_is_capped_at_a_minute() {
        let now = Instant::now();
        let mut p = LaunchPolicy::new(100);
        for _ in 0..20 {
            p.agent_ended(FAILED_START, now);
        }
        assert!(p.backing_off(now + Duration::from_secs(59)));
        assert!(!p.backing_off(now + Duration::from_secs(60)));
    }
}
