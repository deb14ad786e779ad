//! The on-disk framing shared by every ledger log: a file header, then self-delimiting,
//! checksummed frames whose payloads are bincode-encoded records.
//!
//! File header: `BLKORCH\0`, u16 format version (LE), u16 [`LogKind`] (LE).
//! Frame: u32 payload length (LE), u32 CRC-32 of the payload (LE), payload.

use bincode::Options;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::{GarbageReason, LedgerError, Result};

/// First eight bytes of every ledger log and snapshot.
pub const MAGIC: [u8; 8] = *b"BLKORCH\0";
/// Format version written in file headers; readers refuse higher versions.
pub const FORMAT_VERSION: u16 = 1;
/// Length of the file header in bytes.
pub const FILE_HEADER_LEN: u64 = 12;
/// Length of a frame header (length + checksum) in bytes.
pub const FRAME_HEADER_LEN: usize = 8;
/// Largest payload a writer produces and a reader accepts; a larger length field is garbage.
pub const MAX_FRAME_LEN: u32 = 16 << 20;

pub use super::log_kind::LogKind;

/// A record type stored in one kind of log.
pub trait LogRecord: Serialize + DeserializeOwned {
    /// The log kind written in the file header.
    const KIND: LogKind;
    /// Short name for error messages, e.g. "orchestrator".
    const NAME: &'static str;
}

/// The bincode configuration of payloads: little endian, varint integers, no trailing bytes.
pub(crate) fn codec() -> impl Options + Copy {
    bincode::DefaultOptions::new()
}

/// The 12-byte header of a file of `kind`.
pub fn file_header(kind: LogKind) -> [u8; FILE_HEADER_LEN as usize] {
    let mut h = [0u8; FILE_HEADER_LEN as usize];
    h[..8].copy_from_slice(&MAGIC);
    h[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    h[10..12].copy_from_slice(&(kind as u16).to_le_bytes());
    h
}

/// Why a file header was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderProblem {
    /// Not a blockorch file, or a different kind of file; the text says which.
    Foreign(String),
    /// A newer format version.
    Version(u16),
}

/// Checks a file header against the expected kind.
pub fn check_file_header(header: &[u8], expected: LogKind) -> Result<(), HeaderProblem> {
    if header.len() < FILE_HEADER_LEN as usize || header[..8] != MAGIC {
        return Err(HeaderProblem::Foreign("missing BLKORCH magic".into()));
    }
    let version = u16::from_le_bytes([header[8], header[9]]);
    let kind = u16::from_le_bytes([header[10], header[11]]);
    if version != FORMAT_VERSION {
        return Err(HeaderProblem::Version(version));
    }
    match LogKind::from_u16(kind) {
        Some(k) if k == expected => Ok(()),
        Some(k) => Err(HeaderProblem::Foreign(format!("it is a {k}"))),
        None => Err(HeaderProblem::Foreign(format!("unknown file kind {kind}"))),
    }
}

/// Appends one frame holding `record` to `out`.
pub fn encode_frame<R: LogRecord>(record: &R, out: &mut Vec<u8>) -> Result<()> {
    let start = out.len();
    out.extend_from_slice(&[0u8; FRAME_HEADER_LEN]);
    if let Err(source) = codec().serialize_into(&mut *out, record) {
        out.truncate(start);
        return Err(LedgerError::Encode {
            what: R::NAME,
            source,
        });
    }
    let len = out.len() - start - FRAME_HEADER_LEN;
    if len == 0 || len > MAX_FRAME_LEN as usize {
        out.truncate(start);
        return Err(LedgerError::RecordTooLarge {
            what: R::NAME,
            len,
            max: MAX_FRAME_LEN,
        });
    }
    let crc = crc32fast::hash(&out[start + FRAME_HEADER_LEN..]);
    out[start..start + 4].copy_from_slice(&(len as u32).to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// Result of looking at the bytes where a frame should start.
#[derive(Debug, PartialEq, Eq)]
pub enum FrameParse<'a> {
    /// A whole frame with a valid checksum; `total` is its size including the frame header.
    Complete {
        /// The payload bytes.
        payload: &'a [u8],
        /// Frame size in bytes.
        total: usize,
    },
    /// The buffer ends inside the frame; `needed` bytes (from the frame start) would decide.
    Incomplete {
        /// Bytes needed from the frame start.
        needed: usize,
    },
    /// Not a frame.
    Garbage(GarbageReason),
}

/// Parses the frame at the start of `buf`.
///
/// A zero length is garbage: no record encodes to nothing, and a zero-filled region (what some
/// file systems show after a crash) must not read as valid empty frames.
pub fn parse_frame(buf: &[u8]) -> FrameParse<'_> {
    if buf.len() < FRAME_HEADER_LEN {
        return FrameParse::Incomplete {
            needed: FRAME_HEADER_LEN,
        };
    }
    let len = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]);
    if len == 0 || len > MAX_FRAME_LEN {
        return FrameParse::Garbage(GarbageReason::BadLength(len));
    }
    let total = FRAME_HEADER_LEN + len as usize;
    if buf.len() < total {
        return FrameParse::Incomplete { needed: total };
    }
    let crc = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]);
    let payload = &buf[FRAME_HEADER_LEN..total];
    if crc32fast::hash(payload) != crc {
        return FrameParse::Garbage(GarbageReason::BadChecksum);
    }
    FrameParse::Complete { payload, total }
}

