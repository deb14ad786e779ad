//! Failed and orphaned blocks grouped by cause: one group per task and message (counted, with
//! a few example block ids and the command that shows one of them). The one place that groups
//! failures, for `status --failed` and for the summary at the end of `submit`.

use std::collections::HashMap;

use serde::Serialize;

/// Example block ids kept per group (the smallest ids).
pub const EXAMPLES: usize = 5;
/// Distinct causes kept per task; blocks with further causes are counted in one last group
/// (so memory stays bounded when every message differs, e.g. one that names its block).
pub const MAX_CAUSES_PER_TASK: usize = 50;

/// The cause of an orphaned block.
pub const ORPHAN_CAUSE: &str = "depends on a failed block";
/// The cause of blocks beyond [`MAX_CAUSES_PER_TASK`] distinct causes.
pub const OTHER_CAUSES: &str = "(other causes)";

/// Whether a group holds failed or orphaned blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureState {
    /// The blocks' last attempts failed.
    Failed,
    /// The blocks depend on failed blocks and were not run.
    Orphaned,
}

/// Blocks of one task with the same cause.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FailureGroup {
    /// Task name.
    pub task: String,
    /// Failed or orphaned.
    pub state: FailureState,
    /// The message summarized to one line (its first and last lines: a traceback ends with
    /// the exception).
    pub cause: String,
    /// How many blocks.
    pub count: u64,
    /// The smallest block ids of the group (at most [`EXAMPLES`]), ascending.
    pub examples: Vec<u64>,
    /// The command that shows the first example (`blockorch logs …` for failed blocks,
    /// `blockorch status … --blocks` for orphaned ones).
    pub command: String,
}

/// Collects blocks into [`FailureGroup`]s in memory bounded by the number of causes.
#[derive(Debug)]
pub struct FailureGroups {
    ledger: String,
    groups: Vec<FailureGroup>,
    index: HashMap<(String, FailureState, String), usize>,
    causes_per_task: HashMap<String, usize>,
}

impl FailureGroups {
    /// Groups for the ledger shown as `ledger` in the commands.
    pub fn new(ledger: impl Into<String>) -> Self {
        Self {
            ledger: ledger.into(),
            groups: Vec::new(),
            index: HashMap::new(),
            causes_per_task: HashMap::new(),
        }
    }

    /// Adds a failed block with its last error (`None`: no message was recorded).
    pub fn add_failed(&mut self, task: &str, block: u64, error: Option<&str>) {
        let cause = error.map_or_else(|| "failed (no message recorded)".into(), summarize);
        self.add(task, FailureState::Failed, block, cause);
    }

    /// Adds an orphaned block.
    pub fn add_orphaned(&mut self, task: &str, block: u64) {
        self.add(task, FailureState::Orphaned, block, ORPHAN_CAUSE.into());
    }

    fn add(&mut self, task: &str, state: FailureState, block: u64, cause: String) {
        let mut key = (task.to_string(), state, cause);
        if !self.index.contains_key(&key) {
            let n = self.causes_per_task.entry(task.to_string()).or_default();
            if *n >= MAX_CAUSES_PER_TASK && state == FailureState::Failed {
                key.2 = OTHER_CAUSES.into();
            } else {
                *n += 1;
            }
        }
        let i = match self.index.get(&key) {
            Some(&i) => i,
            None => {
                self.groups.push(FailureGroup {
                    task: key.0.clone(),
                    state,
                    cause: key.2.clone(),
                    count: 0,
                    examples: Vec::new(),
                    command: String::new(),
                });
                self.index.insert(key, self.groups.len() - 1);
                self.groups.len() - 1
            }
        };
        let g = &mut self.groups[i];
        g.count += 1;
        if g.examples.len() < EXAMPLES || g.examples.last().is_some_and(|&l| block < l) {
            let at = g.examples.partition_point(|&b| b < block);
            g.examples.insert(at, block);
            g.examples.truncate(EXAMPLES);
        }
    }

