//! When the orchestrator looks at each agent's outbox, and how many looks the whole run may
//! spend per second (see *Polling schedule and metadata budget* in `docs/design/ledger.md`).
//!
//! Each agent has a [`ProbeTimer`]: after a look that found records, the next one is due
//! when the agent's next report is expected (the task's recent block time over its busy
//! slots); after a look that found nothing, the gap grows from an eighth of that, doubling,
//! up to the liveness gap. Looks that are due are taken most overdue first while the
//! [`OpBudget`] has tokens, so the total rate never exceeds the budget however many agents
//! there are; past it, every agent's looks simply come later. Pure: the caller passes the
//! time.

use std::time::{Duration, Instant};

/// The knobs of the schedule.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProbePolicy {
    /// Shortest gap between two looks at one outbox.
    pub min_gap: Duration,
    /// Longest gap between two looks at one outbox (an agent from which nothing is expected
    /// but its heartbeat).
    pub max_gap: Duration,
    /// Looks per second for the whole run (`None`: unbounded, a ledger on a local disk).
    pub budget: Option<f64>,
    /// After this many looks in a row found nothing, the next look reopens the file
    /// instead of `fstat`ing the open one (NFS: forces the attribute revalidation that the
    /// attribute cache may otherwise delay by up to `acregmax`) …
    pub reopen_after_misses: u32,
    /// … provided the file was last opened this long ago (each reopen costs a path lookup
    /// and an open; the attribute cache delays an append by at most `acregmax`, 60 s) …
    pub reopen_after: Duration,
    /// … and the previous look was less than this long ago: the longest a client keeps a
    /// file's attributes (NFS `acregmax`, 60 s). A look after a longer gap revalidates
    /// through its `fstat` alone, so a reopen would only cost more.
    pub attribute_cache: Duration,
}

/// What a reopen costs beyond the `fstat` of a look, in metadata operations (the path's
/// lookups and an open; 3.2 measured on latencyfs): charged to the budget, so reopens cannot
/// push the run past it.
pub const REOPEN_EXTRA_OPS: f64 = 3.0;

/// The orchestrator's own metadata operations per second besides its looks on a shared file
/// system (its ownership heartbeat every 5 s, its status record every 10 s; about two
/// measured): set aside from the budget with the agents' share.
pub const ORCHESTRATOR_OWN_OPS: f64 = 3.0;

/// The longest a client keeps a file's attributes before an `fstat` asks the server again
/// (NFS `acregmax`, 60 s by default).
pub const ATTRIBUTE_CACHE_MAX: Duration = Duration::from_secs(60);

impl ProbePolicy {
    /// Every iteration, unbounded: a ledger on a local disk, where a look is an `fstat`
    /// that reaches no server.
    pub fn local_disk(iteration: Duration) -> Self {
        Self {
            min_gap: Duration::ZERO,
            max_gap: iteration,
            budget: None,
            reopen_after_misses: u32::MAX,
            reopen_after: Duration::MAX,
            attribute_cache: Duration::ZERO,
        }
    }

    /// A ledger on a shared file system, with `budget` looks per second for the run.
    pub fn shared(budget: f64) -> Self {
        Self {
            min_gap: Duration::from_millis(50),
            max_gap: Duration::from_secs(30),
            budget: (budget > 0.0).then_some(budget),
            reopen_after_misses: 4,
            reopen_after: Duration::from_secs(30),
            attribute_cache: ATTRIBUTE_CACHE_MAX,
        }
    }

    /// This policy with the budget left to the orchestrator's looks once `reserved`
    /// operations per second are set aside (the agents' idle load and the orchestrator's own
    /// writes), never less than a quarter of it.
    pub fn reserving(mut self, reserved: f64) -> Self {
        self.budget = self.budget.map(|b| (b - reserved.max(0.0)).max(b / 4.0));
        self
    }

    /// The time a look at every one of `agents` outboxes takes at the budget (zero when
    /// unbounded): the part of the hand-out round trip that the budget adds.
    pub fn round_at_budget(&self, agents: usize) -> Duration {
        match self.budget {
            Some(rate) => Duration::from_secs_f64(agents as f64 / rate),
            None => Duration::ZERO,
        }
    }
}

