//! [`LedgerSnapshot`]: one read of a ledger (header, owner, folded state, outbox summaries)
//! plus its plan, from which the status report and the block map are derived.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::counts::LedgerPhases;
use super::error::StatusError;
use super::model::{
    CellState, CurrentBlock, DefinitionReport, InitState, OwnerReport, OwnerState, RunEnd,
    StatusReport, TaskStatus, Totals, WorkerState, WorkerStateCounts, WorkerStatus, WorkerTable,
};
use super::rate::log_throughput;
use crate::backend::probe::SchedulerProbe;
use crate::ledger::{
    definition_in_force, now_us, summarize_outbox, CompactState, FoldedState, Layout, LedgerHeader,
    LedgerView, Liveness, OutboxDetail, RunEndReason, WorkerId, WorkerSummary, DEFAULT_STALE_AFTER,
};
use crate::plan::{Block, Plan};
use crate::task::{diff_task_files, parse_task_file, TaskFile};

/// With at most this many workers, the outboxes of ended workers are summarized too (their
/// host and pid are shown); with more, only those of live workers.
const ALL_OUTBOXES_UP_TO: usize = 64;

/// A worker that wrote nothing for this long (three of its heartbeats) is shown as silent;
/// times the run's agent scale ([`silent_after`]).
pub const WORKER_SILENT_AFTER: Duration =
    Duration::from_secs(3 * crate::worker::AGENT_HEARTBEAT_INTERVAL.as_secs());

/// How long a worker may write nothing before it is shown as silent: [`WORKER_SILENT_AFTER`]
/// times the run's agent scale (its heartbeats come that much less often; see
/// `docs/design/ledger.md`) — the scale `recorded` in the owner's claim, or, for a claim
/// that does not record it, the scale a run of `workers` workers not yet ended has at the
/// default metadata budget.
pub fn silent_after(recorded: Option<u32>, workers: usize) -> Duration {
    let scale = recorded.unwrap_or_else(|| {
        crate::ledger::agent_scale(workers as u64, crate::orchestrator::DEFAULT_METADATA_BUDGET)
    });
    WORKER_SILENT_AFTER * scale.max(1)
}

/// A consistent read of a ledger and its plan; `S` is the folded state: a [`CompactState`]
/// (about 16 bytes per block) when read from disk, the orchestrator's state by reference when
/// it records its status.
pub struct LedgerSnapshot<S = CompactState> {
    view: LedgerView<S>,
    tasks: TaskFile,
    plan: Arc<Plan>,
    /// Phases of every block (orphans only when some block failed).
    phases: LedgerPhases,
    now_us: u64,
}

impl LedgerSnapshot {
    /// Reads the ledger at `root` (read-only: no lock, no write).
    pub fn load(root: &Path) -> Result<Self, StatusError> {
        Self::load_at(root, now_us())
    }

    /// Reads the ledger at `root`, judging ages at `now_us`.
    pub fn load_at(root: &Path, now_us: u64) -> Result<Self, StatusError> {
        let ledger_err = |source| StatusError::Ledger {
            root: root.to_path_buf(),
            source,
        };
        let mut view = LedgerView::open_folded(root, OutboxDetail::Live).map_err(ledger_err)?;
        if view.workers.len() <= ALL_OUTBOXES_UP_TO {
            let layout = Layout::new(&view.root);
            for w in view.workers.iter_mut().filter(|w| w.outbox.is_none()) {
                if let Ok(id) = WorkerId::new(w.worker_id.clone()) {
                    w.outbox = summarize_outbox(&layout.outbox_path(&id)).map_err(ledger_err)?;
                }
            }
        }
        let tasks = tasks_of(&view)?;
        let plan = Arc::new(plan_of(root, &tasks)?);
        Ok(Self::from_parts(view, tasks, plan, now_us))
    }
}

