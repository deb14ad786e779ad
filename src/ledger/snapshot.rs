//! Snapshots: the folded [`LedgerState`] plus how far it covers each orchestrator log, in one
//! checksummed file written by tmp + rename (file and directory fsynced).
//!
//! File: the 12-byte header of kind `Snapshot`, u64 payload length (LE), u32 CRC-32 of the
//! payload (LE), payload (bincode, same options as log records).

use std::fs;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use bincode::Options;
use serde::{Deserialize, Serialize};

use super::error::{io_err, LedgerError, Result};
use super::frame::{
    check_file_header, codec, file_header, HeaderProblem, LogKind, FILE_HEADER_LEN,
};
use super::fsutil::{open_read, read_small, write_atomic};
use super::layout::Layout;
use super::records::LogCoverage;
use super::state::LedgerState;
use super::time::now_us;

const PREFIX_LEN: usize = FILE_HEADER_LEN as usize + 12;

#[derive(Serialize)]
struct SnapshotRef<'a> {
    epoch: u64,
    seq: u64,
    created_us: u64,
    coverage: &'a [LogCoverage],
    state: &'a LedgerState,
}

/// A decoded snapshot.
#[derive(Debug, Deserialize)]
pub(crate) struct Snapshot<S = LedgerState> {
    pub epoch: u64,
    pub seq: u64,
    #[allow(dead_code)]
    pub created_us: u64,
    pub coverage: Vec<LogCoverage>,
    pub state: S,
}

/// Writes `snapshots/snapshot-<epoch>-<seq>.bin` durably and returns its path.
pub(crate) fn write_snapshot(
    layout: &Layout,
    epoch: u64,
    seq: u64,
    coverage: &[LogCoverage],
    state: &LedgerState,
) -> Result<PathBuf> {
    let path = layout.snapshot_path(epoch, seq);
    let mut bytes = Vec::with_capacity(1 << 16);
    bytes.extend_from_slice(&file_header(LogKind::Snapshot));
    bytes.extend_from_slice(&[0u8; 12]);
    let body = SnapshotRef {
        epoch,
        seq,
        created_us: now_us(),
        coverage,
        state,
    };
    codec()
        .serialize_into(&mut bytes, &body)
        .map_err(|source| LedgerError::SnapshotEncode {
            path: path.clone(),
            source,
        })?;
    let len = (bytes.len() - PREFIX_LEN) as u64;
    let crc = crc32fast::hash(&bytes[PREFIX_LEN..]);
    let h = FILE_HEADER_LEN as usize;
    bytes[h..h + 8].copy_from_slice(&len.to_le_bytes());
    bytes[h + 8..h + 12].copy_from_slice(&crc.to_le_bytes());
    let dir = layout.snapshots_dir();
    fs::create_dir_all(&dir).map_err(io_err("create directory", &dir))?;
    write_atomic(&path, &bytes, true)?;
    tracing::debug!(path = %path.display(), bytes = bytes.len(), "snapshot written");
    Ok(path)
}

/// Reads and verifies a snapshot; `Err` holds why it cannot be used. `streamed`: decode it
/// while reading, checking the checksum at the end (memory: the decoded state only), instead
/// of reading the file whole and checking it first (faster: what the orchestrator does).
pub(crate) fn read_snapshot<S: serde::de::DeserializeOwned>(
    path: &Path,
    streamed: bool,
) -> std::result::Result<Snapshot<S>, String> {
    if streamed {
        return read_streamed(path);
    }
    let bytes = read_small(path).map_err(|e| format!("cannot read it: {e}"))?;
    let (len, crc) = check_prefix(&bytes, bytes.len() as u64)?;
    let payload = &bytes[PREFIX_LEN..];
    if crc32fast::hash(payload) != crc {
        return Err("checksum mismatch".into());
    }
    codec()
        .with_limit(len)
        .deserialize(payload)
        .map_err(|e| format!("undecodable: {e}"))
}

/// [`read_snapshot`] decoding from the file as it is read; a checksum mismatch is reported
/// before a decoding error (a damaged payload may fail to decode).
fn read_streamed<S: serde::de::DeserializeOwned>(
    path: &Path,
) -> std::result::Result<Snapshot<S>, String> {
    let cannot_read = |e: std::io::Error| format!("cannot read it: {e}");
    let file = open_read(path).map_err(cannot_read)?;
    let size = file.metadata().map_err(cannot_read)?.len();
    let mut reader = BufReader::with_capacity(1 << 16, file);
    if size < PREFIX_LEN as u64 {
        return Err(format!("truncated at {size} bytes"));
    }
    let mut prefix = [0u8; PREFIX_LEN];
    reader.read_exact(&mut prefix).map_err(cannot_read)?;
    let (len, crc) = check_prefix(&prefix, size)?;
    let mut payload = Crc32Reader {
        inner: reader.take(len),
        crc: crc32fast::Hasher::new(),
    };
    let decoded: std::result::Result<Snapshot<S>, _> =
        codec().with_limit(len).deserialize_from(&mut payload);
    let left = std::io::copy(&mut payload, &mut std::io::sink()).map_err(cannot_read)?;
    if payload.crc.finalize() != crc {
        return Err("checksum mismatch".into());
    }
    let snap = decoded.map_err(|e| format!("undecodable: {e}"))?;
    if left > 0 {
        return Err(format!("undecodable: {left} bytes after its end"));
    }
    Ok(snap)
}

