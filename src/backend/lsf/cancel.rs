//! `bkill` of exactly the jobs blockorch started, by id (`123[4]`), in batches.
//!
//! bkill answers one line per id: `Job <123[4]> is being terminated`, or for an element that is
//! gone `Job <123[4]>: Job has already finished` / `Job <123[4]>: No matching job found` (exit
//! status 255); those are not failures of the cancellation.

pub use crate::backend::slurm::scancel_batches as bkill_batches;

/// True when bkill's complaints are only about jobs that already ended or are unknown.
pub fn only_already_finished(stdout: &str, stderr: &str) -> bool {
    stdout
        .lines()
        .chain(stderr.lines())
        .filter(|l| !l.trim().is_empty())
        .all(|l| {
            l.contains("is being terminated")
                || l.contains("Job has already finished")
                || l.contains("No matching job found")
                || l.contains("is not found")
        })
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
    fn batches_keep_exact_ids() {
        let ids: Vec<String> = (1..=1200).map(|i| format!("77[{i}]")).collect();
        let batches = bkill_batches(&ids);
        assert_eq!(
            batches.iter().map(Vec::len).collect::<Vec<_>>(),
            [500, 500, 200]
        );
        assert_eq!(batches[0][0], "77[1]");
    }
}
