//! [`FailureCauses`]: failed and given-back attempts grouped by cause (kind and the message's
//! headline — its first and last lines, the rule `status --failed` groups blocks by, see
//! [`summarize_cause`]), with a count and a few example blocks each. The number of distinct
//! causes kept is capped.

use std::collections::HashMap;

use crate::status::summarize_cause;

/// Distinct causes kept; later new causes count in one "other causes" group.
pub const MAX_CAUSES: usize = 200;
/// Example blocks kept per cause.
pub const EXAMPLES: usize = 5;
/// Longest message headline kept, in characters.
const HEADLINE_CHARS: usize = 160;

/// One cause.
#[derive(Clone, Debug, PartialEq)]
pub struct Cause {
    /// `block error`, `timeout`, … or `given back` for an infrastructure return.
    pub kind: String,
    /// The message's headline ([`summarize_cause`]).
    pub headline: String,
    /// Attempts with this cause.
    pub count: u64,
    /// Some of them: `(task, block id, attempt)`.
    pub examples: Vec<(u32, u64, u32)>,
}

/// Attempts grouped by cause.
#[derive(Clone, Debug, Default)]
pub struct FailureCauses {
    index: HashMap<(String, String), usize>,
    causes: Vec<Cause>,
    other: u64,
}

impl FailureCauses {
    /// Counts one attempt of `(task, block, attempt)` that ended with `kind` and `message`.
    pub fn add(&mut self, kind: &str, message: &str, example: (u32, u64, u32)) {
        let headline = headline(message);
        let key = (kind.to_string(), headline);
        let i = match self.index.get(&key) {
            Some(&i) => i,
            None if self.causes.len() >= MAX_CAUSES => {
                self.other += 1;
                return;
            }
            None => {
                self.causes.push(Cause {
                    kind: key.0.clone(),
                    headline: key.1.clone(),
                    count: 0,
                    examples: Vec::new(),
                });
                self.index.insert(key, self.causes.len() - 1);
                self.causes.len() - 1
            }
        };
        let cause = &mut self.causes[i];
        cause.count += 1;
        if cause.examples.len() < EXAMPLES {
            cause.examples.push(example);
        }
    }

    /// The causes, most frequent first (ties by first appearance).
    pub fn sorted(&self) -> Vec<&Cause> {
        let mut v: Vec<&Cause> = self.causes.iter().collect();
        v.sort_by_key(|c| std::cmp::Reverse(c.count));
        v
    }

    /// Attempts whose cause was new after [`MAX_CAUSES`] were kept.
    pub fn other(&self) -> u64 {
        self.other
    }

    /// Every counted attempt.
    pub fn total(&self) -> u64 {
        self.causes.iter().map(|c| c.count).sum::<u64>() + self.other
    }
}

/// The headline of `message` ([`summarize_cause`]), cut to [`HEADLINE_CHARS`].
fn headline(message: &str) -> String {
    let line = summarize_cause(message);
    if line.is_empty() {
        return "(no message)".into();
    }
    match line.char_indices().nth(HEADLINE_CHARS) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_exception_groups_into_one_cause() {
        let mut c = FailureCauses::default();
        for b in 0..20 {
            let tb = format!("Traceback (most recent call last):\n  File \"w.py\", line {b}\nValueError: bad input\n");
            c.add("block error", &tb, (0, b, 1));
        }
        c.add("timeout", "timed out after 10s", (0, 99, 2));
        let sorted = c.sorted();
        assert_eq!(sorted.len(), 2);
        // The same headline as `status --failed` gives the block (see `summarize_cause`).
        assert_eq!(
            sorted[0].headline,
            "Traceback (most recent call last): … ValueError: bad input"
        );
        assert_eq!(sorted[0].count, 20);
        assert_eq!(sorted[0].examples.len(), EXAMPLES);
        assert_eq!(c.total(), 21);
    }

    #[test]
    fn distinct_causes_are_capped() {
        let mut c = FailureCauses::default();
        for b in 0..(MAX_CAUSES as u64 + 7) {
            c.add("block error", &format!("error {b}"), (0, b, 1));
        }
        assert_eq!(c.sorted().len(), MAX_CAUSES);
        assert_eq!(c.other(), 7);
        assert_eq!(c.total(), MAX_CAUSES as u64 + 7);
        assert_eq!(
            headline(&"x".repeat(500)).chars().count(),
            HEADLINE_CHARS + 1
        );
    }
}
