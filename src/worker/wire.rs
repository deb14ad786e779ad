//! The block protocol between the agent and a worker program: the JSON object a program
//! receives for each block (a stdin line, or `BLOCKORCH_BLOCK` in per-block mode and for
//! checks) and the JSON line it reports on fd 3.

use crate::geometry::Roi;
use serde::{Deserialize, Serialize};

/// One block as a worker program sees it (same keys on stdin and in `BLOCKORCH_BLOCK`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockMessage {
    /// Task name.
    pub task: String,
    /// daisy's block id.
    pub block_id: u64,
    /// Attempt number (1 for the first attempt), echoed back to the orchestrator unchanged.
    pub attempt: u32,
    /// Region the block reads.
    pub read_roi: Roi,
    /// Region the block writes.
    pub write_roi: Roi,
    /// The task's total read region.
    pub total_roi: Roi,
}

impl BlockMessage {
    /// The message as one JSON line (without the newline).
    pub fn to_json(&self) -> String {
        // Serialising plain integers and strings cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// What a program says about a block on fd 3.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// Block the report is about.
    pub block_id: u64,
    /// Done, or failed with the program's explanation.
    pub status: ReportStatus,
    /// The program announces that it exits after this report (`"exit": true`), e.g. because
    /// an exception ended it; the agent sends it no more blocks and does not count its end
    /// as a crash.
    pub exiting: bool,
    /// When the program finished the block (`"time"`, seconds since the UNIX epoch, optional;
    /// the Python helper sends it), in µs: the attempt's end and, for a block written ahead,
    /// the next block's start, more exactly than when the agent got to read the report.
    pub time_us: Option<u64>,
}

/// The status part of a [`Report`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReportStatus {
    /// The block is finished.
    Done,
    /// The block failed; the text is the program's explanation (e.g. a traceback).
    Failed(String),
    /// The block was already done and the program did nothing (it answered the pre-check
    /// itself); from a check program: the block is done.
    Skipped,
    /// From a check program only: the block is not done (with the check's words, if any).
    NotDone(Option<String>),
}

#[derive(Deserialize)]
struct RawReport {
    block_id: u64,
    status: String,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    exit: bool,
    #[serde(default)]
    time: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadyLine {
    ready: bool,
}

/// True for `{"ready": true}`: the program is set up and asks for its first block (the Python
/// helper sends it when the loop first asks for a block), so its start-up is over.
pub fn is_ready_line(line: &str) -> bool {
    line.contains("ready") && serde_json::from_str::<ReadyLine>(line.trim()).is_ok_and(|r| r.ready)
}

/// Parses one fd-3 line; the error says what was wrong in words a program author understands.
pub fn parse_report(line: &str) -> Result<Report, String> {
    let raw: RawReport = serde_json::from_str(line.trim()).map_err(|e| {
        format!(
            "invalid report {:?} on fd 3: {e}; expected {{\"block_id\": N, \"status\": \"done\"}} \
             or {{\"block_id\": N, \"status\": \"failed\", \"error\": \"...\"}}",
            truncate(line.trim(), 200)
        )
    })?;
    let status = match raw.status.as_str() {
        "done" => ReportStatus::Done,
        "failed" => ReportStatus::Failed(
            raw.error
                .unwrap_or_else(|| "the program reported failure without an error".into()),
        ),
        "skipped" => ReportStatus::Skipped,
        "not_done" => ReportStatus::NotDone(raw.error),
        other => {
            return Err(format!(
                "invalid report status {other:?} for block {} on fd 3: use \"done\", \"failed\", \"skipped\" \
                 or (from a check program) \"not_done\"",
                raw.block_id
            ))
        }
    };
    Ok(Report {
        block_id: raw.block_id,
        status,
        exiting: raw.exit,
        time_us: raw
            .time
            .filter(|t| t.is_finite() && *t > 0.0)
            .map(|t| (t * 1e6) as u64),
    })
}

/// Parses one fd-3 line that must be about `block`: `who` (e.g. "the worker program") and
/// `doing` (e.g. "running") say in the error what answered for another block.
pub fn parse_report_about(
    line: &str,
    block: u64,
    who: &str,
    doing: &str,
) -> Result<Report, String> {
    let report = parse_report(line)?;
    if report.block_id != block {
        return Err(format!(
            "{who} reported block {} on fd 3 while {doing} block {block}",
            report.block_id
        ));
    }
    Ok(report)
}

/// At most `max` bytes of `text`, cut at a character boundary, with `…` when cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::Coordinate;

    #[test]
    fn ready_lines() {
        assert!(is_ready_line("{\"ready\": true}\n"));
        assert!(!is_ready_line("{\"ready\": false}"));
        assert!(!is_ready_line("{\"ready\": true, \"block_id\": 3}"));
        assert!(!is_ready_line("{\"block_id\": 3, \"status\": \"done\"}"));
    }

    #[test]
    fn message_has_the_documented_keys() {
        let roi = Roi::new(Coordinate::new(&[0, -4]), Coordinate::new(&[10, 8]));
        let m = BlockMessage {
            task: "seg".into(),
            block_id: 7,
            attempt: 2,
            read_roi: roi,
            write_roi: roi,
            total_roi: roi,
        };
        let v: serde_json::Value = serde_json::from_str(&m.to_json()).unwrap();
        assert_eq!(v["block_id"], 7);
        assert_eq!(v["attempt"], 2);
        assert_eq!(v["read_roi"]["offset"], serde_json::json!([0, -4]));
        assert_eq!(v["total_roi"]["shape"], serde_json::json!([10, 8]));
    }

    #[test]
    fn reports_parse() {
        assert_eq!(
            parse_report(r#"{"block_id":7,"status":"done"}"#),
            Ok(Report {
                block_id: 7,
                status: ReportStatus::Done,
                exiting: false,
                time_us: None,
            })
        );
        assert_eq!(
            parse_report(r#"{"block_id":7,"status":"done","time":1700000000.25}"#)
                .map(|r| r.time_us),
            Ok(Some(1_700_000_000_250_000))
        );
        assert_eq!(
            parse_report(r#"{"block_id":7,"status":"failed","error":"boom","exit":true}"#),
            Ok(Report {
                block_id: 7,
                status: ReportStatus::Failed("boom".into()),
                exiting: true,
                time_us: None,
            })
        );
        let bad = parse_report("hello").unwrap_err();
        assert!(bad.contains("fd 3"), "{bad}");
        assert_eq!(
            parse_report(r#"{"block_id":7,"status":"skipped"}"#).map(|r| r.status),
            Ok(ReportStatus::Skipped)
        );
        assert_eq!(
            parse_report(r#"{"block_id":7,"status":"not_done"}"#).map(|r| r.status),
            Ok(ReportStatus::NotDone(None))
        );
        let status = parse_report(r#"{"block_id":1,"status":"ok"}"#).unwrap_err();
        assert!(status.contains("\"ok\""), "{status}");
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("héllo", 2), "h…");
        assert_eq!(truncate("abc", 5), "abc");
    }
}
