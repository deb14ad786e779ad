//! The ledger: the on-disk single source of truth of a run (see docs/design/ledger.md).
//!
//! Workers and the orchestrator communicate only through this directory on a shared file
//! system. Every file has exactly one writer; logs are append-only sequences of checksummed
//! frames; snapshots and small JSON files are replaced by write-then-rename.

mod agent_scale;
mod block_map;
mod block_table;
mod compact_state;
mod definition;
mod error;
mod fold;
mod folded;
mod frame;
mod fs_kind;
mod fsutil;
mod header;
mod host;
mod inbox;
mod journal;
mod layout;
mod log_kind;
mod outbox_summary;
mod owner;
mod reader;
mod records;
mod snapshot;
mod state;
mod store;
mod time;
mod trust;
mod view;
mod writer;

pub use agent_scale::{
    agent_scale, agent_scale_from, agents_idle_load, AGENT_SCALE_ENV, IDLE_OPS_PER_AGENT,
};
pub use block_map::{BlockIdHasher, BlockMap};
pub use block_table::BlockTable;
pub use compact_state::{CompactBlocks, CompactState};
pub use definition::definition_in_force;
pub use error::{AppendRecovery, GarbageReason, LedgerError, ReadWarning, Result, WarningKind};
pub use fold::LoadedState;
pub use folded::FoldedState;
pub use frame::{
    decode_payload, encode_frame, parse_frame, FrameParse, LogKind, LogRecord, FILE_HEADER_LEN,
    FORMAT_VERSION, MAGIC, MAX_FRAME_LEN,
};
pub use fs_kind::{LedgerFs, LEDGER_FS_ENV};
pub use header::{tasks_hash, LedgerHeader, HEADER_FORMAT, HEADER_VERSION};
pub use host::{hostname, pid_alive, pid_runs, process_state};
pub use inbox::{InboxFollower, InboxPoll, EPOCH_ENV};
pub use journal::Journal;
pub use layout::{Layout, LogStream, WorkerId};
pub use outbox_summary::{summarize_outbox, HelloInfo, OutboxSummary, RunningAttempt};
pub use owner::{
    ClaimOptions, Liveness, OwnerStatus, Ownership, DEFAULT_STALE_AFTER, HEARTBEAT_INTERVAL,
};
pub use reader::{LogContents, LogReader, Polled, Tail, TailWindow};
pub use records::{
    AttemptStats, FailureKind, InboxRecord, LogCoverage, OrchestratorRecord, OutboxRecord, Outcome,
    RunEndReason,
};
pub use state::{
    Applied, BlockEntry, BlockState, EpochEntry, LedgerState, StateCounts, TaskInitStatus,
    TaskState, WorkerEntry,
};
pub use store::Ledger;
pub use time::{format_age, format_utc, now_us};
pub use trust::{restrict_umask, user_umask, TrustPolicy, SHARED_GROUP_ENV, USER_UMASK_ENV};
pub use view::{LedgerView, OutboxDetail, WorkerSummary};
pub use writer::{LogFile, LogWriter};
