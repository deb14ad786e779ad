//! What a task's `slurm` or `lsf` section says about the job around the worker agent, in the
//! form the job-script backends share.

use super::scheduler_values::{CommandWord, SetupLine};
use std::num::NonZeroU32;

/// The job's set-up lines, container prefix, array throttle and requeue policy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobSetup {
    /// Shell lines run before the agent starts.
    pub setup: Vec<String>,
    /// Words put before the worker command.
    pub container_prefix: Vec<String>,
    /// `%M`: at most this many elements of one array run at once.
    pub max_running: Option<u32>,
    /// Whether the scheduler may requeue (SLURM) or rerun (LSF `-r`) a job; `None`: the
    /// backend's default (no).
    pub requeue: Option<bool>,
}

impl JobSetup {
    /// The set-up of a scheduler section's validated values.
    pub(crate) fn new(
        setup: &[SetupLine],
        container_prefix: &[CommandWord],
        max_running: Option<NonZeroU32>,
        requeue: Option<bool>,
    ) -> JobSetup {
        JobSetup {
            setup: texts(setup),
            container_prefix: texts(container_prefix),
            max_running: max_running.map(NonZeroU32::get),
            requeue,
        }
    }
}

/// The text of each validated value.
fn texts<T: AsRef<str>>(values: &[T]) -> Vec<String> {
    values.iter().map(|v| v.as_ref().to_owned()).collect()
}
