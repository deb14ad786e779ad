//! The `"backend"` field of a task file: where the workers run.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a run's workers run; the command line's `--backend` overrides it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendName {
    /// Child processes on this machine.
    Local,
    /// SLURM jobs.
    Slurm,
    /// LSF jobs.
    Lsf,
}

impl BackendName {
    /// The name as written in a task file (`slurm`).
    pub fn as_str(self) -> &'static str {
        match self {
            BackendName::Local => "local",
            BackendName::Slurm => "slurm",
            BackendName::Lsf => "lsf",
        }
    }

    /// The name written as `text`, if it is one.
    pub fn parse(text: &str) -> Option<BackendName> {
        [BackendName::Local, BackendName::Slurm, BackendName::Lsf]
            .into_iter()
            .find(|b| b.as_str() == text)
    }
}

impl fmt::Display for BackendName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