/// Checks the header and the payload length of a snapshot of `size` bytes whose first bytes
/// are `prefix`; returns the payload's length and checksum.
fn check_prefix(prefix: &[u8], size: u64) -> std::result::Result<(u64, u32), String> {
    if prefix.len() < PREFIX_LEN {
        return Err(format!("truncated at {size} bytes"));
    }
    check_file_header(prefix, LogKind::Snapshot).map_err(|p| match p {
        HeaderProblem::Foreign(r) => r,
        HeaderProblem::Version(v) => format!("format version {v} is not supported"),
    })?;
    let h = FILE_HEADER_LEN as usize;
    let len = u64::from_le_bytes(prefix[h..h + 8].try_into().expect("8 bytes"));
    let crc = u32::from_le_bytes(prefix[h + 8..h + 12].try_into().expect("4 bytes"));
    let payload = size - PREFIX_LEN as u64;
    if payload != len {
        return Err(format!("payload is {payload} bytes, header says {len}"));
    }
    Ok((len, crc))
}

/// A reader that checksums what passes through it.
struct Crc32Reader<R> {
    inner: R,
    crc: crc32fast::Hasher,
}

impl<R: Read> Read for Crc32Reader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.crc.update(&buf[..n]);
        Ok(n)
    }
}

/// Deletes snapshots older than the `keep` newest ones at or before `newest`; returns how
/// many were deleted. Snapshots of later epochs are never touched.
pub(crate) fn prune_snapshots(layout: &Layout, newest: (u64, u64), keep: usize) -> Result<usize> {
    let own: Vec<(u64, u64)> = layout
        .list_snapshots()?
        .into_iter()
        .filter(|s| *s <= newest)
        .collect();
    let doomed = own.len().saturating_sub(keep.max(1));
    for &(e, s) in &own[..doomed] {
        let path = layout.snapshot_path(e, s);
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("delete", &path)(e)),
        }
    }
    Ok(doomed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::records::OrchestratorRecord;

    fn sample_state() -> LedgerState {
        let mut s = LedgerState::new();
        s.apply(&OrchestratorRecord::WorkerRegistered {
            index: 0,
            worker_id: "w".into(),
            backend: "local".into(),
            job_id: None,
            time_us: 1,
        });
        for block in 0..100 {
            s.apply(&OrchestratorRecord::Assigned {
                task: 1,
                block,
                attempt: 1,
                worker: 0,
                time_us: 2,
            });
        }
        s
    }

    #[test]
    fn round_trip_and_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let state = sample_state();
        let coverage = [LogCoverage {
            epoch: 3,
            offset: 4567,
        }];
        let path = write_snapshot(&layout, 3, 2, &coverage, &state).unwrap();
        assert_eq!(path, layout.snapshot_path(3, 2));
        let snap = read_snapshot::<LedgerState>(&path, false).unwrap();
        assert_eq!((snap.epoch, snap.seq), (3, 2));
        assert_eq!(snap.coverage, coverage);
        assert_eq!(snap.state, state);
        // No temporary file is left.
        assert_eq!(layout.list_snapshots().unwrap(), vec![(3, 2)]);
        assert_eq!(fs::read_dir(layout.snapshots_dir()).unwrap().count(), 1);

        let bytes = fs::read(&path).unwrap();
        for streamed in [false, true] {
            fs::write(&path, &bytes).unwrap();
            let again = read_snapshot::<LedgerState>(&path, streamed).unwrap();
            assert_eq!(again.state, state);
            let mut flipped = bytes.clone();
            let last = flipped.len() - 1;
            flipped[last] ^= 1;
            fs::write(&path, &flipped).unwrap();
            assert_eq!(
                read_snapshot::<LedgerState>(&path, streamed).unwrap_err(),
                "checksum mismatch"
            );
            // A damaged byte early in the payload: the checksum says so, not the decoder.
            let mut early = bytes.clone();
            early[PREFIX_LEN + 3] ^= 0xff;
            fs::write(&path, &early).unwrap();
            assert_eq!(
                read_snapshot::<LedgerState>(&path, streamed).unwrap_err(),
                "checksum mismatch"
            );
            fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
            assert!(read_snapshot::<LedgerState>(&path, streamed)
                .unwrap_err()
                .contains("header says"));
            fs::write(&path, &bytes[..10]).unwrap();
            assert!(read_snapshot::<LedgerState>(&path, streamed)
                .unwrap_err()
                .contains("truncated"));
        }
    }

    #[test]
    fn prune_keeps_newest_and_later_epochs() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let state = LedgerState::new();
        for (e, s) in [(1, 1), (1, 2), (2, 1), (2, 2), (2, 3), (3, 1)] {
            write_snapshot(&layout, e, s, &[], &state).unwrap();
        }
        assert_eq!(prune_snapshots(&layout, (2, 3), 2).unwrap(), 3);
        assert_eq!(
            layout.list_snapshots().unwrap(),
            vec![(2, 2), (2, 3), (3, 1)]
        );
    }
}
