//! Whether a process group still has a member that can run: the agent reports a process as
//! ended only once its whole group is gone, so no block is given back or retried while
//! something it started can still write.

use super::program::signal_group;
use crate::ledger::process_state;
use std::fs;
use std::thread;
use std::time::{Duration, Instant};

/// Poll interval while waiting for a group to empty.
const POLL: Duration = Duration::from_millis(5);
/// How long a group may take to empty before each warning.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// True while group `pgid` has a member that is not a zombie. A zombie cannot run, and under
/// a PID 1 that does not reap (some containers) it stays in the group forever, so it does
/// not count.
pub fn has_live_member(pgid: i32) -> bool {
    if !signal_group(pgid, 0) {
        return false; // ESRCH: nothing in the group at all (the common, cheap case)
    }
    let Ok(entries) = fs::read_dir("/proc") else {
        return true; // cannot tell: assume it lives
    };
    entries.flatten().any(|entry| {
        entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
            .and_then(process_state)
            .is_some_and(|(state, group)| group == pgid && !matches!(state, 'Z' | 'X' | 'x'))
    })
}

/// Kills what is left of group `pgid` and blocks until no member can run any more. Waits as
/// long as it takes (a member stuck in the kernel delays the report of its block rather than
/// letting the block run twice), with a warning every few seconds.
pub fn kill_and_wait_gone(pgid: i32) {
    let started = Instant::now();
    let mut next_warning = started + WARN_EVERY;
    while has_live_member(pgid) {
        signal_group(pgid, libc::SIGKILL);
        thread::sleep(POLL);
        if Instant::now() >= next_warning {
            next_warning += WARN_EVERY;
            tracing::warn!(
                "process group {pgid} still has processes {:.0}s after SIGKILL; its block is \
                 given back or retried only once they are gone",
                started.elapsed().as_secs_f64()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;
    use std::process::Command;

    #[test]
    fn a_group_whose_leader_left_children_is_alive_until_they_are_killed() {
        // The leader exits at once, leaving a grandchild in its group.
        let mut leader = Command::new("sh")
            .args(["-c", "sleep 30 & exit 0"])
            .process_group(0)
            .spawn()
            .unwrap();
        let pgid = leader.id() as i32;
        leader.wait().unwrap();
        assert!(has_live_member(pgid), "the grandchild still runs");
        kill_and_wait_gone(pgid);
        assert!(!has_live_member(pgid));
    }
}
