//! The `lsf` section of a task: how the LSF backend submits this task's workers.

use super::job_setup::JobSetup;
use super::scheduler_values::{
    CommandWord, LsfDirective, LsfResource, LsfWalltime, Memory, SchedulerName, SetupLine,
    TemplatePath,
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
    /// Shell lines run in the job script before the agent starts (`module load …`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub setup: Vec<SetupLine>,
    /// Words put before the worker command (`["apptainer", "exec", "--nv", "image.sif"]`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub container_prefix: Vec<CommandWord>,
    /// `%M` of each array (`-J name[1-N]%M`): at most this many workers run at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_running: Option<NonZeroU32>,
    /// `-r` (rerunnable) when true; default false.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requeue: Option<bool>,
}

impl LsfSettings {
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
