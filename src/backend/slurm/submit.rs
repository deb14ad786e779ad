//! `sbatch`: the exact command line, its answer, and what to do when it fails.
//!
//! The script is written to a file and submitted as `sbatch --parsable <file>`; everything
//! else is in the script's `#SBATCH` lines, so the file alone reproduces the submission. A
//! failure that may be transient (controller unreachable, socket time-out, our own time-out)
//! is retried with back-off, but only after asking `squeue` whether the failed call created
//! the job after all ("reconcile by job name"), so that no worker array is submitted twice.

use super::command::CommandOutput;
use std::path::Path;

/// The answer of `sbatch --parsable`: `123` or `123;cluster`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Submitted {
    /// The job id (for an array: the array's id, `SLURM_ARRAY_JOB_ID`).
    pub job_id: u64,
    /// The cluster, in a multi-cluster setup.
    pub cluster: Option<String>,
}

pub use crate::backend::SubmitError;

/// The arguments of `sbatch` for the script at `script`.
pub fn sbatch_args(script: &Path) -> Vec<String> {
    vec!["--parsable".into(), script.display().to_string()]
}

/// Messages of failures that go away by themselves (controller busy, restarting, failing
/// over, network trouble).
const TRANSIENT: &[&str] = &[
    "Socket timed out",
    "Unable to contact slurm controller",
    "Slurm temporarily unable to accept job",
    "Resource temporarily unavailable",
    "Zero Bytes were transmitted or received",
    "Connection refused",
    "Connection timed out",
    "Transport endpoint is not connected",
    "Communication connection failure",
    "Slurmctld is busy",
    "Job submit/allocate failed: Resource temporarily unavailable",
];

/// Reads the result of one `sbatch --parsable` call.
pub fn parse_sbatch(output: CommandOutput) -> Result<Submitted, SubmitError> {
    if !output.success() {
        return Err(SubmitError::of_failure(output, TRANSIENT));
    }
    parse_job_id(&output.stdout).ok_or(SubmitError::Unreadable {
        command_line: output.command_line,
        stdout: output.stdout,
    })
}

/// Parses `123`, `123;cluster` or `Submitted batch job 123` (the last non-empty line counts;
/// sbatch may print warnings before it).
pub fn parse_job_id(stdout: &str) -> Option<Submitted> {
    let line = stdout.lines().map(str::trim).rfind(|l| !l.is_empty())?;
    let line = line.strip_prefix("Submitted batch job ").unwrap_or(line);
    let (id, cluster) = match line.split_once(';') {
        Some((id, cluster)) => (
            id,
            Some(cluster.trim().to_owned()).filter(|c| !c.is_empty()),
        ),
        None => (line, None),
    };
    let id = id.split_whitespace().next()?;
    Some(Submitted {
        job_id: id.parse().ok()?,
        cluster,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(code: Option<i32>, stdout: &str, stderr: &str) -> CommandOutput {
        CommandOutput::fake("sbatch --parsable x", code, stdout, stderr)
    }

    #[test]
    fn job_ids() {
        let id = |s| parse_job_id(s).map(|s| (s.job_id, s.cluster));
        assert_eq!(id("23\n"), Some((23, None)));
        assert_eq!(id("Submitted batch job 22\n"), Some((22, None)));
        assert_eq!(id("123;blockorch\n"), Some((123, Some("blockorch".into()))));
        assert_eq!(id("sbatch: warning: x\n77\n"), Some((77, None)));
        assert_eq!(id(""), None);
        assert_eq!(id("oops"), None);
    }

    #[test]
    fn classifies_failures() {
        // Captured from this cluster (sbatch exits 1 for every error).
        let rejected = parse_sbatch(out(
            Some(1),
            "",
            include_str!("testdata/sbatch_invalid_partition.stderr"),
        ))
        .unwrap_err();
        assert!(!rejected.is_transient() && !rejected.is_ambiguous());
        assert_eq!(
            rejected.to_string(),
            "sbatch --parsable x failed (exit code 1): sbatch: error: invalid partition specified: nosuch | \
             sbatch: error: Batch job submission failed: Invalid partition name specified"
        );
        let down = parse_sbatch(out(
            Some(1),
            "",
            include_str!("testdata/sbatch_controller_down.stderr"),
        ))
        .unwrap_err();
        assert!(down.is_transient());
        let timeout = parse_sbatch(out(
            Some(1),
            "",
            "sbatch: error: Socket timed out on send/recv operation\n",
        ))
        .unwrap_err();
        assert!(timeout.is_transient() && timeout.is_ambiguous());
        assert!(parse_sbatch(out(None, "", "")).unwrap_err().is_transient());
        assert!(matches!(
            parse_sbatch(out(Some(0), "hello\n", "")),
            Err(SubmitError::Unreadable { .. })
        ));
        assert_eq!(parse_sbatch(out(Some(0), "41\n", "")).unwrap().job_id, 41);
    }
}
