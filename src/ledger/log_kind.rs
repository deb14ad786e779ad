//! The kinds of ledger log files, written in every file's header so that one is never read
//! as another.

use serde::Serialize;
use std::fmt;

/// What a ledger file holds; stored in its header so that a reader never misreads one log
/// as another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogKind {
    /// `orchestrator/epoch-N.log`.
    Orchestrator = 1,
    /// `workers/<id>/outbox.log`.
    Outbox = 2,
    /// `workers/<id>/inbox-N.log`.
    Inbox = 3,
    /// `snapshots/snapshot-E-S.bin`.
    Snapshot = 4,
}

impl LogKind {
    pub(crate) fn from_u16(v: u16) -> Option<Self> {
        Some(match v {
            1 => Self::Orchestrator,
            2 => Self::Outbox,
            3 => Self::Inbox,
            4 => Self::Snapshot,
            _ => return None,
        })
    }
}

impl fmt::Display for LogKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Orchestrator => "orchestrator log",
            Self::Outbox => "worker outbox",
            Self::Inbox => "worker inbox",
            Self::Snapshot => "snapshot",
        })
    }
}
