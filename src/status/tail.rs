//! The last records of a log, read from a window at its end: status must not read whole
//! logs (the orchestrator log holds two records per block of the run).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use super::error::StatusError;
use crate::ledger::{decode_payload, parse_frame, FrameParse, LogRecord, FILE_HEADER_LEN};

/// The records found in a log's tail.
#[derive(Clone, Debug, PartialEq)]
pub struct TailRead<R> {
    /// Complete records from the first frame boundary in the window to the end, in file order
    /// (a torn or garbage end is left out).
    pub records: Vec<R>,
    /// Whether the window reached the start of the file (so `records` are all of them).
    pub from_start: bool,
    /// Size of the file.
    pub file_len: u64,
}

/// Reads the records in the last `window` bytes of the log at `path`. A missing file has no
/// records. The first frame boundary inside the window is found by looking for a chain of
/// checksummed, decodable frames that runs to the end of the file.
pub fn read_tail<R: LogRecord>(path: &Path, window: u64) -> Result<TailRead<R>, StatusError> {
    let read_err = |source| StatusError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(TailRead {
                records: Vec::new(),
                from_start: true,
                file_len: 0,
            })
        }
        Err(e) => return Err(read_err(e)),
    };
    let file_len = file.metadata().map_err(read_err)?.len();
    if file_len <= FILE_HEADER_LEN {
        return Ok(TailRead {
            records: Vec::new(),
            from_start: true,
            file_len,
        });
    }
    let start = file_len.saturating_sub(window).max(FILE_HEADER_LEN);
    file.seek(SeekFrom::Start(start)).map_err(read_err)?;
    let mut buf = Vec::with_capacity((file_len - start) as usize);
    file.take(file_len - start)
        .read_to_end(&mut buf)
        .map_err(read_err)?;
    let from_start = start == FILE_HEADER_LEN;
    Ok(TailRead {
        records: chain_to_end(&buf, from_start),
        from_start,
        file_len,
    })
}

/// Records of the first chain of frames in `buf` that runs to its end (or to a bad last
/// frame). With `at_boundary`, offset 0 is known to be a frame boundary and is the only
/// candidate.
fn chain_to_end<R: LogRecord>(buf: &[u8], at_boundary: bool) -> Vec<R> {
    let candidates = if at_boundary { 0..1 } else { 0..buf.len() };
    'candidates: for i in candidates {
        let mut pos = i;
        let mut records = Vec::new();
        loop {
            match parse_frame(&buf[pos..]) {
                FrameParse::Complete { payload, total } => {
                    let Some(record) = decode_payload::<R>(payload) else {
                        if records.is_empty() && !at_boundary {
                            continue 'candidates;
                        }
                        return records;
                    };
                    records.push(record);
                    pos += total;
                    if pos == buf.len() {
                        return records;
                    }
                }
                _ if !records.is_empty() || at_boundary => return records,
                _ => continue 'candidates,
            }
        }
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{encode_frame, OrchestratorRecord};

    fn rec(t: u64) -> OrchestratorRecord {
        OrchestratorRecord::RetryBudgetReset { time_us: t }
    }

    #[test]
    fn window_inside_a_frame_finds_the_next_boundary() {
        let mut buf = Vec::new();
        for t in 0..100 {
            encode_frame(&rec(t), &mut buf).unwrap();
        }
        let one = buf.len() / 100;
        let got: Vec<OrchestratorRecord> = chain_to_end(&buf[one * 10 + 3..], false);
        assert_eq!(got, (11..100).map(rec).collect::<Vec<_>>());
        // A torn last frame is left out.
        let torn = &buf[..buf.len() - 2];
        let got: Vec<OrchestratorRecord> = chain_to_end(torn, true);
        assert_eq!(got.len(), 99);
    }

    #[test]
    fn reads_files_and_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.log");
        let t: TailRead<OrchestratorRecord> = read_tail(&path, 100).unwrap();
        assert!(t.records.is_empty() && t.from_start);
        let mut bytes = crate::ledger::MAGIC.to_vec();
        bytes.extend_from_slice(&[0u8; 4]);
        for t in 0..50 {
            encode_frame(&rec(t), &mut bytes).unwrap();
        }
        std::fs::write(&path, &bytes).unwrap();
        let all: TailRead<OrchestratorRecord> = read_tail(&path, 1 << 20).unwrap();
        assert!(all.from_start);
        assert_eq!(all.records.len(), 50);
        let some: TailRead<OrchestratorRecord> = read_tail(&path, 100).unwrap();
        assert!(!some.from_start);
        assert_eq!(some.records.last(), Some(&rec(49)));
        assert!(some.records.len() < 50 && !some.records.is_empty());
    }
}
