//! `blockorch logs`: one attempt of one block as its worker saw it: where it ran (worker,
//! host, job, slot), how it ended (outcome, message with the traceback, exit), what it cost
//! (wall, CPU, peak memory) and its own output, cut out of the slot logs
//! ([`super::slot_log`]).

use std::ops::ControlFlow;
use std::path::Path;

use serde::Serialize;

use super::error::StatusError;
use super::slot_log::{cut_file, AttemptKey, LogCut};
use crate::ledger::{
    BlockState, Layout, Ledger, LedgerError, LogReader, LogStream, OutboxRecord, Outcome, WorkerId,
};
use crate::task::parse_task_file;

/// Which attempt `blockorch logs` shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptRequest {
    /// Task name.
    pub task: String,
    /// daisy block id.
    pub block: u64,
    /// Attempt number; the latest when `None`.
    pub attempt: Option<u32>,
}

/// One attempt of a block (the `--json` document of `blockorch logs`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AttemptLog {
    /// Task name.
    pub task: String,
    /// daisy block id.
    pub block_id: u64,
    /// The attempt shown.
    pub attempt: u32,
    /// Attempts handed out so far.
    pub attempts: u32,
    /// The block's state per the orchestrator log (`pending`, `running`, `done`, `skipped`,
    /// `failed`).
    pub block_state: &'static str,
    /// The orchestrator's last error for the block (also when no worker reported it, e.g.
    /// its worker died).
    pub block_error: Option<String>,
    /// The worker it ran on.
    pub worker: String,
    /// That worker's host, from its Hello.
    pub host: Option<String>,
    /// Its scheduler job id.
    pub job_id: Option<String>,
    /// Its backend.
    pub backend: Option<String>,
    /// The program slot, once the attempt started.
    pub slot: Option<u32>,
    /// `done`, `skipped`, `failed`, `abandoned` (given back unfinished), `running`, or
    /// `not started` (assigned, never started by the worker).
    pub outcome: &'static str,
    /// Failure category of a failed attempt.
    pub failure_kind: Option<String>,
    /// Failure message (with the Python helper: the traceback), or why it was abandoned.
    pub message: Option<String>,
    /// Start (µs since the UNIX epoch).
    pub start_us: Option<u64>,
    /// End.
    pub end_us: Option<u64>,
    /// Wall-clock seconds.
    pub wall_s: Option<f64>,
    /// CPU seconds (user + system).
    pub cpu_s: Option<f64>,
    /// Peak resident set size, when measured.
    pub peak_rss_bytes: Option<u64>,
    /// Exit code of the program, if it exited.
    pub exit_code: Option<i32>,
    /// Signal that killed it, if one did.
    pub signal: Option<i32>,
    /// Its standard output.
    pub stdout: LogCut,
    /// Its standard error.
    pub stderr: LogCut,
}

