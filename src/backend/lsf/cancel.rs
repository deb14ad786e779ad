//! LSF's answer when a job to cancel is already gone; the cancelling itself (`bkill` by id,
//! `123[4]`, in batches) is [`crate::backend::array_scheduler::cancel_jobs`].
//!
//! bkill answers one line per id: `Job <123[4]> is being terminated`, or for an element that is
//! gone `Job <123[4]>: Job has already finished` / `Job <123[4]>: No matching job found` (exit
//! status 255); those are not failures of the cancellation.

use crate::backend::array_scheduler::only_lines_like;

pub use crate::backend::array_scheduler::cancel_batches as bkill_batches;

/// What bkill prints, on either stream, when nothing went wrong but some jobs had ended.
const ALREADY_GONE: &[&str] = &[
    "is being terminated",
    "Job has already finished",
    "No matching job found",
    "is not found",
];

/// True when bkill's complaints are only about jobs that already ended or are unknown.
pub fn only_already_finished(stdout: &str, stderr: &str) -> bool {
    only_lines_like(stdout.lines().chain(stderr.lines()), ALREADY_GONE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mixed_answer_is_no_failure() {
        assert!(only_already_finished(
            include_str!("testdata/bkill_mixed.stdout"),
            include_str!("testdata/bkill_mixed.stderr")
        ));
        assert!(!only_already_finished("", "LSF is down. Please wait...\n"));
        assert!(!only_already_finished(
            "Job <1> is being terminated\n",
            "bkill: -z: option not simulated\n"
        ));
    }
}
