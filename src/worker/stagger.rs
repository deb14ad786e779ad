//! Where in its periodic intervals an agent's slow writes and looks fall (heartbeats, owner
//! and newer-epoch checks). Agents of an array job start in the same second; with the same
//! intervals they would write and look in the same second ever after, a burst of metadata
//! operations on the shared file system every interval. Each agent's first interval is cut
//! to a fraction of it taken from its worker id, which spreads the agents over the interval
//! for the rest of the run without changing how often each one writes or looks.

use std::time::Duration;

/// A fraction in (0, 1] of an interval: the first gap of an agent's periodic events.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stagger(f64);

impl Stagger {
    /// No stagger: the first gap is a whole interval.
    #[cfg(test)]
    pub const NONE: Stagger = Stagger(1.0);
    /// The first gap is half an interval.
    #[cfg(test)]
    pub const HALF: Stagger = Stagger(0.5);

    /// The stagger of `worker_id` (a hash of it: the same for every run of the agent).
    pub fn of(worker_id: &str) -> Self {
        let hash = crc32fast::hash(worker_id.as_bytes());
        Stagger((f64::from(hash) + 1.0) / 4_294_967_296.0)
    }

    /// The first gap of events that come every `interval`.
    pub fn first_gap(self, interval: Duration) -> Duration {
        interval.mul_f64(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_of_one_array_are_spread_over_the_interval() {
        let interval = Duration::from_secs(60);
        let mut tenths = [0u32; 10];
        for index in 0..1000 {
            let gap = Stagger::of(&format!("slurm-81234_{index}")).first_gap(interval);
            assert!(gap > Duration::ZERO && gap <= interval, "{gap:?}");
            tenths[(gap.as_secs_f64() / 6.0).min(9.0) as usize] += 1;
        }
        // Uniform would be 100 per tenth of the interval.
        assert!(
            tenths.iter().all(|&n| (60..=140).contains(&n)),
            "{tenths:?}"
        );
        assert_eq!(Stagger::of("w-1"), Stagger::of("w-1"));
        assert_eq!(Stagger::NONE.first_gap(interval), interval);
    }
}
