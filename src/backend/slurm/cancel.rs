//! `scancel` of exactly the jobs blockorch started, by id, in batches (the shared
//! [`crate::backend::array_scheduler::cancel_jobs`]), and SLURM's "already gone" answer.

use super::backend::Slurm;
use crate::backend::array_scheduler::{self, only_lines_like, CancelBatch};
use crate::backend::command::{CommandError, CommandOutput};

pub use crate::backend::array_scheduler::cancel_batches as scancel_batches;

/// True when scancel's stderr only says some jobs had already finished (not a failure).
pub fn only_already_finished(stderr: &str) -> bool {
    only_lines_like(
        stderr.lines(),
        &[
            "Job/step already completing or completed",
            "Invalid job id specified",
            "already completing or completed",
        ],
    )
}

/// Cancels SLURM jobs `ids` with `scancel`, in batches, each call made by `run`.
pub fn cancel_jobs(
    ids: &[String],
    run: impl FnMut(&str, &[String]) -> Result<CommandOutput, CommandError>,
) -> Vec<CancelBatch> {
    array_scheduler::cancel_jobs::<Slurm>(ids, run)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_unique_ids() {
        let ids: Vec<String> = (0..1200).map(|i| format!("7_{}", i % 1100)).collect();
        let batches = scancel_batches(&ids);
        assert_eq!(
            batches.iter().map(Vec::len).collect::<Vec<_>>(),
            [500, 500, 100]
        );
        assert_eq!(batches[0][0], "7_0");
        assert!(scancel_batches(&[]).is_empty());
    }

    #[test]
    fn finished_jobs_are_not_errors() {
        assert!(only_already_finished(
            "scancel: error: Kill job error on job id 23: Job/step already completing or completed\n"
        ));
        assert!(!only_already_finished(
            "scancel: error: Unable to contact slurm controller (connect failure)\n"
        ));
    }

    #[test]
    fn scancel_runs_once_per_batch_and_reports_failures() {
        let ids: Vec<String> = (0..501).map(|i| format!("9_{i}")).collect();
        let mut calls = Vec::new();
        let batches = cancel_jobs(&ids, |program, args| {
            calls.push((program.to_owned(), args.len()));
            let stderr = if args.len() == 1 {
                "scancel: error: Kill job error on job id 9_500: Job/step already completing or completed\n"
            } else {
                "scancel: error: Unable to contact slurm controller\n"
            };
            Ok(CommandOutput::fake(program, Some(1), "", stderr))
        });
        assert_eq!(
            calls,
            [("scancel".to_owned(), 500), ("scancel".to_owned(), 1)]
        );
        assert!(batches[0].failure.is_some());
        assert_eq!(batches[1].failure, None);
    }
}
