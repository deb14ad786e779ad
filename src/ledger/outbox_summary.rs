//! A worker's outbox summarized in O(1) reads: the first frame (Hello) and a window at the end
//! of the file, whose first frame boundary is found by scanning for a checksummed chain of
//! frames that runs to the end of the file. Status must not read whole outboxes: together
//! they hold a record per attempt of the run.

use std::io;
use std::ops::ControlFlow;
use std::path::Path;

use serde::Serialize;

use super::error::{io_err, GarbageReason, ReadWarning, Result, WarningKind};
use super::frame::FILE_HEADER_LEN;
use super::fsutil::open_read;
use super::reader::LogReader;
use super::records::OutboxRecord;

/// First window size read from the end of an outbox; doubled up to [`MAX_WINDOW`] when no
/// frame boundary is found in it.
const WINDOW: u64 = 16 << 10;
const MAX_WINDOW: u64 = 4 << 20;

/// The worker's self-description from its Hello.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HelloInfo {
    /// Host.
    pub host: String,
    /// Agent pid.
    pub pid: u32,
    /// Scheduler job id.
    pub backend_job: Option<String>,
    /// Slots.
    pub slots: u32,
    /// When it said hello.
    pub time_us: u64,
}

/// An attempt started and not finished, as seen in the outbox's tail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct RunningAttempt {
    /// Task index.
    pub task: u32,
    /// Block id.
    pub block: u64,
    /// Attempt.
    pub attempt: u32,
    /// Slot.
    pub slot: u32,
    /// Start time.
    pub since_us: u64,
}

/// What status shows about one outbox.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct OutboxSummary {
    /// File size.
    pub bytes: u64,
    /// The latest Hello seen (the first record, or a later one in the tail after a restart).
    pub hello: Option<HelloInfo>,
    /// Latest time carried by any record in the tail (the worker's last sign of life).
    pub last_seen_us: Option<u64>,
    /// Attempts started in the tail and not finished after.
    pub running: Vec<RunningAttempt>,
    /// The Bye, if it is the latest session's last word.
    pub bye: Option<(String, u64)>,
    /// Records finished in the tail window.
    pub finished_in_tail: u64,
    /// Whether the whole file was read (otherwise only the tail window).
    pub whole_file: bool,
    /// A torn or garbage end, or a tail where no frame boundary was found.
    pub warning: Option<ReadWarning>,
}

impl OutboxSummary {
    /// Takes one more record of the outbox into account, in file order.
    pub fn fold(&mut self, record: OutboxRecord) {
        self.last_seen_us = Some(self.last_seen_us.unwrap_or(0).max(record.time_us()));
        match record {
            OutboxRecord::Hello {
                host,
                pid,
                backend_job,
                slots,
                time_us,
                ..
            } => {
                self.hello = Some(HelloInfo {
                    host,
                    pid,
                    backend_job,
                    slots,
                    time_us,
                });
                self.running.clear();
                self.bye = None;
            }
            OutboxRecord::Heartbeat { .. } => {}
            OutboxRecord::Started {
                task,
                block,
                attempt,
                slot,
                time_us,
            } => self.running.push(RunningAttempt {
                task,
                block,
                attempt,
                slot,
                since_us: time_us,
            }),
            OutboxRecord::Finished {
                task,
                block,
                attempt,
                ..
            } => {
                self.finished_in_tail += 1;
                self.running
                    .retain(|r| (r.task, r.block, r.attempt) != (task, block, attempt));
            }
            OutboxRecord::Abandoned {
                task,
                block,
                attempt,
                ..
            } => self
                .running
                .retain(|r| (r.task, r.block, r.attempt) != (task, block, attempt)),
            OutboxRecord::Bye { reason, time_us } => self.bye = Some((reason, time_us)),
        }
    }
}

/// Summarizes the outbox at `path`; `None` if it does not exist.
pub fn summarize_outbox(path: &Path) -> Result<Option<OutboxSummary>> {
    let file = match open_read(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err("open", path)(e)),
    };
    let len = file.metadata().map_err(io_err("stat", path))?.len();
    let mut summary = OutboxSummary {
        bytes: len,
        ..OutboxSummary::default()
    };
    if len < FILE_HEADER_LEN + WINDOW {
        let contents = LogReader::<OutboxRecord>::read_closed(path)?;
        contents.records.into_iter().for_each(|r| summary.fold(r));
        summary.whole_file = true;
        summary.warning = contents.warning;
        return Ok(Some(summary));
    }
    // The first poll checks the file header.
    let mut first = LogReader::<OutboxRecord>::new(path);
    first.poll_with(|r| {
        summary.fold(r);
        ControlFlow::Break(())
    })?;
    summary.running.clear();
    let mut window = WINDOW;
    loop {
        let tail = LogReader::<OutboxRecord>::read_tail(path, window)?;
        if tail.boundary_found {
            tail.records.into_iter().for_each(|r| summary.fold(r));
            summary.warning = tail.warning;
            return Ok(Some(summary));
        }
        if tail.from_start || window >= MAX_WINDOW {
            summary.warning = Some(ReadWarning {
                path: path.to_path_buf(),
                offset: tail.start,
                bytes: tail.file_len - tail.start,
                kind: WarningKind::Garbage {
                    reason: GarbageReason::BadChecksum,
                },
            });
            return Ok(Some(summary));
        }
        window *= 4;
    }
}
