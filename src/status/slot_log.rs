//! Cutting one attempt's output out of a slot log by its marker lines
//! ([`crate::worker::Marker`]).
//!
//! A line belongs to the attempt named by the last marker before it that starts a block
//! (`Sent`, `Check` or the program's own `Started`). A `WrittenAhead` marker starts nothing:
//! the program takes that block up only after reporting the one it runs, and says so with
//! its `Started` line. Marker lines themselves are left out. The agent writes its markers
//! into a file the program writes too, so one may follow a partial line of the program's
//! (`50%=== blockorch: … ===`): the text before it goes to the attempt that owned the output
//! so far, and a line the marker cut in two is whole again when both halves are the same
//! attempt's.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

use serde::Serialize;

use crate::worker::{Marker, MarkerKind};

/// At most this many bytes of an attempt's output are kept per stream; the rest is counted.
pub const MAX_CUT_BYTES: usize = 4 << 20;

/// One attempt's output in one slot log.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LogCut {
    /// The log file, relative to the ledger.
    pub path: String,
    /// Whether the file exists.
    pub found: bool,
    /// The attempt's lines (at most [`MAX_CUT_BYTES`]).
    pub text: String,
    /// Bytes of the attempt's output left out beyond [`MAX_CUT_BYTES`].
    pub omitted_bytes: u64,
    /// The attempt's own marker lines were found.
    pub marked: bool,
    /// The program prints no `(started)` lines and blocks were written ahead behind this
    /// attempt (or it was written ahead itself): its output cannot be told from theirs, so
    /// `text` may hold some of their output or miss some of its own.
    pub ambiguous: bool,
}

/// The attempt a cut is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptKey {
    /// Task name.
    pub task: String,
    /// Block id.
    pub block: u64,
    /// Attempt number.
    pub attempt: u32,
}

impl AttemptKey {
    fn is(&self, m: &Marker) -> bool {
        m.block == self.block && m.attempt == self.attempt && m.task == self.task
    }
}

/// Cuts `key`'s lines out of the log at `path` (shown as `shown`); a missing file gives an
/// empty cut with `found: false`.
pub fn cut_file(path: &Path, shown: String, key: &AttemptKey) -> io::Result<LogCut> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(LogCut {
                path: shown,
                ..LogCut::default()
            })
        }
        Err(e) => return Err(e),
    };
    let mut cut = cut(BufReader::with_capacity(1 << 16, file), key)?;
    cut.path = shown;
    cut.found = true;
    Ok(cut)
}

/// Cuts `key`'s lines out of a slot log read from `input` (one pass, memory bounded by
/// [`MAX_CUT_BYTES`] and the longest line).
pub fn cut(mut input: impl BufRead, key: &AttemptKey) -> io::Result<LogCut> {
    let mut out = LogCut::default();
    let mut mine = false;
    let mut program_marks = false;
    let mut ahead_in_mine = false;
    let mut written_ahead = false;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        if input.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        let line = String::from_utf8_lossy(&buf);
        // A marker may follow a partial line of the program's: that text is the owner's so far.
        let (text, marker) = match Marker::parse_trailing(&line) {
            Some((text, m)) => (text, Some(m)),
            None => (&line[..], None),
        };
        if mine {
            keep(&mut out, text);
        }
        let Some(m) = marker else {
            continue;
        };
        let is_key = key.is(&m);
        match m.kind {
            MarkerKind::WrittenAhead => {
                written_ahead |= is_key;
                ahead_in_mine |= mine && !is_key;
            }
            MarkerKind::Sent | MarkerKind::Check | MarkerKind::Started => {
                program_marks |= m.kind == MarkerKind::Started;
                mine = is_key;
            }
        }
        out.marked |= is_key;
    }
    out.ambiguous = !program_marks && (written_ahead || ahead_in_mine);
    Ok(out)
}

