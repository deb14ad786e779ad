//! Errors of ledger operations ([`LedgerError`]) and the non-fatal findings of readers
//! ([`ReadWarning`]).

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use thiserror::Error;

use super::log_kind::LogKind;
use super::time::{format_age, format_utc};

/// Everything that can go wrong when creating, owning, writing or reading a ledger.
#[derive(Debug, Error)]
pub enum LedgerError {
    /// A file-system operation failed.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// What was attempted, e.g. "create directory".
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },

    /// The directory or header is not a blockorch ledger.
    #[error("{} is not a blockorch ledger: {reason}", path.display())]
    NotALedger {
        /// The ledger root or header file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// Someone this user does not trust could have written the ledger (see
    /// docs/design/ledger.md, "Trust").
    #[error(
        "ledger entry {} cannot be trusted: {reason}; a ledger must be yours and writable only \
         by you (if a group shares it on purpose, set BLOCKORCH_SHARED_GROUP=1 or pass \
         --shared-group)",
        path.display()
    )]
    Untrusted {
        /// The offending file or directory.
        path: PathBuf,
        /// Its owner and mode, and why they are refused.
        reason: String,
    },

    /// The tasks stored in `ledger.json` do not hash to its `plan_hash`: it was edited.
    #[error(
        "{} was modified: its tasks hash to {actual}, but its plan_hash is {stored}; \
         the ledger cannot be trusted (start a new ledger)",
        path.display()
    )]
    HeaderTampered {
        /// The header file.
        path: PathBuf,
        /// `plan_hash` stored in the header.
        stored: String,
        /// Hash of the stored tasks.
        actual: String,
    },

    /// The ledger header cannot be parsed.
    #[error("cannot parse ledger header {}", path.display())]
    BadHeader {
        /// The header file.
        path: PathBuf,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },

    /// A file was written by a newer (or unknown) format version.
    #[error("{} has format version {found}, this blockorch reads version {supported}", path.display())]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// Version found in the file.
        found: u32,
        /// Version this build reads and writes.
        supported: u32,
    },

    /// The plan hash stored in the ledger differs from the current plan's; the caller renders
    /// the task difference from `old_tasks` and `new_tasks`.
    #[error(
        "the plan changed since ledger {} was created (plan hash {old_hash} in the ledger, {new_hash} now)",
        root.display()
    )]
    PlanChanged {
        /// The ledger root.
        root: PathBuf,
        /// Plan hash stored in `ledger.json`.
        old_hash: String,
        /// Plan hash of the current task file.
        new_hash: String,
        /// Canonical task JSON stored in the ledger.
        old_tasks: Box<serde_json::Value>,
        /// Canonical task JSON given now.
        new_tasks: Box<serde_json::Value>,
    },

    /// Another orchestrator owns the ledger and looks alive.
    #[error(
        "ledger {} is owned by {} since {} (epoch {epoch}, {})",
        ledger_of_claim(claim).display(),
        owner_phrase(claim, *pid, host),
        format_utc(*since_us),
        heartbeat_phrase(heartbeat_age)
    )]
    Busy {
        /// The owner's claim file, `<ledger>/owners/epoch-<N>.json`.
        claim: PathBuf,
        /// Ownership epoch of the owner.
        epoch: u64,
        /// Host the owner runs on.
        host: String,
        /// Process id of the owner on its host.
        pid: u32,
        /// When the owner claimed the ledger (µs since the UNIX epoch).
        since_us: u64,
        /// Age of the owner's last heartbeat, if it wrote one.
        heartbeat_age: Option<Duration>,
    },

    /// A log or snapshot file does not start with the expected header.
    #[error("{} is not a blockorch {expected} file: {reason}", path.display())]
    NotALogFile {
        /// The file.
        path: PathBuf,
        /// The kind of file expected.
        expected: LogKind,
        /// What is wrong with its header.
        reason: String,
    },

    /// A commit failed (e.g. ENOSPC); no record of that commit is durable.
    #[error("cannot append to {} ({recovery})", path.display())]
    AppendFailed {
        /// The log file.
        path: PathBuf,
        /// What was done to the file after the failure.
        recovery: AppendRecovery,
        /// The write or fsync error.
        #[source]
        source: io::Error,
    },

    /// A writer whose earlier failure could not be cleaned up refuses further appends.
    #[error("log writer for {} is unusable after an earlier failed commit; reopen the log", path.display())]
    WriterPoisoned {
        /// The log file.
        path: PathBuf,
    },

    /// A record could not be encoded.
    #[error("cannot encode a {what} record")]
    Encode {
        /// The record family, e.g. "orchestrator".
        what: &'static str,
        /// The bincode error.
        #[source]
        source: bincode::Error,
    },

    /// A record exceeds the largest frame a reader accepts.
    #[error("a {what} record of {len} bytes exceeds the frame limit of {max} bytes")]
    RecordTooLarge {
        /// The record family.
        what: &'static str,
        /// Encoded size.
        len: usize,
        /// Largest accepted payload.
        max: u32,
    },

    /// A snapshot could not be encoded.
    #[error("cannot encode snapshot {}", path.display())]
    SnapshotEncode {
        /// The snapshot being written.
        path: PathBuf,
        /// The bincode error.
        #[source]
        source: bincode::Error,
    },

    /// A worker id contains characters that are not allowed in a path component.
    #[error(
        "invalid worker id {id:?}: use 1 to 200 of A-Z a-z 0-9 '_' '.' '-', not starting with '.'"
    )]
    InvalidWorkerId {
        /// The rejected id.
        id: String,
    },

    /// An orchestrator log that held records is gone and no snapshot provably holds them all:
    /// loading would silently forget blocks recorded there (done blocks would run again).
    #[error(
        "{} is missing: {reason}; blocks recorded there would be forgotten and run again. \
         Restore the file, or start afresh with a new --ledger DIR",
        path.display()
    )]
    HistoryMissing {
        /// The missing log.
        path: PathBuf,
        /// How we know it held records, and why no snapshot stands in for it.
        reason: String,
    },

    /// This orchestrator's epoch was superseded by a newer one; it must stop writing.
    #[error("ownership of ledger {} passed from epoch {epoch} to epoch {newer}", root.display())]
    Superseded {
        /// The ledger root.
        root: PathBuf,
        /// This orchestrator's epoch.
        epoch: u64,
        /// The newer epoch found.
        newer: u64,
    },
}

