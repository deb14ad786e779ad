//! The status report the running orchestrator records every [`RECORD_EVERY`]
//! (`orchestrator/status-<N>.json`, scheduler states included), so that `status` and
//! `status --watch` read one small file instead of every worker's outbox and the scheduler:
//! watchers add no scheduler load and no load that grows with the number of workers.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::StatusError;
use super::model::StatusReport;
use crate::backend::probe::{SchedulerProbe, SchedulerView};
use crate::backend::JobStatus;
use crate::ledger::{Ledger, Liveness, WorkerEntry, DEFAULT_STALE_AFTER};

/// How often the orchestrator records its status report (a few metadata operations each
/// time, whatever the number of workers and watchers).
pub const RECORD_EVERY: Duration = Duration::from_secs(10);

/// A recorded report older than this is not shown (the ledger is read instead).
pub const RECORD_FRESH: Duration = Duration::from_secs(30);

/// What `orchestrator/status-<N>.json` holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordedStatus {
    /// The orchestrator's epoch.
    pub epoch: u64,
    /// When it was written (µs since the UNIX epoch, the orchestrator's clock).
    pub written_us: u64,
    /// The report, as `status` would have made it then.
    pub report: StatusReport,
}

/// A scheduler probe that answers from what the orchestrator learnt from its own polls.
pub struct RecordedScheduler(pub HashMap<String, JobStatus>);

impl SchedulerProbe for RecordedScheduler {
    fn states(&mut self, workers: &[&WorkerEntry]) -> Vec<Option<SchedulerView>> {
        workers
            .iter()
            .map(|w| {
                self.0.get(&w.worker_id).map(|state| SchedulerView {
                    state: state.clone(),
                    node: None,
                })
            })
            .collect()
    }
}

/// The report the live orchestrator of the ledger at `root` recorded, if it is at most
/// [`RECORD_FRESH`] old at `now_us`, with its age set. `None` when there is none, it is
/// stale, or the owner is not alive (a finished, dead or taken-over run is read from the
/// ledger). Reads `owners/` and one file; checks only the root, `owners/` and
/// `orchestrator/` for trust.
pub fn read_fresh(root: &Path, now_us: u64) -> Result<Option<StatusReport>, StatusError> {
    let ledger_err = |source| StatusError::Ledger {
        root: root.to_path_buf(),
        source,
    };
    let ledger = Ledger::open_for_status(root).map_err(ledger_err)?;
    let Some(owner) = ledger.current_owner().map_err(ledger_err)? else {
        return Ok(None);
    };
    if owner.liveness(now_us, DEFAULT_STALE_AFTER) != Liveness::Live {
        return Ok(None);
    }
    let Some(bytes) = ledger.read_status_record(owner.epoch).map_err(ledger_err)? else {
        return Ok(None);
    };
    // A record being replaced, or of another version: read the ledger instead.
    let Ok(recorded) = serde_json::from_slice::<RecordedStatus>(&bytes) else {
        return Ok(None);
    };
    Ok(fresh(recorded, owner.epoch, now_us))
}

/// The recorded report if it is the epoch's and fresh at `now_us`, with its age.
fn fresh(recorded: RecordedStatus, epoch: u64, now_us: u64) -> Option<StatusReport> {
    let age_us = now_us.saturating_sub(recorded.written_us);
    if recorded.epoch != epoch || age_us > RECORD_FRESH.as_micros() as u64 {
        return None;
    }
    let mut report = recorded.report;
    report.recorded_age_s = Some(age_us as f64 / 1e6);
    Some(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::model::{Totals, WorkerStateCounts, WorkerTable};

    fn report() -> StatusReport {
        StatusReport {
            ledger: "/l".into(),
            now_us: 10_000_000,
            created_us: 1,
            plan_hash: "h".into(),
            owner: None,
            definition: None,
            run_over: false,
            tasks: Vec::new(),
            totals: Totals::default(),
            workers: WorkerTable {
                counts: WorkerStateCounts::default(),
                workers: Vec::new(),
            },
            warnings: Vec::new(),
            recorded_age_s: None,
        }
    }

    #[test]
    fn only_a_fresh_record_of_the_current_epoch_is_shown_with_its_age() {
        let recorded = RecordedStatus {
            epoch: 3,
            written_us: 10_000_000,
            report: report(),
        };
        let json = serde_json::to_vec(&recorded).unwrap();
        let back: RecordedStatus = serde_json::from_slice(&json).unwrap();
        assert_eq!(back, recorded, "round trip");
        let shown = fresh(back.clone(), 3, 12_500_000).unwrap();
        assert_eq!(shown.recorded_age_s, Some(2.5));
        assert_eq!(fresh(back.clone(), 4, 12_500_000), None, "another epoch's");
        assert_eq!(fresh(back, 3, 41_000_000), None, "older than 30 s");
    }

    #[test]
    fn the_recorded_scheduler_answers_for_the_workers_it_knows() {
        let mut probe = RecordedScheduler(HashMap::from([(
            "slurm-7_1".to_string(),
            JobStatus::Running,
        )]));
        let entry = |id: &str| WorkerEntry {
            worker_id: id.into(),
            backend: "slurm".into(),
            job_id: None,
            registered_us: 0,
            ended: None,
            task: None,
        };
        let (known, unknown) = (entry("slurm-7_1"), entry("slurm-7_2"));
        let states = probe.states(&[&known, &unknown]);
        assert_eq!(states[0].as_ref().unwrap().state, JobStatus::Running);
        assert!(states[1].is_none());
    }
}
