//! `bjobs`: the state of every job of a run, in one call per poll.
//!
//! `bjobs -a -noheader -o "jobid jobindex stat exit_code exec_host exit_reason delimiter='^'"
//! <array ids…>` prints one line per job or array element; an unknown id gets `Job <123> is not
//! found` (on stderr); a value LSF does not have (the exit code of a running job) prints `-`.
//! `-a` keeps recently finished jobs in the answer. `jobindex` is asked for because the
//! `jobid` column of an element holds the array's id only; a `jobid` of the form `123[7]` is
//! read too. `exit_reason` (`TERM_RUNLIMIT: job killed after reaching LSF run time limit`)
//! tells a run-limit or memory-limit kill from a crash; it comes last because it contains
//! spaces. An LSF whose bjobs has no `exit_reason` field is asked without it (see
//! [`BjobsFormat`]).

use super::job_id::LsfJobId;
use crate::backend::command::error_chain;
use crate::backend::command::CommandRunner;
use thiserror::Error;

/// The column separator asked for (never in an id, a state, a host name or a reason).
pub const DELIMITER: char = '^';

/// Which fields are asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BjobsFormat {
    /// `jobid jobindex stat exit_code exec_host exit_reason`.
    WithExitReason,
    /// The same without `exit_reason`, for an LSF that does not know that field: ends are then
    /// told apart by exit codes only (see `docs/lsf.md`).
    WithoutExitReason,
}

impl BjobsFormat {
    /// The `-o` value.
    pub fn spec(self) -> String {
        let fields = match self {
            BjobsFormat::WithExitReason => "jobid jobindex stat exit_code exec_host exit_reason",
            BjobsFormat::WithoutExitReason => "jobid jobindex stat exit_code exec_host",
        };
        format!("{fields} delimiter='{DELIMITER}'")
    }

    fn fields(self) -> usize {
        match self {
            BjobsFormat::WithExitReason => 6,
            BjobsFormat::WithoutExitReason => 5,
        }
    }
}

/// The arguments of the one `bjobs` call per poll: the jobs `ids` (array ids or elements).
pub fn bjobs_args(ids: &[String], format: BjobsFormat) -> Vec<String> {
    let mut args = vec!["-a".into(), "-noheader".into(), "-o".into(), format.spec()];
    args.extend(ids.iter().cloned());
    args
}

/// The arguments listing every job named `name` (reconciliation after an ambiguous bsub).
pub fn bjobs_by_name_args(name: &str, format: BjobsFormat) -> Vec<String> {
    vec![
        "-a".into(),
        "-noheader".into(),
        "-J".into(),
        name.into(),
        "-o".into(),
        format.spec(),
    ]
}

/// One line of `bjobs -o`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BjobsRow {
    /// The job or element.
    pub id: LsfJobId,
    /// The state (`PEND`, `RUN`, `DONE`, `EXIT`…).
    pub stat: String,
    /// The exit code, when LSF has one (`-` otherwise).
    pub exit_code: Option<i32>,
    /// Where it runs (`hostA`, `4*hostA`), `None` while pending.
    pub exec_host: Option<String>,
    /// The termination reason as printed (`TERM_OWNER: job killed by owner`), if any.
    pub exit_reason: Option<String>,
}

/// What one `bjobs` call said.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BjobsOutput {
    /// The jobs it knows.
    pub rows: Vec<BjobsRow>,
    /// The ids it reported as not found (as written in `Job <…> is not found`).
    pub not_found: Vec<String>,
}

/// bjobs output that does not have the expected shape.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("unexpected bjobs output on line {line}: expected {expected} fields separated by \"{DELIMITER}\", got {text:?}")]
pub struct BjobsParseError {
    /// 1-based line number (in stdout).
    pub line: usize,
    /// How many fields were expected.
    pub expected: usize,
    /// The line.
    pub text: String,
}

/// `-` (or nothing) means "no value".
fn value(text: &str) -> Option<&str> {
    let text = text.trim();
    (!text.is_empty() && text != "-").then_some(text)
}

/// The id in `Job <123[4]> is not found`.
fn not_found_id(line: &str) -> Option<&str> {
    let rest = line.trim().strip_prefix("Job <")?;
    let (id, rest) = rest.split_once('>')?;
    (rest.trim() == "is not found").then_some(id)
}

/// Lines bjobs prints instead of rows when nothing matches.
fn is_empty_notice(line: &str) -> bool {
    let line = line.trim();
    line.starts_with("No unfinished job found")
        || line.starts_with("No job found")
        || line.starts_with("No matching job found")
}

