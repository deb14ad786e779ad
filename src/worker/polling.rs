//! When the agent looks at its inbox and at the ledger's owner (see *Polling schedule and
//! metadata budget* in `docs/design/ledger.md`). The agent reads its inbox when it needs
//! work — a slot is free with nothing queued, or the blocks it holds will run out within
//! twice the next gap — and otherwise at a slow interval; it never lists a directory in the
//! steady state. Pure: the inbox thread passes what the agent holds and the time.

use crate::ledger::LedgerFs;
use std::time::Duration;

/// Fastest inbox look (right after a hand-out, or when a slot ran dry).
pub const MIN_POLL: Duration = Duration::from_millis(1);

/// The agent's polling knobs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PollPolicy {
    /// Longest gap between looks while a slot waits for work (`--poll-ms`).
    pub hungry: Duration,
    /// Longest gap between looks otherwise: its queue covers the gap, or it has been
    /// waiting for work for longer than `patience` (an idle task).
    pub slow: Duration,
    /// How long a slot may wait for work before the looks slow down to `slow`.
    pub patience: Duration,
    /// Every this many looks in a row that found nothing, reopen the inbox instead of
    /// `fstat`ing it (NFS: forces the attribute revalidation).
    pub reopen_every: u32,
    /// Time between looks for a newer orchestrator epoch (a `stat` of the next claim; on a
    /// local disk a listing of `owners/` and of the worker directory).
    pub newer_epoch_check: Duration,
    /// Time between reads of the followed orchestrator's heartbeat.
    pub owner_check: Duration,
}

impl PollPolicy {
    /// The policy for a ledger on `fs`, waiting at most `hungry` between looks for work.
    pub fn for_fs(fs: LedgerFs, hungry: Duration) -> Self {
        let hungry = hungry.max(MIN_POLL);
        match fs {
            // Looks reach no server: as prompt as before, without listings.
            LedgerFs::Local => Self {
                hungry,
                slow: hungry,
                patience: Duration::MAX,
                reopen_every: u32::MAX,
                newer_epoch_check: Duration::from_secs(1),
                owner_check: Duration::from_secs(1),
            },
            LedgerFs::Shared => Self {
                hungry,
                slow: Duration::from_secs(10).max(hungry),
                patience: Duration::from_secs(10),
                reopen_every: 8,
                newer_epoch_check: Duration::from_secs(30),
                owner_check: Duration::from_secs(60),
            },
        }
    }
}

/// What the agent holds, as the inbox thread sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holding {
    /// A slot is free and nothing is queued: it needs work now.
    Hungry,
    /// Its blocks keep its slots busy for about this long (from the recent block time).
    Covered(Duration),
    /// It holds blocks but no block finished yet, so their time is unknown.
    Unknown,
}

/// The inbox thread's back-off between looks.
#[derive(Clone, Debug)]
pub struct Backoff {
    gap: Duration,
    hungry_for: Duration,
    misses: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            gap: MIN_POLL,
            hungry_for: Duration::ZERO,
            misses: 0,
        }
    }
}

impl Backoff {
    /// Looks again soon (records arrived, or the agent ran out of work).
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    /// Whether the next look should reopen the inbox.
    pub fn wants_reopen(&self, policy: &PollPolicy) -> bool {
        self.misses > 0 && self.misses.is_multiple_of(policy.reopen_every)
    }

    /// The gap until the next look after one that found `records`, while the agent holds
    /// `holding`.
    pub fn next_gap(&mut self, records: bool, holding: Holding, policy: &PollPolicy) -> Duration {
        if records {
            self.reset();
            return MIN_POLL;
        }
        self.misses = self.misses.saturating_add(1);
        match holding {
            Holding::Hungry => {
                self.hungry_for = self.hungry_for.saturating_add(self.gap);
                let cap = if self.hungry_for >= policy.patience {
                    policy.slow
                } else {
                    policy.hungry
                };
                self.gap = (self.gap * 2).min(cap);
                self.gap
            }
            Holding::Unknown => {
                self.hungry_for = Duration::ZERO;
                self.gap = (self.gap * 2).min(policy.slow);
                self.gap
            }
            Holding::Covered(left) => {
                self.hungry_for = Duration::ZERO;
                self.gap = (left / 2).clamp(MIN_POLL, policy.slow);
                self.gap
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gaps(policy: &PollPolicy, holding: Holding, n: usize) -> Vec<Duration> {
        let mut b = Backoff::default();
        (0..n).map(|_| b.next_gap(false, holding, policy)).collect()
    }

    #[test]
    fn a_hungry_agent_looks_fast_then_slows_down_when_nothing_comes() {
        let shared = PollPolicy::for_fs(LedgerFs::Shared, Duration::from_millis(500));
        let g = gaps(&shared, Holding::Hungry, 40);
        assert_eq!(g[0], Duration::from_millis(2));
        assert!(g[..12].iter().all(|d| *d <= Duration::from_millis(500)));
        // After ten seconds without work, every ten seconds (an idle task).
        assert_eq!(*g.last().unwrap(), Duration::from_secs(10));
        let local = PollPolicy::for_fs(LedgerFs::Local, Duration::from_millis(500));
        assert_eq!(
            *gaps(&local, Holding::Hungry, 200).last().unwrap(),
            Duration::from_millis(500),
            "a local disk keeps the prompt gap"
        );
    }

    #[test]
    fn a_covered_queue_is_looked_at_twice_before_it_runs_out() {
        let shared = PollPolicy::for_fs(LedgerFs::Shared, Duration::from_millis(500));
        let mut b = Backoff::default();
        let covered = |s| Holding::Covered(Duration::from_secs(s));
        assert_eq!(
            b.next_gap(false, covered(8), &shared),
            Duration::from_secs(4)
        );
        assert_eq!(
            b.next_gap(false, covered(60), &shared),
            Duration::from_secs(10),
            "at most the slow gap"
        );
        assert_eq!(
            b.next_gap(false, Holding::Covered(Duration::ZERO), &shared),
            MIN_POLL
        );
        assert_eq!(b.next_gap(true, covered(60), &shared), MIN_POLL);
        // Unknown block times back off to the slow gap.
        assert_eq!(
            *gaps(&shared, Holding::Unknown, 30).last().unwrap(),
            Duration::from_secs(10)
        );
    }

    #[test]
    fn every_eighth_empty_look_reopens_on_a_shared_file_system() {
        let shared = PollPolicy::for_fs(LedgerFs::Shared, Duration::from_millis(500));
        let mut b = Backoff::default();
        let reopen: Vec<bool> = (0..17)
            .map(|_| {
                b.next_gap(false, Holding::Hungry, &shared);
                b.wants_reopen(&shared)
            })
            .collect();
        let which: Vec<usize> = (0..17).filter(|&i| reopen[i]).collect();
        assert_eq!(which, [7, 15]);
        let local = PollPolicy::for_fs(LedgerFs::Local, Duration::from_millis(500));
        assert!(!b.wants_reopen(&local));
    }
}
