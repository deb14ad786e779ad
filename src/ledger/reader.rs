//! Reading logs: [`LogReader`] reads complete frames from an offset, can be polled again to
//! tail a file another process appends to, and reports what it finds after the last good frame;
//! [`LogReader::read_tail`] reads only a window at the end of a log, finding its first frame
//! boundary without reading what comes before.

use std::fs::File;
use std::io;
use std::marker::PhantomData;
use std::ops::ControlFlow;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::error::{io_err, GarbageReason, LedgerError, ReadWarning, Result, WarningKind};
use super::frame::{
    check_file_header, decode_payload, parse_frame, FrameParse, HeaderProblem, LogRecord,
    FILE_HEADER_LEN, FORMAT_VERSION,
};
use super::fsutil::open_read;

/// Bytes read from the file per call when scanning.
const CHUNK: usize = 1 << 20;

/// What follows the last complete frame a poll returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tail {
    /// Nothing: every byte up to the end (or limit) was a good frame.
    Clean,
    /// The file does not exist (yet).
    Missing,
    /// An incomplete frame (or file header): "not yet" while its writer is alive, a torn tail
    /// once it is dead. The next poll retries from `offset`.
    Incomplete {
        /// Where the incomplete frame starts.
        offset: u64,
        /// How many of its bytes are present.
        bytes: u64,
    },
    /// Bytes that are not a frame. Reading stops there; the next poll retries from `offset`
    /// (a file system may show a region before its data, and a restarted writer truncates
    /// garbage before appending).
    Garbage {
        /// Where the garbage starts.
        offset: u64,
        /// Bytes from there to the end of the file (or limit).
        bytes: u64,
        /// Why it is not a frame.
        reason: GarbageReason,
    },
    /// The reader's limit was reached and the file holds `bytes` more from `offset`.
    BeyondLimit {
        /// The offset reading stopped at.
        offset: u64,
        /// Bytes after it.
        bytes: u64,
    },
}

impl Tail {
    /// The warning to report for this tail of a file whose writer is gone (an incomplete frame
    /// is then torn). `None` for a clean, missing or limit-cut tail.
    pub fn warning(&self, path: &Path) -> Option<ReadWarning> {
        let (offset, bytes, kind) = match *self {
            Tail::Incomplete { offset, bytes } => (offset, bytes, WarningKind::TornTail),
            Tail::Garbage {
                offset,
                bytes,
                reason,
            } => (offset, bytes, WarningKind::Garbage { reason }),
            Tail::Clean | Tail::Missing | Tail::BeyondLimit { .. } => return None,
        };
        Some(ReadWarning {
            path: path.to_path_buf(),
            offset,
            bytes,
            kind,
        })
    }
}

/// Records returned by one [`LogReader::poll`].
#[derive(Debug)]
pub struct Polled<R> {
    /// New complete records, in file order.
    pub records: Vec<R>,
    /// What follows them.
    pub tail: Tail,
}

/// Everything readable in a closed log (see [`LogReader::read_closed`]).
#[derive(Debug)]
pub struct LogContents<R> {
    /// All complete records.
    pub records: Vec<R>,
    /// Offset after the last complete record (0 if the file or its header is missing).
    pub end_offset: u64,
    /// The torn or garbage tail, if any.
    pub warning: Option<ReadWarning>,
}

/// The records in a window at the end of a log (see [`LogReader::read_tail`]).
#[derive(Clone, Debug, PartialEq)]
pub struct TailWindow<R> {
    /// Complete records from the first frame boundary found in the window to the end (or to
    /// a torn or garbage last frame), in file order; empty if no boundary was found.
    pub records: Vec<R>,
    /// Where the window starts in the file (after the file header).
    pub start: u64,
    /// Whether the window starts at the first frame, so that `records` are all of them.
    pub from_start: bool,
    /// Size of the file (0 if it is missing).
    pub file_len: u64,
    /// Whether a frame boundary was found in the window (a window of nothing has one). When
    /// not, a larger window may find one.
    pub boundary_found: bool,
    /// The torn or garbage end after `records`, if any.
    pub warning: Option<ReadWarning>,
}

