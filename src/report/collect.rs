//! Reading a ledger into [`ReportData`]: the status snapshot (counts, workers, block maps)
//! plus one streaming pass over the orchestrator logs (blocks finished over time, failures
//! by cause) and one over the workers' outboxes (wall time, peak memory, the timeline).
//! Nothing kept grows with the number of blocks beyond what the status snapshot holds.

use std::ops::ControlFlow;
use std::path::Path;

use super::causes::FailureCauses;
use super::histogram::LogHistogram;
use super::time_bins::TimeBins;
use super::timeline::{AttemptMark, Timeline, WorkerRow};
use crate::ledger::{
    Layout, LedgerError, LogReader, OrchestratorRecord, OutboxRecord, Outcome, WorkerId,
};
use crate::status::{
    LedgerSnapshot, MapView, NoScheduler, SliceRequest, StatusError, StatusReport,
};

/// Everything the report draws.
pub struct ReportData {
    /// The status report (counts per task, owner, workers).
    pub status: StatusReport,
    /// Task names.
    pub tasks: Vec<String>,
    /// Per task `t`: series `t` counts blocks finished (done or skipped), series
    /// `tasks + t` failed attempts, over time.
    pub progress: TimeBins,
    /// Worker rows and sampled attempts.
    pub timeline: Timeline,
    /// Per task: wall-clock seconds of finished attempts.
    pub wall: Vec<LogHistogram>,
    /// Per task: peak resident memory of finished attempts.
    pub rss: Vec<LogHistogram>,
    /// Failed and given-back attempts by cause.
    pub causes: FailureCauses,
    /// Per task: its block map, or why there is none.
    pub maps: Vec<Result<MapView, String>>,
}

/// Reads the ledger at `root` (read-only, like `status`).
pub fn collect(root: &Path) -> Result<ReportData, StatusError> {
    let ledger_err = |source: LedgerError| StatusError::Ledger {
        root: root.to_path_buf(),
        source,
    };
    let snapshot = LedgerSnapshot::load(root)?;
    let status = snapshot.report(&mut NoScheduler)?;
    let tasks = snapshot.task_names();
    let maps = tasks
        .iter()
        .map(|name| {
            // The slice `status --map` shows by default: where the failures are.
            MapView::build(&snapshot, Some(name), &SliceRequest::default())
                .map_err(|e| e.to_string())
        })
        .collect();
    let view = snapshot.view();
    let layout = Layout::new(&view.root);
    let start_us = view
        .loaded
        .state
        .epochs()
        .iter()
        .map(|e| e.started_us)
        .chain([view.header.created_us])
        .min()
        .unwrap_or(view.header.created_us);

    let mut progress = TimeBins::new(start_us, 2 * tasks.len());
    let mut causes = FailureCauses::default();
    let mut last_us = start_us;
    for cover in &view.loaded.coverage {
        let mut reader =
            LogReader::<OrchestratorRecord>::new(layout.orchestrator_log_path(cover.epoch))
                .with_limit(cover.offset);
        reader
            .poll_with(|record| {
                orchestrator_record(&record, tasks.len(), &mut progress, &mut causes);
                last_us = last_us.max(record_time(&record));
                ControlFlow::Continue(())
            })
            .map_err(ledger_err)?;
    }

    let mut rows: Vec<WorkerRow> = view
        .workers
        .iter()
        .map(|w| {
            let entry = w.entry.as_ref();
            WorkerRow {
                worker_id: w.worker_id.clone(),
                task: entry.and_then(|e| e.task),
                job_id: entry.and_then(|e| e.job_id.clone()),
                registered_us: entry.map(|e| e.registered_us),
                ended: entry.and_then(|e| e.ended.clone()),
                ..WorkerRow::default()
            }
        })
        .collect();
    for row in &rows {
        last_us = last_us.max(row.ended.as_ref().map_or(0, |e| e.1));
    }
    if !status.run_over {
        last_us = last_us.max(status.now_us);
    }
    rows.sort_by_key(|r| r.registered_us.unwrap_or(u64::MAX));
    let mut timeline = Timeline::new(start_us, last_us, rows);
    let mut wall = vec![LogHistogram::seconds(); tasks.len()];
    let mut rss = vec![LogHistogram::bytes(); tasks.len()];
    for id in layout.list_workers().map_err(ledger_err)? {
        let row = timeline.row_of(id.as_str());
        let mut host = None;
        let mut last_seen = None;
        read_outbox(&layout, &id, |record| {
            last_seen = Some(record.time_us()).max(last_seen);
            match record {
                OutboxRecord::Hello { host: h, .. } => host = Some(h),
                OutboxRecord::Finished {
                    task,
                    block,
                    attempt,
                    outcome,
                    stats,
                    ..
                } => {
                    let t = task as usize;
                    if let (Some(w), Some(r)) = (wall.get_mut(t), rss.get_mut(t)) {
                        w.add(stats.wall_s);
                        if stats.peak_rss_bytes > 0 {
                            r.add(stats.peak_rss_bytes as f64);
                        }
                    }
                    if let Some(row) = row {
                        timeline.add(AttemptMark {
                            row,
                            task,
                            block,
                            attempt,
                            start_us: stats.start_us,
                            end_us: stats.end_us,
                            failed: matches!(outcome, Outcome::Failed { .. }),
                        });
                    }
                }
                _ => {}
            }
        })
        .map_err(ledger_err)?;
        if let Some(row) = row.and_then(|r| timeline.rows.get_mut(r)) {
            row.host = host;
            row.last_seen_us = last_seen;
        }
    }
    Ok(ReportData {
        status,
        tasks,
        progress,
        timeline,
        wall,
        rss,
        causes,
        maps,
    })
}

