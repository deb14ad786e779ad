//! The vocabulary of the agent's event loop: what happens ([`Event`]), what the decision
//! logic asks for ([`Action`]), and the identifiers both use.

use super::program::Exit;
use super::usage::Usage;
use super::wire::BlockMessage;
use crate::ledger::OutboxRecord;
use std::time::Instant;

/// One attempt at one block, as the orchestrator named it (echoed back unchanged).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttemptKey {
    /// Task index in the ledger header.
    pub task: u32,
    /// Block id.
    pub block: u64,
    /// Attempt number (the orchestrator's fencing token).
    pub attempt: u32,
}

/// An assigned block, ready to run.
#[derive(Clone, Debug, PartialEq)]
pub struct Job {
    /// Which attempt this is.
    pub key: AttemptKey,
    /// What the program is given.
    pub message: BlockMessage,
}

/// A process the decision logic asked for; the executor maps it to a pid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProcId(pub u64);

/// The current time, both monotonic (for durations) and wall-clock (for records).
#[derive(Clone, Copy, Debug)]
pub struct Now {
    /// Monotonic time.
    pub at: Instant,
    /// Microseconds since the UNIX epoch.
    pub unix_us: u64,
}

impl Now {
    /// The current time.
    pub fn current() -> Self {
        Self {
            at: Instant::now(),
            unix_us: crate::ledger::now_us(),
        }
    }
}

/// Everything the event loop reacts to.
#[derive(Debug)]
pub enum Event {
    /// The orchestrator assigned a block; `Err` says why the block cannot be run (unknown task
    /// or block id).
    Assign(AttemptKey, Result<Box<BlockMessage>, String>),
    /// The orchestrator took an attempt back.
    Revoke(AttemptKey),
    /// The orchestrator asked the agent to finish its blocks and exit.
    Stop(String),
    /// The orchestrator is gone (parent died, stale heartbeat, newer epoch without inbox).
    OrchestratorGone(String),
    /// SIGTERM or SIGINT arrived.
    Signal(i32),
    /// The agent's own outbox could not be written for a while (a full disk, a lost mount):
    /// nothing it does can be reported, so it stops.
    LedgerUnwritable(String),
    /// A persistent program wrote a line on fd 3; `usage` is the block's share measured when
    /// the line arrived.
    Report {
        /// The program.
        proc: ProcId,
        /// The line, without its newline.
        line: String,
        /// CPU and memory of the block so far.
        usage: Usage,
    },
    /// A persistent program said `{"ready": true}` on fd 3: its start-up is over.
    Ready(ProcId),
    /// A persistent program closed its report channel (fd 3) but kept running: it can never
    /// report a block again.
    ReportClosed(ProcId),
    /// A process ended (after its fd-3 lines, if any, were delivered).
    Exited {
        /// The process.
        proc: ProcId,
        /// How it ended.
        exit: Exit,
        /// The end of what it wrote to stderr.
        stderr_tail: String,
    },
    /// A process could not be started.
    SpawnFailed {
        /// The process.
        proc: ProcId,
        /// Why.
        error: String,
    },
    /// A block could not be written to a program's stdin.
    SendFailed {
        /// The program.
        proc: ProcId,
        /// Why.
        error: String,
    },
    /// Time passed (heartbeats, timeouts, shutdown bounds).
    Tick,
}

/// What kind of process to start.
#[derive(Clone, Debug, PartialEq)]
pub enum ProcKind {
    /// The slot's persistent worker program (blocks on stdin, reports on fd 3).
    Program,
    /// A per-block worker process for this block.
    PerBlock(BlockMessage),
    /// The check command for this block.
    Check(BlockMessage),
    /// The slot's persistent check program (blocks on stdin, answers on fd 3).
    Checker,
}

/// What the decision logic asks the executor to do, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Append a record to the outbox (committed before the loop waits again).
    Record(OutboxRecord),
    /// Start a process for `slot`.
    Spawn {
        /// Slot index.
        slot: u32,
        /// Id to report its events under.
        proc: ProcId,
        /// What to start.
        kind: ProcKind,
    },
    /// Write a block to a persistent program's stdin and start measuring it.
    Send {
        /// Slot index.
        slot: u32,
        /// The program.
        proc: ProcId,
        /// The block.
        block: BlockMessage,
        /// Written ahead behind a block the program is still running (its marker line then
        /// says so: the program's output that follows may still be the earlier block's).
        ahead: bool,
    },
    /// Close a persistent program's stdin ("no more blocks").
    CloseStdin(ProcId),
    /// Terminate a process's group (SIGTERM, SIGKILL after the grace period).
    Terminate(ProcId),
    /// Leave the event loop.
    Exit(super::AgentExit),
}