/// Parses the stdout and stderr of one `bjobs -noheader -o …` call with `format`.
pub fn parse_bjobs(
    stdout: &str,
    stderr: &str,
    format: BjobsFormat,
) -> Result<BjobsOutput, BjobsParseError> {
    let mut out = BjobsOutput::default();
    for line in stderr.lines() {
        if let Some(id) = not_found_id(line) {
            out.not_found.push(id.to_owned());
        }
    }
    let fields = format.fields();
    for (n, line) in stdout.lines().enumerate() {
        if line.trim().is_empty() || is_empty_notice(line) {
            continue;
        }
        if let Some(id) = not_found_id(line) {
            out.not_found.push(id.to_owned());
            continue;
        }
        let bad = || BjobsParseError {
            line: n + 1,
            expected: fields,
            text: line.to_owned(),
        };
        // Only the last field (exit_reason, free text) may contain the delimiter.
        let parts: Vec<&str> = match format {
            BjobsFormat::WithExitReason => line.splitn(fields, DELIMITER).collect(),
            BjobsFormat::WithoutExitReason => line.split(DELIMITER).collect(),
        };
        if parts.len() != fields {
            return Err(bad());
        }
        let mut id = LsfJobId::parse(parts[0]).ok_or_else(bad)?;
        if id.index.is_none() {
            if let Some(index) = value(parts[1]) {
                id.index = Some(index.parse().map_err(|_| bad())?).filter(|&i| i > 0);
            }
        }
        let exit_code = match value(parts[3]) {
            Some(code) => Some(code.parse().map_err(|_| bad())?),
            None => None,
        };
        out.rows.push(BjobsRow {
            id,
            stat: parts[2].trim().to_owned(),
            exit_code,
            exec_host: value(parts[4]).map(str::to_owned),
            exit_reason: parts.get(5).and_then(|r| value(r)).map(str::to_owned),
        });
    }
    Ok(out)
}

/// True when a failed bjobs call only complained about unknown jobs (bjobs exits with 255 when
/// none of the ids exists, or whenever one does not with LSB_BJOBS_CONSISTENT_EXIT_CODE=Y):
/// every line of stderr says so, and at least one line somewhere does. Not a query failure.
pub fn only_not_found(stdout: &str, stderr: &str) -> bool {
    let benign = |l: &str| not_found_id(l).is_some() || is_empty_notice(l);
    let mut errors = stderr.lines().filter(|l| !l.trim().is_empty());
    errors.all(benign) && stdout.lines().chain(stderr.lines()).any(benign)
}

/// True when bjobs refused the `exit_reason` field (an LSF older than the field).
pub fn refuses_exit_reason(stdout: &str, stderr: &str) -> bool {
    stderr.contains("exit_reason") || stdout.contains("exit_reason")
}

/// Runs `bjobs` queries, falling back once (and for good) to [`BjobsFormat::WithoutExitReason`]
/// on an LSF that refuses the `exit_reason` field. Shared by the backend's polls and
/// `blockorch status`'s probe.
#[derive(Clone, Copy, Debug)]
pub struct BjobsQuery {
    format: BjobsFormat,
}

impl Default for BjobsQuery {
    fn default() -> Self {
        BjobsQuery {
            format: BjobsFormat::WithExitReason,
        }
    }
}

