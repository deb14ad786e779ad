//! How many blocks a persistent program may hold at once. Programs whose recent blocks are
//! short get several blocks written ahead to their stdin, so they never wait for the agent's
//! turn-around between blocks; programs with longer blocks get one at a time, so no slot hoards
//! work another slot could start.

use crate::recent::RecentMean;
use std::time::Duration;

/// Blocks written ahead cover at most about this much of a program's work.
pub const PIPE_WORK: Duration = Duration::from_millis(2);
/// Most blocks one program holds (the one it runs plus those waiting in its stdin).
pub const MAX_DEPTH: usize = 32;
/// Blocks one program may hold given the recent mean block duration: 1 until blocks were
/// observed, then enough to cover [`PIPE_WORK`], between 1 and [`MAX_DEPTH`].
pub fn depth(recent: &RecentMean) -> usize {
    recent.count_within(PIPE_WORK, 1, MAX_DEPTH)
}

/// How many more blocks to write to a program holding `outstanding` (≥ 1) blocks: none
/// until it is down to half its depth, then enough to fill it, so writes come in batches.
pub fn refill(outstanding: usize, depth: usize) -> usize {
    if outstanding >= depth || (depth > 2 && outstanding > depth / 2) {
        0
    } else {
        depth - outstanding
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_follows_recent_block_durations() {
        let mut r = RecentMean::default();
        assert_eq!(depth(&r), 1, "nothing observed: one at a time");
        r.add(Duration::from_micros(20));
        assert_eq!(depth(&r), MAX_DEPTH);
        for _ in 0..100 {
            r.add(Duration::from_millis(50));
        }
        assert_eq!(depth(&r), 1, "long blocks: one at a time");
    }

    #[test]
    fn refills_in_batches() {
        assert_eq!(refill(1, 1), 0);
        assert_eq!(refill(1, 2), 1);
        assert_eq!(refill(2, 2), 0);
        assert_eq!(refill(16, 32), 16);
        assert_eq!(refill(17, 32), 0);
        assert_eq!(refill(1, 32), 31);
    }
}