/// Reads the complete frames of one log, from a frame boundary, up to an optional limit.
///
/// By default each poll opens the file afresh: on NFS, `open` revalidates the client's cache
/// (close-to-open consistency), so a poll sees everything the writer had fsynced before it.
/// A reader made with [`kept_open`](Self::kept_open) (a tailer that polls the same file
/// again and again) keeps its descriptor instead, so a poll costs one `fstat` and reads only
/// when the file grew; on Linux NFS that `fstat` revalidates the attributes once the
/// attribute cache expired (`acregmin`..`acregmax`), and [`poll_fresh`](Self::poll_fresh)
/// reopens to force it at once (see *Polling schedule and metadata budget* in
/// `docs/design/ledger.md`).
#[derive(Debug)]
pub struct LogReader<R> {
    path: PathBuf,
    offset: u64,
    limit: Option<u64>,
    header_checked: bool,
    /// Keep the descriptor between polls.
    keep_open: bool,
    /// The descriptor kept between polls.
    file: Option<File>,
    _record: PhantomData<fn() -> R>,
}

impl<R: LogRecord> LogReader<R> {
    /// A reader of `path` from its first frame.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            offset: 0,
            limit: None,
            header_checked: false,
            keep_open: false,
            file: None,
            _record: PhantomData,
        }
    }

    /// Keeps the file open between polls: a poll is then one `fstat`, plus a read when the
    /// file grew.
    pub fn kept_open(mut self) -> Self {
        self.keep_open = true;
        self
    }

    /// Like [`poll`](Self::poll), but reopens the file first (close-to-open revalidation on
    /// NFS: the attributes and data the writer fsynced before now are seen at once).
    pub fn poll_fresh(&mut self) -> Result<Polled<R>> {
        self.file = None;
        self.poll()
    }

    /// Starts reading at `offset`, which must be a frame boundary previously returned by
    /// [`offset`](Self::offset) (the file header is still checked).
    pub fn starting_at(mut self, offset: u64) -> Self {
        self.offset = offset;
        self
    }

    /// Never reads past byte `limit` (frames after it are reported as [`Tail::BeyondLimit`]).
    pub fn with_limit(mut self, limit: u64) -> Self {
        self.limit = Some(limit);
        self
    }

    /// The file read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Offset just after the last complete frame returned (0 before the header was read).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Reads every complete frame that appeared since the last poll.
    pub fn poll(&mut self) -> Result<Polled<R>> {
        let mut records = Vec::new();
        let tail = self.poll_with(|r| {
            records.push(r);
            ControlFlow::Continue(())
        })?;
        Ok(Polled { records, tail })
    }

    /// Like [`poll`](Self::poll) but hands each record to `visit` instead of collecting them;
    /// `visit` may stop early (the reader's offset is then just after that record).
    pub fn poll_with(&mut self, mut visit: impl FnMut(R) -> ControlFlow<()>) -> Result<Tail> {
        let (file, len) = match self.file.take() {
            // A kept descriptor whose fstat fails (ESTALE: the file was replaced) is
            // dropped and the file reopened.
            Some(file) => match file.metadata() {
                Ok(meta) => (file, meta.len()),
                Err(_) => match self.open()? {
                    Some(opened) => opened,
                    None => return Ok(Tail::Missing),
                },
            },
            None => match self.open()? {
                Some(opened) => opened,
                None => return Ok(Tail::Missing),
            },
        };
        let tail = self.poll_file(&file, len, &mut visit);
        if self.keep_open {
            self.file = Some(file);
        }
        tail
    }

    /// Opens the file and reads its size; `None` if it does not exist.
    fn open(&self) -> Result<Option<(File, u64)>> {
        let file = match open_read(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err("open", &self.path)(e)),
        };
        let len = file.metadata().map_err(io_err("stat", &self.path))?.len();
        Ok(Some((file, len)))
    }

    /// Reads the frames of the open `file` of size `len` from the reader's offset.
    fn poll_file(
        &mut self,
        file: &File,
        len: u64,
        visit: &mut impl FnMut(R) -> ControlFlow<()>,
    ) -> Result<Tail> {
        let mut end = self.limit.map_or(len, |l| l.min(len));
        if !self.header_checked {
            if end < FILE_HEADER_LEN {
                return Ok(if end < len {
                    Tail::BeyondLimit {
                        offset: 0,
                        bytes: len,
                    }
                } else if len == 0 {
                    Tail::Clean
                } else {
                    Tail::Incomplete {
                        offset: 0,
                        bytes: len,
                    }
                });
            }
            let mut header = [0u8; FILE_HEADER_LEN as usize];
            file.read_exact_at(&mut header, 0)
                .map_err(io_err("read", &self.path))?;
            if header.iter().all(|&b| b == 0) {
                // A file system that lost the header write after a crash shows zeros.
                return Ok(Tail::Incomplete {
                    offset: 0,
                    bytes: len,
                });
            }
            check_file_header(&header, R::KIND).map_err(|p| header_error::<R>(&self.path, p))?;
            self.header_checked = true;
            self.offset = self.offset.max(FILE_HEADER_LEN);
        }
        if self.offset >= end {
            return Ok(if self.offset < len {
                Tail::BeyondLimit {
                    offset: self.offset,
                    bytes: len - self.offset,
                }
            } else {
                Tail::Clean
            });
        }

        let mut buf: Vec<u8> = Vec::new();
        let mut pos = 0usize;
        let mut file_pos = self.offset;
        let tail = loop {
            match parse_frame(&buf[pos..]) {
                FrameParse::Complete { payload, total } => {
                    let Some(record) = decode_payload::<R>(payload) else {
                        break Tail::Garbage {
                            offset: self.offset,
                            bytes: end - self.offset,
                            reason: GarbageReason::Undecodable,
                        };
                    };
                    pos += total;
                    self.offset += total as u64;
                    if visit(record).is_break() {
                        return Ok(Tail::Clean);
                    }
                }
                FrameParse::Incomplete { needed } => {
                    let have = buf.len() - pos;
                    if file_pos >= end {
                        break if have == 0 {
                            Tail::Clean
                        } else {
                            Tail::Incomplete {
                                offset: self.offset,
                                bytes: have as u64,
                            }
                        };
                    }
                    buf.drain(..pos);
                    pos = 0;
                    let want = (needed - have).max(CHUNK).min((end - file_pos) as usize);
                    let old = buf.len();
                    buf.resize(old + want, 0);
                    let n = read_full_at(file, &mut buf[old..], file_pos)
                        .map_err(io_err("read", &self.path))?;
                    buf.truncate(old + n);
                    file_pos += n as u64;
                    if n < want {
                        end = file_pos; // the file shrank while we read it
                    }
                }
                FrameParse::Garbage(reason) => {
                    break Tail::Garbage {
                        offset: self.offset,
                        bytes: end - self.offset,
                        reason,
                    }
                }
            }
        };
        Ok(match tail {
            Tail::Clean | Tail::Incomplete { .. } if end < len => Tail::BeyondLimit {
                offset: self.offset,
                bytes: len - self.offset,
            },
            other => other,
        })
    }

    /// Reads a whole log whose writer is gone; a missing file reads as empty.
    pub fn read_closed(path: impl Into<PathBuf>) -> Result<LogContents<R>> {
        let mut reader = Self::new(path);
        let polled = reader.poll()?;
        Ok(LogContents {
            records: polled.records,
            end_offset: reader.offset,
            warning: polled.tail.warning(&reader.path),
        })
    }

    /// Reads the records in the last `window` bytes of the log at `path` (never before its
    /// file header, which is not checked); a missing file has none. Reading the end of a
    /// log costs the same however long it is: its first frame boundary inside the window is
    /// where a chain of checksummed, decodable frames starts that runs to the end of the
    /// file.
    pub fn read_tail(path: &Path, window: u64) -> Result<TailWindow<R>> {
        let empty = |file_len| TailWindow {
            records: Vec::new(),
            start: file_len,
            from_start: true,
            file_len,
            boundary_found: true,
            warning: None,
        };
        let file = match open_read(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(empty(0)),
            Err(e) => return Err(io_err("open", path)(e)),
        };
        let file_len = file.metadata().map_err(io_err("stat", path))?.len();
        if file_len <= FILE_HEADER_LEN {
            return Ok(empty(file_len));
        }
        let start = file_len.saturating_sub(window).max(FILE_HEADER_LEN);
        let mut buf = vec![0u8; (file_len - start) as usize];
        let n = read_full_at(&file, &mut buf, start).map_err(io_err("read", path))?;
        buf.truncate(n);
        let from_start = start == FILE_HEADER_LEN;
        let found = chain_from_first_boundary::<R>(&buf, from_start);
        let boundary_found = found.is_some();
        let (records, end) = found.unwrap_or_default();
        Ok(TailWindow {
            records,
            start,
            from_start,
            file_len,
            boundary_found,
            warning: end.map(|(at, kind)| ReadWarning {
                path: path.to_path_buf(),
                offset: start + at as u64,
                bytes: (buf.len() - at) as u64,
                kind,
            }),
        })
    }
}

