//! The end-of-run summary, built from the blocks' book and the task table: per task counts
//! (the same as `blockorch status`'s, from [`LedgerPhases`]), and every failed block with its
//! error and log.

use super::block_book::BlockBook;
use super::task_table::TaskTable;
use crate::status::{
    render_groups, summarize_cause, BlockCounts, FailureGroup, FailureGroups, LedgerPhases,
};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

/// One failed block in the summary.
#[derive(Clone, Debug, Serialize)]
pub struct FailedBlock {
    /// daisy block id.
    pub block_id: u64,
    /// The last error recorded for it.
    pub error: String,
    /// Log of its last failed attempt (absolute path), if known.
    pub log: Option<String>,
}

/// One task in the summary.
#[derive(Clone, Debug, Serialize)]
pub struct TaskReport {
    /// Task name.
    pub task: String,
    /// Block counts, exactly as `blockorch status` counts them on the same ledger.
    #[serde(flatten)]
    pub counts: BlockCounts,
    /// Why the task stopped early, if it did (init failed, worker program crashing).
    pub fatal: Option<String>,
    /// The failed blocks (at most the first 20).
    pub failed_blocks: Vec<FailedBlock>,
    /// All failed blocks grouped by cause (`crate::status::FailureGroups`).
    pub failure_groups: Vec<FailureGroup>,
}

/// The result of a run.
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    /// The ledger directory.
    pub ledger: String,
    /// Per task.
    pub tasks: Vec<TaskReport>,
    /// The run was interrupted (Ctrl-C) and can be resumed.
    pub interrupted: bool,
}

impl RunReport {
    /// The summary of the run in `ledger` as `book` and `tasks` stand (not interrupted).
    pub(super) fn build(book: &BlockBook, tasks: &TaskTable, ledger: &Path) -> Self {
        let state = book.state();
        let phases = LedgerPhases::new(Arc::clone(book.shared_plan()), state);
        let tasks = (0..book.plan().len())
            .map(|t| {
                let all_failed = LedgerPhases::failed_blocks(state, t, usize::MAX);
                let name = book.plan().name(t);
                let mut groups = FailureGroups::new(ledger.display().to_string());
                for &id in &all_failed {
                    let entry = state.block(t as u32, id);
                    let error = entry.and_then(|e| e.last_error()).or(tasks.fatal(t));
                    groups.add_failed(name, id, error);
                }
                let failed_blocks = all_failed
                    .into_iter()
                    .take(20)
                    .map(|id| {
                        let entry = state.block(t as u32, id);
                        FailedBlock {
                            block_id: id,
                            error: entry
                                .and_then(|e| e.last_error().map(str::to_string))
                                .or_else(|| tasks.fatal(t).map(str::to_string))
                                .unwrap_or_else(|| "failed".into()),
                            // Agents report log paths relative to the ledger; the summary
                            // shows one the user can open from anywhere.
                            log: book
                                .failure_log(t as u32, id)
                                .map(|p| ledger.join(p).display().to_string()),
                        }
                    })
                    .collect();
                TaskReport {
                    task: book.plan().name(t).to_string(),
                    // The summary is built once every agent is retired: no block holds a
                    // worker slot, as `status` sees it once the workers ended.
                    counts: phases.task_counts(state, t, 0),
                    fatal: tasks.fatal(t).map(str::to_string),
                    failed_blocks,
                    failure_groups: groups.finish(),
                }
            })
            .collect();
        RunReport {
            ledger: ledger.display().to_string(),
            tasks,
            interrupted: false,
        }
    }

    /// True when every block of every task is done or skipped.
    pub fn all_ok(&self) -> bool {
        !self.interrupted
            && self
                .tasks
                .iter()
                .all(|t| t.counts.done + t.counts.skipped == t.counts.total)
    }

    /// What the ledger records as the end of this run: why tasks stopped early (the first
    /// and last line of each reason, which `status` shows), else `run finished`.
    pub fn end_message(&self) -> String {
        let reasons: Vec<String> = self
            .tasks
            .iter()
            .filter_map(|t| t.fatal.as_deref().map(summarize_cause))
            .collect();
        if reasons.is_empty() {
            "run finished".to_string()
        } else {
            reasons.join("; ")
        }
    }

    /// The human summary.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let width = self
            .tasks
            .iter()
            .map(|t| t.task.len())
            .max()
            .unwrap_or(4)
            .max(4);
        let _ = writeln!(
            out,
            "{:width$}  {:>9}  {:>9}  {:>9}  {:>9}  {:>9}  {:>9}",
            "task", "total", "done", "skipped", "failed", "orphaned", "pending"
        );
        for t in &self.tasks {
            let c = &t.counts;
            let _ = writeln!(
                out,
                "{:width$}  {:>9}  {:>9}  {:>9}  {:>9}  {:>9}  {:>9}",
                t.task, c.total, c.done, c.skipped, c.failed, c.orphaned, c.pending
            );
        }
        for t in self
            .tasks
            .iter()
            .filter(|t| t.counts.running + t.counts.queued > 0)
        {
            let _ = writeln!(
                out,
                "\n{} blocks of task {} are still assigned to workers that did not give them back \
                 (the next submit hands them out again)",
                t.counts.running + t.counts.queued,
                t.task
            );
        }
        for t in &self.tasks {
            if let Some(fatal) = &t.fatal {
                let _ = writeln!(out, "\ntask {} stopped: {fatal}", t.task);
            }
            if !t.failure_groups.is_empty() {
                let _ = writeln!(out, "\nfailed blocks of task {}, by cause:", t.task);
                out.push_str(&render_groups(&t.failure_groups, "  "));
            }
        }
        if self.interrupted {
            let _ = writeln!(
                out,
                "\ninterrupted: nothing is lost; run the same submit again to resume"
            );
        } else if !self.all_ok() {
            let _ = writeln!(
                out,
                "\nsome blocks failed; fix the cause and run the same submit again: done blocks \
                 are kept, failed and orphaned blocks get a fresh set of attempts"
            );
        }
        out
    }
}
