//! When the agent looks at its inbox and at the ledger's owner (see *Polling schedule and
//! metadata budget* in `docs/design/ledger.md`). The agent reads its inbox when it needs
//! work — a slot is free with nothing queued, or the blocks it holds will run out within
//! twice the next gap — and otherwise at a slow interval; it never lists a directory in the
//! steady state. On a shared file system every agent's looks are bounded: no two empty looks
//! closer than `floor`, a reopen only while hungry and at most every `reopen_after`, and the
//! slow intervals
//! stretched by the run's agent scale (`BLOCKORCH_AGENT_SCALE`) so that all agents together
//! stay within a share of the metadata budget however many there are. Pure: the inbox thread
//! passes what the agent holds and the time.

use crate::ledger::LedgerFs;
use std::time::Duration;

/// Fastest inbox look (right after a hand-out, or when a slot ran dry).
pub const MIN_POLL: Duration = Duration::from_millis(1);

/// On a shared file system, the shortest gap between two looks that found nothing.
pub const SHARED_FLOOR: Duration = Duration::from_millis(25);

/// On a shared file system, the least time between two reopens of the inbox.
pub const SHARED_REOPEN_AFTER: Duration = Duration::from_secs(5);

/// The agent's polling knobs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PollPolicy {
    /// Longest gap between looks while a slot waits for work (`--poll-ms`).
    pub hungry: Duration,
    /// Shortest gap between two looks that found nothing (the first look after a hand-out
    /// or after a slot ran dry comes at once).
    pub floor: Duration,
    /// Longest gap between looks otherwise: its queue covers the gap, or it has been
    /// waiting for work for longer than `patience` (an idle task).
    pub slow: Duration,
    /// How long a slot may wait for work before the looks slow down to `slow`.
    pub patience: Duration,
    /// A hungry agent whose look found nothing reopens the inbox instead of `fstat`ing it
    /// (NFS: forces the attribute revalidation) once this long passed since it last opened
    /// it. An agent with work never reopens: its `fstat` sees an append within the
    /// attribute cache's timeout, before its work runs out.
    pub reopen_after: Duration,
    /// Time between looks for a newer orchestrator epoch (a `stat` of the next claim; on a
    /// local disk a listing of `owners/` and of the worker directory).
    pub newer_epoch_check: Duration,
    /// Time between reads of the followed orchestrator's heartbeat.
    pub owner_check: Duration,
}

impl PollPolicy {
    /// The policy for a ledger on `fs`, waiting at most `hungry` between looks for work,
    /// with the run's agent scale `scale` (1: up to a few hundred agents; see
    /// [`crate::ledger::agent_scale`]) stretching the slow intervals on a shared one.
    pub fn for_fs(fs: LedgerFs, hungry: Duration, scale: u32) -> Self {
        let hungry = hungry.max(MIN_POLL);
        let scale = scale.max(1);
        match fs {
            // Looks reach no server: as prompt as before, without listings.
            LedgerFs::Local => Self {
                hungry,
                floor: MIN_POLL,
                slow: hungry,
                patience: Duration::MAX,
                reopen_after: Duration::MAX,
                newer_epoch_check: Duration::from_secs(1),
                owner_check: Duration::from_secs(1),
            },
            LedgerFs::Shared => Self {
                hungry,
                floor: SHARED_FLOOR.min(hungry),
                slow: (Duration::from_secs(10) * scale).max(hungry),
                patience: Duration::from_secs(10),
                reopen_after: SHARED_REOPEN_AFTER,
                newer_epoch_check: Duration::from_secs(30) * scale,
                owner_check: Duration::from_secs(60) * scale,
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
    /// Time (the sum of the gaps) since the inbox was last opened.
    since_open: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            gap: MIN_POLL,
            hungry_for: Duration::ZERO,
            misses: 0,
            since_open: Duration::ZERO,
        }
    }
}

impl Backoff {
    /// Looks again soon (records arrived, or the agent ran out of work).
    pub fn reset(&mut self) {
        *self = Self {
            since_open: self.since_open,
            ..Self::default()
        };
    }

    /// Whether the next look, while the agent holds `holding`, should reopen the inbox; if
    /// so, counts it as reopened.
    pub fn take_reopen(&mut self, holding: Holding, policy: &PollPolicy) -> bool {
        let due =
            holding == Holding::Hungry && self.misses > 0 && self.since_open >= policy.reopen_after;
        if due {
            self.since_open = Duration::ZERO;
        }
        due
    }