/// Finds the first offset in `buf` from which complete, checksummed, decodable frames run to
/// the end of `buf` (the last one may be incomplete or garbage: a torn tail). With
/// `at_boundary`, offset 0 is known to be a frame boundary and is the only candidate.
/// Returns the records and, for a bad end, where it starts and what it is.
#[allow(clippy::type_complexity)]
fn chain_from_first_boundary<R: LogRecord>(
    buf: &[u8],
    at_boundary: bool,
) -> Option<(Vec<R>, Option<(usize, WarningKind)>)> {
    let candidates = if at_boundary { 0..1 } else { 0..buf.len() };
    'candidates: for i in candidates {
        let mut pos = i;
        let mut records = Vec::new();
        loop {
            match parse_frame(&buf[pos..]) {
                FrameParse::Complete { payload, total } => {
                    let Some(r) = decode_payload::<R>(payload) else {
                        if records.is_empty() {
                            continue 'candidates;
                        }
                        let reason = GarbageReason::Undecodable;
                        return Some((records, Some((pos, WarningKind::Garbage { reason }))));
                    };
                    records.push(r);
                    pos += total;
                    if pos == buf.len() {
                        return Some((records, None));
                    }
                }
                FrameParse::Incomplete { .. } if !records.is_empty() || at_boundary => {
                    return Some((records, Some((pos, WarningKind::TornTail))));
                }
                FrameParse::Garbage(reason) if !records.is_empty() || at_boundary => {
                    return Some((records, Some((pos, WarningKind::Garbage { reason }))));
                }
                _ => continue 'candidates,
            }
        }
    }
    None
}

