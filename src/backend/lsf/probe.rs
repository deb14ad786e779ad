//! [`LsfProbe`]: what LSF says about a run's workers, for `blockorch status` — one `bjobs` for
//! every job array the ledger's worker registry lists.

use super::bjobs::{bjobs_args, BjobsQuery};
use super::job_id::LsfJobId;
use super::states::job_status;
use crate::backend::command::{CommandConfig, CommandRunner};
use crate::backend::probe::{SchedulerProbe, SchedulerView};
use crate::ledger::WorkerEntry;
use std::collections::{BTreeSet, HashMap};

/// Asks LSF about the `lsf` workers of a ledger's registry (others get `None`).
#[derive(Debug, Default)]
pub struct LsfProbe {
    runner: CommandRunner,
    query: BjobsQuery,
}

impl LsfProbe {
    /// A probe running the scheduler commands with `commands`.
    pub fn new(commands: CommandConfig) -> LsfProbe {
        LsfProbe {
            runner: CommandRunner::new(commands),
            query: BjobsQuery::default(),
        }
    }
}

impl SchedulerProbe for LsfProbe {
    fn states(&mut self, workers: &[&WorkerEntry]) -> Vec<Option<SchedulerView>> {
        let keys: Vec<Option<LsfJobId>> = workers
            .iter()
            .map(|w| {
                w.job_id
                    .as_deref()
                    .filter(|_| w.backend == "lsf")
                    .and_then(LsfJobId::parse)
            })
            .collect();
        // By array id: bjobs then lists every element of the array.
        let arrays: BTreeSet<String> = keys.iter().flatten().map(|k| k.job.to_string()).collect();
        if arrays.is_empty() {
            return vec![None; workers.len()];
        }
        let ids: Vec<String> = arrays.into_iter().collect();
        let rows = match self.query.run(&mut self.runner, |f| bjobs_args(&ids, f)) {
            Ok(out) => out.rows,
            Err(e) => {
                tracing::warn!("cannot ask LSF about the workers: {e}");
                return vec![None; workers.len()];
            }
        };
        let found: HashMap<LsfJobId, SchedulerView> = rows
            .into_iter()
            .map(|row| {
                let state = job_status(&row.stat, row.exit_code, row.exit_reason.as_deref());
                let view = SchedulerView {
                    state,
                    node: row.exec_host,
                };
                (row.id, view)
            })
            .collect();
        keys.iter()
            .map(|k| k.and_then(|k| found.get(&k).cloned()))
            .collect()
    }
}
