//! The owner's side: [`Journal`] appends to `orchestrator/epoch-<N>.log` and keeps the folded
//! state in memory, applying a record only after it is durable.

use std::path::PathBuf;

use super::error::{ReadWarning, Result};
use super::fold::load_state;
use super::frame::FILE_HEADER_LEN;
use super::layout::Layout;
use super::owner::Ownership;
use super::records::{LogCoverage, OrchestratorRecord};
use super::snapshot::{prune_snapshots, write_snapshot};
use super::state::LedgerState;
use super::store::Ledger;
use super::time::now_us;
use super::writer::LogWriter;

/// The orchestrator log of the owned epoch plus the in-memory state it implies.
pub struct Journal {
    layout: Layout,
    ownership: Ownership,
    writer: LogWriter<OrchestratorRecord>,
    state: LedgerState,
    pending: Vec<OrchestratorRecord>,
    sealed: Vec<LogCoverage>,
    next_snapshot_seq: u64,
    load_warnings: Vec<ReadWarning>,
}

impl Journal {
    /// Loads the ledger (after the claim, so that the seal is exact), opens this epoch's log
    /// and commits its `EpochStarted` record, which seals every older log at the extent read.
    pub fn start(ledger: &Ledger, ownership: &Ownership) -> Result<Self> {
        ownership.ensure_owner()?;
        let layout = ledger.layout().clone();
        let epoch = ownership.epoch();
        let loaded = load_state(&layout)?;
        for w in &loaded.warnings {
            tracing::warn!("{w}");
        }
        let sealed: Vec<LogCoverage> = loaded
            .coverage
            .iter()
            .copied()
            .filter(|c| c.epoch < epoch)
            .collect();
        let writer = LogWriter::open_append(layout.orchestrator_log_path(epoch))?;
        let fresh = writer.committed_len() == FILE_HEADER_LEN;
        let next_snapshot_seq = layout
            .list_snapshots()?
            .iter()
            .filter(|(e, _)| *e == epoch)
            .map(|(_, s)| s + 1)
            .max()
            .unwrap_or(1);
        let mut journal = Self {
            layout,
            ownership: ownership.clone(),
            writer,
            state: loaded.state,
            pending: Vec::new(),
            sealed: sealed.clone(),
            next_snapshot_seq,
            load_warnings: loaded.warnings,
        };
        if fresh {
            journal.append(OrchestratorRecord::EpochStarted {
                epoch,
                host: ownership.host().to_string(),
                pid: ownership.pid(),
                time_us: now_us(),
                sealed,
            })?;
            journal.commit()?;
        }
        Ok(journal)
    }

    /// The owned epoch.
    pub fn epoch(&self) -> u64 {
        self.ownership.epoch()
    }

    /// The ownership this journal writes under.
    pub fn ownership(&self) -> &Ownership {
        &self.ownership
    }

    /// The state including every committed record (not the pending ones).
    pub fn state(&self) -> &LedgerState {
        &self.state
    }

    /// Warnings found while loading the ledger at start.
    pub fn load_warnings(&self) -> &[ReadWarning] {
        &self.load_warnings
    }

    /// Buffers a record (check fencing first with [`LedgerState::accepts_report`] to avoid
    /// logging stale reports; they would be ignored anyway).
    pub fn append(&mut self, record: OrchestratorRecord) -> Result<()> {
        self.writer.append(&record)?;
        self.pending.push(record);
        Ok(())
    }

    /// Makes the buffered records durable (one fsync), then applies them to the state; returns
    /// how many. On error none of them is applied or durable.
    pub fn commit(&mut self) -> Result<usize> {
        let pending = std::mem::take(&mut self.pending);
        self.writer.commit()?;
        for record in &pending {
            self.state.apply(record);
        }
        Ok(pending.len())
    }

    /// Number of records appended but not committed.
    pub fn pending_records(&self) -> usize {
        self.pending.len()
    }

    /// What the state covers: the sealed extent of every older log and this epoch's log up
    /// to its last commit.
    pub fn coverage(&self) -> Vec<LogCoverage> {
        let mut out = self.sealed.clone();
        out.push(LogCoverage {
            epoch: self.epoch(),
            offset: self.writer.committed_len(),
        });
        out
    }

    /// Commits pending records, then writes a snapshot of the state durably.
    pub fn write_snapshot(&mut self) -> Result<PathBuf> {
        self.commit()?;
        let path = write_snapshot(
            &self.layout,
            self.epoch(),
            self.next_snapshot_seq,
            &self.coverage(),
            &self.state,
        )?;
        self.next_snapshot_seq += 1;
        Ok(path)
    }

    /// Deletes all but the `keep` (at least 1) newest snapshots up to this journal's latest;
    /// refuses once superseded. Orchestrator logs are never deleted: they are the source of
    /// truth and snapshots only a cache.
    pub fn prune_snapshots(&self, keep: usize) -> Result<usize> {
        self.ownership.ensure_owner()?;
        let newest = (self.epoch(), self.next_snapshot_seq.saturating_sub(1));
        prune_snapshots(&self.layout, newest, keep)
    }
}
