//! `squeue`: the live state of every job of a run, in one call per poll.
//!
//! `squeue --name=<run> -h -o '%i|%T|%r|%N'` prints one line per job, array element or
//! still-pending array range (`123_[5-9%2]`); completed jobs disappear from it (after
//! `MinJobAge` at most, usually at once), which is when `sacct` takes over.

use super::job_id::JobRef;
use super::parse::{split_lines, ParseError};
use std::collections::HashMap;

/// One line of `squeue -o '%i|%T|%r|%N'`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqueueRow {
    /// The job, element, pending range or step.
    pub id: JobRef,
    /// The state (`PENDING`, `RUNNING`…).
    pub state: String,
    /// Why it is pending (`Priority`, `JobArrayTaskLimit`, `BeginTime`), `None` otherwise.
    pub reason: String,
    /// Nodes it runs on (empty while pending).
    pub nodes: String,
}

/// The arguments of the one `squeue` call per poll for the run named `run_name`.
pub fn squeue_args(run_name: &str) -> Vec<String> {
    vec![
        format!("--name={run_name}"),
        "-h".into(),
        "-o".into(),
        "%i|%T|%r|%N".into(),
    ]
}

/// The arguments listing the running steps of job `job_id` (inside an allocation).
pub fn squeue_steps_args(job_id: &str) -> Vec<String> {
    vec![
        "-s".into(),
        "-j".into(),
        job_id.into(),
        "-h".into(),
        "-o".into(),
        "%i|%j|%N".into(),
    ]
}

/// Parses `squeue -h -o '%i|%T|%r|%N'` output.
pub fn parse_squeue(text: &str) -> Result<Vec<SqueueRow>, ParseError> {
    Ok(split_lines("squeue", text, 4)?
        .into_iter()
        .map(|f| SqueueRow {
            id: JobRef::parse(f[0]),
            state: f[1].trim().to_owned(),
            reason: f[2].trim().to_owned(),
            nodes: f[3].trim().to_owned(),
        })
        .collect())
}

/// One running step from `squeue -s -o '%i|%j|%N'`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepRow {
    /// `123.4`.
    pub key: String,
    /// The step's name (blockorch names each worker's step after the worker).
    pub name: String,
    /// Node list.
    pub nodes: String,
}

/// Parses `squeue -s -h -o '%i|%j|%N'` output.
pub fn parse_squeue_steps(text: &str) -> Result<Vec<StepRow>, ParseError> {
    Ok(split_lines("squeue", text, 3)?
        .into_iter()
        .map(|f| StepRow {
            key: f[0].trim().to_owned(),
            name: f[1].trim().to_owned(),
            nodes: f[2].trim().to_owned(),
        })
        .collect())
}

/// The rows by key (`123`, `123_4`), pending ranges expanded to their elements.
pub fn by_key(rows: &[SqueueRow]) -> HashMap<String, &SqueueRow> {
    let mut map = HashMap::new();
    for row in rows {
        for key in row.id.keys() {
            map.insert(key, row);
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_pending_and_running() {
        let rows = parse_squeue(include_str!("testdata/squeue_array_pending_running.txt")).unwrap();
        assert_eq!(rows.len(), 7);
        assert_eq!(
            rows[0],
            SqueueRow {
                id: JobRef::PendingRange {
                    array: 22,
                    indices: (2..=9).collect(),
                    limit: Some(2)
                },
                state: "PENDING".into(),
                reason: "JobArrayTaskLimit".into(),
                nodes: String::new(),
            }
        );
        let map = by_key(&rows);
        assert_eq!(map["22_5"].state, "PENDING");
        assert_eq!(map["22_0"].state, "RUNNING");
        assert_eq!(map["22_0"].nodes, "node1");
        assert_eq!(map["28_3"].reason, "BeginTime");
        assert_eq!(map["25"].state, "RUNNING");
        assert!(!map.contains_key("22_10"));
    }

    #[test]
    fn partial_array_and_other_states() {
        let map_of = |text| {
            parse_squeue(text)
                .unwrap()
                .into_iter()
                .flat_map(|r| r.id.keys().into_iter().map(move |k| (k, r.state.clone())))
                .collect::<HashMap<_, _>>()
        };
        let partial = map_of(include_str!("testdata/squeue_array_partial.txt"));
        assert_eq!(partial["22_7"], "PENDING");
        assert_eq!(partial["22_4"], "RUNNING");
        assert!(!partial.contains_key("22_5"));
        let held = map_of(include_str!("testdata/squeue_held_suspended.txt"));
        assert_eq!(held["33"], "SUSPENDED");
        assert_eq!(held["34"], "PENDING");
        let completing = map_of(include_str!("testdata/squeue_completing.txt"));
        assert_eq!(completing["31"], "COMPLETING");
    }

    #[test]
    fn empty_and_malformed() {
        assert_eq!(parse_squeue("").unwrap(), vec![]);
        assert!(parse_squeue("25|RUNNING").is_err());
    }

    #[test]
    fn steps() {
        let rows = parse_squeue_steps("25.0|slurm-25.0|node1\n25.batch|batch|node1\n").unwrap();
        assert_eq!(
            rows[0],
            StepRow {
                key: "25.0".into(),
                name: "slurm-25.0".into(),
                nodes: "node1".into()
            }
        );
        assert_eq!(
            squeue_steps_args("25"),
            ["-s", "-j", "25", "-h", "-o", "%i|%j|%N"]
        );
    }
}