/// A token bucket: on average at most `rate` operations per second, in bursts of at most one
/// second's worth (at least one).
#[derive(Clone, Debug)]
pub struct OpBudget {
    rate: Option<f64>,
    tokens: f64,
    last: Instant,
}

impl OpBudget {
    /// A full bucket of `rate` per second (`None`: unbounded).
    pub fn new(rate: Option<f64>, now: Instant) -> Self {
        Self {
            rate,
            tokens: rate.map_or(0.0, |r| r.max(1.0)),
            last: now,
        }
    }

    /// Charges `ops` more operations than the look that took a token (they are paid from
    /// the next tokens: the bucket may go into debt).
    pub fn charge(&mut self, ops: f64) {
        if self.rate.is_some() {
            self.tokens -= ops.max(0.0);
        }
    }

    /// Takes one token if there is one.
    pub fn try_take(&mut self, now: Instant) -> bool {
        let Some(rate) = self.rate else {
            return true;
        };
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * rate).min(rate.max(1.0));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// When one agent's outbox is next looked at.
#[derive(Clone, Debug)]
pub struct ProbeTimer {
    next: Instant,
    /// Looks in a row that found nothing new to act on (nothing, or only signs of life):
    /// the back-off doubles with each.
    misses: u32,
    /// Looks in a row that found nothing at all (the reopen counter).
    empty: u32,
    /// The first gap after a miss (doubles with each further miss).
    step: Duration,
    /// When the file was last (re)opened for a look.
    opened: Instant,
    /// When the last look was taken.
    looked: Instant,
}

impl ProbeTimer {
    /// A timer whose first look is due at once.
    pub fn new(now: Instant) -> Self {
        Self {
            next: now,
            misses: 0,
            empty: 0,
            step: Duration::ZERO,
            opened: now,
            looked: now,
        }
    }

    /// When the next look is due.
    pub fn next(&self) -> Instant {
        self.next
    }

    /// Whether a look is due at `now`.
    pub fn due(&self, now: Instant) -> bool {
        self.next <= now
    }

    /// Whether the look at `now` should reopen the file; if so, counts it as reopened.
    /// Called once for every look.
    pub fn take_reopen(&mut self, now: Instant, policy: &ProbePolicy) -> bool {
        let due = self.empty >= policy.reopen_after_misses
            && self.empty.is_multiple_of(policy.reopen_after_misses)
            && now.saturating_duration_since(self.opened) >= policy.reopen_after
            && now.saturating_duration_since(self.looked) < policy.attribute_cache;
        self.looked = now;
        if due {
            self.opened = now;
        }
        due
    }

    /// A look found records; the next report is expected `expected` from now.
    pub fn hit(&mut self, now: Instant, expected: Duration, policy: &ProbePolicy) {
        self.misses = 0;
        self.empty = 0;
        self.step = (expected / 8).max(policy.min_gap);
        self.next = now + expected.clamp(policy.min_gap, policy.max_gap);
    }

    /// A look found nothing: back off from the step, doubling.
    pub fn miss(&mut self, now: Instant, policy: &ProbePolicy) {
        self.empty = self.empty.saturating_add(1);
        self.back_off(now, policy);
    }

    /// A look found only signs of life (a heartbeat, a block started): the file grew, so no
    /// reopen is needed yet, but the report awaited is still to come — back off as after a
    /// miss instead of starting over (a long block whose time is not known yet would
    /// otherwise be looked at from the shortest gap again after every heartbeat).
    pub fn alive(&mut self, now: Instant, policy: &ProbePolicy) {
        self.empty = 0;
        self.back_off(now, policy);
    }

    fn back_off(&mut self, now: Instant, policy: &ProbePolicy) {
        self.misses = self.misses.saturating_add(1);
        let doubling = 1u32 << (self.misses - 1).min(20);
        let gap = self.step.max(policy.min_gap).saturating_mul(doubling);
        self.next = now + gap.clamp(policy.min_gap, policy.max_gap);
    }

