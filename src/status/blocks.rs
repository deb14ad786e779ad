//! `status --blocks`: one JSON line per block, streamed in plan order while walking each
//! task's grid (nothing per block is collected: memory is that of the ledger folded into a
//! [`CompactState`](crate::ledger::CompactState), about 16 bytes per block), filtered by task
//! and state. `--attempts` adds every attempt as the workers reported it,
//! which reads every outbox into memory first.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use serde::Serialize;

use super::compact::CompactSnapshot;
use super::error::StatusError;
use super::model::CellState;
use crate::ledger::{BlockState, Layout, LogReader, OutboxRecord, Outcome, WorkerId};

/// Which blocks `status --blocks` lists.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockFilter {
    /// Only this task.
    pub task: Option<String>,
    /// Only blocks in this state (`pending` then lists blocks that never ran too); without
    /// it, every block the ledger has a record of, and orphaned blocks.
    pub state: Option<CellState>,
    /// Add the attempts from the outboxes (memory grows with the number of attempts).
    pub attempts: bool,
}

/// One block of `status --blocks`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BlockLine {
    /// Task name.
    pub task: String,
    /// daisy block id.
    pub block_id: u64,
    /// `pending`, `running` (assigned to a worker), `done`, `skipped`, `failed` or
    /// `orphaned` (depends on a failed block), as `status` counts them.
    pub state: &'static str,
    /// Highest attempt number handed out.
    pub last_attempt: u32,
    /// Failed attempts in the current retry budget.
    pub failures_in_budget: u32,
    /// Attempts given back by infrastructure events (not counted against the block).
    pub infra_returns: u32,
    /// Worker of the last assignment.
    pub last_worker: Option<String>,
    /// Message of the last failure.
    pub last_error: Option<String>,
    /// With `--attempts`: the attempts as reported by the workers, by attempt number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<Vec<AttemptLine>>,
}

/// One attempt of a block, from the outbox of the worker that ran it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AttemptLine {
    /// Attempt number.
    pub attempt: u32,
    /// Worker id.
    pub worker: String,
    /// Program slot it ran on.
    pub slot: Option<u32>,
    /// `done`, `skipped`, `failed`, `abandoned` (given back unfinished) or `running`.
    pub outcome: &'static str,
    /// Failure category, for failed attempts.
    pub failure_kind: Option<String>,
    /// Failure message, or why the attempt was abandoned.
    pub error: Option<String>,
    /// Start (µs since the UNIX epoch).
    pub start_us: Option<u64>,
    /// End.
    pub end_us: Option<u64>,
    /// Wall-clock seconds.
    pub wall_s: Option<f64>,
    /// CPU seconds (user + system).
    pub cpu_s: Option<f64>,
    /// Peak resident set size.
    pub peak_rss_bytes: Option<u64>,
    /// Exit code of the program, if it exited.
    pub exit_code: Option<i32>,
    /// Signal that killed the program, if one did.
    pub signal: Option<i32>,
    /// The attempt's log file.
    pub log_path: Option<String>,
}

impl AttemptLine {
    fn started(worker: &str, attempt: u32, slot: Option<u32>, time_us: u64) -> Self {
        Self {
            attempt,
            worker: worker.to_string(),
            slot,
            outcome: "running",
            failure_kind: None,
            error: None,
            start_us: Some(time_us),
            end_us: None,
            wall_s: None,
            cpu_s: None,
            peak_rss_bytes: None,
            exit_code: None,
            signal: None,
            log_path: None,
        }
    }
}

type Attempts = HashMap<(u32, u64), Vec<AttemptLine>>;

/// Writes one JSON line per block of the ledger at `root` that `filter` selects, task by
/// task in plan order; returns how many.
pub fn write_block_lines(
    root: &Path,
    filter: &BlockFilter,
    out: &mut dyn Write,
) -> Result<u64, BlockDumpError> {
    let snap = CompactSnapshot::load(root)?;
    let plan = snap.plan();
    let state = snap.state();
    let names: Vec<String> = (0..plan.len()).map(|t| plan.name(t).to_string()).collect();
    let wanted: Vec<usize> = match &filter.task {
        None => (0..names.len()).collect(),
        Some(name) => match names.iter().position(|n| n == name) {
            Some(t) => vec![t],
            None => {
                return Err(StatusError::NoSuchTask {
                    name: name.clone(),
                    available: names,
                }
                .into())
            }
        },
    };
    let mut attempts = if filter.attempts {
        Some(
            read_attempts(&Layout::new(root)).map_err(|source| StatusError::Ledger {
                root: root.to_path_buf(),
                source,
            })?,
        )
    } else {
        None
    };
    let worker_name = |w: u32| state.workers().get(w as usize).map(|e| e.worker_id.clone());
    let mut line = Vec::with_capacity(512);
    let mut written = 0;
    for t in wanted {
        for block in plan.task(t).blocks() {
            let (entry, cell) = snap.block(t, &block);
            let listed = match filter.state {
                Some(s) => s == cell,
                None => entry.is_some() || cell == CellState::Orphaned,
            };
            if !listed {
                continue;
            }
            let list = attempts.as_mut().map(|a| {
                let mut list = a.remove(&(t as u32, block.id)).unwrap_or_default();
                list.sort_by_key(|a| a.attempt);
                list
            });
            let record = BlockLine {
                task: names[t].clone(),
                block_id: block.id,
                state: cell.name(),
                last_attempt: entry.as_ref().map_or(0, |e| e.last_attempt()),
                failures_in_budget: entry.as_ref().map_or(0, |e| e.failures_in_budget()),
                infra_returns: entry.as_ref().map_or(0, |e| e.infra_returns()),
                last_worker: entry
                    .as_ref()
                    .and_then(|e| e.last_worker())
                    .and_then(worker_name),
                last_error: entry
                    .as_ref()
                    .and_then(|e| e.last_error())
                    .map(str::to_string),
                attempts: list,
            };
            line.clear();
            serde_json::to_writer(&mut line, &record).expect("a block line always serializes");
            line.push(b'\n');
            out.write_all(&line)?;
            written += 1;
        }
    }
    out.flush()?;
    Ok(written)
}

