//! The marker lines in a slot's stdout and stderr logs that say which block the output that
//! follows belongs to: written by the agent when it starts a process or sends a block, and by
//! a program (the Python helper does) when it takes a block up. `blockorch logs` cuts a
//! block's output out of the slot logs by them.

use std::fmt;

/// What a marker line says about its block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MarkerKind {
    /// The agent started the block's process, or sent it to an idle program: the output that
    /// follows is the block's.
    Sent,
    /// The agent started the block's check: the output that follows is the check's.
    Check,
    /// The agent wrote the block ahead into the stdin of a program still running an earlier
    /// block: the output that follows may still be the earlier block's, until the program's
    /// own [`MarkerKind::Started`] line (or the next agent marker).
    WrittenAhead,
    /// The program took the block up (printed by the program itself, in order with its own
    /// output): the output that follows is the block's.
    Started,
}

impl MarkerKind {
    /// The suffix after the attempt number.
    fn suffix(self) -> &'static str {
        match self {
            MarkerKind::Sent => "",
            MarkerKind::Check => " (check)",
            MarkerKind::WrittenAhead => " (written ahead)",
            MarkerKind::Started => " (started)",
        }
    }
}

/// One marker line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Marker {
    /// Task name.
    pub task: String,
    /// daisy block id.
    pub block: u64,
    /// Attempt number.
    pub attempt: u32,
    /// What it says.
    pub kind: MarkerKind,
}

const PREFIX: &str = "=== blockorch: task ";
const SUFFIX: &str = " ===";

impl fmt::Display for Marker {
    /// The line, without its newline.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{PREFIX}{} block {} attempt {}{}{SUFFIX}",
            self.task,
            self.block,
            self.attempt,
            self.kind.suffix()
        )
    }
}

impl Marker {
    /// Parses a line (with or without its newline); `None` when it is not a marker.
    pub fn parse(line: &str) -> Option<Marker> {
        let rest = line
            .trim_end_matches(['\n', '\r'])
            .strip_prefix(PREFIX)?
            .strip_suffix(SUFFIX)?;
        let (kind, rest) = [
            MarkerKind::Check,
            MarkerKind::WrittenAhead,
            MarkerKind::Started,
        ]
        .into_iter()
        .find_map(|k| rest.strip_suffix(k.suffix()).map(|r| (k, r)))
        .unwrap_or((MarkerKind::Sent, rest));
        // Task names may hold spaces: the numbers are taken from the end.
        let (rest, attempt) = rest.rsplit_once(" attempt ")?;
        let (task, block) = rest.rsplit_once(" block ")?;
        Some(Marker {
            task: task.to_string(),
            block: block.parse().ok()?,
            attempt: attempt.parse().ok()?,
            kind,
        })
    }

    /// Finds a marker that ends `line`, also one written after a program's partial line (the
    /// agent's markers go into a log the program writes too: `progress 50%=== blockorch: …`).
    /// Returns the text before it and the marker.
    pub fn parse_trailing(line: &str) -> Option<(&str, Marker)> {
        if let Some(m) = Marker::parse(line) {
            return Some(("", m));
        }
        let at = line.rfind(PREFIX)?;
        Marker::parse(&line[at..]).map(|m| (&line[..at], m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips() {
        for kind in [
            MarkerKind::Sent,
            MarkerKind::Check,
            MarkerKind::WrittenAhead,
            MarkerKind::Started,
        ] {
            let m = Marker {
                task: "pre dict".into(),
                block: 7,
                attempt: 2,
                kind,
            };
            let line = format!("{m}\n");
            assert_eq!(Marker::parse(&line), Some(m), "{line}");
        }
        assert_eq!(
            Marker {
                task: "t".into(),
                block: 7,
                attempt: 1,
                kind: MarkerKind::Sent
            }
            .to_string(),
            "=== blockorch: task t block 7 attempt 1 ==="
        );
    }

    #[test]
    fn other_lines_are_not_markers() {
        for line in [
            "hello",
            "=== blockorch: task t block x attempt 1 ===",
            "=== blockorch: task t block 1 attempt 1",
            "  === blockorch: task t block 1 attempt 1 ===",
        ] {
            assert_eq!(Marker::parse(line), None, "{line}");
        }
    }

    #[test]
    fn a_marker_after_a_partial_line_is_found_with_the_text_before_it() {
        let line = "50%=== blockorch: task t block 7 attempt 2 (written ahead) ===\n";
        let (before, m) = Marker::parse_trailing(line).unwrap();
        assert_eq!(before, "50%");
        assert_eq!(
            (m.block, m.attempt, m.kind),
            (7, 2, MarkerKind::WrittenAhead)
        );
        let whole = "=== blockorch: task t block 7 attempt 2 ===\n";
        assert_eq!(Marker::parse_trailing(whole).unwrap().0, "");
        for line in [
            "50%=== blockorch: task t block 7 attempt 2 === more\n",
            "plain\n",
        ] {
            assert_eq!(Marker::parse_trailing(line), None, "{line}");
        }
    }
}
