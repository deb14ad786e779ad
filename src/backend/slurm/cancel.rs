//! SLURM's answer when a job to cancel is already gone; the cancelling itself (`scancel` by id,
//! in batches) is [`crate::backend::array_scheduler::cancel_jobs`].

use crate::backend::array_scheduler::only_lines_like;

pub use crate::backend::array_scheduler::cancel_batches as scancel_batches;

/// What scancel prints about a job that had already ended.
const ALREADY_GONE: &[&str] = &[
    "Job/step already completing or completed",
    "Invalid job id specified",
    "already completing or completed",
];

/// True when scancel's stderr only says some jobs had already finished (not a failure).
pub fn only_already_finished(stderr: &str) -> bool {
    only_lines_like(stderr.lines(), ALREADY_GONE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_jobs_are_not_errors() {
        assert!(only_already_finished(
            "scancel: error: Kill job error on job id 23: Job/step already completing or completed\n"
        ));
        assert!(!only_already_finished(
            "scancel: error: Unable to contact slurm controller (connect failure)\n"
        ));
    }
}
