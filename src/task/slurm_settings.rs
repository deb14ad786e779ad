//! The `slurm` section of a task: how the SLURM backend submits this task's workers.

use super::scheduler_values::{
    Memory, PartitionList, SchedulerName, SlurmConstraint, SlurmDirective, SlurmTime, TemplatePath,
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
}
