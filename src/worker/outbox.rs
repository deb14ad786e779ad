//! The agent's outbox (`workers/<id>/outbox.log`): records are buffered per event-loop turn
//! and committed with one fsync; a failed commit is retried at the next turn.

use crate::ledger::{LedgerError, LogWriter, OutboxRecord};
use std::path::Path;

/// The single writer of one worker's outbox.
pub struct Outbox {
    writer: LogWriter<OutboxRecord>,
    pending: Vec<OutboxRecord>,
    failures: u32,
}

impl Outbox {
    /// Opens (creating) the outbox at `path`.
    pub fn open(path: &Path) -> Result<Self, LedgerError> {
        Ok(Self {
            writer: LogWriter::open_append(path)?,
            pending: Vec::new(),
            failures: 0,
        })
    }

    /// Queues a record for the next [`commit`](Self::commit).
    pub fn push(&mut self, record: OutboxRecord) {
        self.pending.push(record);
    }

    /// True when records wait for a commit.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Makes every queued record durable; on failure they stay queued for the next call.
    pub fn commit(&mut self) -> Result<(), LedgerError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        for record in &self.pending {
            if let Err(e) = self.writer.append(record) {
                // Encoding is deterministic: retrying cannot help, so the record is dropped.
                tracing::error!("cannot encode outbox record {record:?}: {e}");
            }
        }
        match self.writer.commit() {
            Ok(_) => {
                self.pending.clear();
                self.failures = 0;
                Ok(())
            }
            Err(e) => {
                self.failures += 1;
                if self.failures == 1 || self.failures.is_multiple_of(100) {
                    tracing::error!("cannot write the outbox (will retry): {e}");
                }
                Err(e)
            }
        }
    }
}