    /// Something is expected by `expected` from now (blocks were just handed out): the next
    /// look comes no later than that.
    pub fn expect_within(&mut self, now: Instant, expected: Duration, policy: &ProbePolicy) {
        let at = now + expected.clamp(policy.min_gap, policy.max_gap);
        if at < self.next {
            self.next = at;
            self.misses = 0;
            self.empty = 0;
            self.step = (expected / 8).max(policy.min_gap);
        }
    }
}

/// When an agent's next report is expected: its task's recent block time `mean` (seconds)
/// over the slots it keeps busy; `None` when nothing is expected but its heartbeat (nothing
/// in flight). Unknown block times expect a report soon (the misses back off from there).
pub fn expected_report_gap(
    in_flight: usize,
    slots: u32,
    mean: Option<f64>,
    policy: &ProbePolicy,
) -> Option<Duration> {
    if in_flight == 0 {
        return None;
    }
    let busy = in_flight.min(slots.max(1) as usize) as f64;
    Some(match mean {
        Some(m) if m.is_finite() && m > 0.0 => Duration::from_secs_f64(m / busy),
        _ => policy.min_gap,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reopens_are_paid_from_the_budget_and_the_agents_share_is_set_aside() {
        let t0 = Instant::now();
        let mut budget = OpBudget::new(Some(10.0), t0);
        let mut looks = 0;
        let mut now = t0;
        // Ten seconds: 10 tokens at once, 10 per second after, each look a reopen (4 ops).
        while now < t0 + Duration::from_secs(10) {
            if budget.try_take(now) {
                budget.charge(REOPEN_EXTRA_OPS);
                looks += 1;
            }
            now += Duration::from_millis(10);
        }
        let ops = looks as f64 * (1.0 + REOPEN_EXTRA_OPS);
        assert!(ops <= 10.0 * 10.0 + 10.0 + 4.0, "{looks} looks, {ops} ops");
        assert!(looks >= 25, "{looks}");
        let shared = ProbePolicy::shared(100.0);
        assert_eq!(shared.reserving(40.0).budget, Some(60.0));
        assert_eq!(shared.reserving(80.0).budget, Some(25.0));
        assert_eq!(ProbePolicy::shared(0.0).reserving(40.0).budget, None);
    }

    #[test]
    fn the_budget_bounds_looks_per_second_whatever_is_due() {
        let t0 = Instant::now();
        let mut budget = OpBudget::new(Some(10.0), t0);
        // A full bucket: one second's worth at once, then nothing until it refills.
        let burst = (0..100).filter(|_| budget.try_take(t0)).count();
        assert_eq!(burst, 10);
        // Over ten more seconds of asking every millisecond: ten per second.
        let mut taken = 0;
        for ms in 1..=10_000 {
            if budget.try_take(t0 + Duration::from_millis(ms)) {
                taken += 1;
            }
        }
        assert!((99..=101).contains(&taken), "{taken}");
        let mut unbounded = OpBudget::new(None, t0);
        assert!((0..10_000).all(|_| unbounded.try_take(t0)));
    }

    #[test]
    fn looks_come_when_a_report_is_expected_then_back_off() {
        let policy = ProbePolicy::shared(100.0);
        let t0 = Instant::now();
        let mut timer = ProbeTimer::new(t0);
        assert!(timer.due(t0));
        // 16-s blocks on one slot: the next look 16 s after a report...
        let gap = expected_report_gap(3, 1, Some(16.0), &policy).unwrap();
        assert_eq!(gap, Duration::from_secs(16));
        timer.hit(t0, gap, &policy);
        assert!(!timer.due(t0 + Duration::from_secs(15)));
        assert!(timer.due(t0 + Duration::from_secs(16)));
        // ...then, if it is late, after 2 s, 4 s, 8 s, ... up to the liveness gap.
        let t1 = t0 + Duration::from_secs(16);
        timer.miss(t1, &policy);
        assert_eq!(timer.next() - t1, Duration::from_secs(2));
        timer.miss(t1, &policy);
        assert_eq!(timer.next() - t1, Duration::from_secs(4));
        for _ in 0..10 {
            timer.miss(t1, &policy);
        }
        assert_eq!(timer.next() - t1, policy.max_gap);
        // Nothing in flight: only the heartbeat is expected.
        assert_eq!(expected_report_gap(0, 4, Some(1.0), &policy), None);
        // Four busy slots of 2-s blocks report every half second.
        assert_eq!(
            expected_report_gap(12, 4, Some(2.0), &policy),
            Some(Duration::from_millis(500))
        );
        // Unknown block time: soon, never below the shortest gap.
        assert_eq!(
            expected_report_gap(1, 1, None, &policy),
            Some(policy.min_gap)
        );
    }

    #[test]
    fn signs_of_life_do_not_restart_the_back_off() {
        let policy = ProbePolicy::shared(100.0);
        let t0 = Instant::now();
        let mut timer = ProbeTimer::new(t0);
        // A block of unknown time was handed out: look soon, then less and less often.
        timer.expect_within(t0, policy.min_gap, &policy);
        for _ in 0..5 {
            timer.miss(t0, &policy);
        }
        let before = timer.next() - t0;
        // Its heartbeat (or Started) shows life but is not the report awaited.
        timer.alive(t0, &policy);
        assert_eq!(timer.next() - t0, before * 2, "the back-off goes on");
        let later = t0 + policy.reopen_after;
        assert!(
            !timer.take_reopen(later, &policy),
            "the file was just seen to grow"
        );
        for _ in 0..3 {
            timer.miss(t0, &policy);
        }
        assert!(!timer.take_reopen(later, &policy));
        timer.miss(t0, &policy);
        assert!(
            timer.take_reopen(later, &policy),
            "the fourth empty look in a row reopens"
        );
    }

    #[test]
    fn a_hand_out_brings_a_distant_look_forward_only() {
        let policy = ProbePolicy::shared(100.0);
        let t0 = Instant::now();
        let mut timer = ProbeTimer::new(t0);
        timer.hit(t0, policy.max_gap, &policy);
        timer.expect_within(t0, Duration::from_secs(1), &policy);
        assert_eq!(timer.next() - t0, Duration::from_secs(1));
        timer.expect_within(t0, Duration::from_secs(5), &policy);
        assert_eq!(timer.next() - t0, Duration::from_secs(1), "never later");
    }

    #[test]
    fn every_fourth_miss_in_a_row_reopens_on_a_shared_file_system() {
        let policy = ProbePolicy::shared(100.0);
        let t0 = Instant::now();
        let mut timer = ProbeTimer::new(t0);
        let mut reopens = Vec::new();
        for i in 1..=13 {
            timer.miss(t0, &policy);
            // Looks 10 s apart: a reopen needs 30 s since the last open too.
            let at = t0 + Duration::from_secs(10 * u64::from(i));
            reopens.push((i, timer.take_reopen(at, &policy)));
        }
        let which: Vec<u32> = reopens.iter().filter(|r| r.1).map(|r| r.0).collect();
        assert_eq!(which, [4, 8, 12]);
        let mut early = ProbeTimer::new(t0);
        let reopened = (1..=8)
            .filter(|_| {
                early.miss(t0, &policy);
                early.take_reopen(t0 + Duration::from_secs(5), &policy)
            })
            .count();
        assert_eq!(reopened, 0, "not twice within 30 s");
        let mut sparse = ProbeTimer::new(t0);
        let reopened = (1..=12)
            .filter(|&i| {
                sparse.miss(t0, &policy);
                sparse.take_reopen(t0 + Duration::from_secs(90 * i), &policy)
            })
            .count();
        assert_eq!(
            reopened, 0,
            "looks longer apart than the attribute cache see appends through their fstat"
        );
        let local = ProbePolicy::local_disk(Duration::from_millis(20));
        assert!(!timer.take_reopen(t0 + Duration::from_secs(3600), &local));
        assert_eq!(
            ProbePolicy::shared(100.0).round_at_budget(1000),
            Duration::from_secs(10)
        );
        assert_eq!(local.round_at_budget(1000), Duration::ZERO);
    }
}
