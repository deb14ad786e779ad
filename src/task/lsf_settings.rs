//! The `lsf` section of a task: how the LSF backend submits this task's workers.

use super::scheduler_values::{
    LsfDirective, LsfResource, LsfWalltime, Memory, SchedulerName, TemplatePath,
};
use serde::{Deserialize, Serialize};
use std::num::NonZeroU32;

/// LSF submission settings of one task; every field is optional and validated on parsing so
/// that nothing can inject shell text or extra `#BSUB` lines. Unset fields leave the decision
/// to the cluster's defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "an object of LSF settings")]
pub struct LsfSettings {
    /// `-q` queue.
    pub queue: Option<SchedulerName>,
    /// `-P` project to charge.
    pub project: Option<SchedulerName>,
    /// `-W` run limit of each worker job, `[hours:]minutes`.
    pub walltime: Option<LsfWalltime>,
    /// `-n` slots of each worker.
    pub cpus_per_worker: Option<NonZeroU32>,
    /// Memory of each worker (`-M` and `rusage[mem=…]`; unit as the site configures it).
    pub mem: Option<Memory>,
    /// GPUs per worker (`-gpu "num=N"`); 0 or unset requests none.
    pub gpus_per_worker: Option<u32>,
    /// `-R` resource requirement string.
    pub resource: Option<LsfResource>,
    /// Further `#BSUB` options, each `-name` or `-name value`.
    pub extra_directives: Vec<LsfDirective>,
    /// A job-script template to use instead of the built-in one.
    pub template: Option<TemplatePath>,
}
