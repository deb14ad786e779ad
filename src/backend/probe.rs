//! The scheduler's view of a run's workers (e.g. squeue's PENDING/RUNNING), which
//! `blockorch status` shows next to what the ledger says about them.

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
/// The SLURM and LSF backends provide implementations for their workers (`SlurmProbe`,
/// `LsfProbe`); for workers without a scheduler, [`NoScheduler`] answers `None`.
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

/// Several probes asked in turn: each worker gets the first answer.
pub struct EachScheduler(pub Vec<Box<dyn SchedulerProbe>>);

impl SchedulerProbe for EachScheduler {
    fn states(&mut self, workers: &[&WorkerEntry]) -> Vec<Option<SchedulerView>> {
        let mut out = vec![None; workers.len()];
        for probe in &mut self.0 {
            for (slot, view) in out.iter_mut().zip(probe.states(workers)) {
                if slot.is_none() {
                    *slot = view;
                }
            }
        }
        out
    }
}

/// The probe `blockorch status` uses: SLURM answers for `slurm` workers (one `squeue`, and
/// one `sacct` for jobs that left the queue), LSF for `lsf` workers (one `bjobs`); neither is
/// called when the run has no worker of its kind; other workers keep `None`.
pub fn scheduler_probe() -> Box<dyn SchedulerProbe> {
    let commands = crate::backend::command::CommandConfig::default;
    Box::new(EachScheduler(vec![
        Box::new(crate::backend::slurm::SlurmProbe::new(commands())),
        Box::new(crate::backend::lsf::LsfProbe::new(commands())),
    ]))
}
