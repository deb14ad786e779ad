//! The inbox thread: follows `workers/<id>/inbox-<epoch>.log` (switching to a newer epoch's
//! inbox when one is claimed), turns its records into events, and watches whether the
//! orchestrator is still there. When it looks is [`PollPolicy`]'s: soon after a record arrived
//! or when the agent runs out of work (the main loop says what it holds, and wakes the thread
//! when a slot runs dry), otherwise when the blocks it holds are half done, at most at the
//! slow interval. A look is one `fstat` of the open inbox; before the first inbox exists, one
//! open attempt of the expected epoch's inbox (the epoch that launched the agent, or the
//! owner it saw). Directories are listed only when a newer epoch was claimed, and at the
//! owner checks while no inbox is followed.

use super::context::TaskContext;
use super::events::{AttemptKey, Event};
use super::liveness::OwnerWatch;
use super::polling::{Backoff, Holding, PollPolicy};
use super::stagger::Stagger;
use crate::ledger::{now_us, InboxFollower, InboxRecord, Ledger, OwnerStatus};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// What the main loop tells the inbox thread.
#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    /// Look again at once (the agent ran out of work).
    kick: AtomicBool,
    /// What the agent holds: 0 hungry, `u64::MAX` unknown, else 1 + µs of work covered.
    holding: AtomicU64,
}

impl Shared {
    fn holding(&self) -> Holding {
        match self.holding.load(Ordering::Relaxed) {
            0 => Holding::Hungry,
            u64::MAX => Holding::Unknown,
            us => Holding::Covered(Duration::from_micros(us - 1)),
        }
    }
}

/// Handle to the running inbox thread.
pub struct InboxThread {
    handle: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
}

impl InboxThread {
    /// Tells the thread what the agent holds; when a slot ran dry, it looks at once.
    pub fn set_holding(&self, holding: Holding) {
        let code = match holding {
            Holding::Hungry => 0,
            Holding::Unknown => u64::MAX,
            Holding::Covered(d) => (d.as_micros() as u64).saturating_add(1).min(u64::MAX - 1),
        };
        let before = self.shared.holding.swap(code, Ordering::Relaxed);
        if code == 0 && before != 0 {
            self.kick();
        }
    }

    /// Asks for a look at once (the agent expects an assignment soon).
    pub fn kick(&self) {
        self.shared.kick.store(true, Ordering::Relaxed);
        if let Some(h) = &self.handle {
            h.thread().unpark();
        }
    }

    /// Stops the thread and waits for it.
    pub fn stop(mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            h.thread().unpark();
            let _ = h.join();
        }
    }
}

/// Converts an inbox record to the event the state machine handles.
pub fn to_event(record: InboxRecord, ctx: &TaskContext) -> Event {
    match record {
        InboxRecord::Assign {
            task,
            block,
            attempt,
            ..
        } => Event::Assign(
            AttemptKey {
                task,
                block,
                attempt,
            },
            ctx.block_message(task, block, attempt).map(Box::new),
        ),
        InboxRecord::Revoke {
            task,
            block,
            attempt,
        } => Event::Revoke(AttemptKey {
            task,
            block,
            attempt,
        }),
        InboxRecord::Stop { reason } => Event::Stop(reason),
    }
}

/// Everything the inbox thread needs.
pub struct InboxSetup {
    /// Follows the inbox files.
    pub follower: InboxFollower,
    /// The ledger (for the owner's status).
    pub ledger: Ledger,
    /// The served task (turns block ids into ROIs).
    pub ctx: Arc<TaskContext>,
    /// Decides whether the orchestrator is gone.
    pub watch: OwnerWatch,
    /// When to look.
    pub policy: PollPolicy,
    /// The first periodic owner checks' share of their intervals.
    pub stagger: Stagger,
}

/// Starts the inbox thread, which sends its events to `tx`.
pub fn spawn_inbox(setup: InboxSetup, tx: Sender<Event>) -> std::io::Result<InboxThread> {
    let shared = Arc::new(Shared {
        // Hungry until the main loop says otherwise: the first assignment is awaited.
        ..Shared::default()
    });
    let mine = Arc::clone(&shared);
    let handle = thread::Builder::new()
        .name("inbox".into())
        .spawn(move || follow(setup, tx, &mine))?;
    Ok(InboxThread {
        handle: Some(handle),
        shared,
    })
}

/// When the owner checks are due, and whether the orchestrator was reported gone.
#[derive(Debug, Default)]
struct OwnerChecks {
    /// When the next look for a newer epoch and the next owner check are due (`None`: now).
    next_newer: Option<Instant>,
    next_owner: Option<Instant>,
    gone_reported: bool,
}

impl OwnerChecks {
    /// Whether the look for a newer epoch and the owner check are due at `now`.
    fn due(&self, now: Instant) -> (bool, bool) {
        let due = |next: Option<Instant>| next.is_none_or(|t| now >= t);
        (due(self.next_newer), due(self.next_owner))
    }

    /// Records the checks taken at `now` (`due`, as [`OwnerChecks::due`] said): the first
    /// come at once, the second after the agent's share of the interval (`stagger`), the
    /// rest a whole interval apart.
    fn taken(&mut self, now: Instant, due: (bool, bool), policy: &PollPolicy, stagger: Stagger) {
        let next = |current: Option<Instant>, every: Duration| {
            Some(now + current.map_or_else(|| stagger.first_gap(every), |_| every))
        };
        if due.0 {
            self.next_newer = next(self.next_newer, policy.newer_epoch_check);
        }
        if due.1 {
            self.next_owner = next(self.next_owner, policy.owner_check);
        }
    }
}

