//! Appending to a log: [`LogWriter`] is the only writer of its file. It recovers the file on
//! open (a torn or garbage tail is cut so that new frames never follow garbage), buffers
//! records, and makes them durable in one write and one `fdatasync` per [`commit`]
//! (group commit).
//!
//! [`commit`]: LogWriter::commit

use std::fs::{File, OpenOptions};
use std::io;
use std::marker::PhantomData;
use std::ops::ControlFlow;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::error::{io_err, AppendRecovery, LedgerError, ReadWarning, Result};
use super::frame::{check_file_header, encode_frame, file_header, LogRecord, FILE_HEADER_LEN};
use super::fsutil::{fsync_dir, parent};
use super::reader::{header_error, read_full_at, LogReader, Tail};

/// The file operations a [`LogWriter`] needs. Implemented for [`File`]; tests wrap a file to
/// inject failures such as ENOSPC.
pub trait LogFile: Send {
    /// Writes all of `buf` at `offset`.
    fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// Truncates or extends the file to `len` bytes.
    fn set_len(&mut self, len: u64) -> io::Result<()>;
    /// Flushes data (and the metadata needed to read it) to stable storage.
    fn sync_data(&mut self) -> io::Result<()>;
    /// Flushes data and all metadata to stable storage.
    fn sync_all(&mut self) -> io::Result<()>;
}

impl LogFile for File {
    fn write_all_at(&mut self, buf: &[u8], offset: u64) -> io::Result<()> {
        FileExt::write_all_at(self, buf, offset)
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        File::set_len(self, len)
    }
    fn sync_data(&mut self) -> io::Result<()> {
        File::sync_data(self)
    }
    fn sync_all(&mut self) -> io::Result<()> {
        File::sync_all(self)
    }
}

/// The single writer of one log file.
pub struct LogWriter<R, F: LogFile = File> {
    path: PathBuf,
    file: F,
    committed_len: u64,
    buffer: Vec<u8>,
    buffered_records: usize,
    poisoned: bool,
    recovered: Option<ReadWarning>,
    _record: PhantomData<fn(&R)>,
}

impl<R: LogRecord> LogWriter<R, File> {
    /// Opens (creating it and its directory if needed) the log at `path` for appending.
    /// An existing file's torn or garbage tail is truncated first (see
    /// [`recovered_tail`](Self::recovered_tail)); a file of another kind or version is refused.
    pub fn open_append(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_append_with(path, |f| f)
    }
}

impl<R: LogRecord, F: LogFile> LogWriter<R, F> {
    /// Like [`open_append`](LogWriter::open_append), then wraps the recovered file with `wrap`
    /// (used to inject write failures in tests).
    pub fn open_append_with(path: impl AsRef<Path>, wrap: impl FnOnce(File) -> F) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let dir = parent(&path);
        let open = || {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
        };
        // The directory is created only when missing (on a shared file system every `mkdir`
        // of an existing directory is two round trips).
        let mut file = match open() {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(dir).map_err(io_err("create directory", dir))?;
                open()
            }
            other => other,
        }
        .map_err(io_err("open", &path))?;
        let len = file.metadata().map_err(io_err("stat", &path))?.len();
        let mut head = vec![0u8; len.min(FILE_HEADER_LEN) as usize];
        read_full_at(&file, &mut head, 0).map_err(io_err("read", &path))?;
        let expected = file_header(R::KIND);
        let (committed_len, recovered) = if len < FILE_HEADER_LEN || head.iter().all(|&b| b == 0) {
            // New file, or one whose header never made it to disk: no record can exist yet.
            if !head.iter().all(|&b| b == 0) && !expected.starts_with(&head) {
                let reason = "too short for a header and not a header prefix".to_string();
                return Err(LedgerError::NotALogFile {
                    path,
                    expected: R::KIND,
                    reason,
                });
            }
            let init = LogFile::set_len(&mut file, 0)
                .and_then(|()| LogFile::write_all_at(&mut file, &expected, 0))
                .and_then(|()| LogFile::sync_all(&mut file));
            init.map_err(io_err("write header of", &path))?;
            fsync_dir(dir)?;
            (FILE_HEADER_LEN, None)
        } else {
            check_file_header(&head, R::KIND).map_err(|p| header_error::<R>(&path, p))?;
            let mut reader = LogReader::<R>::new(&path);
            let tail = reader.poll_with(|_| ControlFlow::Continue(()))?;
            let good = reader.offset();
            let warning = tail.warning(&path);
            if !matches!(tail, Tail::Clean) {
                tracing::warn!(
                    path = %path.display(),
                    good_len = good,
                    "truncating the unreadable tail of a log before appending: {tail:?}"
                );
                LogFile::set_len(&mut file, good)
                    .and_then(|()| LogFile::sync_all(&mut file))
                    .map_err(io_err("truncate", &path))?;
            }
            (good, warning)
        };
        Ok(Self {
            path,
            file: wrap(file),
            committed_len,
            buffer: Vec::new(),
            buffered_records: 0,
            poisoned: false,
            recovered,
            _record: PhantomData,
        })
    }

    /// Buffers a record; nothing reaches the file before [`commit`](Self::commit).
    pub fn append(&mut self, record: &R) -> Result<()> {
        encode_frame(record, &mut self.buffer)?;
        self.buffered_records += 1;
        Ok(())
    }

    /// Writes every buffered record and fsyncs (one `fdatasync` for all of them); returns how
    /// many records became durable. On failure (e.g. ENOSPC) none of them is durable, the file
    /// is truncated back to its last committed length, the buffer is emptied and the error
    /// says what was left; if even truncation fails the writer refuses further commits.
    pub fn commit(&mut self) -> Result<usize> {
        if self.poisoned {
            return Err(LedgerError::WriterPoisoned {
                path: self.path.clone(),
            });
        }
        if self.buffer.is_empty() {
            return Ok(0);
        }
        let count = std::mem::take(&mut self.buffered_records);
        let written = self
            .file
            .write_all_at(&self.buffer, self.committed_len)
            .and_then(|()| self.file.sync_data());
        let len = self.buffer.len() as u64;
        self.buffer.clear();
        match written {
            Ok(()) => {
                self.committed_len += len;
                Ok(count)
            }
            Err(source) => {
                let committed = self.committed_len;
                let cleanup = self
                    .file
                    .set_len(committed)
                    .and_then(|()| self.file.sync_all());
                let recovery = match cleanup {
                    Ok(()) => AppendRecovery::TruncatedTo(committed),
                    Err(e) => {
                        self.poisoned = true;
                        tracing::error!(path = %self.path.display(), "cannot truncate after a failed commit: {e}");
                        AppendRecovery::TornTailAfter(committed)
                    }
                };
                Err(LedgerError::AppendFailed {
                    path: self.path.clone(),
                    recovery,
                    source,
                })
            }
        }
    }

    /// Length of the file up to the end of the last committed frame.
    pub fn committed_len(&self) -> u64 {
        self.committed_len
    }

    /// Number of records appended but not yet committed.
    pub fn pending_records(&self) -> usize {
        self.buffered_records
    }

    /// The torn or garbage tail that opening removed, if any.
    pub fn recovered_tail(&self) -> Option<&ReadWarning> {
        self.recovered.as_ref()
    }

    /// The log file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl<R, F: LogFile> Drop for LogWriter<R, F> {
    fn drop(&mut self) {
        if self.buffered_records > 0 {
            tracing::warn!(
                path = %self.path.display(),
                records = self.buffered_records,
                "log writer dropped with uncommitted records"
            );
        }
    }
}