impl<S: FoldedState> LedgerSnapshot<S> {
    /// The snapshot of a view built elsewhere (the orchestrator builds one from what it holds
    /// in memory to record its status), with its task file and plan, judging ages at `now_us`.
    pub fn from_parts(view: LedgerView<S>, tasks: TaskFile, plan: Arc<Plan>, now_us: u64) -> Self {
        let phases = LedgerPhases::new(Arc::clone(&plan), &view.loaded.state);
        Self {
            view,
            tasks,
            plan,
            phases,
            now_us,
        }
    }

    /// The underlying view.
    pub fn view(&self) -> &LedgerView<S> {
        &self.view
    }

    /// The plan.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Task names in task-file order.
    pub fn task_names(&self) -> Vec<String> {
        (0..self.plan.len())
            .map(|t| self.plan.name(t).to_string())
            .collect()
    }

    /// Whether orphans were computed (some block failed): the map and the counts then show
    /// orphaned blocks.
    pub fn orphans_computed(&self) -> bool {
        self.phases.orphans_computed()
    }

    /// The state of one block as the map shows it.
    pub fn cell_state(&self, task: usize, block: &Block) -> CellState {
        self.phases.cell_state(&self.view.loaded.state, task, block)
    }

    /// Builds the status report; `probe` is asked about the live workers' jobs.
    pub fn report(&self, probe: &mut dyn SchedulerProbe) -> Result<StatusReport, StatusError> {
        let state = &self.view.loaded.state;
        let owner = self.owner_report();
        let mut tasks = Vec::with_capacity(self.plan.len());
        let mut totals = Totals::default();
        let not_ended = self
            .view
            .workers
            .iter()
            .filter(|w| w.entry.as_ref().is_none_or(|e| e.ended.is_none()))
            .count();
        let recorded = self.view.owner.as_ref().and_then(|o| o.agent_scale);
        let silent_us = silent_after(recorded, not_ended).as_micros() as u64;
        let workers: Vec<WorkerStatus> = self
            .view
            .workers
            .iter()
            .map(|w| self.worker_status(w, silent_us))
            .collect();
        let occupied = self.occupied_slots(&workers);
        for (t, &occupied) in occupied.iter().enumerate() {
            let counts = self.phases.task_counts(state, t, occupied);
            totals.counts.add(&counts);
            tasks.push(TaskStatus {
                name: self.plan.name(t).to_string(),
                counts,
                init: self.init_state(t),
                rate_per_s: None,
                eta_s: None,
            });
        }
        let running = totals.counts.running + totals.counts.queued;
        let run_over = match &owner {
            None => true,
            Some(o) => match o.state {
                OwnerState::Ended => running == 0,
                OwnerState::Dead => true,
                OwnerState::Alive | OwnerState::Stale => false,
            },
        };
        if !run_over {
            if let Some(last) = self.view.loaded.coverage.last() {
                let log = Layout::new(&self.view.root).orchestrator_log_path(last.epoch);
                let tp = log_throughput(&log, tasks.len(), self.now_us)?;
                for (t, task) in tasks.iter_mut().enumerate() {
                    task.rate_per_s = tp.rate(t);
                    task.eta_s = eta(task.counts.remaining(), task.rate_per_s);
                }
                totals.rate_per_s = tp.total_rate();
                totals.eta_s = eta(totals.counts.remaining(), totals.rate_per_s);
                totals.rate_window_s = tp.window_s;
            }
        }
        let mut warnings: Vec<String> = self
            .view
            .loaded
            .warnings
            .iter()
            .map(ToString::to_string)
            .collect();
        warnings.extend(
            self.view
                .workers
                .iter()
                .filter_map(|w| w.outbox.as_ref()?.warning.as_ref())
                .map(ToString::to_string),
        );
        Ok(StatusReport {
            ledger: self.view.root.display().to_string(),
            now_us: self.now_us,
            created_us: self.view.header.created_us,
            plan_hash: self.view.header.plan_hash.clone(),
            owner,
            definition: self.definition()?,
            run_over,
            tasks,
            totals,
            workers: self.worker_table(workers, probe),
            warnings,
            recorded_age_s: None,
        })
    }

