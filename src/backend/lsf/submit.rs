//! `bsub`: the script goes on standard input (so that its `#BSUB` lines apply), the reply names
//! the job id, and a failure is either a refusal or something retrying may fix.
//!
//! The reply is `Job <123> is submitted to queue <gpu>.` or `Job <123> is submitted to default
//! queue <normal>.`, possibly after `Job is submitted to <lab> project.` and warnings. A line of
//! that form means the job exists, whatever else bsub printed or its exit status. A failure
//! that may be transient (mbatchd unreachable, busy or failing over; our own time-out) is
//! retried with back-off by the backend, after asking bjobs whether the failed call created the
//! job after all (reconciliation by job name), so that no worker array is submitted twice.

use crate::backend::command::CommandOutput;

/// What `bsub` answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Submitted {
    /// The job id (for an array: the array's id, `LSB_JOBID` of every element).
    pub job_id: u64,
    /// The queue the job went to.
    pub queue: String,
    /// True when bsub chose the queue (`… to default queue <normal>.`).
    pub default_queue: bool,
}

pub use crate::backend::SubmitError;

/// The arguments of `bsub`: none, everything is in the script's `#BSUB` lines, which bsub reads
/// from standard input (`bsub < script`).
pub fn bsub_args() -> Vec<String> {
    Vec::new()
}

/// Fragments of LSF messages about failures that go away by themselves: the master batch
/// daemon down, restarting, busy or unreachable, and network trouble.
const TRANSIENT: &[&str] = &[
    "LSF is down",
    "Please wait",
    "not responding",
    "still trying",
    "Cannot connect",
    "cannot connect",
    "Failed in an LSF library call",
    "Master LIM is down",
    "LIM is down",
    "mbatchd is busy",
    "Batch system concurrent query limit exceeded",
    "temporarily unavailable",
    "Timeout",
    "timed out",
    "Connection refused",
    "Connection reset",
    "Communication time out",
    "Unable to contact",
];

/// Reads the result of one `bsub` call.
pub fn parse_bsub(output: CommandOutput) -> Result<Submitted, SubmitError> {
    if let Some(submitted) = parse_submission(&output.stdout) {
        if !output.success() {
            tracing::warn!(
                error = %output.describe(),
                job_id = submitted.job_id,
                "bsub reported a failure but submitted the job"
            );
        }
        return Ok(submitted);
    }
    if !output.success() {
        return Err(SubmitError::of_failure(output, TRANSIENT));
    }
    Err(SubmitError::Unreadable {
        command_line: output.command_line,
        stdout: output.stdout,
    })
}

/// Finds `Job <123> is submitted to [default ]queue <name>.` among bsub's lines.
pub fn parse_submission(stdout: &str) -> Option<Submitted> {
    stdout.lines().find_map(|line| {
        let rest = line.trim().strip_prefix("Job <")?;
        let (id, rest) = rest.split_once('>')?;
        let rest = rest.strip_prefix(" is submitted to ")?;
        let (default_queue, rest) = match rest.strip_prefix("default queue <") {
            Some(rest) => (true, rest),
            None => (false, rest.strip_prefix("queue <")?),
        };
        let (queue, _) = rest.split_once('>')?;
        Some(Submitted {
            job_id: id.parse().ok()?,
            queue: queue.to_owned(),
            default_queue,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies() {
        let s = |t| parse_submission(t).map(|s| (s.job_id, s.queue, s.default_queue));
        assert_eq!(
            s("Job <123> is submitted to queue <gpu>.\n"),
            Some((123, "gpu".into(), false))
        );
        assert_eq!(
            s("Job <124> is submitted to default queue <normal>.\n"),
            Some((124, "normal".into(), true))
        );
        assert_eq!(
            s(include_str!("testdata/bsub_project.stdout")),
            Some((102, "short".into(), false))
        );
        assert_eq!(s("Job is submitted to <lab> project.\n"), None);
        assert_eq!(s(""), None);
        assert_eq!(s("Job <x> is submitted to queue <q>."), None);
    }

    #[test]
    fn classifies_failures() {
        let rejected = parse_bsub(CommandOutput::fake(
            "bsub",
            Some(255),
            "",
            include_str!("testdata/bsub_no_such_queue.stderr"),
        ))
        .unwrap_err();
        assert!(!rejected.is_transient() && !rejected.is_ambiguous());
        assert_eq!(
            rejected.to_string(),
            "bsub failed (exit code 255): nosuch: No such queue. Job not submitted."
        );
        let down = parse_bsub(CommandOutput::fake(
            "bsub",
            Some(255),
            "",
            "LSF is down. Please wait...\n",
        ))
        .unwrap_err();
        assert!(down.is_transient() && down.is_ambiguous());
        let busy = parse_bsub(CommandOutput::fake(
            "bsub",
            Some(255),
            "",
            "batch system daemon not responding ... still trying\n",
        ))
        .unwrap_err();
        assert!(busy.is_transient());
        assert!(parse_bsub(CommandOutput::fake("bsub", None, "", ""))
            .unwrap_err()
            .is_transient());
        assert!(matches!(
            parse_bsub(CommandOutput::fake("bsub", Some(0), "hello\n", "")),
            Err(SubmitError::Unreadable { .. })
        ));
        // A job id wins over an exit status: the job exists.
        let id = parse_bsub(CommandOutput::fake(
            "bsub",
            Some(255),
            "Job <77> is submitted to default queue <normal>.\n",
            "warning\n",
        ))
        .unwrap();
        assert_eq!(id.job_id, 77);
    }
}
