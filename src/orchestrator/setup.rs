//! Starting (or resuming) a run: plan, ledger, ownership, state, and agents left in flight;
//! builds the owners the run loop passes borrows between.

use super::agent::Agent;
use super::agent_table::AgentTable;
use super::block_book::BlockBook;
use super::decide::RetryLimits;
use super::error::OrchestratorError;
use super::inbox_writers::SHARED_INBOX_WRITERS;
use super::jobs::Jobs;
use super::options::SubmitOptions;
use super::run::Run;
use super::task_table::TaskTable;
use crate::backend::{Backend, JobEnd, LaunchedAgent};
use crate::ledger::{ClaimOptions, Journal, Ledger, LedgerError, LedgerFs, WorkerId};
use crate::task::{diff_task_files, TaskFile};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// The sha256 of the canonical task JSON: a ledger belongs to exactly one task definition.
pub fn plan_hash(canonical: &serde_json::Value) -> String {
    crate::ledger::tasks_hash(canonical)
}

/// The name every scheduler job of a run carries: derived from the ledger path, so one
/// query covers the run and two runs never share it.
pub fn run_name(ledger: &Path) -> String {
    let digest = Sha256::digest(ledger.to_string_lossy().as_bytes());
    let short: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("blockorch-{short}")
}

/// Creates the ledger of `file` at `root`, or opens it if it exists; a ledger whose blocks
/// `file` would define differently is refused with the difference (`PlanChanged`). Changes
/// that leave the blocks as they are (workers, retries, timeouts, scheduler settings,
/// environment, commands) are accepted; [`publish_changed_settings`] applies them.
pub fn open_ledger(file: &TaskFile, root: &Path) -> Result<Ledger, OrchestratorError> {
    let canonical = file.canonical_json();
    match Ledger::create_or_open_compatible(root, &canonical, crate::task::same_blocks) {
        Ok(l) => Ok(l),
        Err(LedgerError::PlanChanged {
            root,
            old_tasks,
            new_tasks,
            ..
        }) => {
            let diff = diff_task_files(&old_tasks, &new_tasks);
            Err(OrchestratorError::PlanChanged {
                ledger: root.display().to_string(),
                diff: diff
                    .iter()
                    .map(|l| format!("  {l}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
            })
        }
        Err(err) => Err(err.into()),
    }
}

/// On a resume whose task file changed what is operational, says what changed and publishes
/// the new definition for epoch `epoch`, so that agents started from now on (and `status`)
/// use it; the orchestrator itself always runs the task file it was given.
pub fn publish_changed_settings(
    ledger: &Ledger,
    epoch: u64,
    file: &TaskFile,
) -> Result<(), OrchestratorError> {
    let canonical = file.canonical_json();
    let in_force = ledger.tasks_in_force()?;
    if in_force == canonical {
        return Ok(());
    }
    let changes = diff_task_files(&in_force, &canonical);
    crate::console::eprint_line(format_args!(
        "resuming with changed settings (the blocks are the same; done blocks stay done):\n{}",
        changes
            .iter()
            .map(|l| format!("  {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    ));
    ledger.publish_definition(epoch, &canonical)?;
    Ok(())
}

/// How many agents a run of `file` on `backend` launches at most: each task's workers over
/// the backend's slots per agent (what the agent scale is computed from).
pub fn planned_agents(file: &TaskFile, backend: &dyn Backend) -> u64 {
    file.tasks
        .iter()
        .map(|t| {
            u64::from(
                t.num_workers
                    .div_ceil(backend.slots_per_agent(t.num_workers).max(1)),
            )
        })
        .sum()
}

/// Opens (or creates) the ledger, claims it and builds the run.
pub fn prepare(
    file: TaskFile,
    opts: SubmitOptions,
    backend: Box<dyn Backend>,
    interrupted: Arc<AtomicBool>,
) -> Result<Run, OrchestratorError> {
    let plan = Arc::new(file.plan()?);
    // Before the ledger is created: a run too large to keep in memory leaves nothing behind.
    crate::plan::check_run_size(&plan)?;
    let ledger = open_ledger(&file, &opts.ledger)?;
    // Outboxes are looked at by a schedule and a budget on a shared file system.
    let fs = LedgerFs::of(ledger.root());
    // So many agents that their idle looks would outgrow the budget look less often.
    let planned = planned_agents(&file, backend.as_ref());
    let agent_scale = opts.agent_scale(fs, planned);
    let opts = opts.for_ledger_fs(fs).for_agent_scale(agent_scale);
    let probe_policy = opts.run_probe_policy(fs, planned, agent_scale);
    tracing::info!(?fs, ?probe_policy, agent_scale, "ledger file system");
    let ownership = match ledger.claim(&ClaimOptions {
        force: opts.force,
        agent_scale,
        ..ClaimOptions::default()
    }) {
        Ok(o) => o,
        Err(err @ LedgerError::Busy { .. }) => {
            return Err(OrchestratorError::Busy {
                message: format!(
                    "{err}\nwait for it to finish (follow it with `blockorch status {}`), or, if \
                     you are sure it is dead, take over with `blockorch submit --force`",
                    ledger.root().display()
                ),
            })
        }
        Err(err) => return Err(err.into()),
    };
    ownership.heartbeat()?;
    publish_changed_settings(&ledger, ownership.epoch(), &file)?;
    let journal = Journal::start(&ledger, &ownership)?;
    let limits = file.tasks.iter().map(RetryLimits::of_task).collect();
    let mut book = BlockBook::start(journal, plan, limits)?;
    let workdir = std::fs::canonicalize(file.working_dir()).unwrap_or_else(|_| file.working_dir());
    let tasks = TaskTable::new(
        file,
        workdir.clone(),
        ledger.layout().clone(),
        book.state(),
        opts.max_failed_starts,
    );
    let mut jobs = Jobs::new(
        backend,
        run_name(ledger.root()),
        ledger.root().to_path_buf(),
        workdir,
        &opts,
    );
    jobs.set_agent_scale(agent_scale);
    let adopted = adopt_in_flight(&ledger, &mut book, &tasks, &mut jobs)?;
    let writers = match fs {
        LedgerFs::Local => 1,
        LedgerFs::Shared => SHARED_INBOX_WRITERS,
    };
    let agents = AgentTable::new(ledger.clone(), adopted, probe_policy).with_inbox_writers(writers);
    Ok(Run::new(
        opts,
        ledger,
        book,
        tasks,
        agents,
        jobs,
        interrupted,
    ))
}

/// Agents of an earlier orchestrator that may still be alive are adopted: they get this
/// epoch's inbox (with their unfinished assignments re-sent) and count against
/// `num_workers`, so a restart never duplicates workers. Agents that said goodbye are
/// retired; their unfinished blocks are returned once their last records are read.
fn adopt_in_flight(
    ledger: &Ledger,
    book: &mut BlockBook,
    tasks: &TaskTable,
    jobs: &mut Jobs,
) -> Result<Vec<Agent>, OrchestratorError> {
    let mut by_worker: HashMap<u32, Vec<(u32, u64, u32)>> = HashMap::new();
    for (task, block, attempt, worker) in book.state().assigned_blocks() {
        by_worker
            .entry(worker)
            .or_default()
            .push((task, block, attempt));
    }
    let file = tasks.file();
    let workers = book.state().workers().to_vec();
    let mut agents = Vec::new();
    let mut unknown = Vec::new();
    for (index, entry) in workers.iter().enumerate() {
        let index = index as u32;
        let attempts = by_worker.remove(&index).unwrap_or_default();
        if entry.ended.is_some() && attempts.is_empty() {
            continue;
        }
        let id = WorkerId::new(entry.worker_id.clone())?;
        let summary = crate::ledger::summarize_outbox(&ledger.outbox_path(&id))?;
        let said_bye = summary.as_ref().is_some_and(|s| s.bye.is_some());
        if said_bye && attempts.is_empty() {
            book.worker_ended(index, "left before this orchestrator started")?;
            continue;
        }
        // The task: from its blocks in flight, else from the worker id (local agents are
        // `local-e<epoch>-<task>-<n>`; the longest matching name wins), else the only task.
        // A SLURM/LSF worker of a multi-task run that has nothing in flight does not say
        // its task: it is cancelled, since it would otherwise stay alive unused while this
        // run launches `num_workers` of its own.
        let task = entry
            .task
            .map(|t| t as usize)
            .or_else(|| attempts.first().map(|a| a.0 as usize))
            .or_else(|| {
                file.tasks
                    .iter()
                    .enumerate()
                    .filter(|(_, t)| entry.worker_id.contains(&format!("-{}-", t.name)))
                    .max_by_key(|(_, t)| t.name.len())
                    .map(|(i, _)| i)
            })
            .or_else(|| (file.tasks.len() == 1).then_some(0));
        let Some(task) = task else {
            if entry.job_id.is_some() {
                unknown.push(LaunchedAgent {
                    worker_id: entry.worker_id.clone(),
                    job_id: entry.job_id.clone(),
                    task: 0,
                });
                book.worker_ended(index, "cancelled on resume: idle, and its task is unknown")?;
            }
            continue;
        };
        let launched = LaunchedAgent {
            worker_id: entry.worker_id.clone(),
            job_id: entry.job_id.clone(),
            task,
        };
        let slots = summary
            .as_ref()
            .and_then(|s| s.hello.as_ref().map(|h| h.slots))
            .unwrap_or(1);
        let mut agent = Agent::new(index, launched, slots, &ledger.outbox_path(&id));
        agent.adopted = true;
        for &(task, block, attempt) in &attempts {
            agent.assign(task, block, attempt);
        }
        if let Some(hello) = summary.as_ref().and_then(|s| s.hello.clone()) {
            agent.said_hello = true;
            agent.host_pid = Some((hello.host, hello.pid));
        } else if entry.job_id.is_none() {
            // A local agent of a dead orchestrator that never said Hello (or whose outbox is
            // gone): it watched its parent and is gone or going. Retire it now (its leftover
            // programs on this host are killed first) instead of waiting for the Hello bound.
            agent.job_end = Some((JobEnd::Vanished, std::time::Instant::now()));
        }
        tracing::info!(
            "adopting worker {} with {} blocks in flight",
            entry.worker_id,
            agent.in_flight.len()
        );
        agents.push(agent);
    }
    book.commit()?;
    let adopted: Vec<LaunchedAgent> = agents.iter().map(|a| a.launched.clone()).collect();
    jobs.adopt(&adopted);
    if !unknown.is_empty() {
        jobs.adopt(&unknown);
        jobs.cancel(&unknown);
    }
    Ok(agents)
}