    /// The groups: per task in first-seen order, failed before orphaned, most blocks first;
    /// each with its command.
    pub fn finish(mut self) -> Vec<FailureGroup> {
        let mut task_order: HashMap<String, usize> = HashMap::new();
        for g in &self.groups {
            let n = task_order.len();
            task_order.entry(g.task.clone()).or_insert(n);
        }
        self.groups.sort_by(|a, b| {
            (
                task_order[&a.task],
                a.state,
                std::cmp::Reverse(a.count),
                &a.cause,
            )
                .cmp(&(
                    task_order[&b.task],
                    b.state,
                    std::cmp::Reverse(b.count),
                    &b.cause,
                ))
        });
        for g in &mut self.groups {
            let first = g.examples.first().copied().unwrap_or(0);
            g.command = match g.state {
                FailureState::Failed => format!(
                    "blockorch logs {} --task {} --block {first}",
                    self.ledger,
                    shell_word(&g.task)
                ),
                FailureState::Orphaned => format!(
                    "blockorch status {} --blocks --task {} --state orphaned",
                    self.ledger,
                    shell_word(&g.task)
                ),
            };
        }
        self.groups
    }
}

/// The groups as text, two lines each: `  N × cause (blocks a, b, …)` and the command,
/// indented by `indent`.
pub fn render_groups(groups: &[FailureGroup], indent: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for g in groups {
        let ids: Vec<String> = g.examples.iter().map(u64::to_string).collect();
        let more = if g.count > g.examples.len() as u64 {
            ", …"
        } else {
            ""
        };
        let noun = if g.count == 1 { "block" } else { "blocks" };
        let _ = writeln!(
            out,
            "{indent}{} × {}  ({noun} {}{more})",
            g.count,
            g.cause,
            ids.join(", ")
        );
        let _ = writeln!(out, "{indent}    {}", g.command);
    }
    out
}

/// One line for a message: its first line, and its last one when they differ (a traceback
/// starts with `Traceback …` and ends with the exception). The one headline rule of failure
/// messages: `status --failed` and the end-of-run summary group blocks by it, the report
/// groups attempts by kind and it, the run log and the recorded run end print it.
pub fn summarize(message: &str) -> String {
    let trimmed = message.trim();
    let first = trimmed.lines().next().unwrap_or("").trim_end();
    let last = trimmed.lines().last().unwrap_or("").trim_end();
    if first == last || last.is_empty() {
        first.to_string()
    } else {
        format!("{first} … {last}")
    }
}

/// A task name as one shell word (quoted when it holds anything unusual).
fn shell_word(word: &str) -> String {
    if !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./".contains(&b))
    {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_message_is_one_group_with_the_smallest_examples() {
        let mut g = FailureGroups::new("r.ledger");
        for b in (0..20u64).rev() {
            g.add_failed(
                "t",
                b,
                Some("Traceback (most recent call last):\n  x\nValueError: bad\n"),
            );
        }
        g.add_failed("t", 99, Some("exit code 1"));
        g.add_orphaned("t", 40);
        g.add_failed("u v", 3, None);
        let groups = g.finish();
        assert_eq!(groups.len(), 4, "{groups:?}");
        assert_eq!(
            groups[0].cause,
            "Traceback (most recent call last): … ValueError: bad"
        );
        assert_eq!(
            (groups[0].count, &groups[0].examples[..]),
            (20, &[0, 1, 2, 3, 4][..])
        );
        assert_eq!(
            groups[0].command,
            "blockorch logs r.ledger --task t --block 0"
        );
        assert_eq!(groups[1].cause, "exit code 1");
        assert_eq!(groups[2].state, FailureState::Orphaned);
        assert_eq!(
            groups[2].command,
            "blockorch status r.ledger --blocks --task t --state orphaned"
        );
        assert_eq!(
            groups[3].command,
            "blockorch logs r.ledger --task 'u v' --block 3"
        );
    }

    #[test]
    fn causes_beyond_the_bound_share_one_group() {
        let mut g = FailureGroups::new("r");
        for b in 0..(MAX_CAUSES_PER_TASK as u64 + 30) {
            g.add_failed("t", b, Some(&format!("block {b} broke")));
        }
        let groups = g.finish();
        assert_eq!(groups.len(), MAX_CAUSES_PER_TASK + 1);
        let other = groups.iter().find(|g| g.cause == OTHER_CAUSES).unwrap();
        assert_eq!(other.count, 30);
    }
}