    /// The gap until the next look after one that found `records`, while the agent holds
    /// `holding`.
    pub fn next_gap(&mut self, records: bool, holding: Holding, policy: &PollPolicy) -> Duration {
        let gap = self.gap_after(records, holding, policy);
        self.since_open = self.since_open.saturating_add(gap);
        gap
    }

    fn gap_after(&mut self, records: bool, holding: Holding, policy: &PollPolicy) -> Duration {
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
                self.gap = (self.gap * 2).clamp(policy.floor, cap.max(policy.floor));
                self.gap
            }
            Holding::Unknown => {
                // Its slots are busy: it needs nothing until one frees (which makes it
                // hungry and looks at once), so the looks thin out four times as fast.
                self.hungry_for = Duration::ZERO;
                self.gap = (self.gap * 4).clamp(policy.floor, policy.slow.max(policy.floor));
                self.gap
            }
            Holding::Covered(left) => {
                // Look when half of it is done, but not closer than the hungry gap: a queue
                // that runs out sooner makes the agent hungry, and that looks at once.
                self.hungry_for = Duration::ZERO;
                let least = if policy.floor > MIN_POLL {
                    policy.hungry.min(policy.slow)
                } else {
                    MIN_POLL
                };
                self.gap = (left / 2).clamp(least, policy.slow);
                self.gap
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(scale: u32) -> PollPolicy {
        PollPolicy::for_fs(LedgerFs::Shared, Duration::from_millis(500), scale)
    }

    fn gaps(policy: &PollPolicy, holding: Holding, n: usize) -> Vec<Duration> {
        let mut b = Backoff::default();
        (0..n).map(|_| b.next_gap(false, holding, policy)).collect()
    }

    #[test]
    fn a_hungry_agent_looks_fast_then_slows_down_when_nothing_comes() {
        let g = gaps(&shared(1), Holding::Hungry, 40);
        assert_eq!(
            g[0], SHARED_FLOOR,
            "no two empty looks closer than the floor"
        );
        assert!(g[..12].iter().all(|d| *d <= Duration::from_millis(500)));
        // At most 1 / floor + 1 / hungry looks in its first second.
        let mut t = Duration::ZERO;
        let first_second = g.iter().take_while(|d| {
            t += **d;
            t <= Duration::from_secs(1)
        });
        assert!(first_second.count() <= 6, "{g:?}");
        // After ten seconds without work, every ten seconds (an idle task).
        assert_eq!(*g.last().unwrap(), Duration::from_secs(10));
        let local = PollPolicy::for_fs(LedgerFs::Local, Duration::from_millis(500), 1);
        let g = gaps(&local, Holding::Hungry, 200);
        assert_eq!(
            g[0],
            Duration::from_millis(2),
            "a local disk starts at once"
        );
        assert_eq!(
            *g.last().unwrap(),
            Duration::from_millis(500),
            "a local disk keeps the prompt gap"
        );
    }

    #[test]
    fn a_covered_queue_is_looked_at_twice_before_it_runs_out() {
        let shared = shared(1);
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
        // A queue about to run out is not looked at in a storm: the slot's hunger will.
        assert_eq!(
            b.next_gap(false, Holding::Covered(Duration::ZERO), &shared),
            Duration::from_millis(500)
        );
        assert_eq!(b.next_gap(true, covered(60), &shared), MIN_POLL);
        // Unknown block times back off to the slow gap, in a few looks: at 1,000 agents
        // (scale 6, a minute) seven, where doubling took thirteen.
        assert_eq!(
            *gaps(&shared, Holding::Unknown, 30).last().unwrap(),
            Duration::from_secs(10)
        );
        let scaled = PollPolicy::for_fs(LedgerFs::Shared, Duration::from_millis(500), 6);
        let ramp = gaps(&scaled, Holding::Unknown, 30);
        let looks = ramp.iter().position(|g| *g == scaled.slow).unwrap() + 1;
        assert!(looks <= 7, "{looks} looks to the slow gap: {ramp:?}");
        assert_eq!(
            ramp[0], SHARED_FLOOR,
            "the first look after a hand-out comes soon"
        );
        let local = PollPolicy::for_fs(LedgerFs::Local, Duration::from_millis(500), 1);
        assert_eq!(
            Backoff::default().next_gap(false, Holding::Covered(Duration::ZERO), &local),
            MIN_POLL
        );
    }

    #[test]
    fn a_covered_queue_costs_a_few_looks_per_block() {
        // One slot, 5-s blocks, nothing queued: the looks while one block runs.
        let shared = shared(1);
        let mut b = Backoff::default();
        let mut left = Duration::from_secs(5);
        let mut looks = 0;
        while !left.is_zero() {
            looks += 1;
            left = left.saturating_sub(b.next_gap(false, Holding::Covered(left), &shared));
        }
        assert!(looks <= 5, "{looks} looks");
    }

    #[test]
    fn only_a_hungry_agent_reopens_and_rarely() {
        let shared = shared(1);
        let mut b = Backoff::default();
        let mut at = Duration::ZERO;
        let mut reopened = Vec::new();
        for _ in 0..200 {
            if b.take_reopen(Holding::Hungry, &shared) {
                reopened.push(at);
            }
            at += b.next_gap(false, Holding::Hungry, &shared);
        }
        assert!(reopened.len() >= 2, "{reopened:?}");
        for pair in reopened.windows(2) {
            assert!(pair[1] - pair[0] >= SHARED_REOPEN_AFTER, "{reopened:?}");
        }
        // An agent with work never reopens.
        for holding in [Holding::Unknown, Holding::Covered(Duration::from_secs(5))] {
            let mut b = Backoff::default();
            let reopens = (0..200)
                .filter(|_| {
                    b.next_gap(false, holding, &shared);
                    b.take_reopen(holding, &shared)
                })
                .count();
            assert_eq!(reopens, 0, "{holding:?}");
        }
        let local = PollPolicy::for_fs(LedgerFs::Local, Duration::from_millis(500), 1);
        let mut b = Backoff::default();
        for _ in 0..200 {
            b.next_gap(false, Holding::Hungry, &local);
        }
        assert!(!b.take_reopen(Holding::Hungry, &local));
    }

    /// `IDLE_OPS_PER_AGENT`, what the orchestrator sets aside of the budget for each idle
    /// agent, covers what these intervals cost: shorten one and this fails until the planned
    /// load (and so the agent scale) follows. Operations per look as latencyfs counts them: the
    /// inbox `fstat` 1, the next claim's `stat` 2 (lookup and attributes), the owner's claim
    /// and heartbeat 6 (two opens), the agent's own heartbeat append 1.
    #[test]
    fn the_planned_idle_load_of_an_agent_covers_its_intervals() {
        use crate::ledger::IDLE_OPS_PER_AGENT;
        use crate::worker::AGENT_HEARTBEAT_INTERVAL;
        for scale in [1, 2, 6, 14] {
            let p = shared(scale);
            let per_s = |ops: f64, every: Duration| ops / every.as_secs_f64();
            let load = per_s(1.0, p.slow)
                + per_s(2.0, p.newer_epoch_check)
                + per_s(6.0, p.owner_check)
                + per_s(1.0, AGENT_HEARTBEAT_INTERVAL * scale);
            let planned = IDLE_OPS_PER_AGENT / f64::from(scale);
            assert!(
                load <= planned + 1e-9,
                "scale {scale}: {load:.3} ops/s against {planned:.3} planned"
            );
            assert!(
                load > planned * 0.8,
                "scale {scale}: {load:.3} ops/s, {planned:.3} planned"
            );
        }
    }

    #[test]
    fn the_agent_scale_stretches_the_slow_intervals_only() {
        let (one, three) = (shared(1), shared(3));
        assert_eq!(three.slow, one.slow * 3);
        assert_eq!(three.newer_epoch_check, one.newer_epoch_check * 3);
        assert_eq!(three.owner_check, one.owner_check * 3);
        assert_eq!(three.hungry, one.hungry, "a hungry agent stays prompt");
        assert_eq!(three.floor, one.floor);
        assert_eq!(
            PollPolicy::for_fs(LedgerFs::Local, Duration::from_millis(500), 3),
            PollPolicy::for_fs(LedgerFs::Local, Duration::from_millis(500), 1)
        );
    }
}
