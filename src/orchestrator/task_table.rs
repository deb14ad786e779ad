//! The tasks of a run as the loop drives them: per task its init step, its launch policy,
//! whether it had to stop (and why), and the recent wall time of its blocks.

use super::block_book::BlockBook;
use super::error::OrchestratorError;
use super::init_runner::InitRun;
use super::launch_policy::{default_max_failed_starts, AgentEnd, LaunchPolicy};
use super::options::SubmitOptions;
use super::run_log;
use crate::backend::BackendError;
use crate::ledger::{Layout, LedgerState};
use crate::recent::RecentMean;
use crate::task::{TaskFile, TaskSpec};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Where a task's init step stands.
enum InitPhase {
    /// Not started (the task has no ready block yet, or no init command).
    NotStarted,
    /// Running in the background.
    Running(InitRun),
    /// Done (or not needed).
    Ok,
}

/// Per-task bookkeeping of the run loop.
struct TaskRuntime {
    init: InitPhase,
    launch: LaunchPolicy,
    /// Set when the task cannot go on (init failed, worker program crashes at start-up,
    /// launch budget spent).
    fatal: Option<String>,
    /// Recent attempts' wall time (sizes how many blocks an agent holds).
    block_seconds: RecentMean,
    /// Recent time between two ends of attempts on one agent, times its slots: a slot's time
    /// per block when its attempts overlap (a block waiting for its post-check while the next
    /// one runs), shorter than their wall time then.
    slot_interval: RecentMean,
    /// Its end was logged (every block settled).
    end_logged: bool,
}

/// The task file and every task's runtime.
pub struct TaskTable {
    file: TaskFile,
    tasks: Vec<TaskRuntime>,
    /// Where init commands run.
    workdir: PathBuf,
    /// The ledger's paths (init logs, the workers' directory in messages).
    layout: Layout,
}

impl TaskTable {
    /// The tasks of `file`, resumed from `state`: an init step that succeeded in an earlier
    /// epoch is not run again (it typically creates the outputs the done blocks have written
    /// to). `max_failed_starts` is `--max-failed-starts` (`None`: the default per task).
    pub fn new(
        file: TaskFile,
        workdir: PathBuf,
        layout: Layout,
        state: &LedgerState,
        max_failed_starts: Option<u32>,
    ) -> Self {
        let tasks = file
            .tasks
            .iter()
            .enumerate()
            .map(|(t, spec)| {
                let init_ok = state
                    .task(t as u32)
                    .and_then(|s| s.init())
                    .is_some_and(|i| i.ok);
                TaskRuntime {
                    init: if spec.init.is_some() && !init_ok {
                        InitPhase::NotStarted
                    } else {
                        InitPhase::Ok
                    },
                    launch: LaunchPolicy::new(
                        max_failed_starts.unwrap_or(default_max_failed_starts(spec.num_workers)),
                    ),
                    fatal: None,
                    block_seconds: RecentMean::default(),
                    slot_interval: RecentMean::default(),
                    end_logged: false,
                }
            })
            .collect();
        Self {
            file,
            tasks,
            workdir,
            layout,
        }
    }

    /// Number of tasks.
    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// The task definitions.
    pub fn file(&self) -> &TaskFile {
        &self.file
    }

    /// The definition of task `t`.
    pub fn spec(&self, t: usize) -> &TaskSpec {
        &self.file.tasks[t]
    }

    /// Why task `t` stopped early, if it did.
    pub fn fatal(&self, t: usize) -> Option<&str> {
        self.tasks[t].fatal.as_deref()
    }

    /// True if task `t`'s agents may be given blocks: its init step is done and it has not
    /// stopped.
    pub fn takes_blocks(&self, t: usize) -> bool {
        let rt = &self.tasks[t];
        matches!(rt.init, InitPhase::Ok) && rt.fatal.is_none()
    }

    /// Blocks queued per worker slot for task `t`, from its recent time per block (the
    /// shorter of the attempts' wall time and a slot's time between two ends). `polling` is
    /// what the outbox schedule adds to the hand-out round trip.
    pub fn prefetch(&self, t: usize, opts: &SubmitOptions, polling: Duration) -> u32 {
        let rt = &self.tasks[t];
        opts.prefetch_for(&rt.block_seconds.shorter(rt.slot_interval), polling)
    }

    /// The recent mean wall time of task `t`'s blocks in seconds, once one was seen.
    pub fn block_seconds(&self, t: usize) -> Option<f64> {
        self.tasks.get(t).and_then(|rt| rt.block_seconds.seconds())
    }

    /// An attempt of task `task` took `wall_s` seconds, and `slot_s` seconds of a slot's time
    /// passed since the agent's previous attempt ended, if one did (a report for an unknown
    /// task is ignored).
    pub fn record_wall_time(&mut self, task: u32, wall_s: f64, slot_s: Option<f64>) {
        if let Some(rt) = self.tasks.get_mut(task as usize) {
            rt.block_seconds.add_seconds(wall_s);
            if let Some(slot_s) = slot_s {
                rt.slot_interval.add_seconds(slot_s);
            }
        }
    }

    /// An agent of task `t` was retired at `now`, having ended like `end`; `gave_up`: its
    /// `Bye` if it gave up because its worker program keeps crashing, which stops the task.
    pub fn agent_ended(&mut self, t: usize, end: AgentEnd, gave_up: Option<&str>, now: Instant) {
        if let Some(why) = gave_up {
            let message = format!(
                "the worker program of task {:?} keeps crashing ({why})",
                self.file.tasks[t].name
            );
            if self.tasks[t].fatal.is_none() {
                run_log::task_stopped(&self.file.tasks[t].name, &message);
                self.tasks[t].fatal = Some(message);
            }
        }
        self.tasks[t].launch.agent_ended(end, now);
    }