    /// The definition in force, if a resume published one, with what it changed.
    fn definition(&self) -> Result<Option<DefinitionReport>, StatusError> {
        let published =
            definition_in_force(&self.view.root).map_err(|source| StatusError::Ledger {
                root: self.view.root.clone(),
                source,
            })?;
        Ok(published.map(|(number, tasks)| DefinitionReport {
            number,
            changed: diff_task_files(&self.view.header.tasks, &tasks),
        }))
    }

    fn init_state(&self, task: usize) -> InitState {
        let recorded = self.view.loaded.state.init(task as u32);
        match recorded {
            Some(i) if i.ok => InitState::Ok { time_us: i.time_us },
            Some(i) => InitState::Failed {
                time_us: i.time_us,
                output_tail: i.output_tail.clone(),
            },
            None if self.tasks.tasks[task].init.is_some() => InitState::NotRun,
            None => InitState::None,
        }
    }

    fn owner_report(&self) -> Option<OwnerReport> {
        let o = self.view.owner.as_ref()?;
        let run_end = self
            .view
            .loaded
            .state
            .epochs()
            .iter()
            .rev()
            .find(|e| e.epoch == o.epoch)
            .and_then(|e| e.ended.as_ref())
            .map(|(reason, message, time_us)| RunEnd {
                reason: reason_name(*reason).to_string(),
                message: message.clone(),
                time_us: *time_us,
            });
        let state = match o.liveness(self.now_us, DEFAULT_STALE_AFTER) {
            Liveness::Released => OwnerState::Ended,
            _ if run_end.is_some() => OwnerState::Ended,
            Liveness::DeadPid => OwnerState::Dead,
            Liveness::HeartbeatStale(_) => OwnerState::Stale,
            Liveness::Live => OwnerState::Alive,
        };
        Some(OwnerReport {
            epoch: o.epoch,
            host: o.host.clone(),
            pid: o.pid,
            since_us: o.since_us,
            heartbeat_us: o.heartbeat_us,
            heartbeat_age_s: o.heartbeat_age(self.now_us).as_secs_f64(),
            state,
            run_end,
        })
    }

    /// Per task, how many assigned blocks can be running: at most one per slot of each worker
    /// that has not ended.
    fn occupied_slots(&self, workers: &[WorkerStatus]) -> Vec<u64> {
        let mut out = vec![0u64; self.plan.len()];
        for (w, status) in self.view.workers.iter().zip(workers) {
            if status.state == WorkerState::Ended {
                continue;
            }
            let mut free = u64::from(status.slots.unwrap_or(0));
            for &(t, _, _) in &w.assigned {
                if free == 0 {
                    break;
                }
                if let Some(n) = out.get_mut(t as usize) {
                    *n += 1;
                    free -= 1;
                }
            }
        }
        out
    }

    /// The worker table from each worker's status (same order as the view's workers), with
    /// what `probe` says about the live ones.
    fn worker_table(
        &self,
        mut workers: Vec<WorkerStatus>,
        probe: &mut dyn SchedulerProbe,
    ) -> WorkerTable {
        let live: Vec<usize> = (0..workers.len())
            .filter(|&i| {
                workers[i].state != WorkerState::Ended && self.view.workers[i].entry.is_some()
            })
            .collect();
        let entries: Vec<_> = live
            .iter()
            .filter_map(|&i| self.view.workers[i].entry.as_ref())
            .collect();
        for (i, view) in live.into_iter().zip(probe.states(&entries)) {
            if let Some(view) = view {
                workers[i].scheduler_state = Some(view.state);
                workers[i].node = view.node;
            }
        }
        let mut counts = WorkerStateCounts::default();
        for w in &workers {
            *match w.state {
                WorkerState::Starting => &mut counts.starting,
                WorkerState::Active => &mut counts.active,
                WorkerState::Silent => &mut counts.silent,
                WorkerState::Ended => &mut counts.ended,
            } += 1;
        }
        WorkerTable { counts, workers }
    }

