//! `sacct`: how jobs that `squeue` no longer shows ended, in one call per poll.
//!
//! `sacct -X -n -P -j <ids> -o JobIDRaw,JobID,JobName,State,ExitCode,NodeList` asks the
//! accounting database about exactly the missing jobs. Jobs are selected by id, not by
//! `--name`: without `-j`, sacct only lists jobs that ran since midnight, so a job cancelled
//! while pending would never be found (measured on SLURM 22.05). Array ids are given as the
//! array's id (`123`), which lists every element.

use super::job_id::JobRef;
use super::parse::{split_lines, ParseError};
use super::states::{ExitCode, StateText};
use std::collections::HashMap;

/// One line of the accounting query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SacctRow {
    /// `JobIDRaw`: the unique job id (an array element has its own).
    pub raw_id: String,
    /// `JobID`: `123`, `123_4`, `123_[5-9%2]` or a step `123.0`.
    pub id: JobRef,
    /// The job (or step) name.
    pub name: String,
    /// The state, with `CANCELLED by <uid>` kept whole.
    pub state: String,
    /// `exit:signal`, if readable.
    pub exit: Option<ExitCode>,
    /// Node list (`None assigned` for jobs that never started).
    pub nodes: String,
}

impl SacctRow {
    /// The uid that cancelled the job, if sacct says.
    pub fn cancelled_by(&self) -> Option<u32> {
        StateText::parse(&self.state).cancelled_by
    }
}

/// The output columns, in order.
pub const SACCT_FORMAT: &str = "JobIDRaw,JobID,JobName,State,ExitCode,NodeList";

/// The arguments of the one `sacct` call per poll, for the jobs `base_ids` (allocations only,
/// no steps).
pub fn sacct_args(base_ids: &[String]) -> Vec<String> {
    vec![
        "-X".into(),
        "-n".into(),
        "-P".into(),
        "-j".into(),
        base_ids.join(","),
        "-o".into(),
        SACCT_FORMAT.into(),
    ]
}

/// The arguments listing the steps of job `job_id` (inside an allocation).
pub fn sacct_steps_args(job_id: &str) -> Vec<String> {
    vec![
        "-n".into(),
        "-P".into(),
        "-j".into(),
        job_id.into(),
        "-o".into(),
        SACCT_FORMAT.into(),
    ]
}

/// Parses sacct output in [`SACCT_FORMAT`].
pub fn parse_sacct(text: &str) -> Result<Vec<SacctRow>, ParseError> {
    Ok(split_lines("sacct", text, 6)?
        .into_iter()
        .map(|f| SacctRow {
            raw_id: f[0].trim().to_owned(),
            id: JobRef::parse(f[1]),
            name: f[2].to_owned(),
            state: f[3].trim().to_owned(),
            exit: ExitCode::parse(f[4]),
            nodes: f[5].trim().to_owned(),
        })
        .collect())
}

/// The rows by key (`123`, `123_4`, `123.0`). A row for one element wins over a pending-range
/// row that still lists it (sacct keeps the range record of the elements that were pending
/// when the array was last updated, so it goes stale as elements start).
pub fn by_key(rows: &[SacctRow]) -> HashMap<String, &SacctRow> {
    let mut map = HashMap::new();
    for row in rows
        .iter()
        .filter(|r| matches!(r.id, JobRef::PendingRange { .. }))
    {
        for key in row.id.keys() {
            map.insert(key, row);
        }
    }
    for row in rows
        .iter()
        .filter(|r| !matches!(r.id, JobRef::PendingRange { .. }))
    {
        for key in row.id.keys() {
            map.insert(key, row);
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::slurm::states::job_status;
    use crate::backend::{JobEnd, JobStatus};

    fn statuses(text: &str) -> HashMap<String, JobStatus> {
        let rows = parse_sacct(text).unwrap();
        by_key(&rows)
            .into_iter()
            .map(|(k, r)| (k, job_status(&r.state, r.exit)))
            .collect()
    }

    #[test]
    fn failures_signals_cancellations() {
        let s = statuses(include_str!("testdata/sacct_failed_signal_cancelled.txt"));
        assert_eq!(
            s["23"],
            JobStatus::Ended(JobEnd::Failed {
                exit_code: Some(1),
                signal: None
            })
        );
        assert_eq!(
            s["24"],
            JobStatus::Ended(JobEnd::Failed {
                exit_code: None,
                signal: Some(9)
            })
        );
        assert_eq!(s["25"], JobStatus::Ended(JobEnd::Completed));
        assert_eq!(s["26"], JobStatus::Ended(JobEnd::Cancelled));
        assert_eq!(s["22_0"], JobStatus::Ended(JobEnd::Completed));
        let rows = parse_sacct(include_str!("testdata/sacct_failed_signal_cancelled.txt")).unwrap();
        assert_eq!(rows[3].cancelled_by(), Some(0));
        assert_eq!(rows[4].raw_id, "29");
        assert_eq!(rows[4].nodes, "node1");
    }

    #[test]
    fn infrastructure_ends() {
        let s = statuses(include_str!(
            "testdata/sacct_timeout_nodefail_oom_deadline.txt"
        ));
        assert_eq!(s["31"], JobStatus::Ended(JobEnd::Timeout));
        assert_eq!(s["32"], JobStatus::Ended(JobEnd::NodeFail));
        assert_eq!(s["34"], JobStatus::Ended(JobEnd::Cancelled));
        assert_eq!(s["35"], JobStatus::Ended(JobEnd::Deadline));
        assert_eq!(s["36"], JobStatus::Ended(JobEnd::OutOfMemory));
    }

    #[test]
    fn stale_range_rows_lose_to_element_rows() {
        let s = statuses(include_str!("testdata/sacct_array_cancelled_range.txt"));
        assert_eq!(s["22_4"], JobStatus::Ended(JobEnd::Cancelled));
        assert_eq!(s["22_3"], JobStatus::Ended(JobEnd::Completed));
        assert_eq!(s["22_8"], JobStatus::Ended(JobEnd::Cancelled));
        assert_eq!(s["28_2"], JobStatus::Ended(JobEnd::Cancelled));
        // Cancelled while pending, alone: SLURM keeps no record of it.
        assert!(!s.contains_key("22_5"));
    }

    #[test]
    fn steps() {
        let rows = parse_sacct(include_str!("testdata/sacct_steps.txt")).unwrap();
        let map = by_key(&rows);
        assert_eq!(map["25.1"].state, "COMPLETED");
        assert_eq!(map["25.batch"].name, "batch");
        assert_eq!(
            sacct_args(&["22".into(), "31".into()]),
            [
                "-X",
                "-n",
                "-P",
                "-j",
                "22,31",
                "-o",
                "JobIDRaw,JobID,JobName,State,ExitCode,NodeList"
            ]
        );
    }
}
