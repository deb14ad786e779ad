//! The scheduler's view of the run's workers (e.g. squeue's PENDING/RUNNING), shown next to
//! what the ledger says about them.

use crate::backend::JobStatus;
use crate::ledger::WorkerEntry;
use serde::Serialize;

/// What a scheduler says about one worker's job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SchedulerView {
    /// The job's state.
    pub state: JobStatus,
    /// The node(s) it runs or ran on, when the scheduler says.
    pub node: Option<String>,
}

/// Asks a scheduler about workers, one query for all of them.
///
/// The SLURM backend provides the implementation for `slurm` workers (one `squeue` for every
/// job id); until then, and for backends without a scheduler, [`NoScheduler`] answers `None`.
pub trait SchedulerProbe {
    /// The scheduler's state of each worker in `workers` (same order); `None` when unknown
    /// or not a job of this scheduler.
    fn states(&mut self, workers: &[&WorkerEntry]) -> Vec<Option<SchedulerView>>;
}

/// A probe that knows nothing: every worker's scheduler state is `None`.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoScheduler;

impl SchedulerProbe for NoScheduler {
    fn states(&mut self, workers: &[&WorkerEntry]) -> Vec<Option<SchedulerView>> {
        vec![None; workers.len()]
    }
}

/// The probe `blockorch status` uses: SLURM answers for `slurm` workers (one `squeue`, and
/// one `sacct` for jobs that left the queue; no call at all when the run has no SLURM worker);
/// other workers keep `None`.
pub fn scheduler_probe() -> Box<dyn SchedulerProbe> {
    Box::new(crate::backend::slurm::SlurmProbe::new(
        crate::backend::slurm::CommandConfig::default(),
    ))
}
