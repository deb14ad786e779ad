//! Starting (or resuming) a run: plan, ledger, ownership, state, and agents left in flight.

use super::agents::Agent;
use super::error::OrchestratorError;
use super::options::SubmitOptions;
use super::progress::Progress;
use super::run::Run;
use crate::backend::{Backend, LaunchedAgent};
use crate::ledger::{
    now_us, BlockState, ClaimOptions, Journal, Ledger, LedgerError, LogReader, OrchestratorRecord,
    WorkerId,
};
use crate::schedule::{Known, ReadySet};
use crate::task::{diff_task_files, load_task_file, TaskFile};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

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

/// Creates the ledger of `file` at `root`, or opens it if it exists; a ledger of another task
/// definition is refused with the difference (`PlanChanged`).
pub fn open_ledger(file: &TaskFile, root: &Path) -> Result<Ledger, OrchestratorError> {
    let canonical = file.canonical_json();
    match Ledger::create_or_open(root, &canonical) {
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

/// Opens (or creates) the ledger, claims it and builds the run.
pub fn prepare(
    opts: SubmitOptions,
    backend: Box<dyn Backend>,
    interrupted: Arc<AtomicBool>,
) -> Result<Run, OrchestratorError> {
    let file = load_task_file(&opts.task_file)?;
    let plan = Arc::new(file.plan()?);
    // Before the ledger is created: a run too large to keep in memory leaves nothing behind.
    crate::plan::check_run_size(&plan)?;
    let ledger = open_ledger(&file, &opts.ledger)?;
    let ownership = match ledger.claim(&ClaimOptions {
        force: opts.force,
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
    let mut journal = Journal::start(&ledger, &ownership)?;
    let has_failed = journal
        .state()
        .tasks()
        .iter()
        .any(|t| t.blocks().any(|(_, e)| e.state() == BlockState::Failed));
    if has_failed {
        // A resume gives failed blocks (and so their orphans) a fresh set of attempts.
        journal.append(OrchestratorRecord::RetryBudgetReset { time_us: now_us() })?;
        journal.commit()?;
    }
    let ready = {
        let state = journal.state();
        let known = state.tasks().iter().enumerate().flat_map(|(task, t)| {
            t.blocks().filter_map(move |(id, e)| {
                let known = match e.state() {
                    BlockState::Done => Known::Done,
                    BlockState::Skipped => Known::Skipped,
                    BlockState::Assigned => Known::Running,
                    _ => return None,
                };
                Some((task, id, known))
            })
        });
        ReadySet::from_known(
            Arc::clone(&plan),
            known.filter(|&(task, _, _)| task < plan.len()),
        )
    };
    let workdir = std::fs::canonicalize(file.working_dir()).unwrap_or_else(|_| file.working_dir());
    let tasks = (0..file.tasks.len())
        .map(|t| {
            let mut rt = Run::task_runtime(&file, t);
            // init.command runs once per ledger: a resume must not run it again once it
            // succeeded (it typically creates the outputs the done blocks have written to).
            let init_ok = journal
                .state()
                .task(t as u32)
                .and_then(|s| s.init())
                .is_some_and(|i| i.ok);
            if init_ok {
                rt.init = super::run::InitPhase::Ok;
            }
            rt.max_failed_starts = opts
                .max_failed_starts
                .unwrap_or(default_max_failed_starts(file.tasks[t].num_workers));
            rt
        })
        .collect();
    let names = file.tasks.iter().map(|t| t.name.clone()).collect();
    let counts: Vec<_> = (0..plan.len()).map(|t| ready.counts(t)).collect();
    let progress = Progress::new(opts.progress, names, &counts);
    let mut run = Run {
        run_name: run_name(ledger.root()),
        backend_interval: opts.backend_poll,
        scheduler_outage: super::outage::SchedulerOutage::new(opts.scheduler_outage_limit),
        opts,
        file,
        plan,
        ledger,
        journal,
        ready,
        backend,
        agents: Vec::new(),
        tasks,
        progress,
        workdir,
        failure_logs: HashMap::new(),
        verdicts: Vec::new(),
        last_backend_poll: Instant::now() - Duration::from_secs(3600),
        last_snapshot: Instant::now(),
        last_heartbeat: Instant::now(),
        pending_since: None,
        blocks_changed: false,
        interrupted,
    };
    run.adopt_in_flight()?;
    Ok(run)
}

impl Run {
    /// Agents of an earlier orchestrator that may still be alive are adopted: they get this
    /// epoch's inbox (with their unfinished assignments re-sent) and count against
    /// `num_workers`, so a restart never duplicates workers. Agents that said goodbye are
    /// retired; their unfinished blocks are returned once their last records are read.
    fn adopt_in_flight(&mut self) -> Result<(), OrchestratorError> {
        let mut by_worker: HashMap<u32, Vec<(u32, u64, u32)>> = HashMap::new();
        for (task, block, attempt, worker) in self.journal.state().assigned_blocks() {
            by_worker
                .entry(worker)
                .or_default()
                .push((task, block, attempt));
        }
        let workers = self.journal.state().workers().to_vec();
        let mut unknown = Vec::new();
        for (index, entry) in workers.iter().enumerate() {
            let index = index as u32;
            let attempts = by_worker.remove(&index).unwrap_or_default();
            if entry.ended.is_some() && attempts.is_empty() {
                continue;
            }
            let id = WorkerId::new(entry.worker_id.clone())?;
            let summary = crate::ledger::summarize_outbox(&self.ledger.outbox_path(&id))?;
            let said_bye = summary.as_ref().is_some_and(|s| s.bye.is_some());
            if said_bye && attempts.is_empty() {
                self.journal.append(OrchestratorRecord::WorkerEnded {
                    worker: index,
                    reason: "left before this orchestrator started".into(),
                    time_us: now_us(),
                })?;
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
                    self.file
                        .tasks
                        .iter()
                        .enumerate()
                        .filter(|(_, t)| entry.worker_id.contains(&format!("-{}-", t.name)))
                        .max_by_key(|(_, t)| t.name.len())
                        .map(|(i, _)| i)
                })
                .or_else(|| (self.file.tasks.len() == 1).then_some(0));
            let Some(task) = task else {
                if entry.job_id.is_some() {
                    unknown.push(LaunchedAgent {
                        worker_id: entry.worker_id.clone(),
                        job_id: entry.job_id.clone(),
                        task: 0,
                    });
                    self.journal.append(OrchestratorRecord::WorkerEnded {
                        worker: index,
                        reason: "cancelled on resume: idle, and its task is unknown".into(),
                        time_us: now_us(),
                    })?;
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
            let outbox = LogReader::new(self.ledger.outbox_path(&id));
            let mut agent = Agent::new(index, launched, slots, outbox);
            agent.adopted = true;
            for &(task, block, attempt) in &attempts {
                agent.in_flight.insert((task, block, attempt));
                agent.outgoing.push(crate::ledger::InboxRecord::Assign {
                    task,
                    block,
                    attempt,
                    time_us: now_us(),
                });
            }
            if let Some(hello) = summary.as_ref().and_then(|s| s.hello.clone()) {
                agent.said_hello = true;
                agent.host_pid = Some((hello.host, hello.pid));
            }
            tracing::info!(
                "adopting worker {} with {} blocks in flight",
                entry.worker_id,
                agent.in_flight.len()
            );
            self.agents.push(agent);
        }
        self.journal.commit()?;
        let adopted: Vec<LaunchedAgent> = self.agents.iter().map(|a| a.launched.clone()).collect();
        self.backend.adopt(&adopted);
        if !unknown.is_empty() {
            self.backend.adopt(&unknown);
            if let Err(err) = self.backend.cancel(&unknown) {
                tracing::warn!("{err}");
            }
        }
        Ok(())
    }
}

/// The default bound on failed starts in a row: two waves of `num_workers` and a few more,
/// so one bad wave (a broken environment) stops the task soon, while a run of days whose
/// workers are replaced by the cluster again and again is never stopped.
pub fn default_max_failed_starts(num_workers: u32) -> u32 {
    num_workers.saturating_mul(2).saturating_add(6)
}

#[cfg(test)]
mod launch_budget_tests {
    #[test]
    fn the_default_bound_allows_two_bad_waves() {
        assert_eq!(super::default_max_failed_starts(1), 8);
        assert_eq!(super::default_max_failed_starts(100), 206);
        assert_eq!(super::default_max_failed_starts(u32::MAX), u32::MAX);
    }
}