fn follow(mut s: InboxSetup, tx: Sender<Event>, shared: &Shared) {
    let mut backoff = Backoff::default();
    let mut checks = OwnerChecks::default();
    let mut errors = 0u32;
    while !shared.stop.load(Ordering::Relaxed) {
        if shared.kick.swap(false, Ordering::Relaxed) {
            backoff.reset();
        }
        let fresh = backoff.take_reopen(shared.holding(), &s.policy);
        let mut got = false;
        match s.follower.poll(fresh) {
            Ok(polled) => {
                errors = 0;
                if polled.switched {
                    tracing::info!(
                        "following the inbox of orchestrator epoch {:?}",
                        polled.epoch
                    );
                }
                got = !polled.records.is_empty();
                for record in polled.records {
                    if tx.send(to_event(record, &s.ctx)).is_err() {
                        return;
                    }
                }
            }
            Err(e) => {
                errors += 1;
                if errors == 1 || errors.is_multiple_of(100) {
                    tracing::warn!("cannot read the inbox (will retry): {e}");
                }
            }
        }
        if !check_owner(&mut s, &mut checks, &tx) {
            return;
        }
        let gap = if errors > 0 {
            s.policy.hungry
        } else {
            backoff.next_gap(got, shared.holding(), &s.policy)
        };
        if !shared.kick.load(Ordering::Relaxed) {
            thread::park_timeout(gap);
        }
    }
}

/// Looks for a newer orchestrator epoch and at the followed owner's heartbeat when due;
/// sends `OrchestratorGone` once. False if the agent's loop is gone.
fn check_owner(s: &mut InboxSetup, checks: &mut OwnerChecks, tx: &Sender<Event>) -> bool {
    if checks.gone_reported {
        return true;
    }
    let now = Instant::now();
    let followed = s.follower.epoch();
    let (newer_due, owner_due) = checks.due(now);
    if !newer_due && !owner_due {
        return true;
    }
    // Without an inbox yet, or when the next epoch was claimed (one `stat`), the whole
    // picture: the highest claim (a listing of owners/) and a rescan of the worker
    // directory. Otherwise only the followed owner's heartbeat — and the whole picture
    // before that owner is declared gone (it may have been taken over).
    let newer = newer_due && followed.is_none_or(|e| s.ledger.epoch_claimed(e + 1));
    checks.taken(now, (newer_due, owner_due), &s.policy, s.stagger);
    let mut verdict = None;
    if let (false, Some(epoch)) = (newer, followed) {
        // Only a look for a newer epoch was due, and none was claimed.
        if !owner_due {
            return true;
        }
        match s.ledger.owner_of(epoch) {
            Ok(owner) => verdict = observe(s, Some(&owner)),
            Err(e) => tracing::warn!("cannot read the ledger's owner: {e}"),
        }
        if verdict.is_none() {
            return true;
        }
    }
    if newer_due || followed.is_some() {
        match s.follower.rescan() {
            Ok(true) => tracing::info!(
                "following the inbox of orchestrator epoch {:?}",
                s.follower.epoch()
            ),
            Ok(false) => {}
            Err(e) => tracing::warn!("cannot list the worker directory: {e}"),
        }
    }
    match s.ledger.current_owner() {
        Ok(owner) => {
            if let (None, Some(owner)) = (s.follower.epoch(), &owner) {
                s.follower.expect(owner.epoch);
            }
            verdict = observe(s, owner.as_ref());
        }
        Err(e) => tracing::warn!("cannot read the ledger's owner: {e}"),
    }
    match verdict {
        Some(reason) => {
            checks.gone_reported = true;
            tx.send(Event::OrchestratorGone(reason)).is_ok()
        }
        None => true,
    }
}

/// The watch's verdict on `owner` for the inbox followed now.
fn observe(s: &mut InboxSetup, owner: Option<&OwnerStatus>) -> Option<String> {
    s.watch
        .observe(s.follower.epoch(), owner, now_us(), Instant::now())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::LedgerFs;

    #[test]
    fn owner_checks_come_at_once_then_after_the_agents_share_then_every_interval() {
        let policy = PollPolicy::for_fs(LedgerFs::Shared, Duration::from_millis(500), 1);
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        let mut checks = OwnerChecks::default();
        assert_eq!(checks.due(t0), (true, true));
        checks.taken(t0, (true, true), &policy, Stagger::HALF);
        // Newer epoch every 30 s, owner every 60 s: the second checks at half of those.
        assert_eq!(checks.due(at(14)), (false, false));
        assert_eq!(checks.due(at(15)), (true, false));
        checks.taken(at(15), (true, false), &policy, Stagger::HALF);
        assert_eq!(checks.due(at(29)), (false, false));
        assert_eq!(checks.due(at(30)), (false, true));
        checks.taken(at(30), (false, true), &policy, Stagger::HALF);
        // From now on whole intervals, each its own: the owner is read every 60 s, not at
        // every look for a newer epoch.
        assert_eq!(checks.due(at(45)), (true, false));
        checks.taken(at(45), (true, false), &policy, Stagger::HALF);
        assert_eq!(checks.due(at(75)), (true, false));
        checks.taken(at(75), (true, false), &policy, Stagger::HALF);
        assert_eq!(checks.due(at(89)), (false, false));
        assert_eq!(checks.due(at(90)), (false, true));
    }
}