impl LedgerError {
    /// Whether the ledger was refused because it cannot be trusted (exit code 6).
    pub fn is_untrusted(&self) -> bool {
        matches!(self, Self::Untrusted { .. } | Self::HeaderTampered { .. })
    }
}

/// The ledger a claim file belongs to (`<ledger>/owners/epoch-<N>.json`).
fn ledger_of_claim(claim: &std::path::Path) -> &std::path::Path {
    claim
        .parent()
        .and_then(std::path::Path::parent)
        .unwrap_or(claim)
}

/// The owner of a busy ledger; pid 0 means its claim could not be read (damaged, or still
/// being written), so the message names that file instead of a made-up owner.
fn owner_phrase(claim: &std::path::Path, pid: u32, host: &str) -> String {
    if pid == 0 {
        format!(
            "an orchestrator whose claim {} cannot be read (damaged or still being written; \
             it counts as gone once its heartbeat is stale)",
            claim.display()
        )
    } else {
        format!("orchestrator pid {pid} on host {host}")
    }
}

fn heartbeat_phrase(age: &Option<Duration>) -> String {
    match age {
        Some(age) => format!("last heartbeat {} ago", format_age(*age)),
        None => "no heartbeat yet".to_string(),
    }
}

/// What a failed commit left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendRecovery {
    /// The file was truncated back to the end of the last committed frame.
    TruncatedTo(u64),
    /// Truncation failed too: a torn tail after this offset remains, which readers skip and
    /// the next `open_append` removes.
    TornTailAfter(u64),
}

impl fmt::Display for AppendRecovery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TruncatedTo(len) => {
                write!(
                    f,
                    "truncated back to the last committed frame at byte {len}"
                )
            }
            Self::TornTailAfter(len) => write!(
                f,
                "truncation failed too; readers skip the torn tail after byte {len}"
            ),
        }
    }
}

/// Result type of ledger operations.
pub type Result<T, E = LedgerError> = std::result::Result<T, E>;

/// Builds a closure mapping an `io::Error` to [`LedgerError::Io`].
pub(crate) fn io_err(
    action: &'static str,
    path: impl Into<PathBuf>,
) -> impl FnOnce(io::Error) -> LedgerError {
    let path = path.into();
    move |source| LedgerError::Io {
        action,
        path,
        source,
    }
}

