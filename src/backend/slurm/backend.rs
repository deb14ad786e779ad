//! [`Slurm`]: what differs for SLURM in the shared array-scheduler backend — `sbatch` of a
//! script file, elements `123_4` (0-based), one `squeue` per poll and at most one `sacct` for
//! the jobs that left the queue, `scancel` by id.

use super::array::MAX_ARRAY_SIZE;
use super::cancel::only_already_finished;
use super::job_id::{base_id, element_key};
use super::sacct::{self, parse_sacct, sacct_args};
use super::script::ScriptContext;
use super::squeue::{self, parse_squeue, squeue_args};
use super::states::{is_terminal, job_status, UnknownStates};
use super::submit::{parse_sbatch, sbatch_args};
use crate::backend::array_scheduler::{
    self, ArrayBackend, ArrayLimit, ArrayScheduler, LostArray, Query, ScriptJob, Sighting, Watch,
};
use crate::backend::command::{command_line, error_chain, CommandOutput, CommandRunner};
use crate::backend::{BackendError, JobEnd, JobStatus, SubmitError};
use crate::task::{SlurmSettings, TaskSpec};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// The SLURM backend (see `docs/slurm.md`): workers as SLURM job-array elements.
pub type SlurmBackend = ArrayBackend<Slurm>;

/// The directory of a task's job logs and scripts in the ledger.
pub fn log_dir(ledger: &Path, task: &str) -> PathBuf {
    array_scheduler::log_dir::<Slurm>(ledger, task)
}

/// SLURM as an [`ArrayScheduler`]; what it remembers between polls.
#[derive(Debug, Default)]
pub struct Slurm {
    unknown: UnknownStates,
    sacct_warned: bool,
}

impl Slurm {
    /// One `sacct` for `bases`; `None` (warned once) when accounting cannot be queried.
    fn query_sacct(
        &mut self,
        runner: &mut CommandRunner,
        bases: &[String],
    ) -> Option<Vec<sacct::SacctRow>> {
        let problem = match runner.run("sacct", &sacct_args(bases), None) {
            Ok(out) if out.success() => match parse_sacct(&out.stdout) {
                Ok(rows) => return Some(rows),
                Err(e) => e.to_string(),
            },
            Ok(out) => out.describe(),
            Err(e) => error_chain(&e),
        };
        if !self.sacct_warned {
            self.sacct_warned = true;
            tracing::warn!(error = %problem, "cannot query SLURM accounting; jobs gone from squeue are \
                 reported as vanished after the grace period (warned once)");
        }
        None
    }
}

impl ArrayScheduler for Slurm {
    type Settings = SlurmSettings;
    type Key = String;
    type Context = ScriptContext;

    const NAME: &'static str = "slurm";
    const SUBMIT: &'static str = "sbatch";
    const CANCEL: &'static str = "scancel";
    const FIRST_INDEX: u32 = 0;
    const ARRAY_LIMIT: ArrayLimit = MAX_ARRAY_SIZE;
    const ENV_PASSTHROUGH: &'static [&'static str] = &["SLURM_CONF", "RUST_LOG"];
    const SCRIPT_ON_STDIN: bool = false;

    fn settings(task: &TaskSpec) -> (&SlurmSettings, Option<&Path>) {
        let settings = &task.slurm;
        (settings, settings.template.as_ref().map(|p| p.as_path()))
    }

    fn job_setup(task: &TaskSpec) -> crate::task::JobSetup {
        task.slurm.job_setup()
    }

    fn context(
        settings: &SlurmSettings,
        job: ScriptJob<'_>,
    ) -> Result<ScriptContext, BackendError> {
        Ok(ScriptContext::new(settings, job))
    }

    fn submit_args(script: &Path) -> Vec<String> {
        sbatch_args(script)
    }

    fn submit_command_line(program: &Path, script: &Path) -> String {
        command_line(&program.display().to_string(), &sbatch_args(script))
    }

    fn parse_submit(output: CommandOutput) -> Result<u64, SubmitError> {
        parse_sbatch(output).map(|s| s.job_id)
    }

    fn element(array: u64, index: u32) -> String {
        element_key(array, index)
    }

    fn parse_key(job_id: &str) -> Option<String> {
        Some(job_id.to_owned())
    }

    fn array_of(key: &String) -> Option<u64> {
        base_id(key).parse().ok()
    }

    fn worker_id(key: &String) -> String {
        format!("slurm-{key}")
    }

    /// A job of the run in squeue that this backend does not know is the one the failed call
    /// created (squeue shows a pending array as one row, so `count` is not compared).
    fn reconcile(&mut self, runner: &mut CommandRunner, lost: LostArray<'_>) -> Option<u64> {
        let out = runner
            .run("squeue", &squeue_args(lost.run_name), None)
            .ok()
            .filter(|o| o.success())?;
        let rows = parse_squeue(&out.stdout).ok()?;
        rows.iter()
            .filter_map(|row| {
                base_id(&row.id.keys().first().cloned().unwrap_or_default())
                    .parse::<u64>()
                    .ok()
            })
            .filter(|id| !lost.known.contains(id))
            .max()
    }

    fn query(&mut self, runner: &mut CommandRunner, watch: Watch<'_, String>) -> Query<Self> {
        let live = watch.live;
        let names = watch
            .run_names
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join(",");
        let out = runner
            .run("squeue", &squeue_args(&names), None)
            .map_err(|e| BackendError::Query(error_chain(&e)))?;
        if !out.success() {
            return Err(BackendError::Query(out.describe()));
        }
        let rows = parse_squeue(&out.stdout).map_err(|e| BackendError::Query(e.to_string()))?;
        let in_queue = squeue::by_key(&rows);
        let mut found = HashMap::new();
        let mut missing = Vec::new();
        for key in live {
            match in_queue.get(key.as_str()) {
                Some(row) if !is_terminal(&row.state) => {
                    let status = self
                        .unknown
                        .check("SLURM", key, job_status(&row.state, None));
                    found.insert(
                        key.clone(),
                        Sighting::Seen {
                            status,
                            cancelled_by: None,
                        },
                    );
                }
                Some(row) => missing.push((key, Some(row.state.clone()))),
                None => missing.push((key, None)),
            }
        }
        if missing.is_empty() {
            return Ok(found);
        }
        let bases: Vec<String> = missing
            .iter()
            .map(|(k, _)| base_id(k).to_owned())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let accounted = self.query_sacct(runner, &bases);
        let records = accounted.as_deref().map(sacct::by_key).unwrap_or_default();
        for (key, queue_state) in missing {
            let sighting = match records.get(key) {
                Some(row) => Sighting::Seen {
                    status: self
                        .unknown
                        .check("SLURM", key, job_status(&row.state, row.exit)),
                    cancelled_by: row.cancelled_by().map(|uid| format!("uid {uid}")),
                },
                None => Sighting::Missing {
                    after_grace: match queue_state {
                        Some(state) => job_status(&state, None),
                        None => JobStatus::Ended(JobEnd::Vanished),
                    },
                },
            };
            found.insert(key.clone(), sighting);
        }
        Ok(found)
    }

    fn already_gone(output: &CommandOutput) -> bool {
        only_already_finished(&output.stderr)
    }
}
