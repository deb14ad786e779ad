//! `scancel` of exactly the jobs blockorch started, by id, in batches.

/// Most ids per `scancel` call (keeps the command line short on any system).
pub const CANCEL_BATCH: usize = 500;

/// The `scancel` argument lists cancelling exactly `ids` (`123_4`, `125`, `126.3`); duplicates
/// are dropped, order kept.
pub fn scancel_batches(ids: &[String]) -> Vec<Vec<String>> {
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

/// True when scancel's stderr only says some jobs had already finished (not a failure).
pub fn only_already_finished(stderr: &str) -> bool {
    stderr.lines().filter(|l| !l.trim().is_empty()).all(|l| {
        l.contains("Job/step already completing or completed")
            || l.contains("Invalid job id specified")
            || l.contains("already completing or completed")
    })
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
}
