//! Cancelling exactly the jobs blockorch started, by id, in batches: the one cancel of the
//! array schedulers, used by their backends and by `blockorch cancel`.

use super::scheduler::ArrayScheduler;
use crate::backend::command::{error_chain, CommandError, CommandOutput};

/// Most ids per cancel call (keeps the command line short on any system).
pub const CANCEL_BATCH: usize = 500;

/// The argument lists cancelling exactly `ids` (`123_4`, `125`, `126.3`, `77[2]`);
/// duplicates are dropped, order kept.
pub fn cancel_batches(ids: &[String]) -> Vec<Vec<String>> {
    let mut seen = std::collections::HashSet::new();
    let unique: Vec<String> = ids
        .iter()
        .filter(|id| seen.insert(id.as_str()))
        .cloned()
        .collect();
    unique
        .chunks(CANCEL_BATCH)
        .map(<[String]>::to_vec)
        .collect()
}

/// How one cancel call went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CancelBatch {
    /// The ids it named.
    pub ids: Vec<String>,
    /// Why it failed; `None` when it succeeded or only said some jobs had already ended.
    pub failure: Option<String>,
}

/// Cancels `ids` with `S`'s cancel program, one call per batch, each made by `run` (the
/// program, its arguments).
pub fn cancel_jobs<S: ArrayScheduler>(
    ids: &[String],
    mut run: impl FnMut(&str, &[String]) -> Result<CommandOutput, CommandError>,
) -> Vec<CancelBatch> {
    cancel_batches(ids)
        .into_iter()
        .map(|batch| {
            let failure = match run(S::CANCEL, &batch) {
                Ok(out) if out.success() || S::already_gone(&out) => None,
                Ok(out) => Some(out.describe()),
                Err(e) => Some(error_chain(&e)),
            };
            CancelBatch {
                ids: batch,
                failure,
            }
        })
        .collect()
}

/// True when `lines` are not all blank and each matches one of `patterns` (a failed cancel
/// call that only says jobs are already gone).
pub fn only_lines_like<'a>(lines: impl Iterator<Item = &'a str>, patterns: &[&str]) -> bool {
    let mut lines = lines.filter(|l| !l.trim().is_empty()).peekable();
    lines.peek().is_some() && lines.all(|l| patterns.iter().any(|p| l.contains(p)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::lsf::Lsf;
    use crate::backend::slurm::Slurm;

    #[test]
    fn batches_unique_ids() {
        let ids: Vec<String> = (0..1200).map(|i| format!("7_{}", i % 1100)).collect();
        let batches = cancel_batches(&ids);
        assert_eq!(
            batches.iter().map(Vec::len).collect::<Vec<_>>(),
            [500, 500, 100]
        );
        assert_eq!(batches[0][0], "7_0");
        assert!(cancel_batches(&[]).is_empty());
    }

    #[test]
    fn batches_keep_exact_ids() {
        let ids: Vec<String> = (1..=1200).map(|i| format!("77[{i}]")).collect();
        let batches = cancel_batches(&ids);
        assert_eq!(
            batches.iter().map(Vec::len).collect::<Vec<_>>(),
            [500, 500, 200]
        );
        assert_eq!(batches[0][0], "77[1]");
    }

    #[test]
    fn scancel_runs_once_per_batch_and_reports_failures() {
        let ids: Vec<String> = (0..501).map(|i| format!("9_{i}")).collect();
        let mut calls = Vec::new();
        let batches = cancel_jobs::<Slurm>(&ids, |program, args| {
            calls.push((program.to_owned(), args.len()));
            let stderr = if args.len() == 1 {
                "scancel: error: Kill job error on job id 9_500: Job/step already completing or completed\n"
            } else {
                "scancel: error: Unable to contact slurm controller\n"
            };
            Ok(CommandOutput::fake(program, Some(1), "", stderr))
        });
        let want = [("scancel".to_owned(), 500), ("scancel".to_owned(), 1)];
        assert_eq!(calls, want);
        assert!(batches[0].failure.is_some());
        assert_eq!(batches[1].failure, None);
    }

    #[test]
    fn bkill_names_exact_ids() {
        let ids: Vec<String> = (1..=1200).map(|i| format!("77[{i}]")).collect();
        let mut calls = Vec::new();
        let batches = cancel_jobs::<Lsf>(&ids, |program, args| {
            calls.push(format!("{program} {}", args[0]));
            Ok(CommandOutput::fake(program, Some(0), "", ""))
        });
        assert_eq!(calls, ["bkill 77[1]", "bkill 77[501]", "bkill 77[1001]"]);
        assert!(batches.iter().all(|b| b.failure.is_none()));
    }

    #[test]
    fn only_matching_lines_and_at_least_one() {
        let p = ["gone"];
        assert!(only_lines_like("a gone\n\nb gone\n".lines(), &p));
        assert!(!only_lines_like("a gone\nerror\n".lines(), &p));
        assert!(!only_lines_like("\n".lines(), &p));
    }
}