    /// True if task `t` may launch agents at `now` at all: it has not stopped, its init step
    /// is done, it has `ready` blocks, and no back-off holds it (a task whose launch budget
    /// is spent is let through at once, so that [`Self::launches_wanted`] stops it now rather
    /// than after the back-off).
    pub fn may_launch(&self, t: usize, ready: u64, now: Instant) -> bool {
        let rt = &self.tasks[t];
        rt.fatal.is_none()
            && matches!(rt.init, InitPhase::Ok)
            && ready != 0
            && (!rt.launch.backing_off(now) || rt.launch.exhausted())
    }

    /// How many agents task `t` launches now, given `live` agents holding a worker place,
    /// `ready` blocks and `slots` per agent: enough for its ready blocks, never more than
    /// `num_workers` slots at once. `None` once its launch budget is spent; the task then
    /// stops when no agent of it is left.
    pub fn launches_wanted(&mut self, t: usize, live: u32, ready: u64, slots: u32) -> Option<u32> {
        let spec = &self.file.tasks[t];
        let max_agents = spec.num_workers.div_ceil(slots);
        let wanted = max_agents.min(live + ready.div_ceil(slots as u64) as u32);
        if live >= wanted {
            return None;
        }
        let rt = &mut self.tasks[t];
        if rt.launch.exhausted() {
            if rt.fatal.is_none() && live == 0 {
                let message = format!(
                    "task {:?} stopped: {} workers in a row ended without finishing a block \
                     (the limit is --max-failed-starts {}; raise it if the workers are \
                     fine but slow to get going); see the worker logs under {}",
                    spec.name,
                    rt.launch.failed_starts(),
                    rt.launch.max_failed_starts(),
                    self.layout.workers_dir().display()
                );
                run_log::task_stopped(&spec.name, &message);
                rt.fatal = Some(message);
            }
            return None;
        }
        Some(wanted - live)
    }

    /// A launch of task `t` failed at `now` (see [`LaunchPolicy::launch_failed`]).
    pub fn launch_failed(
        &mut self,
        t: usize,
        err: BackendError,
        now: Instant,
    ) -> Result<(), BackendError> {
        self.tasks[t].launch.launch_failed(err, now)
    }

    /// A launch of task `t` succeeded.
    pub fn launched(&mut self, t: usize) {
        self.tasks[t].launch.launched();
    }

    /// Starts the init step of every task that has a ready block and has not run it.
    pub fn start_inits(&mut self, book: &BlockBook) {
        for (t, rt) in self.tasks.iter_mut().enumerate() {
            if !matches!(rt.init, InitPhase::NotStarted) || book.ready_count(t) == 0 {
                continue;
            }
            let spec = &self.file.tasks[t];
            let Some(init) = &spec.init else {
                rt.init = InitPhase::Ok;
                continue;
            };
            let log = self.layout.init_log_path(&spec.name);
            rt.init = InitPhase::Running(InitRun::start(
                init,
                &spec.name,
                &self.workdir,
                self.layout.root(),
                log,
            ));
        }
    }

    /// Records finished init steps; a failed one stops its task. True if any finished.
    pub fn poll_inits(&mut self, book: &mut BlockBook) -> Result<bool, OrchestratorError> {
        let mut any = false;
        for (t, rt) in self.tasks.iter_mut().enumerate() {
            let InitPhase::Running(run) = &rt.init else {
                continue;
            };
            let Some(result) = run.poll() else {
                continue;
            };
            any = true;
            book.task_init(t, result.ok, result.output_tail.clone())?;
            rt.init = InitPhase::Ok;
            if !result.ok {
                let name = &self.file.tasks[t].name;
                let message = format!(
                    "init.command of task {name:?} failed: {}",
                    result.output_tail
                );
                run_log::task_stopped(name, &message);
                rt.fatal = Some(message);
            }
        }
        Ok(any)
    }

    /// Logs the end of every task whose blocks are all settled now (once per task), with its
    /// counts in the ledger.
    pub fn log_ends(&mut self, book: &BlockBook) {
        for (t, rt) in self.tasks.iter_mut().enumerate() {
            if rt.end_logged
                || matches!(rt.init, InitPhase::Running(_))
                || !book.counts(t).is_settled()
            {
                continue;
            }
            rt.end_logged = true;
            let counts = book
                .state()
                .task(t as u32)
                .map(|s| s.counts())
                .unwrap_or_default();
            let total = book.counts(t).total;
            run_log::task_ended(&self.file.tasks[t].name, total, counts);
        }
    }

    /// True while an init step runs (the run does not end before it is recorded).
    pub fn any_init_running(&self) -> bool {
        self.tasks
            .iter()
            .any(|t| matches!(t.init, InitPhase::Running(_)))
    }

    /// Fails the ready blocks of tasks that cannot go on (their dependents are orphaned).
    /// True if any.
    pub fn fail_stopped_tasks(&self, book: &mut BlockBook) -> bool {
        let mut any = false;
        for (t, rt) in self.tasks.iter().enumerate() {
            if rt.fatal.is_some() {
                any |= book.fail_ready(t);
            }
        }
        any
    }
}
