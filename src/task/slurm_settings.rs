//! The `slurm` section of a task: how the SLURM backend submits this task's workers.

use super::job_setup::JobSetup;
use super::orchestrator_settings::OrchestratorSettings;
use super::scheduler_values::{
    CommandWord, Memory, PartitionList, SchedulerName, SetupLine, SlurmConstraint, SlurmDirective,
    SlurmTime, TemplatePath,
};
use serde::{Deserialize, Serialize};
use std::num::NonZeroU32;

/// SLURM submission settings of one task; every field is optional and validated on parsing so
/// that nothing can inject shell text or extra `#SBATCH` lines. Unset fields leave the
/// decision to the cluster's defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    default,
    deny_unknown_fields,
    expecting = "an object of SLURM settings"
)]
pub struct SlurmSettings {
    /// `--partition`: one partition, or several separated by commas.
    pub partition: Option<PartitionList>,
    /// `--account` to charge.
    pub account: Option<SchedulerName>,
    /// `--qos`.
    pub qos: Option<SchedulerName>,
    /// `--time`: the walltime of each worker job.
    pub time: Option<SlurmTime>,
    /// `--cpus-per-task` of each worker.
    pub cpus_per_worker: Option<NonZeroU32>,
    /// `--mem` of each worker (`16G`, `500M`, `1024` = MB).
    pub mem: Option<Memory>,
    /// GPUs per worker; 0 or unset requests none.
    pub gpus_per_worker: Option<u32>,
    /// `--constraint` feature expression.
    pub constraint: Option<SlurmConstraint>,
    /// Further `#SBATCH` options, each one `--name` or `--name=value`.
    pub extra_directives: Vec<SlurmDirective>,
    /// A job-script template to use instead of the built-in one.
    pub template: Option<TemplatePath>,
    /// Shell lines run in the job script before the agent starts (`module load …`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub setup: Vec<SetupLine>,
    /// Words put before the worker command (`["apptainer", "exec", "--nv", "image.sif"]`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub container_prefix: Vec<CommandWord>,
    /// `%M` of each array: at most this many of the task's workers run at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_running: Option<NonZeroU32>,
    /// `--requeue` (true) or `--no-requeue` (false, the default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requeue: Option<bool>,
    /// Resources of the detached orchestrator's job (`submit --detach`).
    #[serde(skip_serializing_if = "OrchestratorSettings::is_empty")]
    pub orchestrator: OrchestratorSettings,
}

impl SlurmSettings {
    /// The set-up lines, container prefix, array throttle and requeue policy.
    pub fn job_setup(&self) -> JobSetup {
        JobSetup::new(
            &self.setup,
            &self.container_prefix,
            self.max_running,
            self.requeue,
        )
    }
}
