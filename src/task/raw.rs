//! The task file as written, before validation: serde types mirroring the JSON.

use super::backend_name::BackendName;
use super::duration;
use super::lsf_settings::LsfSettings;
use super::slurm_settings::SlurmSettings;
use super::spec::{CheckSpec, CommandSpec, WorkerSpec};
use serde::Deserialize;
use std::time::Duration;

/// `{"tasks": [...]}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object with a \"tasks\" list")]
pub(crate) struct RawTaskList {
    pub(crate) tasks: Vec<RawTask>,
    #[serde(default)]
    pub(crate) backend: Option<BackendName>,
}

/// One task object as written; defaults are filled in here.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a task object")]
pub(crate) struct RawTask {
    pub(crate) name: String,
    pub(crate) total_roi: RawRoi,
    pub(crate) read_roi: RawRoi,
    pub(crate) write_roi: RawRoi,
    #[serde(default)]
    pub(crate) fit: Option<String>,
    #[serde(default = "yes")]
    pub(crate) read_write_conflict: bool,
    #[serde(default)]
    pub(crate) upstream_tasks: Vec<String>,
    #[serde(default = "one")]
    pub(crate) num_workers: u32,
    #[serde(default = "two")]
    pub(crate) max_retries: u32,
    #[serde(default, deserialize_with = "duration::deserialize_opt")]
    pub(crate) timeout: Option<Duration>,
    pub(crate) worker: WorkerSpec,
    #[serde(default)]
    pub(crate) check: Option<CheckSpec>,
    #[serde(default)]
    pub(crate) init: Option<CommandSpec>,
    #[serde(default)]
    pub(crate) slurm: SlurmSettings,
    #[serde(default)]
    pub(crate) lsf: LsfSettings,
    /// Only in a single-task file (in a list it belongs next to `"tasks"`).
    #[serde(default)]
    pub(crate) backend: Option<BackendName>,
}

/// A ROI as written: plain integer lists, checked for dimensions before becoming a `Roi`.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "an object with \"offset\" and \"shape\" lists"
)]
pub(crate) struct RawRoi {
    pub(crate) offset: Vec<i64>,
    pub(crate) shape: Vec<i64>,
}

fn yes() -> bool {
    true
}

fn one() -> u32 {
    1
}

fn two() -> u32 {
    2
}
