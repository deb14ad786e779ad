//! Is the orchestrator still there? Decided from what the ledger's `owners/` directory says,
//! compared with the inbox epoch the agent follows (pure; the inbox thread feeds it).

use crate::ledger::{format_age, Liveness, OwnerStatus};
use std::time::{Duration, Instant};

/// Watches the owner of the ledger on behalf of an agent.
#[derive(Clone, Debug)]
pub struct OwnerWatch {
    /// Heartbeat age beyond which the owner counts as gone.
    stale_after: Duration,
    /// How long a newer owner (or the first owner) may take to write this worker's inbox, and
    /// how long a resume may take to succeed an owner whose pid died on this host.
    inbox_wait: Duration,
    /// Since when an owner has existed whose inbox we do not follow: (epoch, first seen).
    waiting_for: Option<(u64, Instant)>,
    /// Since when the followed owner's pid has been seen dead: (epoch, first seen).
    dead_since: Option<(u64, Instant)>,
}

impl OwnerWatch {
    /// A watch with the given bounds.
    pub fn new(stale_after: Duration, inbox_wait: Duration) -> Self {
        Self {
            stale_after,
            inbox_wait,
            waiting_for: None,
            dead_since: None,
        }
    }

    /// Looks at the latest owner (`None`: no epoch was ever claimed) given the inbox epoch the
    /// agent follows; returns why the orchestrator is gone, if it is.
    pub fn observe(
        &mut self,
        followed: Option<u64>,
        owner: Option<&OwnerStatus>,
        now_us: u64,
        now: Instant,
    ) -> Option<String> {
        let owner = owner?;
        if followed.is_none_or(|e| owner.epoch > e) {
            let since = match self.waiting_for {
                Some((epoch, since)) if epoch == owner.epoch => since,
                _ => {
                    self.waiting_for = Some((owner.epoch, now));
                    now
                }
            };
            if now.duration_since(since) > self.inbox_wait {
                return Some(format!(
                    "orchestrator epoch {} (pid {} on {}) owns the ledger but wrote no inbox for \
                     this worker within {}",
                    owner.epoch,
                    owner.pid,
                    owner.host,
                    format_age(self.inbox_wait)
                ));
            }
            return None;
        }
        self.waiting_for = None;
        if followed != Some(owner.epoch) {
            return None;
        }
        match owner.liveness(now_us, self.stale_after) {
            Liveness::Live => None,
            Liveness::Released => Some(format!(
                "orchestrator epoch {} released the ledger (its run ended)",
                owner.epoch
            )),
            // A killed orchestrator is usually followed by a resume that adopts this
            // worker: its blocks go on (and are reported) until no successor came in time.
            Liveness::DeadPid => {
                let since = match self.dead_since {
                    Some((epoch, since)) if epoch == owner.epoch => since,
                    _ => {
                        self.dead_since = Some((owner.epoch, now));
                        now
                    }
                };
                (now.duration_since(since) > self.inbox_wait).then(|| {
                    format!(
                        "orchestrator pid {} on {} is gone and no newer orchestrator took \
                         this worker over within {}",
                        owner.pid,
                        owner.host,
                        format_age(self.inbox_wait)
                    )
                })
            }
            Liveness::HeartbeatStale(age) => Some(format!(
                "orchestrator epoch {} (pid {} on {}) has not written a heartbeat for {}",
                owner.epoch,
                owner.pid,
                owner.host,
                format_age(age)
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(epoch: u64, heartbeat_us: Option<u64>) -> OwnerStatus {
        OwnerStatus {
            epoch,
            host: "h".into(),
            pid: 7,
            since_us: 1_000_000,
            heartbeat_us,
            released: false,
            pid_alive: None,
            agent_scale: None,
        }
    }

    #[test]
    fn live_stale_released_and_dead() {
        let mut w = OwnerWatch::new(Duration::from_secs(60), Duration::from_secs(30));
        let t = Instant::now();
        let o = owner(2, Some(100_000_000));
        assert_eq!(w.observe(Some(2), Some(&o), 150_000_000, t), None);
        let stale = w.observe(Some(2), Some(&o), 200_000_000, t).unwrap();
        assert!(stale.contains("has not written a heartbeat for"), "{stale}");
        let released = OwnerStatus {
            released: true,
            ..o.clone()
        };
        assert!(w
            .observe(Some(2), Some(&released), 100_000_000, t)
            .unwrap()
            .contains("released"));
        assert_eq!(w.observe(Some(2), None, 100_000_000, t), None);
    }

    #[test]
    fn a_dead_owner_pid_leaves_time_for_a_resume() {
        let mut w = OwnerWatch::new(Duration::from_secs(60), Duration::from_secs(30));
        let t = Instant::now();
        let dead = OwnerStatus {
            pid_alive: Some(false),
            ..owner(2, Some(100_000_000))
        };
        assert_eq!(w.observe(Some(2), Some(&dead), 100_000_000, t), None);
        let later = t + Duration::from_secs(29);
        assert_eq!(w.observe(Some(2), Some(&dead), 100_000_000, later), None);
        let gone = w
            .observe(
                Some(2),
                Some(&dead),
                100_000_000,
                t + Duration::from_secs(31),
            )
            .unwrap();
        assert!(gone.contains("pid 7 on h is gone"), "{gone}");
        // A successor claimed in time: its inbox is awaited afresh, then followed.
        let mut w = OwnerWatch::new(Duration::from_secs(60), Duration::from_secs(30));
        assert_eq!(w.observe(Some(2), Some(&dead), 100_000_000, t), None);
        let next = owner(3, Some(100_000_000));
        assert_eq!(w.observe(Some(2), Some(&next), 100_000_000, later), None);
        let after = t + Duration::from_secs(45);
        assert_eq!(w.observe(Some(3), Some(&next), 100_000_000, after), None);
    }

    #[test]
    fn newer_epoch_without_inbox_times_out() {
        let mut w = OwnerWatch::new(Duration::from_secs(60), Duration::from_secs(30));
        let t = Instant::now();
        let o = owner(3, Some(100_000_000));
        assert_eq!(w.observe(Some(2), Some(&o), 100_000_000, t), None);
        assert_eq!(
            w.observe(Some(2), Some(&o), 100_000_000, t + Duration::from_secs(20)),
            None
        );
        let gone = w
            .observe(Some(2), Some(&o), 100_000_000, t + Duration::from_secs(31))
            .unwrap();
        assert!(gone.contains("wrote no inbox"), "{gone}");
        // Once the new inbox is followed the timer is forgotten.
        assert_eq!(
            w.observe(Some(3), Some(&o), 100_000_000, t + Duration::from_secs(40)),
            None
        );
    }
}
