//! The scheduler's view of the run's workers (e.g. squeue's PENDING/RUNNING), shown next to
//! what the ledger says about them.

use crate::backend::JobStatus;
use crate::ledger::WorkerEntry;

/// Asks a scheduler about workers, one query for all of them.
///
/// The SLURM backend provides the implementation for `slurm` workers (one `squeue` for every
/// job id); until then, and for backends without a scheduler, [`NoScheduler`] answers `None`.
pub trait SchedulerProbe {
    /// The scheduler's state of each worker in `workers` (same order); `None` when unknown
    /// or not a job of this scheduler.
    fn states(&mut self, workers: &[&WorkerEntry]) -> Vec<Option<JobStatus>>;
}

/// A probe that knows nothing: every worker's scheduler state is `None`.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoScheduler;

impl SchedulerProbe for NoScheduler {
    fn states(&mut self, workers: &[&WorkerEntry]) -> Vec<Option<JobStatus>> {
        vec![None; workers.len()]
    }
}

/// The probe `blockorch status` uses. No backend answers yet; the SLURM backend adds one
/// `squeue` for the `slurm` workers here (other workers keep `None`).
pub fn scheduler_probe() -> Box<dyn SchedulerProbe> {
    Box::new(NoScheduler)
}
