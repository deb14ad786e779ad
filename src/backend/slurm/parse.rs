//! What is shared by the parsers of scheduler output: `|`-separated lines and their errors.

use thiserror::Error;

/// Scheduler output that does not have the expected shape.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("unexpected {command} output on line {line}: expected {expected} fields separated by \"|\", got {text:?}")]
pub struct ParseError {
    /// The command (`squeue`, `sacct`).
    pub command: &'static str,
    /// 1-based line number.
    pub line: usize,
    /// How many fields were expected.
    pub expected: usize,
    /// The line.
    pub text: String,
}

/// Splits each non-empty line of `text` into exactly `fields` `|`-separated fields; the last
/// field takes the rest of the line (a node list or reason never contains `|`, a job name
/// might, so callers put free text last or first).
pub fn split_lines<'a>(
    command: &'static str,
    text: &'a str,
    fields: usize,
) -> Result<Vec<Vec<&'a str>>, ParseError> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(n, line)| {
            let parts: Vec<&str> = line.splitn(fields, '|').collect();
            if parts.len() == fields {
                Ok(parts)
            } else {
                Err(ParseError {
                    command,
                    line: n + 1,
                    expected: fields,
                    text: line.to_owned(),
                })
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_reports_the_line() {
        assert_eq!(
            split_lines("squeue", "a|b\n\nc|d|e\n", 2).unwrap(),
            vec![vec!["a", "b"], vec!["c", "d|e"]]
        );
        let err = split_lines("squeue", "a|b\nc\n", 2).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unexpected squeue output on line 2: expected 2 fields separated by \"|\", got \"c\""
        );
    }
}
