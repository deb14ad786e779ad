//! The worker agent's side of the inbox: follow the inbox of the highest epoch. The worker
//! directory is listed only when asked to ([`InboxFollower::rescan`]: the agent saw a newer
//! epoch claimed) and until an inbox is followed — unless the agent knows which epoch's inbox
//! to expect ([`InboxFollower::expect`]), when a poll is one open attempt of that file; in
//! the steady state a poll is one `fstat` of the open inbox.

use super::error::Result;
use super::layout::{Layout, WorkerId};
use super::reader::{LogReader, Tail};
use super::records::InboxRecord;

/// The epoch of the orchestrator that launched an agent (set by every backend), whose inbox
/// the agent expects first.
pub const EPOCH_ENV: &str = "BLOCKORCH_EPOCH";

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
    /// Before an inbox is followed: the epoch whose inbox is expected, and its reader.
    expected: Option<(u64, LogReader<InboxRecord>)>,
}

impl InboxFollower {
    /// A follower of `worker`'s inboxes in the ledger at `layout`.
    pub fn new(layout: Layout, worker: WorkerId) -> Self {
        Self {
            layout,
            worker,
            current: None,
            expected: None,
        }
    }

    /// Until an inbox is followed, polls look for epoch `epoch`'s inbox alone (one open
    /// attempt, no listing): the epoch that launched the agent, or the owner it saw.
    pub fn expect(&mut self, epoch: u64) {
        if self.current.is_none() && self.expected.as_ref().is_none_or(|(e, _)| *e != epoch) {
            let reader = LogReader::new(self.layout.inbox_path(&self.worker, epoch)).kept_open();
            self.expected = Some((epoch, reader));
        }
    }

    /// Epoch of the inbox followed.
    pub fn epoch(&self) -> Option<u64> {
        self.current.as_ref().map(|(e, _)| *e)
    }

    /// Reads new instructions from the followed inbox (an `fstat` of the open file, a read
    /// only if it grew); while no inbox is followed yet, looks for the expected one, or lists
    /// the worker directory when none is expected. `fresh` reopens the file (NFS: revalidates
    /// at once what the attribute cache may hide).
    pub fn poll(&mut self, fresh: bool) -> Result<InboxPoll> {
        let mut switched = false;
        if self.current.is_none() {
            switched = match self.expected.as_mut() {
                Some((_, reader)) => {
                    let polled = reader.poll()?;
                    if polled.tail == Tail::Missing {
                        return Ok(InboxPoll {
                            epoch: None,
                            switched: false,
                            records: Vec::new(),
                            tail: Tail::Missing,
                        });
                    }
                    let (epoch, reader) = self.expected.take().expect("matched above");
                    self.current = Some((epoch, reader));
                    return Ok(InboxPoll {
                        epoch: Some(epoch),
                        switched: true,
                        records: polled.records,
                        tail: polled.tail,
                    });
                }
                None => self.rescan()?,
            };
        }
        let Some((epoch, reader)) = self.current.as_mut() else {
            return Ok(InboxPoll {
                epoch: None,
                switched,
                records: Vec::new(),
                tail: Tail::Missing,
            });
        };
        let polled = if fresh {
            reader.poll_fresh()?
        } else {
            reader.poll()?
        };
        Ok(InboxPoll {
            epoch: Some(*epoch),
            switched,
            records: polled.records,
            tail: polled.tail,
        })
    }

    /// Lists the worker directory and follows the highest epoch's inbox if it is newer than
    /// the one followed (earlier epochs' instructions no longer apply). True if it switched.
    pub fn rescan(&mut self) -> Result<bool> {
        let highest = self.layout.list_inboxes(&self.worker)?.last().copied();
        match highest {
            Some(h) if self.epoch().is_none_or(|e| e < h) => {
                let reader = LogReader::new(self.layout.inbox_path(&self.worker, h)).kept_open();
                self.current = Some((h, reader));
                self.expected = None;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::LogWriter;

    fn write_inbox(layout: &Layout, worker: &WorkerId, epoch: u64, block: u64) {
        let mut w =
            LogWriter::<InboxRecord>::open_append(layout.inbox_path(worker, epoch)).unwrap();
        w.append(&InboxRecord::Assign {
            task: 0,
            block,
            attempt: 1,
            time_us: 1,
        })
        .unwrap();
        w.commit().unwrap();
    }

    #[test]
    fn an_expected_inbox_is_looked_for_without_listing() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let worker = WorkerId::new("w1").unwrap();
        let mut f = InboxFollower::new(layout.clone(), worker.clone());
        f.expect(2);
        // The worker directory does not even exist yet.
        let p = f.poll(false).unwrap();
        assert_eq!((p.epoch, p.switched, p.tail), (None, false, Tail::Missing));
        // Another epoch's inbox is not found by a poll: polls do not list the directory.
        write_inbox(&layout, &worker, 1, 10);
        assert_eq!(f.poll(false).unwrap().epoch, None);
        write_inbox(&layout, &worker, 2, 20);
        let p = f.poll(false).unwrap();
        assert_eq!((p.epoch, p.switched, p.records.len()), (Some(2), true, 1));
        assert!(f.poll(false).unwrap().records.is_empty());
        // A newer epoch is found by the rescan the agent asks for.
        write_inbox(&layout, &worker, 3, 30);
        assert!(f.rescan().unwrap());
        assert_eq!(f.epoch(), Some(3));
        // Without an expected epoch, a poll lists and follows the highest.
        let mut g = InboxFollower::new(layout, worker);
        assert_eq!(g.poll(false).unwrap().epoch, Some(3));
    }
}
