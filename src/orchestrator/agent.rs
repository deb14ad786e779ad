//! The orchestrator's table of worker agents: identity, ledger files, blocks in flight and
//! what is known about their liveness.

use crate::backend::{JobEnd, LaunchedAgent};
use crate::ledger::{InboxRecord, LogReader, LogWriter, OutboxRecord};
use std::collections::BTreeSet;
use std::time::Instant;

/// An attempt handed to an agent and not yet reported on: (task, block, attempt).
pub type InFlight = (u32, u64, u32);

/// One agent of this run.
pub struct Agent {
    /// Index in the ledger's worker table.
    pub index: u32,
    /// Backend identity.
    pub launched: LaunchedAgent,
    /// Worker program slots.
    pub slots: u32,
    /// Reads the agent's outbox incrementally.
    pub outbox: LogReader<OutboxRecord>,
    /// This epoch's inbox for the agent (created lazily on the first record).
    pub inbox: Option<LogWriter<InboxRecord>>,
    /// Records to write to the inbox after the next journal commit.
    pub outgoing: Vec<InboxRecord>,
    /// Attempts assigned and not yet reported on.
    pub in_flight: BTreeSet<InFlight>,
    /// Last time anything arrived from it.
    pub last_seen: Instant,
    /// Its Hello arrived.
    pub said_hello: bool,
    /// When the backend first said it runs (or could not say: adopted); the Hello is awaited
    /// from then on, not while its job is queued.
    pub running_since: Option<Instant>,
    /// It finished at least one block.
    pub finished_any: bool,
    /// Its `Bye` reason, once it said goodbye.
    pub bye: Option<String>,
    /// How the scheduler says its job ended, and when we learnt it.
    pub job_end: Option<(JobEnd, Instant)>,
    /// `Stop` was sent.
    pub stop_sent: bool,
    /// Host and pid from its Hello (to check liveness of agents we did not start).
    pub host_pid: Option<(String, u32)>,
    /// Fully accounted for: its blocks are returned and `WorkerEnded` is written.
    pub retired: bool,
    /// Started by an earlier orchestrator and adopted by this one (its end says nothing about
    /// whether this run's launches work).
    pub adopted: bool,
    /// It gave an attempt back (`Abandoned`): it is shutting down (walltime near, signalled,
    /// gave up) and must not be given more blocks, or it would give them straight back.
    pub leaving: bool,
}

impl Agent {
    /// A new agent entry.
    pub fn new(
        index: u32,
        launched: LaunchedAgent,
        slots: u32,
        outbox: LogReader<OutboxRecord>,
    ) -> Self {
        let now = Instant::now();
        Self {
            index,
            launched,
            slots,
            outbox,
            inbox: None,
            outgoing: Vec::new(),
            in_flight: BTreeSet::new(),
            last_seen: now,
            said_hello: false,
            running_since: None,
            finished_any: false,
            bye: None,
            job_end: None,
            stop_sent: false,
            host_pid: None,
            retired: false,
            adopted: false,
            leaving: false,
        }
    }

    /// Task index the agent serves.
    pub fn task(&self) -> usize {
        self.launched.task
    }

    /// True while it counts against its task's `num_workers` for launches: until it is
    /// retired, unless it is leaving or said goodbye (its replacement may start early). A job
    /// that ended counts until its blocks are returned, so a replacement is not launched
    /// over and over while the end is confirmed.
    pub fn holds_a_worker_place(&self) -> bool {
        !self.retired && !self.leaving && self.bye.is_none() && !self.stop_sent
    }

    /// True while it may take more blocks.
    pub fn accepts_blocks(&self) -> bool {
        !self.retired
            && !self.leaving
            && self.bye.is_none()
            && self.job_end.is_none()
            && !self.stop_sent
    }

    /// How many more attempts it may be given now.
    pub fn free_capacity(&self, prefetch_per_slot: u32) -> usize {
        let cap = (self.slots * (1 + prefetch_per_slot)) as usize;
        cap.saturating_sub(self.in_flight.len())
    }
}