/// Streams one worker's outbox into `visit`.
fn read_outbox(
    layout: &Layout,
    id: &WorkerId,
    mut visit: impl FnMut(OutboxRecord),
) -> Result<(), LedgerError> {
    let mut reader = LogReader::<OutboxRecord>::new(layout.outbox_path(id));
    reader.poll_with(|record| {
        visit(record);
        ControlFlow::Continue(())
    })?;
    Ok(())
}

/// Counts one orchestrator record into the progress bins and the failure causes.
fn orchestrator_record(
    record: &OrchestratorRecord,
    tasks: usize,
    progress: &mut TimeBins,
    causes: &mut FailureCauses,
) {
    match record {
        OrchestratorRecord::Finished {
            task,
            block,
            attempt,
            outcome,
            time_us,
            ..
        } => match outcome {
            Outcome::Done | Outcome::Skipped => progress.add(*task as usize, *time_us, 1),
            Outcome::Failed { kind, message } => {
                progress.add(tasks + *task as usize, *time_us, 1);
                causes.add(&kind.to_string(), message, (*task, *block, *attempt));
            }
        },
        OrchestratorRecord::Returned {
            task,
            block,
            attempt,
            reason,
            counts_against_block,
            ..
        } => {
            let kind = if *counts_against_block {
                "returned (counted)"
            } else {
                "given back"
            };
            causes.add(kind, reason, (*task, *block, *attempt));
        }
        _ => {}
    }
}

/// The time a record carries.
fn record_time(record: &OrchestratorRecord) -> u64 {
    match record {
        OrchestratorRecord::EpochStarted { time_us, .. }
        | OrchestratorRecord::TaskInit { time_us, .. }
        | OrchestratorRecord::WorkerRegistered { time_us, .. }
        | OrchestratorRecord::WorkerEnded { time_us, .. }
        | OrchestratorRecord::Assigned { time_us, .. }
        | OrchestratorRecord::Finished { time_us, .. }
        | OrchestratorRecord::Returned { time_us, .. }
        | OrchestratorRecord::RetryBudgetReset { time_us }
        | OrchestratorRecord::RunEnded { time_us, .. }
        | OrchestratorRecord::WorkerServes { time_us, .. } => *time_us,
    }
}
