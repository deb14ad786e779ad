//! One worker agent as the orchestrator sees it: identity, ledger files, blocks in flight and
//! what is known about its liveness. The table of all agents is the `AgentTable`.

use super::launch_policy::AgentEnd;
use super::probe_schedule::ProbeTimer;
use crate::backend::{Blame, JobEnd, JobStatus, LaunchedAgent};
use crate::ledger::{
    hostname, now_us, pid_alive, InboxRecord, Ledger, LedgerError, LogReader, LogWriter,
    OutboxRecord, OutboxSummary, WorkerId,
};
use std::collections::BTreeSet;
use std::path::Path;
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
    /// Reads the agent's outbox incrementally (kept open: a look is one `fstat`).
    pub outbox: LogReader<OutboxRecord>,
    /// When its outbox is looked at next.
    pub probe: ProbeTimer,
    /// When its outbox was last looked at.
    pub last_probe: Instant,
    /// What its outbox said so far, as `status` shows it.
    pub summary: OutboxSummary,
    /// What the backend said about its job last.
    pub job_status: Option<JobStatus>,
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
    /// When its latest reported attempt ended (the agent's clock).
    pub last_end_us: Option<u64>,
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
    /// It fell silent and was cancelled through the backend this many times (the second
    /// cancel of a local agent kills it outright); its blocks wait for its end.
    pub silence_cancels: u32,
    /// When it was last cancelled for silence.
    pub silence_cancelled_at: Option<Instant>,
}

impl Agent {
    /// A new agent entry whose outbox is at `outbox` (looked at first at once).
    pub fn new(index: u32, launched: LaunchedAgent, slots: u32, outbox: &Path) -> Self {
        let now = Instant::now();
        Self {
            index,
            launched,
            slots,
            outbox: LogReader::new(outbox).kept_open(),
            probe: ProbeTimer::new(now),
            last_probe: now,
            summary: OutboxSummary::default(),
            job_status: None,
            inbox: None,
            outgoing: Vec::new(),
            in_flight: BTreeSet::new(),
            last_seen: now,
            said_hello: false,
            running_since: None,
            finished_any: false,
            last_end_us: None,
            bye: None,
            job_end: None,
            stop_sent: false,
            host_pid: None,
            retired: false,
            adopted: false,
            leaving: false,
            silence_cancels: 0,
            silence_cancelled_at: None,
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

    /// Hands it an attempt: in flight from now on, and an `Assign` queued for its inbox.
    pub fn assign(&mut self, task: u32, block: u64, attempt: u32) {
        self.in_flight.insert((task, block, attempt));
        self.outgoing.push(InboxRecord::Assign {
            task,
            block,
            attempt,
            time_us: now_us(),
        });
    }

    /// Queues a `Stop` for its inbox (once; never to a retired agent).
    pub fn queue_stop(&mut self, reason: &str) {
        if !self.stop_sent && !self.retired {
            self.stop_sent = true;
            self.outgoing.push(InboxRecord::Stop {
                reason: reason.to_string(),
            });
        }
    }

    /// Learns what the backend says about its job. True if this tells that the job ended.
    pub fn learn_status(&mut self, status: JobStatus) -> bool {
        self.job_status = Some(status.clone());
        if matches!(status, JobStatus::Running | JobStatus::Unknown(_)) {
            self.running_since.get_or_insert_with(Instant::now);
        }
        match status {
            JobStatus::Ended(end) => {
                self.job_end = Some((end, Instant::now()));
                true
            }
            JobStatus::Unknown(_) => {
                // Not ours to query (adopted from an earlier orchestrator): judge by pid.
                if let Some((host, pid)) = &self.host_pid {
                    if *host == hostname() && !pid_alive(*pid) {
                        self.job_end = Some((JobEnd::Vanished, Instant::now()));
                        return true;
                    }
                }
                false
            }
            JobStatus::Queued | JobStatus::Running | JobStatus::Suspended => false,
        }
    }

    /// True if the backend can end it and will say when it ended: it was launched by this
    /// run, or it is a scheduler job (an adopted local agent is neither).
    pub fn ends_through_backend(&self) -> bool {
        !self.adopted || self.launched.job_id.is_some()
    }

    /// Kills the agent outright (SIGKILL) if it is a child of this process on this host (a
    /// local agent this run launched: its pid cannot have been reused while it is not
    /// reaped). True if the signal was sent. Its leftover programs are killed when it is
    /// retired.
    pub fn kill_own_child_here(&self) -> bool {
        let Some((host, pid)) = &self.host_pid else {
            return false;
        };
        if self.adopted || self.launched.job_id.is_some() || *host != hostname() {
            return false;
        }
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(*pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .is_ok()
    }

    /// True if it may have left programs running on this host: it ended without its `Bye`
    /// (killed outright, it could not stop them) and it ran here (or never said where).
    pub fn may_have_left_programs_here(&self) -> bool {
        let here = self.host_pid.as_ref().is_none_or(|(h, _)| *h == hostname());
        self.bye.is_none() && here
    }

    /// How its end counts for its task's launches.
    pub fn end_for_launches(&self) -> AgentEnd {
        // Ended by the cluster (walltime, preemption, node failure, a cancellation or signal
        // from outside): a replacement is normal on a run of days, not a failed start.
        let by_cluster =
            self.job_end
                .as_ref()
                .is_some_and(|(end, _)| end.blame() == Blame::Infrastructure)
                || self.bye.as_deref().is_some_and(|b| {
                    b.starts_with("walltime") || b.starts_with("agent terminated")
                });
        AgentEnd {
            finished_any: self.finished_any,
            // An adopted agent usually leaves because its own orchestrator died: that is no
            // sign that launching agents fails, so it must not delay this run's launches.
            ended_badly: !self.finished_any && !self.stop_sent && !self.adopted,
            by_cluster,
        }
    }

    /// Its `Bye` reason if it gave up because its worker program keeps crashing (an adopted
    /// agent's reasons belong to its own orchestrator's run).
    pub fn gave_up(&self) -> Option<&str> {
        if self.adopted {
            return None;
        }
        self.bye.as_deref().filter(|b| b.starts_with("gave up"))
    }

    /// Whether [`flush_inbox`](Self::flush_inbox) has something to write.
    pub fn wants_flush(&self) -> bool {
        !self.outgoing.is_empty() || (self.adopted && self.inbox.is_none())
    }

    /// Writes its queued inbox records to this epoch's inbox (opened on first use). An
    /// adopted agent gets this epoch's inbox at once, even with nothing to say: it waits for
    /// it to follow the new orchestrator (and leaves if none appears). Call only after the
    /// journal commit that made the matching assignments durable.
    pub fn flush_inbox(&mut self, ledger: &Ledger, epoch: u64) -> Result<(), LedgerError> {
        if !self.wants_flush() {
            return Ok(());
        }
        let inbox = match &mut self.inbox {
            Some(inbox) => inbox,
            None => {
                let id = WorkerId::new(self.launched.worker_id.clone())?;
                self.inbox.insert(ledger.open_inbox(&id, epoch)?)
            }
        };
        for record in self.outgoing.drain(..) {
            inbox.append(&record)?;
        }
        inbox.commit()?;
        Ok(())
    }
}
