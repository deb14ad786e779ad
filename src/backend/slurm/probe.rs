//! [`SlurmProbe`]: what SLURM says about a run's workers, for `blockorch status` — one `squeue`
//! for every job id the ledger's worker registry lists, and one `sacct` for those squeue no
//! longer shows.

use super::command::{CommandConfig, CommandRunner};
use super::job_id::base_id;
use super::sacct::{self, parse_sacct, sacct_args};
use super::squeue::{self, parse_squeue};
use super::states::job_status;
use crate::backend::probe::{SchedulerProbe, SchedulerView};
use crate::backend::JobStatus;
use crate::ledger::WorkerEntry;
use std::collections::{BTreeSet, HashMap};

/// Asks SLURM about the `slurm` workers of a ledger's registry (others get `None`).
#[derive(Debug, Default)]
pub struct SlurmProbe {
    runner: CommandRunner,
    nodes: HashMap<String, String>,
}

impl SlurmProbe {
    /// A probe running the scheduler commands with `commands`.
    pub fn new(commands: CommandConfig) -> SlurmProbe {
        SlurmProbe {
            runner: CommandRunner::new(commands),
            nodes: HashMap::new(),
        }
    }

    /// The node(s) job `job_id` runs or ran on, from the last [`SchedulerProbe::states`] call.
    pub fn node(&self, job_id: &str) -> Option<&str> {
        self.nodes
            .get(job_id)
            .map(String::as_str)
            .filter(|n| !n.is_empty() && *n != "None assigned")
    }

    /// Scheduler calls made so far, per program.
    pub fn command_counts(&self) -> super::CommandCounts {
        self.runner.counts()
    }
}

impl SchedulerProbe for SlurmProbe {
    fn states(&mut self, workers: &[&WorkerEntry]) -> Vec<Option<SchedulerView>> {
        let keys: Vec<Option<&str>> = workers
            .iter()
            .map(|w| {
                w.job_id
                    .as_deref()
                    .filter(|_| w.backend == "slurm")
                    .filter(|id| !id.is_empty())
            })
            .collect();
        let ids: BTreeSet<&str> = keys.iter().flatten().copied().collect();
        if ids.is_empty() {
            return vec![None; workers.len()];
        }
        let mut found: HashMap<String, (JobStatus, String)> = HashMap::new();
        // squeue refuses a list in which no job is known any more ("Invalid job id"): then
        // every job is over and sacct answers alone.
        let mut args = vec!["-h".to_owned(), "-j".to_owned()];
        args.push(ids.iter().copied().collect::<Vec<_>>().join(","));
        args.extend(["-o".to_owned(), "%i|%T|%r|%N".to_owned()]);
        if let Ok(out) = self.runner.run("squeue", &args, None) {
            if let Ok(rows) = parse_squeue(&out.stdout) {
                for (key, row) in squeue::by_key(&rows) {
                    found.insert(key, (job_status(&row.state, None), row.nodes.clone()));
                }
            }
        }
        let missing: BTreeSet<String> = ids
            .iter()
            .filter(|id| !found.contains_key(**id))
            .map(|id| base_id(id).to_owned())
            .collect();
        if !missing.is_empty() {
            let bases: Vec<String> = missing.into_iter().collect();
            if let Ok(out) = self.runner.run("sacct", &sacct_args(&bases), None) {
                if let Ok(rows) = parse_sacct(&out.stdout) {
                    for (key, row) in sacct::by_key(&rows) {
                        found.entry(key).or_insert_with(|| {
                            (job_status(&row.state, row.exit), row.nodes.clone())
                        });
                    }
                }
            }
        }
        self.nodes = found
            .iter()
            .map(|(k, (_, nodes))| (k.clone(), nodes.clone()))
            .collect();
        keys.iter()
            .map(|k| {
                let k = (*k)?;
                let (state, _) = found.get(k)?;
                Some(SchedulerView {
                    state: state.clone(),
                    node: self.node(k).map(str::to_owned),
                })
            })
            .collect()
    }
}