/// Maps a rejected header to the error naming the file.
pub(crate) fn header_error<R: LogRecord>(path: &Path, problem: HeaderProblem) -> LedgerError {
    match problem {
        HeaderProblem::Foreign(reason) => LedgerError::NotALogFile {
            path: path.to_path_buf(),
            expected: R::KIND,
            reason,
        },
        HeaderProblem::Version(found) => LedgerError::UnsupportedVersion {
            path: path.to_path_buf(),
            found: found.into(),
            supported: FORMAT_VERSION.into(),
        },
    }
}

/// Checks only the file header of the log at `path`, as [`LogReader`] would: a missing file,
/// or a header too short or all zeros (which readers take as an empty log) passes; a foreign
/// header or another format version is the reader's error. Reads 12 bytes, no records.
pub(crate) fn check_header<R: LogRecord>(path: &Path) -> Result<()> {
    let file = match open_read(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err("open", path)(e)),
    };
    let mut header = [0u8; FILE_HEADER_LEN as usize];
    let got = read_full_at(&file, &mut header, 0).map_err(io_err("read", path))?;
    if got < header.len() || header.iter().all(|&b| b == 0) {
        return Ok(());
    }
    check_file_header(&header, R::KIND).map_err(|p| header_error::<R>(path, p))
}

