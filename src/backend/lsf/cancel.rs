//! `bkill` of exactly the jobs blockorch started, by id (`123[4]`), in batches (the shared
//! [`crate::backend::array_scheduler::cancel_jobs`]).
//!
//! bkill answers one line per id: `Job <123[4]> is being terminated`, or for an element that is
//! gone `Job <123[4]>: Job has already finished` / `Job <123[4]>: No matching job found` (exit
//! status 255); those are not failures of the cancellation.

use super::backend::Lsf;
use crate::backend::array_scheduler::{self, only_lines_like, CancelBatch};
use crate::backend::command::{CommandError, CommandOutput};

pub use crate::backend::array_scheduler::cancel_batches as bkill_batches;

/// True when bkill's complaints are only about jobs that already ended or are unknown.
pub fn only_already_finished(stdout: &str, stderr: &str) -> bool {
    only_lines_like(
        stdout.lines().chain(stderr.lines()),
        &[
            "is being terminated",
            "Job has already finished",
            "No matching job found",
            "is not found",
        ],
    )
}

/// Cancels LSF jobs `ids` with `bkill`, in batches, each call made by `run`.
pub fn cancel_jobs(
    ids: &[String],
    run: impl FnMut(&str, &[String]) -> Result<CommandOutput, CommandError>,
) -> Vec<CancelBatch> {
    array_scheduler::cancel_jobs::<Lsf>(ids, run)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_jobs_are_not_errors() {
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

    #[test]
    fn bkill_names_exact_ids() {
        let ids: Vec<String> = (1..=1200).map(|i| format!("77[{i}]")).collect();
        let mut calls = Vec::new();
        let batches = cancel_jobs(&ids, |program, args| {
            calls.push(format!("{program} {}", args[0]));
            Ok(CommandOutput::fake(program, Some(0), "", ""))
        });
        assert_eq!(calls, ["bkill 77[1]", "bkill 77[501]", "bkill 77[1001]"]);
        assert!(batches.iter().all(|b| b.failure.is_none()));
    }
}