/// Why the block dump stopped.
#[derive(Debug, thiserror::Error)]
pub enum BlockDumpError {
    /// Reading the ledger failed.
    #[error(transparent)]
    Status(#[from] StatusError),
    /// Writing the output failed (e.g. a closed pipe).
    #[error("cannot write the block lines")]
    Write(#[from] std::io::Error),
}

/// Every attempt in every outbox, by `(task, block)`.
fn read_attempts(layout: &Layout) -> crate::ledger::Result<Attempts> {
    let mut attempts = Attempts::new();
    for id in layout.list_workers()? {
        fold_outbox(layout, &id, &mut attempts)?;
    }
    Ok(attempts)
}

fn fold_outbox(
    layout: &Layout,
    id: &WorkerId,
    attempts: &mut Attempts,
) -> crate::ledger::Result<()> {
    let worker = id.as_str();
    let contents = LogReader::<OutboxRecord>::read_closed(layout.outbox_path(id))?;
    for record in contents.records {
        match record {
            OutboxRecord::Started {
                task,
                block,
                attempt,
                slot,
                time_us,
            } => {
                let list = attempts.entry((task, block)).or_default();
                match find(list, worker, attempt) {
                    Some(a) => a.slot = Some(slot),
                    None => list.push(AttemptLine::started(worker, attempt, Some(slot), time_us)),
                }
            }
            OutboxRecord::Finished {
                task,
                block,
                attempt,
                outcome,
                stats,
                log_path,
            } => {
                let list = attempts.entry((task, block)).or_default();
                let a = match find(list, worker, attempt) {
                    Some(a) => a,
                    None => {
                        list.push(AttemptLine::started(worker, attempt, None, stats.start_us));
                        list.last_mut().expect("just pushed")
                    }
                };
                let (name, kind, error) = match outcome {
                    Outcome::Done => ("done", None, None),
                    Outcome::Skipped => ("skipped", None, None),
                    Outcome::Failed { kind, message } => {
                        ("failed", Some(kind.to_string()), Some(message))
                    }
                };
                a.outcome = name;
                a.failure_kind = kind;
                a.error = error;
                a.start_us = Some(stats.start_us);
                a.end_us = Some(stats.end_us);
                a.wall_s = Some(stats.wall_s);
                a.cpu_s = Some(stats.cpu_s);
                a.peak_rss_bytes = Some(stats.peak_rss_bytes);
                a.exit_code = stats.exit_code;
                a.signal = stats.signal;
                a.log_path = Some(log_path);
            }
            OutboxRecord::Abandoned {
                task,
                block,
                attempt,
                reason,
                time_us,
            } => {
                let list = attempts.entry((task, block)).or_default();
                let a = match find(list, worker, attempt) {
                    Some(a) => a,
                    None => {
                        list.push(AttemptLine::started(worker, attempt, None, time_us));
                        list.last_mut().expect("just pushed")
                    }
                };
                a.outcome = "abandoned";
                a.error = Some(reason);
                a.end_us = Some(time_us);
            }
            OutboxRecord::Hello { .. }
            | OutboxRecord::Heartbeat { .. }
            | OutboxRecord::Bye { .. } => {}
        }
    }
    Ok(())
}

fn find<'a>(
    list: &'a mut [AttemptLine],
    worker: &str,
    attempt: u32,
) -> Option<&'a mut AttemptLine> {
    list.iter_mut()
        .find(|a| a.attempt == attempt && a.worker == worker)
}

pub(super) fn state_name(state: BlockState) -> &'static str {
    match state {
        BlockState::Pending => "pending",
        BlockState::Assigned => "running",
        BlockState::Done => "done",
        BlockState::Skipped => "skipped",
        BlockState::Failed => "failed",
    }
}
