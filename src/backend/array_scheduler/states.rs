//! Job states a scheduler reports that this version of blockorch does not know: treated as
//! not finished, and warned about once per state.

use crate::backend::JobStatus;
use std::collections::HashSet;

/// Remembers which unknown states were already warned about.
#[derive(Debug, Default)]
pub struct UnknownStates {
    warned: HashSet<String>,
}

impl UnknownStates {
    /// Logs a warning the first time `status` is an unknown state of `scheduler` (`SLURM`,
    /// `LSF`); returns `status`.
    pub fn check(&mut self, scheduler: &str, job: &str, status: JobStatus) -> JobStatus {
        if let JobStatus::Unknown(state) = &status {
            if self.warned.insert(state.clone()) {
                tracing::warn!(
                    job,
                    state = %state,
                    "{scheduler} reported a job state this version of blockorch does not know; \
                     treating it as not finished (warned once per state)"
                );
            }
        }
        status
    }

    /// How many distinct unknown states were seen.
    pub fn len(&self) -> usize {
        self.warned.len()
    }

    /// True when no unknown state was seen.
    pub fn is_empty(&self) -> bool {
        self.warned.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_unknown_state_counts_once() {
        let mut unknown = UnknownStates::default();
        let new = JobStatus::Unknown("NEW".into());
        assert_eq!(unknown.check("X", "1", new.clone()), new);
        unknown.check("X", "2", new);
        unknown.check("X", "2", JobStatus::Running);
        assert_eq!(unknown.len(), 1);
        assert!(!unknown.is_empty());
    }
}
