//! Throughput: blocks finished per second over the recent window, from the time stamps of the
//! `Finished` records at the end of the current orchestrator log.

use std::path::Path;
use std::time::Duration;

use super::error::StatusError;
use crate::ledger::{LedgerError, LogReader, OrchestratorRecord, Outcome};

/// How far back the rate looks.
pub const RATE_WINDOW: Duration = Duration::from_secs(300);

/// First tail window read from the orchestrator log; grown ×4 up to [`MAX_TAIL`] until it
/// covers [`RATE_WINDOW`].
const FIRST_TAIL: u64 = 64 << 10;
/// Largest tail read (about 50 000 finished blocks); a faster run's rate uses a shorter window.
const MAX_TAIL: u64 = 4 << 20;
/// Shortest window a rate is computed over (a run that just started has no meaningful rate).
const MIN_WINDOW_US: u64 = 1_000_000;

/// Finished blocks per task over a window ending now.
#[derive(Clone, Debug, PartialEq)]
pub struct Throughput {
    /// Blocks that finished done or skipped in the window, per task index.
    pub finished: Vec<u64>,
    /// Length of the window in seconds (`RATE_WINDOW`, or less when the log is younger or
    /// its tail shorter); `None` when too short for a rate.
    pub window_s: Option<f64>,
}

impl Throughput {
    /// Blocks per second of task `task`.
    pub fn rate(&self, task: usize) -> Option<f64> {
        let w = self.window_s?;
        Some(self.finished.get(task).copied().unwrap_or(0) as f64 / w)
    }

    /// Blocks per second over all tasks.
    pub fn total_rate(&self) -> Option<f64> {
        let w = self.window_s?;
        Some(self.finished.iter().sum::<u64>() as f64 / w)
    }
}

/// Computes the throughput at `now_us` from records in file order; `covered_from_us` is the
/// earliest moment the records are complete from (the time of the first record read).
pub fn throughput(
    records: &[OrchestratorRecord],
    tasks: usize,
    now_us: u64,
    covered_from_us: Option<u64>,
) -> Throughput {
    let window_us = RATE_WINDOW.as_micros() as u64;
    let start = now_us
        .saturating_sub(window_us)
        .max(covered_from_us.unwrap_or(0));
    let mut finished = vec![0u64; tasks];
    for r in records {
        if let OrchestratorRecord::Finished {
            task,
            outcome: Outcome::Done | Outcome::Skipped,
            time_us,
            ..
        } = r
        {
            if *time_us >= start {
                if let Some(n) = finished.get_mut(*task as usize) {
                    *n += 1;
                }
            }
        }
    }
    let span = now_us.saturating_sub(start);
    Throughput {
        finished,
        window_s: (covered_from_us.is_some() && span >= MIN_WINDOW_US).then(|| span as f64 / 1e6),
    }
}

/// The throughput at `now_us` from the tail of the orchestrator log at `log`.
pub fn log_throughput(log: &Path, tasks: usize, now_us: u64) -> Result<Throughput, StatusError> {
    let window_us = RATE_WINDOW.as_micros() as u64;
    let mut size = FIRST_TAIL;
    loop {
        let tail = LogReader::<OrchestratorRecord>::read_tail(log, size).map_err(|e| match e {
            LedgerError::Io { path, source, .. } => StatusError::Read { path, source },
            // Not met: the tail read checks no header, so only I/O fails.
            source => StatusError::Ledger {
                root: log.to_path_buf(),
                source,
            },
        })?;
        let first = tail.records.first().map(record_time);
        let covers = first.is_some_and(|t| t <= now_us.saturating_sub(window_us));
        if covers || tail.from_start || size >= MAX_TAIL {
            return Ok(throughput(&tail.records, tasks, now_us, first));
        }
        size *= 4;
    }
}

/// The time stamp every orchestrator record carries.
fn record_time(r: &OrchestratorRecord) -> u64 {
    use OrchestratorRecord as R;
    match r {
        R::EpochStarted { time_us, .. }
        | R::TaskInit { time_us, .. }
        | R::WorkerRegistered { time_us, .. }
        | R::WorkerEnded { time_us, .. }
        | R::Assigned { time_us, .. }
        | R::Finished { time_us, .. }
        | R::Returned { time_us, .. }
        | R::RetryBudgetReset { time_us }
        | R::RunEnded { time_us, .. }
        | R::WorkerServes { time_us, .. } => *time_us,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fin(task: u32, t_s: u64, outcome: Outcome) -> OrchestratorRecord {
        OrchestratorRecord::Finished {
            task,
            block: 1,
            attempt: 1,
            worker: 0,
            outcome,
            time_us: t_s * 1_000_000,
        }
    }

    #[test]
    fn counts_only_recent_successes_per_task() {
        let failed = Outcome::Failed {
            kind: crate::ledger::FailureKind::BlockError,
            message: String::new(),
        };
        let recs = vec![
            fin(0, 100, Outcome::Done), // before the window
            fin(0, 700, Outcome::Done),
            fin(1, 800, Outcome::Skipped),
            fin(1, 850, failed),
            fin(0, 900, Outcome::Done),
        ];
        let t = throughput(&recs, 2, 1_000_000_000, Some(100_000_000));
        assert_eq!(t.finished, vec![2, 1]);
        assert_eq!(t.window_s, Some(300.0));
        assert_eq!(t.rate(0), Some(2.0 / 300.0));
        // A log younger than the window: the rate is over its age.
        let t = throughput(&recs[3..], 2, 1_000_000_000, Some(850_000_000));
        assert_eq!(t.window_s, Some(150.0));
        assert_eq!(t.total_rate(), Some(1.0 / 150.0));
        // Nothing read, or too short a window: no rate.
        assert_eq!(throughput(&[], 2, 5, None).rate(0), None);
        assert_eq!(
            throughput(&recs, 2, 900_000_000, Some(900_000_000)).window_s,
            None
        );
    }
}