    fn worker_status(&self, w: &WorkerSummary, silent_us: u64) -> WorkerStatus {
        let hello = w.outbox.as_ref().and_then(|o| o.hello.as_ref());
        let bye = w.outbox.as_ref().and_then(|o| o.bye.clone());
        let last_seen_us = w.outbox.as_ref().and_then(|o| o.last_seen_us);
        let ended = w.entry.as_ref().and_then(|e| e.ended.clone());
        let state = if ended.is_some() || bye.is_some() {
            WorkerState::Ended
        } else if hello.is_none() {
            WorkerState::Starting
        } else if self.now_us.saturating_sub(last_seen_us.unwrap_or(0)) > silent_us {
            WorkerState::Silent
        } else {
            WorkerState::Active
        };
        WorkerStatus {
            worker_id: w.worker_id.clone(),
            backend: w.entry.as_ref().map(|e| e.backend.clone()),
            job_id: w
                .entry
                .as_ref()
                .and_then(|e| e.job_id.clone())
                .or_else(|| hello.and_then(|h| h.backend_job.clone())),
            host: hello.map(|h| h.host.clone()),
            pid: hello.map(|h| h.pid),
            slots: hello.map(|h| h.slots),
            registered_us: w.entry.as_ref().map(|e| e.registered_us),
            last_seen_us,
            current_blocks: w
                .assigned
                .iter()
                .filter(|(t, _, _)| (*t as usize) < self.plan.len())
                .map(|&(t, block_id, attempt)| CurrentBlock {
                    task: self.plan.name(t as usize).to_string(),
                    block_id,
                    attempt,
                })
                .collect(),
            state,
            bye_reason: bye.as_ref().map(|b| b.0.clone()),
            ended_reason: ended.as_ref().map(|e| e.0.clone()),
            ended_us: ended.map(|e| e.1).or(bye.map(|b| b.1)),
            scheduler_state: None,
            node: None,
        }
    }
}

/// Parses the task file stored in the ledger header.
fn tasks_of<S>(view: &LedgerView<S>) -> Result<TaskFile, StatusError> {
    header_tasks(&view.root, &view.header)
}

/// Parses the task file stored in the header of the ledger at `root`.
pub(super) fn header_tasks(root: &Path, header: &LedgerHeader) -> Result<TaskFile, StatusError> {
    parse_task_file("ledger.json", &header.tasks.to_string()).map_err(|source| StatusError::Tasks {
        root: root.to_path_buf(),
        source,
    })
}

/// The plan of `tasks`, from the ledger at `root`.
pub(super) fn plan_of(root: &Path, tasks: &TaskFile) -> Result<Plan, StatusError> {
    tasks.plan().map_err(|source| StatusError::Plan {
        root: root.to_path_buf(),
        source,
    })
}

fn eta(remaining: u64, rate: Option<f64>) -> Option<f64> {
    match rate {
        Some(r) if r > 0.0 && remaining > 0 => Some(remaining as f64 / r),
        _ => None,
    }
}

/// The JSON and human name of a run's end.
pub(crate) fn reason_name(reason: RunEndReason) -> &'static str {
    match reason {
        RunEndReason::Completed => "completed",
        RunEndReason::BlocksFailed => "blocks_failed",
        RunEndReason::Interrupted => "interrupted",
        RunEndReason::Superseded => "superseded",
        RunEndReason::Error => "error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_is_judged_at_the_run_agent_scale() {
        // The claim records the run's scale: it is the one used.
        assert_eq!(silent_after(Some(1), 1000), WORKER_SILENT_AFTER);
        assert_eq!(silent_after(Some(4), 10), WORKER_SILENT_AFTER * 4);
        // An older claim without it: the scale at the default budget.
        assert_eq!(silent_after(None, 10), WORKER_SILENT_AFTER);
        assert_eq!(silent_after(None, 160), WORKER_SILENT_AFTER);
        assert_eq!(silent_after(None, 1000), WORKER_SILENT_AFTER * 6);
    }
}
