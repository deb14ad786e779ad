//! The end-of-run summary, built from the blocks' book and the task table: per task counts,
//! and every failed block with its error and log.

use super::block_book::BlockBook;
use super::task_table::TaskTable;
use crate::schedule::BlockPhase;
use crate::status::{render_groups, FailureGroup, FailureGroups};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::Path;

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
    /// All blocks.
    pub total: u64,
    /// Processed (in this or an earlier run).
    pub done: u64,
    /// Already done according to the check command.
    pub skipped: u64,
    /// Failed permanently.
    pub failed: u64,
    /// Not run because something they depend on failed.
    pub orphaned: u64,
    /// Not finished (only after an interruption).
    pub unfinished: u64,
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
        let tasks = (0..book.plan().len())
            .map(|t| {
                let c = book.counts(t);
                let name = book.plan().name(t);
                let mut groups = FailureGroups::new(ledger.display().to_string());
                for b in book.blocks_in_phase(t, BlockPhase::Failed) {
                    let entry = book.state().block(t as u32, b.id);
                    let error = entry.and_then(|e| e.last_error()).or(tasks.fatal(t));
                    groups.add_failed(name, b.id, error);
                }
                let failed_blocks = book
                    .blocks_in_phase(t, BlockPhase::Failed)
                    .into_iter()
                    .take(20)
                    .map(|b| {
                        let entry = book.state().block(t as u32, b.id);
                        FailedBlock {
                            block_id: b.id,
                            error: entry
                                .and_then(|e| e.last_error().map(str::to_string))
                                .or_else(|| tasks.fatal(t).map(str::to_string))
                                .unwrap_or_else(|| "failed".into()),
                            // Agents report log paths relative to the ledger; the summary
                            // shows one the user can open from anywhere.
                            log: book
                                .failure_log(t as u32, b.id)
                                .map(|p| ledger.join(p).display().to_string()),
                        }
                    })
                    .collect();
                TaskReport {
                    task: book.plan().name(t).to_string(),
                    total: c.total,
                    done: c.done,
                    skipped: c.skipped,
                    failed: c.failed,
                    orphaned: c.orphaned,
                    unfinished: c.waiting + c.ready + c.running,
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
        !self.interrupted && self.tasks.iter().all(|t| t.done + t.skipped == t.total)
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
            "{:width$}  {:>9}  {:>9}  {:>9}  {:>9}  {:>9}",
            "task", "total", "done", "skipped", "failed", "orphaned"
        );
        for t in &self.tasks {
            let _ = writeln!(
                out,
                "{:width$}  {:>9}  {:>9}  {:>9}  {:>9}  {:>9}",
                t.task, t.total, t.done, t.skipped, t.failed, t.orphaned
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