impl BjobsQuery {
    /// Runs bjobs with the arguments `args` builds for the current format; "not found" alone
    /// is an answer, not an error. The error says what bjobs printed.
    pub fn run(
        &mut self,
        runner: &mut CommandRunner,
        args: impl Fn(BjobsFormat) -> Vec<String>,
    ) -> Result<BjobsOutput, String> {
        loop {
            let out = runner
                .run("bjobs", &args(self.format), None)
                .map_err(|e| error_chain(&e))?;
            if out.success() || only_not_found(&out.stdout, &out.stderr) {
                return parse_bjobs(&out.stdout, &out.stderr, self.format)
                    .map_err(|e| e.to_string());
            }
            if self.format == BjobsFormat::WithExitReason
                && refuses_exit_reason(&out.stdout, &out.stderr)
            {
                tracing::warn!(
                    error = %out.describe(),
                    "this LSF's bjobs has no exit_reason field; run-limit, memory-limit and \
                     host failures are told apart by exit codes only from now on"
                );
                self.format = BjobsFormat::WithoutExitReason;
                continue;
            }
            return Err(out.describe());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(stdout: &str, stderr: &str) -> BjobsOutput {
        parse_bjobs(stdout, stderr, BjobsFormat::WithExitReason).unwrap()
    }

    #[test]
    fn arguments() {
        assert_eq!(
            bjobs_args(&["101".into(), "105".into()], BjobsFormat::WithExitReason),
            [
                "-a",
                "-noheader",
                "-o",
                "jobid jobindex stat exit_code exec_host exit_reason delimiter='^'",
                "101",
                "105"
            ]
        );
        assert_eq!(
            bjobs_by_name_args("bo-run", BjobsFormat::WithoutExitReason)[3..],
            [
                "bo-run",
                "-o",
                "jobid jobindex stat exit_code exec_host delimiter='^'"
            ]
        );
    }

    #[test]
    fn simulator_array_in_every_state() {
        let out = parse(
            include_str!("testdata/bjobs_array_states.txt"),
            include_str!("testdata/bjobs_array_states.stderr"),
        );
        let by = |job: u64, index: u32| {
            out.rows
                .iter()
                .find(|r| r.id == LsfJobId::element(job, index))
                .unwrap_or_else(|| panic!("no row for {job}[{index}]"))
        };
        assert_eq!(by(101, 1).stat, "DONE");
        assert_eq!(by(101, 1).exit_code, None);
        assert_eq!(by(101, 3).exit_code, Some(3));
        assert_eq!(by(101, 3).exit_reason, None);
        assert_eq!(by(102, 1).stat, "RUN");
        assert_eq!(by(102, 1).exec_host.as_deref(), Some("simhost1"));
        assert_eq!(by(102, 3).stat, "PEND");
        assert_eq!(by(102, 3).exec_host, None);
        assert_eq!(
            by(103, 1).exit_reason.as_deref(),
            Some("TERM_RUNLIMIT: job killed after reaching LSF run time limit")
        );
        assert_eq!(by(103, 1).exit_code, Some(140));
        assert_eq!(out.not_found, ["999"]);
    }

    #[test]
    fn documented_forms() {
        // Plain jobs (index 0), `-` values, `N*host`, an element written as `123[7]` in the
        // jobid column, and a not-found line mixed into stdout.
        let out = parse(include_str!("testdata/bjobs_documented.txt"), "");
        assert_eq!(out.rows.len(), 4);
        assert_eq!(
            out.rows[0].id,
            LsfJobId {
                job: 1234,
                index: None
            }
        );
        assert_eq!(out.rows[0].exec_host.as_deref(), Some("4*hostB"));
        assert_eq!(out.rows[1].id, LsfJobId::element(1240, 7));
        assert_eq!(out.rows[1].stat, "USUSP");
        assert_eq!(out.rows[2].id, LsfJobId::element(1241, 2));
        assert_eq!(
            out.rows[3].exit_reason.as_deref(),
            Some("TERM_OWNER: job killed by owner")
        );
        assert_eq!(out.not_found, ["1250"]);
    }

    #[test]
    fn without_exit_reason() {
        let out = parse_bjobs(
            "7^1^EXIT^137^hostA\n7^2^RUN^-^hostA\n",
            "",
            BjobsFormat::WithoutExitReason,
        )
        .unwrap();
        assert_eq!(out.rows[0].exit_code, Some(137));
        assert_eq!(out.rows[0].exit_reason, None);
        assert!(parse_bjobs("7^1^RUN^-^h^-\n", "", BjobsFormat::WithoutExitReason).is_err());
    }

    #[test]
    fn malformed_and_empty() {
        assert_eq!(parse("", ""), BjobsOutput::default());
        assert_eq!(parse("No unfinished job found\n", "").rows, vec![]);
        let err = parse_bjobs("101^RUN\n", "", BjobsFormat::WithExitReason).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unexpected bjobs output on line 1: expected 6 fields separated by \"^\", got \"101^RUN\""
        );
        assert!(parse_bjobs("x^1^RUN^-^h^-\n", "", BjobsFormat::WithExitReason).is_err());
        assert!(parse_bjobs("1^1^EXIT^oops^h^-\n", "", BjobsFormat::WithExitReason).is_err());
    }

    #[test]
    fn not_found_only_is_not_a_failure() {
        assert!(only_not_found(
            "",
            "Job <101> is not found\nJob <102> is not found\n"
        ));
        assert!(only_not_found(
            "101^1^RUN^-^h^-\n",
            "Job <102> is not found\n"
        ));
        assert!(!only_not_found("", "LSF is down. Please wait...\n"));
        assert!(!only_not_found(
            "",
            "Job <102> is not found\nLSF is down. Please wait...\n"
        ));
        assert!(!only_not_found("", ""));
        assert!(refuses_exit_reason(
            "",
            include_str!("testdata/bjobs_no_exit_reason.stderr")
        ));
    }
}
