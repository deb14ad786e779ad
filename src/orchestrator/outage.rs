//! How long the scheduler may stay unreachable. A failed `sbatch`/`squeue`/`bsub` (a
//! controller restarted for maintenance, an overloaded daemon) is retried; one that keeps
//! failing for longer than the bound ends the run with the scheduler's own message, since a
//! run that retries forever looks alive while nothing happens. The ledger stays resumable.

use std::time::{Duration, Instant};

/// The default bound: long enough for a controller restart, short enough to notice.
pub const DEFAULT_SCHEDULER_OUTAGE: Duration = Duration::from_secs(300);

/// Consecutive failures of scheduler calls, with the time of the first one.
#[derive(Debug)]
pub struct SchedulerOutage {
    limit: Duration,
    since: Option<Instant>,
    failures: u32,
}

/// The scheduler stayed unreachable for longer than the bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutageExceeded {
    /// How long it failed.
    pub for_secs: u64,
    /// Failed calls in a row.
    pub failures: u32,
    /// The last failure, as the scheduler said it.
    pub last: String,
}

impl SchedulerOutage {
    /// No failure yet; calls may fail for `limit` in a row.
    pub fn new(limit: Duration) -> Self {
        Self {
            limit,
            since: None,
            failures: 0,
        }
    }

    /// A scheduler call succeeded: whatever failed before costs nothing.
    pub fn succeeded(&mut self) {
        self.since = None;
        self.failures = 0;
    }

    /// A scheduler call failed at `now` with `message`: an error once failures have lasted
    /// longer than the bound.
    pub fn failed(&mut self, now: Instant, message: &str) -> Result<(), OutageExceeded> {
        let since = *self.since.get_or_insert(now);
        self.failures += 1;
        let lasted = now.saturating_duration_since(since);
        if lasted > self.limit {
            return Err(OutageExceeded {
                for_secs: lasted.as_secs(),
                failures: self.failures,
                last: message.to_owned(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_end_the_run_only_after_the_bound_and_a_success_resets_it() {
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut o = SchedulerOutage::new(Duration::from_secs(300));
        assert!(o.failed(at(0), "down").is_ok());
        assert!(o.failed(at(200), "down").is_ok());
        o.succeeded();
        assert!(
            o.failed(at(400), "down").is_ok(),
            "a new outage starts at 400"
        );
        assert!(o.failed(at(700), "down").is_ok());
        let err = o.failed(at(701), "still down").unwrap_err();
        assert_eq!(
            err,
            OutageExceeded {
                for_secs: 301,
                failures: 3,
                last: "still down".into()
            }
        );
    }
}