/// Finds the attempt `request` names in the ledger at `root` and cuts its output out of the
/// slot logs (reads the orchestrator logs, one outbox for the latest attempt, all outboxes
/// for an earlier one, and the attempt's two slot logs).
pub fn attempt_log(root: &Path, request: &AttemptRequest) -> Result<AttemptLog, StatusError> {
    let ledger_err = |source| StatusError::Ledger {
        root: root.to_path_buf(),
        source,
    };
    let ledger = Ledger::open(root).map_err(ledger_err)?;
    let tasks =
        parse_task_file("ledger.json", &ledger.header().tasks.to_string()).map_err(|source| {
            StatusError::Tasks {
                root: root.to_path_buf(),
                source,
            }
        })?;
    let names: Vec<String> = tasks.tasks.iter().map(|t| t.name.clone()).collect();
    let Some(t) = names.iter().position(|n| *n == request.task) else {
        return Err(StatusError::NoSuchTask {
            name: request.task.clone(),
            available: names,
        });
    };
    let plan = tasks.plan().map_err(|source| StatusError::Plan {
        root: root.to_path_buf(),
        source,
    })?;
    if plan.task(t).block_by_id(request.block).is_none() {
        return Err(StatusError::NoSuchBlock {
            task: request.task.clone(),
            block: request.block,
        });
    }
    let loaded = ledger.load_compact_state().map_err(ledger_err)?;
    let state = &loaded.state;
    let entry = state.entry(t as u32, request.block);
    let entry = entry.as_ref();
    let last = entry.map_or(0, |e| e.last_attempt());
    let attempt = request.attempt.unwrap_or(last);
    if attempt == 0 || attempt > last {
        return Err(StatusError::NoSuchAttempt {
            task: request.task.clone(),
            block: request.block,
            attempt,
            last,
        });
    }
    let layout = ledger.layout();
    let latest_worker = entry
        .filter(|e| e.last_attempt() == attempt)
        .and_then(|e| e.last_worker())
        .and_then(|w| state.workers().get(w as usize))
        .map(|w| w.worker_id.clone());
    let found = match latest_worker {
        Some(w) => {
            let id = WorkerId::new(w).map_err(ledger_err)?;
            let seen =
                scan_outbox(layout, &id, t as u32, request.block, attempt).map_err(ledger_err)?;
            Some((id, seen))
        }
        None => find_in_outboxes(layout, t as u32, request.block, attempt).map_err(ledger_err)?,
    };
    let Some((id, seen)) = found else {
        return Err(StatusError::NoSuchAttempt {
            task: request.task.clone(),
            block: request.block,
            attempt,
            last,
        });
    };
    let registered = state.workers().iter().find(|w| w.worker_id == id.as_str());
    let key = AttemptKey {
        task: request.task.clone(),
        block: request.block,
        attempt,
    };
    let cut = |stream| -> Result<LogCut, StatusError> {
        let Some(slot) = seen.slot else {
            return Ok(LogCut::default());
        };
        let path = layout.worker_log_path(&id, slot, stream);
        let shown = path
            .strip_prefix(layout.root())
            .unwrap_or(&path)
            .display()
            .to_string();
        cut_file(&path, shown, &key).map_err(|source| StatusError::Read { path, source })
    };
    let (outcome, failure_kind, message) = match &seen.finished {
        Some((Outcome::Done, _)) => ("done", None, None),
        Some((Outcome::Skipped, _)) => ("skipped", None, None),
        Some((Outcome::Failed { kind, message }, _)) => {
            ("failed", Some(kind.to_string()), Some(message.clone()))
        }
        None => match &seen.abandoned {
            Some((reason, _)) => ("abandoned", None, Some(reason.clone())),
            None if seen.started.is_some() => ("running", None, None),
            None => ("not started", None, None),
        },
    };
    let stats = seen.finished.as_ref().map(|(_, s)| s);
    let block_state = entry.map_or(BlockState::Pending, |e| e.state());
    Ok(AttemptLog {
        task: request.task.clone(),
        block_id: request.block,
        attempt,
        attempts: last,
        block_state: super::blocks::state_name(block_state),
        block_error: entry.and_then(|e| e.last_error()).map(str::to_string),
        worker: id.as_str().to_string(),
        host: seen.host.clone(),
        job_id: registered
            .and_then(|w| w.job_id.clone())
            .or_else(|| seen.job.clone()),
        backend: registered.map(|w| w.backend.clone()),
        slot: seen.slot,
        outcome,
        failure_kind,
        message,
        start_us: stats.map(|s| s.start_us).or(seen.started),
        end_us: stats
            .map(|s| s.end_us)
            .or(seen.abandoned.as_ref().map(|a| a.1)),
        wall_s: stats.map(|s| s.wall_s),
        cpu_s: stats.map(|s| s.cpu_s),
        peak_rss_bytes: stats.map(|s| s.peak_rss_bytes).filter(|&b| b > 0),
        exit_code: stats.and_then(|s| s.exit_code),
        signal: stats.and_then(|s| s.signal),
        stdout: cut(LogStream::Stdout)?,
        stderr: cut(LogStream::Stderr)?,
    })
}

/// The worker whose outbox holds the attempt (an earlier attempt: the orchestrator's state
/// keeps only the latest one's worker).
fn find_in_outboxes(
    layout: &Layout,
    task: u32,
    block: u64,
    attempt: u32,
) -> Result<Option<(WorkerId, Seen)>, LedgerError> {
    for id in layout.list_workers()? {
        let seen = scan_outbox(layout, &id, task, block, attempt)?;
        if seen.slot.is_some() || seen.finished.is_some() || seen.abandoned.is_some() {
            return Ok(Some((id, seen)));
        }
    }
    Ok(None)
}

/// What one outbox says about one attempt.
#[derive(Default)]
struct Seen {
    host: Option<String>,
    job: Option<String>,
    slot: Option<u32>,
    started: Option<u64>,
    finished: Option<(Outcome, crate::ledger::AttemptStats)>,
    abandoned: Option<(String, u64)>,
}

/// Streams the outbox of `id` (constant memory) for the records of one attempt.
fn scan_outbox(
    layout: &Layout,
    id: &WorkerId,
    task: u32,
    block: u64,
    attempt: u32,
) -> Result<Seen, LedgerError> {
    let mut seen = Seen::default();
    let is = |t: u32, b: u64, a: u32| (t, b, a) == (task, block, attempt);
    let mut reader = LogReader::<OutboxRecord>::new(layout.outbox_path(id));
    reader.poll_with(|record| {
        match record {
            OutboxRecord::Hello {
                host, backend_job, ..
            } if seen.started.is_none() => {
                seen.host = Some(host);
                seen.job = backend_job;
            }
            OutboxRecord::Started {
                task: t,
                block: b,
                attempt: a,
                slot,
                time_us,
            } if is(t, b, a) => {
                seen.slot = Some(slot);
                seen.started = Some(time_us);
            }
            OutboxRecord::Finished {
                task: t,
                block: b,
                attempt: a,
                outcome,
                stats,
                ..
            } if is(t, b, a) => {
                seen.finished = Some((outcome, stats));
                return ControlFlow::Break(());
            }
            OutboxRecord::Abandoned {
                task: t,
                block: b,
                attempt: a,
                reason,
                time_us,
            } if is(t, b, a) => {
                seen.abandoned = Some((reason, time_us));
                return ControlFlow::Break(());
            }
            _ => {}
        }
        ControlFlow::Continue(())
    })?;
    Ok(seen)
}
