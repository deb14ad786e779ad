//! One slot: its persistent worker program (if the task has one) and the attempt it runs.
//! Pure bookkeeping; the decisions are in `state.rs`.

use super::events::{Job, ProcId};
use super::program::Exit;
use super::usage::Usage;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// The slot's persistent program (always [`Program::Absent`] in per-block mode).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Program {
    /// Not running: started on demand.
    #[default]
    Absent,
    /// Started (or being started) and accepting blocks.
    Up(ProcId),
    /// Its stdin was closed ("no more blocks"); waiting for it to exit.
    Closing {
        /// The program.
        proc: ProcId,
        /// When stdin was closed.
        since: Instant,
    },
    /// Terminated by the agent; waiting for it to exit.
    Killed {
        /// The program.
        proc: ProcId,
        /// When it was terminated.
        since: Instant,
    },
}

impl Program {
    /// The running program's id, whatever its state.
    pub fn proc(&self) -> Option<ProcId> {
        match *self {
            Program::Absent => None,
            Program::Up(p) | Program::Closing { proc: p, .. } | Program::Killed { proc: p, .. } => {
                Some(p)
            }
        }
    }
}

/// Where an attempt is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// The check runs before the block (exit 0 or `done` = already done); the process is a
    /// one-shot check or the slot's persistent check program.
    PreCheck(ProcId),
    /// The program (persistent or per-block) processes the block.
    Run(ProcId),
    /// The check runs after the program reported the block done.
    PostCheck(ProcId),
}

impl Phase {
    /// The process this phase waits for.
    pub fn proc(&self) -> ProcId {
        match *self {
            Phase::PreCheck(p) | Phase::Run(p) | Phase::PostCheck(p) => p,
        }
    }
}

/// Why the agent terminated an attempt's process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KillReason {
    /// The attempt ran past the task's timeout: reported as a failed attempt.
    Timeout,
    /// The slot's fresh program was not ready within the start-up limit: reported as a failed
    /// attempt (kind `Timeout`) and counted as a program crash.
    StartupTimeout(Duration),
    /// The orchestrator revoked the attempt: nothing is reported.
    Revoked,
    /// The agent gives the attempt back (it is shutting down, or a block written ahead behind
    /// it was revoked): `Abandoned` with this reason is written once the process is gone,
    /// never before, so the block cannot run twice at once. A report of the block that
    /// arrives meanwhile still counts. `None` when the agent no longer reports (the
    /// orchestrator is gone).
    GiveBack(Option<String>),
    /// The program broke the protocol (e.g. does not read stdin): reported as program death.
    Protocol(String),
}

/// An attempt in progress on a slot.
#[derive(Clone, Debug)]
pub struct Attempt {
    /// The block.
    pub job: Job,
    /// When it started (monotonic).
    pub started: Instant,
    /// When it started (µs since the UNIX epoch).
    pub start_us: u64,
    /// Current phase.
    pub phase: Phase,
    /// CPU seconds measured so far (checks and program).
    pub cpu_s: Option<f64>,
    /// Largest peak RSS measured so far.
    pub peak_rss_bytes: Option<u64>,
    /// Exit of the per-block process, once it ended.
    pub run_exit: Option<Exit>,
    /// Set once the agent terminated the current process, with the time it did.
    pub kill: Option<(KillReason, Instant)>,
    /// Its duration was already fed to the write-ahead depth (`RecentMean`) when the worker
    /// reported it: the wait for its post-check behind other checks does not count there.
    pub counted: bool,
}

impl Attempt {
    /// A fresh attempt in `phase`.
    pub fn new(job: Job, phase: Phase, started: Instant, start_us: u64) -> Self {
        Self {
            job,
            started,
            start_us,
            phase,
            cpu_s: None,
            peak_rss_bytes: None,
            run_exit: None,
            kill: None,
            counted: false,
        }
    }

    /// Adds a measurement of one process (or one block of a persistent program).
    pub fn add_usage(&mut self, usage: &Usage) {
        if let Some(cpu) = usage.cpu_seconds {
            self.cpu_s = Some(self.cpu_s.unwrap_or(0.0) + cpu);
        }
        if let Some(rss) = usage.peak_rss_bytes {
            self.peak_rss_bytes = Some(self.peak_rss_bytes.unwrap_or(0).max(rss));
        }
    }
}

/// One slot of the agent (its index is its position; `BLOCKORCH_SLOT`).
#[derive(Clone, Debug, Default)]
pub struct Slot {
    /// Its persistent program.
    pub program: Program,
    /// The attempt it runs, if any.
    pub attempt: Option<Attempt>,
    /// Blocks already written to the persistent program's stdin behind the running attempt
    /// (not started yet; each starts when the program reports the one before it).
    pub piped: VecDeque<Job>,
    /// Program deaths (or failed starts) in a row without a block report in between.
    pub crashes: u32,
    /// When the current persistent program was started.
    pub program_started: Option<Instant>,
    /// The current persistent program said it is ready, or reported a block: its start-up
    /// is over.
    pub program_ready: bool,
    /// Its persistent check program (tasks with `"check": {"persistent": true}`), started on
    /// the first check.
    pub checker: Program,
    /// Check program deaths (or failed starts) in a row without an answer in between.
    pub checker_crashes: u32,
    /// Blocks written ahead to the check program's stdin for their pre-check, behind the
    /// attempt (not started yet), with the answer once it came (`Some(true)`: done).
    pub check_ahead: VecDeque<(Job, Option<bool>)>,
    /// Block ids written to the current check program and not answered yet, in order: it
    /// answers in this order.
    pub check_fifo: VecDeque<u64>,
    /// Attempts whose block the worker program reported done while blocks were written ahead
    /// to it: each waits for its post-check in the check program's stdin (phase
    /// `PostCheck`), in the order written, while the worker runs the next block.
    pub post: VecDeque<Attempt>,
}

impl Slot {
    /// True when the slot has nothing running and no process to wait for.
    pub fn is_quiet(&self) -> bool {
        self.attempt.is_none()
            && self.piped.is_empty()
            && self.check_ahead.is_empty()
            && self.post.is_empty()
            && self.program == Program::Absent
            && self.checker == Program::Absent
    }

    /// True when the slot can take a block now (no attempt; its program, if any, accepts one).
    pub fn can_take(&self) -> bool {
        self.attempt.is_none()
            && self.piped.is_empty()
            && self.check_ahead.is_empty()
            && matches!(self.program, Program::Absent | Program::Up(_))
            && matches!(self.checker, Program::Absent | Program::Up(_))
    }
}