/// A non-fatal finding of a reader: data it could not use and skipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReadWarning {
    /// The file concerned.
    pub path: PathBuf,
    /// Byte offset where the unusable data starts.
    pub offset: u64,
    /// Number of bytes skipped from `offset` (0 if unknown).
    pub bytes: u64,
    /// What was found.
    pub kind: WarningKind,
}

/// The kind of a [`ReadWarning`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WarningKind {
    /// An incomplete last frame (a writer died or is still appending).
    TornTail,
    /// Bytes that are not a valid frame; reading stopped there.
    Garbage {
        /// Why the bytes were rejected.
        reason: GarbageReason,
    },
    /// Records a superseded orchestrator appended after a newer epoch took over; ignored.
    AfterTakeover {
        /// The epoch that sealed this log.
        sealed_by: u64,
    },
    /// A snapshot that could not be used; an older one or a full replay was used instead.
    SnapshotSkipped {
        /// Why.
        reason: String,
    },
    /// An orchestrator log that was deleted, whose records (the first `offset` bytes) a
    /// snapshot provably holds: the snapshot is used in its place.
    LogMissing {
        /// The snapshot used instead.
        snapshot: PathBuf,
    },
}

/// Why bytes were rejected as a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GarbageReason {
    /// The length field is zero or larger than any frame a writer produces.
    BadLength(u32),
    /// The payload's CRC-32 does not match.
    BadChecksum,
    /// The checksum matches but the payload is not a record of this log's kind.
    Undecodable,
}

impl fmt::Display for GarbageReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadLength(len) => write!(f, "implausible frame length {len}"),
            Self::BadChecksum => f.write_str("checksum mismatch"),
            Self::Undecodable => f.write_str("undecodable record"),
        }
    }
}

impl fmt::Display for ReadWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        let (offset, bytes) = (self.offset, self.bytes);
        match &self.kind {
            WarningKind::TornTail => write!(
                f,
                "{path}: incomplete last frame at byte {offset} ({bytes} bytes) skipped"
            ),
            WarningKind::Garbage { reason } => write!(
                f,
                "{path}: {reason} at byte {offset}; the {bytes} bytes from there were skipped"
            ),
            WarningKind::AfterTakeover { sealed_by } => write!(
                f,
                "{path}: {bytes} bytes from byte {offset} were written after epoch {sealed_by} took over and are ignored"
            ),
            WarningKind::SnapshotSkipped { reason } => {
                write!(f, "{path}: snapshot not used: {reason}")
            }
            WarningKind::LogMissing { snapshot } => write!(
                f,
                "{path} is missing; its {offset} bytes of history are all in snapshot {}, \
                 which is used instead",
                snapshot.display()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_message_names_owner() {
        let err = LedgerError::Busy {
            claim: "/scratch/run.ledger/owners/epoch-00000003.json".into(),
            epoch: 3,
            host: "node17".into(),
            pid: 4242,
            since_us: 0,
            heartbeat_age: Some(Duration::from_secs(4)),
        };
        assert_eq!(
            err.to_string(),
            "ledger /scratch/run.ledger is owned by orchestrator pid 4242 on host node17 since \
             1970-01-01 00:00:00 UTC (epoch 3, last heartbeat 4s ago)"
        );
    }

    #[test]
    fn busy_message_names_an_unreadable_claim() {
        let err = LedgerError::Busy {
            claim: "/scratch/run.ledger/owners/epoch-00000003.json".into(),
            epoch: 3,
            host: "unknown".into(),
            pid: 0,
            since_us: 0,
            heartbeat_age: Some(Duration::from_secs(4)),
        };
        let text = err.to_string();
        assert!(
            text.starts_with(
                "ledger /scratch/run.ledger is owned by an orchestrator whose claim \
                 /scratch/run.ledger/owners/epoch-00000003.json cannot be read"
            ),
            "{text}"
        );
        assert!(!text.contains("pid 0"), "{text}");
    }

    #[test]
    fn warnings_render() {
        let w = ReadWarning {
            path: "a.log".into(),
            offset: 12,
            bytes: 5,
            kind: WarningKind::Garbage {
                reason: GarbageReason::BadChecksum,
            },
        };
        assert_eq!(
            w.to_string(),
            "a.log: checksum mismatch at byte 12; the 5 bytes from there were skipped"
        );
    }
}
