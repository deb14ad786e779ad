//! Records the run's status report every [`RECORD_EVERY`] (10 s) into
//! `orchestrator/status-<epoch>.json`, built from what the orchestrator holds in memory (the
//! folded state, the outbox summaries of its reads, the job states of its scheduler polls):
//! `status` and `status --watch` read that one file while it is fresh, so watchers add no
//! scheduler queries and no reads of the workers' files (see `crate::status::read_fresh`).

use super::agent_table::AgentTable;
use super::block_book::BlockBook;
use super::task_table::TaskTable;
use crate::ledger::{now_us, Ledger, LedgerView, LoadedState, LogCoverage, WorkerSummary};
use crate::status::{LedgerSnapshot, RecordedScheduler, RecordedStatus, RECORD_EVERY};
use std::collections::HashMap;
use std::time::Instant;

/// When the status was last recorded.
pub struct StatusRecorder {
    last: Option<Instant>,
}

impl StatusRecorder {
    /// A recorder whose first record is due at once.
    pub fn new() -> Self {
        Self { last: None }
    }

    /// Records the status if [`RECORD_EVERY`] has passed. A record that cannot be written is
    /// a warning: `status` then reads the ledger itself.
    pub fn record_if_due(
        &mut self,
        ledger: &Ledger,
        book: &BlockBook,
        tasks: &TaskTable,
        agents: &AgentTable,
    ) {
        if self.last.is_some_and(|t| t.elapsed() < RECORD_EVERY) {
            return;
        }
        self.last = Some(Instant::now());
        if let Err(err) = record(ledger, book, tasks, agents) {
            tracing::warn!("cannot record the run's status (status reads the ledger): {err}");
        }
    }
}

/// Builds the report as `status` would and writes it.
fn record(
    ledger: &Ledger,
    book: &BlockBook,
    tasks: &TaskTable,
    agents: &AgentTable,
) -> Result<(), Box<dyn std::error::Error>> {
    let state = book.state();
    let epoch = book.epoch();
    let mut scheduler = HashMap::new();
    let mut workers: Vec<WorkerSummary> = state
        .workers()
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            let known = agents.known(i as u32);
            if let Some(job) = known.and_then(|(_, job)| job) {
                scheduler.insert(entry.worker_id.clone(), job.clone());
            }
            WorkerSummary {
                worker_id: entry.worker_id.clone(),
                index: Some(i as u32),
                entry: Some(entry.clone()),
                assigned: Vec::new(),
                outbox: known.map(|(summary, _)| summary.clone()),
            }
        })
        .collect();
    for (task, block, attempt, worker) in state.assigned_blocks() {
        if let Some(w) = workers.get_mut(worker as usize) {
            w.assigned.push((task, block, attempt));
        }
    }
    let view = LedgerView {
        root: ledger.root().to_path_buf(),
        header: ledger.header().clone(),
        owner: Some(book.owner_status()),
        loaded: LoadedState {
            // Lent, not copied: the report reads it through `FoldedState`.
            state,
            // Names this epoch's log, from whose end the throughput is read.
            coverage: vec![LogCoverage { epoch, offset: 0 }],
            warnings: Vec::new(),
            snapshot: None,
        },
        workers,
    };
    let now = now_us();
    let snapshot = LedgerSnapshot::from_parts(view, tasks.file().clone(), book.plan_arc(), now);
    let report = snapshot.report(&mut RecordedScheduler(scheduler))?;
    let recorded = RecordedStatus {
        epoch,
        written_us: now,
        report,
    };
    ledger.write_status_record(epoch, &serde_json::to_vec(&recorded)?)?;
    Ok(())
}
