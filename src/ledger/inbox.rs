//! The worker agent's side of the inbox: follow the inbox of the highest epoch.

use super::error::Result;
use super::layout::{Layout, WorkerId};
use super::reader::{LogReader, Tail};
use super::records::InboxRecord;

/// Result of one [`InboxFollower::poll`].
#[derive(Debug)]
pub struct InboxPoll {
    /// Epoch of the inbox being followed (`None` before any inbox exists).
    pub epoch: Option<u64>,
    /// The follower switched to this epoch's inbox during this poll (a new orchestrator
    /// adopted the worker; earlier epochs' instructions no longer apply).
    pub switched: bool,
    /// New records of the followed inbox.
    pub records: Vec<InboxRecord>,
    /// What follows them.
    pub tail: Tail,
}

/// Tails `workers/<id>/inbox-<N>.log` for the highest N present, switching when a higher one
/// appears and ignoring older ones.
#[derive(Debug)]
pub struct InboxFollower {
    layout: Layout,
    worker: WorkerId,
    current: Option<(u64, LogReader<InboxRecord>)>,
}

impl InboxFollower {
    /// A follower of `worker`'s inboxes in the ledger at `layout`.
    pub fn new(layout: Layout, worker: WorkerId) -> Self {
        Self {
            layout,
            worker,
            current: None,
        }
    }

    /// Epoch of the inbox followed.
    pub fn epoch(&self) -> Option<u64> {
        self.current.as_ref().map(|(e, _)| *e)
    }

    /// Reads new instructions (lists the worker directory, then reads the followed inbox).
    pub fn poll(&mut self) -> Result<InboxPoll> {
        // Listing on every poll (not now and then) keeps the window in which a superseded
        // orchestrator's assignments could still be followed as small as possible.
        let highest = self.layout.list_inboxes(&self.worker)?.last().copied();
        let mut switched = false;
        if let Some(h) = highest {
            if self.epoch().is_none_or(|e| e < h) {
                let reader = LogReader::new(self.layout.inbox_path(&self.worker, h));
                self.current = Some((h, reader));
                switched = true;
            }
        }
        let Some((epoch, reader)) = self.current.as_mut() else {
            return Ok(InboxPoll {
                epoch: None,
                switched,
                records: Vec::new(),
                tail: Tail::Missing,
            });
        };
        let polled = reader.poll()?;
        Ok(InboxPoll {
            epoch: Some(*epoch),
            switched,
            records: polled.records,
            tail: polled.tail,
        })
    }
}
