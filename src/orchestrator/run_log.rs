//! The run's log lines (tracing), one function per event so that their wording and levels
//! live in one place. At `submit`'s default level (INFO) a run logs each worker launch and
//! end, each block failure (and whether it is retried), each task's end and the run's end —
//! never a line per finished block, which a run of 10^7 blocks could not afford.

use super::decide::Verdict;
use crate::backend::{JobEnd, LaunchedAgent};
use crate::ledger::StateCounts;
use crate::status::summarize_cause;

/// A worker was launched for `task` on `backend`, with `slots` program slots.
pub fn worker_launched(task: &str, backend: &str, agent: &LaunchedAgent, slots: u32) {
    tracing::info!(
        task = %task,
        backend = %backend,
        job = %agent.job_id.as_deref().unwrap_or("-"),
        worker = %agent.worker_id,
        slots,
        "worker launched"
    );
}

/// A worker of `task` ended (`reason`, as the ledger records it); `scheduler`: how its job
/// ended, when the scheduler said; `returned`: its unfinished blocks given back.
pub fn worker_ended(
    task: &str,
    agent: &LaunchedAgent,
    scheduler: Option<&JobEnd>,
    reason: &str,
    returned: usize,
) {
    let scheduler = scheduler.map_or_else(|| "-".to_string(), ToString::to_string);
    tracing::info!(
        task = %task,
        job = %agent.job_id.as_deref().unwrap_or("-"),
        worker = %agent.worker_id,
        scheduler = %scheduler,
        returned,
        "worker ended: {reason}"
    );
}

/// The job of a worker that already ended (it said Bye) is gone from the scheduler, which
/// says how: INFO unless it simply completed.
pub fn job_ended_after_bye(agent: &LaunchedAgent, end: &JobEnd) {
    let job = agent.job_id.as_deref().unwrap_or("-");
    if *end == JobEnd::Completed {
        tracing::debug!(job = %job, worker = %agent.worker_id, "worker job ended: {end}");
    } else {
        tracing::info!(job = %job, worker = %agent.worker_id, "worker job ended: {end}");
    }
}

/// An attempt of block `block` of `task` ended badly (`error`), and what happens to the block:
/// a retry (INFO), or it failed for good (WARN). `charged`: the failure counts against the
/// block's `max_retries`; an attempt lost to the cluster (walltime, preemption…) that is
/// retried is logged only at DEBUG (a worker's end already says how many it gave back).
pub fn attempt_failed(
    task: &str,
    block: u64,
    attempt: u32,
    error: &str,
    charged: bool,
    verdict: &Verdict,
) {
    let error = summarize_cause(error);
    match verdict {
        Verdict::Fail => {
            tracing::warn!(
                task = %task,
                block,
                attempt,
                "block failed, no retries left: {error}"
            );
        }
        Verdict::Retry if charged => {
            tracing::info!(task = %task, block, attempt, "block failed, retrying: {error}");
        }
        Verdict::Retry => {
            tracing::debug!(task = %task, block, attempt, "block given back, retrying: {error}");
        }
        Verdict::Finish { .. } => {}
    }
}

/// Every block of `task` (`total` of them) is settled for this run: its counts in the ledger.
pub fn task_ended(task: &str, total: u64, counts: StateCounts) {
    let not_run = total.saturating_sub(counts.done + counts.skipped + counts.failed);
    tracing::info!(
        task = %task,
        total,
        done = counts.done,
        skipped = counts.skipped,
        failed = counts.failed,
        not_run,
        "task ended"
    );
}

/// `task` cannot go on (its init step failed, its workers keep failing to start or its
/// program keeps crashing): `reason`.
pub fn task_stopped(task: &str, reason: &str) {
    tracing::warn!(task = %task, "task stopped: {}", summarize_cause(reason));
}

/// The run ended (`reason` as recorded in the ledger, with its `message`).
pub fn run_ended(reason: &str, message: &str) {
    tracing::info!(reason = %reason, "run ended: {message}");
}
