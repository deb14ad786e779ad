//! Why a job submission failed, and whether retrying or reconciling is needed (shared by the
//! SLURM and LSF backends).

use crate::backend::command::{CommandError, CommandOutput};
use thiserror::Error;

/// What went wrong with one submission (`sbatch`, `bsub`).
#[derive(Debug, Error)]
pub enum SubmitError {
    /// The scheduler refused the job for a reason retrying cannot fix (bad partition or
    /// queue, bad option…).
    #[error("{}", .0.describe())]
    Rejected(CommandOutput),
    /// The submission failed in a way that may be transient.
    #[error("{}", .0.describe())]
    Transient(CommandOutput),
    /// The submission succeeded but printed no job id.
    #[error("cannot read a job id in the answer of {command_line}: {stdout:?}")]
    Unreadable {
        /// The command.
        command_line: String,
        /// What it printed.
        stdout: String,
    },
    /// The submission command could not be run or timed out.
    #[error(transparent)]
    Command(#[from] CommandError),
}

impl SubmitError {
    /// The error of a submission call that exited unsuccessfully: transient when it was killed
    /// by a signal (the login node's OOM killer, …) or printed one of the `transient` message
    /// fragments, otherwise a refusal.
    pub fn of_failure(output: CommandOutput, transient: &[&str]) -> SubmitError {
        let text = format!("{}\n{}", output.stderr, output.stdout);
        if output.code.is_none() || transient.iter().any(|t| text.contains(t)) {
            SubmitError::Transient(output)
        } else {
            SubmitError::Rejected(output)
        }
    }

    /// True when retrying may help.
    pub fn is_transient(&self) -> bool {
        match self {
            SubmitError::Transient(_) => true,
            SubmitError::Command(e) => e.is_ambiguous(),
            _ => false,
        }
    }

    /// True when the job may exist although the call failed: reconcile before resubmitting.
    pub fn is_ambiguous(&self) -> bool {
        match self {
            // "Socket timed out" and friends can be reported after the job was created.
            SubmitError::Transient(_) | SubmitError::Unreadable { .. } => true,
            SubmitError::Command(e) => e.is_ambiguous(),
            SubmitError::Rejected(_) => false,
        }
    }
}