/// Reads until `buf` is full or the file ends; returns the bytes read.
pub(crate) fn read_full_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match file.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::records::{InboxRecord, OrchestratorRecord, OutboxRecord};
    use crate::ledger::writer::LogWriter;
    use std::io::Write;

    fn stop(i: usize) -> InboxRecord {
        InboxRecord::Stop {
            reason: format!("r{i}"),
        }
    }

    #[test]
    fn tailing_sees_incomplete_frame_as_not_yet() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inbox.log");
        let mut reader = LogReader::<InboxRecord>::new(&path);
        assert_eq!(reader.poll().unwrap().tail, Tail::Missing);
        let mut w = LogWriter::<InboxRecord>::open_append(&path).unwrap();
        w.append(&stop(0)).unwrap();
        w.commit().unwrap();
        let p = reader.poll().unwrap();
        assert_eq!((p.records, p.tail), (vec![stop(0)], Tail::Clean));
        // Simulate a writer midway through a frame.
        let mut frame = Vec::new();
        crate::ledger::frame::encode_frame(&stop(1), &mut frame).unwrap();
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(&frame[..5]).unwrap();
        let before = reader.offset();
        let p = reader.poll().unwrap();
        assert!(p.records.is_empty());
        assert_eq!(
            p.tail,
            Tail::Incomplete {
                offset: before,
                bytes: 5
            }
        );
        f.write_all(&frame[5..]).unwrap();
        let p = reader.poll().unwrap();
        assert_eq!((p.records, p.tail), (vec![stop(1)], Tail::Clean));
        assert_eq!(reader.poll().unwrap().records, vec![]);
    }

    #[test]
    fn limit_and_start_offset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inbox.log");
        let mut w = LogWriter::<InboxRecord>::open_append(&path).unwrap();
        let mut ends = Vec::new();
        for i in 0..5 {
            w.append(&stop(i)).unwrap();
            w.commit().unwrap();
            ends.push(w.committed_len());
        }
        let mut r = LogReader::<InboxRecord>::new(&path)
            .starting_at(ends[0])
            .with_limit(ends[2]);
        let p = r.poll().unwrap();
        assert_eq!(p.records, vec![stop(1), stop(2)]);
        assert_eq!(
            p.tail,
            Tail::BeyondLimit {
                offset: ends[2],
                bytes: ends[4] - ends[2]
            }
        );
        let mut r0 = LogReader::<InboxRecord>::new(&path).with_limit(0);
        assert!(matches!(
            r0.poll().unwrap().tail,
            Tail::BeyondLimit { offset: 0, .. }
        ));
    }

    #[test]
    fn wrong_kind_is_an_error_not_a_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inbox.log");
        let mut w = LogWriter::<InboxRecord>::open_append(&path).unwrap();
        w.append(&stop(0)).unwrap();
        w.commit().unwrap();
        let err =
            LogReader::<crate::ledger::records::OutboxRecord>::read_closed(&path).unwrap_err();
        assert!(
            err.to_string()
                .contains("is not a blockorch worker outbox file: it is a worker inbox"),
            "{err}"
        );
    }

    fn frames<R: LogRecord>(records: &[R]) -> Vec<u8> {
        let mut buf = Vec::new();
        for r in records {
            crate::ledger::frame::encode_frame(r, &mut buf).unwrap();
        }
        buf
    }

    #[test]
    fn finds_boundary_inside_a_frame() {
        let recs: Vec<OutboxRecord> = (0..50)
            .map(|i| OutboxRecord::Heartbeat { time_us: 1000 + i })
            .collect();
        let buf = frames(&recs);
        // Start the window in the middle of the third frame.
        let third_start = frames(&recs[..2]).len();
        let (got, end) =
            chain_from_first_boundary::<OutboxRecord>(&buf[third_start + 3..], false).unwrap();
        assert_eq!(got, recs[3..].to_vec());
        assert_eq!(end, None);
    }

    fn rec(t: u64) -> OrchestratorRecord {
        OrchestratorRecord::RetryBudgetReset { time_us: t }
    }

    #[test]
    fn window_inside_a_frame_finds_the_next_boundary() {
        let buf = frames(&(0..100).map(rec).collect::<Vec<_>>());
        let one = buf.len() / 100;
        let (got, _) =
            chain_from_first_boundary::<OrchestratorRecord>(&buf[one * 10 + 3..], false).unwrap();
        assert_eq!(got, (11..100).map(rec).collect::<Vec<_>>());
        // A torn last frame is left out.
        let torn = &buf[..buf.len() - 2];
        let (got, _) = chain_from_first_boundary::<OrchestratorRecord>(torn, true).unwrap();
        assert_eq!(got.len(), 99);
    }

    #[test]
    fn reads_tail_windows_of_files_and_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.log");
        let t = LogReader::<OrchestratorRecord>::read_tail(&path, 100).unwrap();
        assert!(t.records.is_empty() && t.from_start);
        let mut bytes = crate::ledger::MAGIC.to_vec();
        bytes.extend_from_slice(&[0u8; 4]);
        for t in 0..50 {
            crate::ledger::frame::encode_frame(&rec(t), &mut bytes).unwrap();
        }
        std::fs::write(&path, &bytes).unwrap();
        let all = LogReader::<OrchestratorRecord>::read_tail(&path, 1 << 20).unwrap();
        assert!(all.from_start);
        assert_eq!(all.records.len(), 50);
        let some = LogReader::<OrchestratorRecord>::read_tail(&path, 100).unwrap();
        assert!(!some.from_start);
        assert_eq!(some.records.last(), Some(&rec(49)));
        assert!(some.records.len() < 50 && !some.records.is_empty());
    }
}
