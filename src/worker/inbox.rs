//! The inbox thread: follows `workers/<id>/inbox-<epoch>.log` (switching to a newer epoch's
//! inbox when one appears), turns its records into events, and watches whether the
//! orchestrator is still there. Polling is adaptive: every millisecond after something
//! happened (a record arrived, or the agent finished a block and expects the next one),
//! doubling up to `--poll-ms` while nothing arrives.

use super::context::TaskContext;
use super::events::{AttemptKey, Event};
use super::liveness::OwnerWatch;
use crate::ledger::{now_us, InboxFollower, InboxRecord, Ledger};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How often the owner of the ledger is looked at.
const OWNER_CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// Fastest inbox poll.
const MIN_POLL: Duration = Duration::from_millis(1);

/// Handle to the running inbox thread.
pub struct InboxThread {
    handle: Option<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    kick: Arc<AtomicBool>,
}

impl InboxThread {
    /// Asks for fast polling (the agent expects an assignment soon).
    pub fn kick(&self) {
        self.kick.store(true, Ordering::Relaxed);
    }

    /// Stops the thread and waits for it.
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
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
    /// Slowest poll.
    pub max_poll: Duration,
}

/// Starts the inbox thread, which sends its events to `tx`.
pub fn spawn_inbox(setup: InboxSetup, tx: Sender<Event>) -> std::io::Result<InboxThread> {
    let stop = Arc::new(AtomicBool::new(false));
    let kick = Arc::new(AtomicBool::new(true));
    let (stop2, kick2) = (stop.clone(), kick.clone());
    let handle = thread::Builder::new()
        .name("inbox".into())
        .spawn(move || follow(setup, tx, &stop2, &kick2))?;
    Ok(InboxThread {
        handle: Some(handle),
        stop,
        kick,
    })
}

fn follow(mut s: InboxSetup, tx: Sender<Event>, stop: &AtomicBool, kick: &AtomicBool) {
    let mut interval = MIN_POLL;
    let mut last_owner_check: Option<Instant> = None;
    let mut gone_reported = false;
    let mut errors = 0u32;
    while !stop.load(Ordering::Relaxed) {
        if kick.swap(false, Ordering::Relaxed) {
            interval = MIN_POLL;
        }
        match s.follower.poll() {
            Ok(polled) => {
                errors = 0;
                if polled.switched {
                    tracing::info!(
                        "following the inbox of orchestrator epoch {:?}",
                        polled.epoch
                    );
                }
                if polled.records.is_empty() {
                    interval = (interval * 2).min(s.max_poll);
                } else {
                    interval = MIN_POLL;
                }
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
                interval = s.max_poll;
            }
        }
        let due = last_owner_check.is_none_or(|t| t.elapsed() >= OWNER_CHECK_INTERVAL);
        if due && !gone_reported {
            last_owner_check = Some(Instant::now());
            match s.ledger.current_owner() {
                Ok(owner) => {
                    let verdict = s.watch.observe(
                        s.follower.epoch(),
                        owner.as_ref(),
                        now_us(),
                        Instant::now(),
                    );
                    if let Some(reason) = verdict {
                        gone_reported = true;
                        if tx.send(Event::OrchestratorGone(reason)).is_err() {
                            return;
                        }
                    }
                }
                Err(e) => tracing::warn!("cannot read the ledger's owner: {e}"),
            }
        }
        thread::sleep(interval);
    }
}