/// Adds output to the cut, or counts it once the cut is full.
fn keep(out: &mut LogCut, text: &str) {
    let room = MAX_CUT_BYTES.saturating_sub(out.text.len());
    if out.omitted_bytes == 0 && text.len() <= room {
        out.text.push_str(text);
    } else {
        out.omitted_bytes += text.len() as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(block: u64) -> AttemptKey {
        AttemptKey {
            task: "t".into(),
            block,
            attempt: 1,
        }
    }

    fn mark(block: u64, kind: MarkerKind) -> String {
        let m = Marker {
            task: "t".into(),
            block,
            attempt: 1,
            kind,
        };
        format!("{m}\n")
    }

    #[test]
    fn written_ahead_output_goes_to_the_block_the_program_started() {
        use MarkerKind::*;
        let log = [
            mark(6, Sent),
            mark(6, Started),
            "six a\n".into(),
            mark(7, WrittenAhead),
            "six b\n".into(),
            mark(7, Started),
            "seven a\n".into(),
            mark(8, WrittenAhead),
            "Traceback: seven\n".into(),
            mark(8, Started),
            "eight\n".into(),
        ]
        .concat();
        let c = cut(log.as_bytes(), &key(7)).unwrap();
        assert_eq!(c.text, "seven a\nTraceback: seven\n");
        assert!(c.marked && !c.ambiguous);
        assert_eq!(cut(log.as_bytes(), &key(6)).unwrap().text, "six a\nsix b\n");
        assert_eq!(cut(log.as_bytes(), &key(8)).unwrap().text, "eight\n");
        let none = cut(log.as_bytes(), &key(9)).unwrap();
        assert!(!none.marked && none.text.is_empty());
    }

    #[test]
    fn without_program_markers_a_written_ahead_range_is_ambiguous() {
        use MarkerKind::*;
        let log = [
            mark(1, Sent),
            "one\n".into(),
            mark(2, WrittenAhead),
            "one or two\n".into(),
            mark(3, Sent),
            "three\n".into(),
        ]
        .concat();
        let one = cut(log.as_bytes(), &key(1)).unwrap();
        assert_eq!(one.text, "one\none or two\n");
        assert!(one.ambiguous);
        assert!(cut(log.as_bytes(), &key(2)).unwrap().ambiguous);
        let three = cut(log.as_bytes(), &key(3)).unwrap();
        assert_eq!(three.text, "three\n");
        assert!(!three.ambiguous);
    }

    #[test]
    fn a_marker_after_a_partial_line_splits_it_between_the_attempts() {
        use MarkerKind::*;
        // Block 6 prints "progress 50%" without a newline; block 7 is written ahead (the line
        // stays block 6's), then block 6 finishes the line and block 8 is sent to the program.
        let log = [
            mark(6, Sent),
            "progress 50%".into(),
            mark(7, WrittenAhead),
            " 100%\nsix done".into(),
            mark(8, Sent),
            "eight\n".into(),
        ]
        .concat();
        let six = cut(log.as_bytes(), &key(6)).unwrap();
        assert_eq!(six.text, "progress 50% 100%\nsix done");
        assert!(six.ambiguous);
        let eight = cut(log.as_bytes(), &key(8)).unwrap();
        assert_eq!(eight.text, "eight\n");
        assert!(eight.marked);
        assert!(cut(log.as_bytes(), &key(7)).unwrap().marked);
    }

    #[test]
    fn output_beyond_the_cap_is_counted_not_kept() {
        let big = "x".repeat(1000) + "\n";
        let mut log = mark(1, MarkerKind::Sent);
        for _ in 0..(MAX_CUT_BYTES / 1001 + 10) {
            log.push_str(&big);
        }
        let c = cut(log.as_bytes(), &key(1)).unwrap();
        assert!(c.text.len() <= MAX_CUT_BYTES);
        assert_eq!(
            c.text.len() as u64 + c.omitted_bytes,
            (log.len() - mark(1, MarkerKind::Sent).len()) as u64
        );
    }
}
