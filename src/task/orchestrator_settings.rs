//! The `slurm.orchestrator` section: what the job of a detached orchestrator
//! (`submit --detach --backend slurm`) asks for.

use super::scheduler_values::{Memory, PartitionList, SchedulerName, SlurmTime};
use serde::{Deserialize, Serialize};

/// Resources of the detached orchestrator's own job; unset fields fall back to the task's
/// `account`/`qos` and otherwise to the cluster's defaults (the orchestrator needs one CPU and
/// no GPU, so the workers' partition is not used).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    default,
    deny_unknown_fields,
    expecting = "an object of orchestrator job settings"
)]
pub struct OrchestratorSettings {
    /// `--time` of the orchestrator's job: as long as the whole run may take.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<SlurmTime>,
    /// `--partition` of the orchestrator's job.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition: Option<PartitionList>,
    /// `--mem` of the orchestrator's job.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem: Option<Memory>,
    /// `--account` of the orchestrator's job (default: the task's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<SchedulerName>,
    /// `--qos` of the orchestrator's job (default: the task's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qos: Option<SchedulerName>,
}

impl OrchestratorSettings {
    /// True when nothing is set (then the section is left out of the canonical task file).
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}