/// Decodes a payload whose checksum was verified; `None` if it is not an `R`.
pub fn decode_payload<R: LogRecord>(payload: &[u8]) -> Option<R> {
    codec()
        .with_limit(payload.len() as u64)
        .deserialize(payload)
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::records::InboxRecord;

    #[test]
    fn frame_round_trip() {
        let rec = InboxRecord::Assign {
            task: 2,
            block: 1 << 40,
            attempt: 7,
            time_us: 123,
        };
        let mut buf = Vec::new();
        encode_frame(&rec, &mut buf).unwrap();
        match parse_frame(&buf) {
            FrameParse::Complete { payload, total } => {
                assert_eq!(total, buf.len());
                assert_eq!(decode_payload::<InboxRecord>(payload), Some(rec));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    /// Format version 1 byte for byte: bincode 1.3 with varint integers (below 251 one
    /// byte; 251 + u16, 252 + u32, 253 + u64 little-endian), enum variants by index, strings
    /// by length. A dependency update that changed this would break every existing ledger.
    #[test]
    fn payload_encoding_is_format_version_1() {
        let assign = InboxRecord::Assign {
            task: 2,
            block: 1 << 40,
            attempt: 7,
            time_us: 300,
        };
        let stop = InboxRecord::Stop {
            reason: "hi".into(),
        };
        let mut buf = Vec::new();
        encode_frame(&assign, &mut buf).unwrap();
        let payload = [0, 2, 0xfd, 0, 0, 0, 0, 0, 1, 0, 0, 7, 0xfb, 0x2c, 0x01];
        assert_eq!(buf[..4], (payload.len() as u32).to_le_bytes());
        assert_eq!(buf[4..8], crc32fast::hash(&payload).to_le_bytes());
        assert_eq!(buf[8..], payload);
        buf.clear();
        encode_frame(&stop, &mut buf).unwrap();
        assert_eq!(buf[8..], [2, 2, b'h', b'i']);
    }

    #[test]
    fn partial_zero_and_corrupt_frames() {
        let mut buf = Vec::new();
        encode_frame(&InboxRecord::Stop { reason: "x".into() }, &mut buf).unwrap();
        for cut in 0..buf.len() {
            assert!(matches!(
                parse_frame(&buf[..cut]),
                FrameParse::Incomplete { .. }
            ));
        }
        assert_eq!(
            parse_frame(&[0u8; 32]),
            FrameParse::Garbage(GarbageReason::BadLength(0))
        );
        let mut bad = buf.clone();
        *bad.last_mut().unwrap() ^= 0x40;
        assert_eq!(
            parse_frame(&bad),
            FrameParse::Garbage(GarbageReason::BadChecksum)
        );
    }

    #[test]
    fn header_checks() {
        let h = file_header(LogKind::Outbox);
        assert!(check_file_header(&h, LogKind::Outbox).is_ok());
        assert!(matches!(
            check_file_header(&h, LogKind::Inbox),
            Err(HeaderProblem::Foreign(_))
        ));
        let mut newer = h;
        newer[8] = 9;
        assert_eq!(
            check_file_header(&newer, LogKind::Outbox),
            Err(HeaderProblem::Version(9))
        );
        assert!(check_file_header(b"garbage!garbage!", LogKind::Outbox).is_err());
    }
}
