//! `status --blocks`: one JSON line per block the ledger has a record of, with every attempt
//! as the workers reported it (their outboxes are read in full: this is an explicit dump).

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use serde::Serialize;

use super::error::StatusError;
use crate::ledger::{BlockState, Layout, Ledger, LogReader, OutboxRecord, Outcome, WorkerId};
use crate::task::parse_task_file;

/// One block of `status --blocks`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BlockLine {
    /// Task name.
    pub task: String,
    /// daisy block id.
    pub block_id: u64,
    /// `pending`, `running`, `done`, `skipped` or `failed`, per the orchestrator log.
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
    /// Attempts as reported by the workers, by attempt number.
    pub attempts: Vec<AttemptLine>,
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

/// Writes one JSON line per block with a record in the ledger at `root` (orchestrator log or
/// outboxes), sorted by task and block id; returns how many.
pub fn write_block_lines(root: &Path, out: &mut dyn Write) -> Result<u64, BlockDumpError> {
    let ledger_err = |source| StatusError::Ledger {
        root: root.to_path_buf(),
        source,
    };
    let ledger = Ledger::open(root).map_err(ledger_err)?;
    let names: Vec<String> = parse_task_file("ledger.json", &ledger.header().tasks.to_string())
        .map_err(|source| StatusError::Tasks {
            root: root.to_path_buf(),
            source,
        })?
        .tasks
        .into_iter()
        .map(|t| t.name)
        .collect();
    let loaded = ledger.load_state().map_err(ledger_err)?;
    let state = &loaded.state;
    let attempts = read_attempts(ledger.layout()).map_err(ledger_err)?;
    let task_name = |t: u32| {
        names
            .get(t as usize)
            .cloned()
            .unwrap_or_else(|| format!("#{t}"))
    };
    let worker_name = |w: u32| state.workers().get(w as usize).map(|e| e.worker_id.clone());
    let mut keys: Vec<(u32, u64)> = state
        .tasks()
        .iter()
        .enumerate()
        .flat_map(|(t, ts)| ts.blocks().map(move |(b, _)| (t as u32, b)))
        .chain(
            attempts
                .keys()
                .filter(|(t, b)| state.block(*t, *b).is_none())
                .copied(),
        )
        .collect();
    keys.sort_unstable();
    let mut attempts = attempts;
    let mut line = Vec::with_capacity(512);
    for &(t, b) in &keys {
        let entry = state.block(t, b);
        let mut list = attempts.remove(&(t, b)).unwrap_or_default();
        list.sort_by_key(|a| a.attempt);
        let record = BlockLine {
            task: task_name(t),
            block_id: b,
            state: entry.map_or("pending", |e| state_name(e.state())),
            last_attempt: entry.map_or(0, |e| e.last_attempt()),
            failures_in_budget: entry.map_or(0, |e| e.failures_in_budget()),
            infra_returns: entry.map_or(0, |e| e.infra_returns()),
            last_worker: entry.and_then(|e| e.last_worker()).and_then(worker_name),
            last_error: entry.and_then(|e| e.last_error()).map(str::to_string),
            attempts: list,
        };
        line.clear();
        serde_json::to_writer(&mut line, &record).expect("a block line always serializes");
        line.push(b'\n');
        out.write_all(&line)?;
    }
    out.flush()?;
    Ok(keys.len() as u64)
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
