//! `run_agent`: sets the agent up from its options and the ledger, then runs the event loop —
//! threads turn inputs into [`Event`]s on one channel, [`AgentState::handle_event`] decides,
//! the [`Executor`] and the outbox carry the decisions out.

use super::context::TaskContext;
use super::error::WorkerError;
use super::events::{Action, Event, Now};
use super::executor::Executor;
use super::inbox::{spawn_inbox, InboxSetup};
use super::launch::Launcher;
use super::liveness::OwnerWatch;
use super::options::{scheduler_job, worker_id_from_env, AgentOptions};
use super::outbox::Outbox;
use super::polling::PollPolicy;
use super::shutdown::AgentExit;
use super::signals::SignalGuard;
use super::stagger::Stagger;
use super::state::{AgentState, Policy};
use super::walltime::scheduler_deadline;
use crate::backend::local_gpus::{parse_device_list, SLOT_GPUS_ENV};
use crate::ledger::{
    agent_scale_from, hostname, pid_alive, InboxFollower, Ledger, LedgerError, LedgerFs, LogStream,
    WorkerId, AGENT_SCALE_ENV, EPOCH_ENV,
};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Time between ticks (timeouts, heartbeats, signals and the parent are checked per tick).
const TICK: Duration = Duration::from_millis(50);
/// Most events handled before the outbox is committed.
const MAX_BATCH: usize = 64;
/// Group commit of the outbox: records wait at most this long for one shared fsync, so a busy
/// agent pays one fsync per few blocks instead of one per block.
const COMMIT_EVERY: Duration = Duration::from_millis(2);
/// How long programs may take to exit after their stdin was closed.
const EXIT_WAIT: Duration = Duration::from_secs(30);
/// How long the outbox may keep failing to commit (full disk, lost mount) before the agent
/// stops with [`AgentExit::LedgerUnwritable`]: its reports would never arrive.
const OUTBOX_GIVE_UP: Duration = Duration::from_secs(10);

fn ledger_err(root: &Path) -> impl FnOnce(crate::ledger::LedgerError) -> WorkerError + '_ {
    move |source| WorkerError::Ledger {
        root: root.to_path_buf(),
        source,
    }
}

/// Runs a worker agent until it is stopped; returns how it ended (see
/// [`AgentExit::code`] for the process exit code). Errors mean it could not start serving
/// (bad options, unreadable ledger, unknown task).
pub fn run_agent(opts: &AgentOptions) -> Result<AgentExit, WorkerError> {
    if opts.slots == 0 || opts.slots > 4096 {
        return Err(WorkerError::Option {
            option: "--slots",
            problem: format!("must be between 1 and 4096, got {}", opts.slots),
        });
    }
    let root = std::path::absolute(&opts.ledger).map_err(|source| WorkerError::Io {
        action: format!("resolve ledger path {}", opts.ledger.display()),
        source,
    })?;
    let worker_id = opts.worker_id.clone().unwrap_or_else(worker_id_from_env);
    let worker = WorkerId::new(worker_id.clone()).map_err(WorkerError::WorkerId)?;
    let ledger = Ledger::open_for_worker(&root, &worker).map_err(ledger_err(&root))?;
    let workdir = match &opts.workdir {
        Some(dir) => dir.clone(),
        None => std::env::current_dir().map_err(|source| WorkerError::Io {
            action: "read the current directory".into(),
            source,
        })?,
    };
    let ctx = Arc::new(TaskContext::load(&ledger, &opts.task, workdir)?);
    let worker_dir = ledger.worker_dir(&worker);
    let unwritable = |source| WorkerError::LedgerUnwritable {
        root: root.clone(),
        source: Box::new(source),
    };
    std::fs::create_dir_all(&worker_dir)
        .map_err(|source| LedgerError::Io {
            action: "create directory",
            path: worker_dir.clone(),
            source,
        })
        .map_err(unwritable)?;
    let mut outbox = Outbox::open(&ledger.outbox_path(&worker)).map_err(|err| match err {
        err @ LedgerError::Io { .. } => unwritable(err),
        err => ledger_err(&root)(err),
    })?;
    let logs: Vec<(PathBuf, PathBuf)> = (0..opts.slots)
        .map(|s| {
            (
                ledger.worker_log_path(&worker, s, LogStream::Stdout),
                ledger.worker_log_path(&worker, s, LogStream::Stderr),
            )
        })
        .collect();
    let log_paths = logs
        .iter()
        .map(|(_, err)| err.strip_prefix(&root).unwrap_or(err).display().to_string())
        .collect();
    let env = |name: &str| std::env::var(name).ok();
    let deadline_unix = opts.deadline_unix.or_else(|| scheduler_deadline(&env));
    // The run's agent scale stretches the heartbeat and the slow looks alike; the
    // orchestrator's silence limit is stretched by the same factor.
    let scale = agent_scale_from(env(AGENT_SCALE_ENV).as_deref());
    let stagger = Stagger::of(&worker_id);
    let policy = Policy {
        worker_id: worker_id.clone(),
        host: hostname(),
        pid: std::process::id(),
        backend_job: scheduler_job(&env),
        slots: opts.slots,
        per_block: ctx.spec.worker.per_block,
        has_check: ctx.spec.check.is_some(),
        persistent_check: ctx.spec.check.as_ref().is_some_and(|c| c.persistent),
        timeout: ctx.spec.timeout,
        startup_timeout: ctx.spec.worker.startup_timeout,
        write_ahead: ctx.spec.worker.write_ahead,
        max_program_crashes: opts.max_program_crashes.max(1),
        heartbeat_interval: opts.heartbeat_interval * scale,
        stagger,
        deadline_unix,
        deadline_margin: opts.deadline_margin,
        exit_wait: EXIT_WAIT,
        log_paths,
    };
    let signals = SignalGuard::install().map_err(|source| WorkerError::Io {
        action: "install signal handlers".into(),
        source,
    })?;
    let (tx, rx) = mpsc::channel();
    let launcher = Launcher {
        ctx: (*ctx).clone(),
        worker_id,
        ledger: root.clone(),
        logs,
        gpus: parse_device_list(&env(SLOT_GPUS_ENV).unwrap_or_default()),
        command_prefix: opts.command_prefix.clone(),
    };
    let mut executor = Executor::new(launcher, tx.clone(), opts.kill_grace);
    let mut follower = InboxFollower::new(ledger.layout().clone(), worker);
    // The epoch that launched it: its first inbox is looked for without listing.
    if let Some(epoch) = env(EPOCH_ENV).and_then(|e| e.trim().parse().ok()) {
        follower.expect(epoch);
    }
    let inbox = spawn_inbox(
        InboxSetup {
            follower,
            ledger: ledger.clone(),
            ctx,
            watch: OwnerWatch::new(opts.orchestrator_timeout, opts.epoch_switch_timeout),
            policy: PollPolicy::for_fs(LedgerFs::of(&root), opts.poll, scale),
            stagger,
        },
        tx,
    )
    .map_err(|source| WorkerError::Io {
        action: "start the inbox thread".into(),
        source,
    })?;
    tracing::info!(task = %opts.task, slots = opts.slots, scale, "worker agent started");

    let mut state = AgentState::new(policy);
    let mut exit = None;
    let first = state.start(Now::current());
    carry_out(first, &mut executor, &mut outbox, &mut exit);
    executor.flush();
    let mut outbox_health = OutboxHealth::default();
    outbox_health.note(outbox.commit());
    let mut parent_reported = false;
    let mut last_tick = Instant::now();
    let mut last_commit = Instant::now();
    while exit.is_none() {
        let mut wait = TICK.saturating_sub(last_tick.elapsed());
        if outbox.has_pending() {
            wait = wait.min(COMMIT_EVERY.saturating_sub(last_commit.elapsed()));
        }
        let event = match rx.recv_timeout(wait) {
            Ok(event) => Some(event),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => None,
        };
        let mut events: Vec<Event> = event.into_iter().collect();
        // Handle whatever else is already waiting, so one fsync covers the whole batch.
        while events.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(event) => events.push(event),
                Err(_) => break,
            }
        }
        if last_tick.elapsed() >= TICK {
            last_tick = Instant::now();
            if let Some(sig) = signals.take() {
                events.push(Event::Signal(sig));
            }
            if let Some(pid) = opts.parent_pid {
                if !parent_reported && !pid_alive(pid) {
                    parent_reported = true;
                    events.push(Event::OrchestratorGone(format!(
                        "its parent process {pid} is gone"
                    )));
                }
            }
            events.push(Event::Tick);
            if let Some(why) = outbox_health.give_up() {
                events.push(Event::LedgerUnwritable(why));
            }
        }
        for event in events {
            if let Event::Exited { proc, .. } = &event {
                executor.forget(*proc);
            }
            let actions = state.handle_event(event, Now::current());
            carry_out(actions, &mut executor, &mut outbox, &mut exit);
        }
        executor.flush();
        // The inbox is looked at by what the agent holds (at once when a slot ran dry).
        inbox.set_holding(state.holding(Instant::now()));
        if outbox.has_pending() && (last_commit.elapsed() >= COMMIT_EVERY || exit.is_some()) {
            outbox_health.note(outbox.commit());
            last_commit = Instant::now();
        } else if !outbox.has_pending() {
            last_commit = Instant::now();
        }
    }
    inbox.stop();
    // Make sure the Bye is durable before exiting (retry briefly on a full disk), unless the
    // outbox is known to be unwritable.
    let tries = if exit == Some(AgentExit::LedgerUnwritable) {
        0
    } else {
        50
    };
    for _ in 0..tries {
        if outbox.commit().is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(signals);
    Ok(exit.unwrap_or(AgentExit::Stopped))
}

fn carry_out(
    actions: Vec<Action>,
    executor: &mut Executor,
    outbox: &mut Outbox,
    exit: &mut Option<AgentExit>,
) {
    for action in actions {
        match action {
            Action::Record(record) => outbox.push(record),
            Action::Spawn { slot, proc, kind } => executor.spawn(slot, proc, &kind),
            Action::Send {
                slot,
                proc,
                block,
                ahead,
            } => executor.send(slot, proc, &block, ahead),
            Action::CloseStdin(proc) => executor.close_stdin(proc),
            Action::Terminate(proc) => executor.terminate(proc),
            Action::Exit(code) => *exit = Some(code),
        }
    }
}

/// Whether the outbox commits: since when it keeps failing, and why.
#[derive(Default)]
struct OutboxHealth {
    failing_since: Option<Instant>,
    last_error: String,
    gave_up: bool,
}

impl OutboxHealth {
    /// Records the result of a commit.
    fn note(&mut self, result: Result<(), LedgerError>) {
        match result {
            Ok(()) => self.failing_since = None,
            Err(err) => {
                self.failing_since.get_or_insert_with(Instant::now);
                let mut text = err.to_string();
                if let Some(source) = std::error::Error::source(&err) {
                    text.push_str(&format!(": {source}"));
                }
                self.last_error = text;
            }
        }
    }

    /// Once: why the agent must stop, when commits have failed for [`OUTBOX_GIVE_UP`].
    fn give_up(&mut self) -> Option<String> {
        let overdue = self
            .failing_since
            .is_some_and(|t| t.elapsed() >= OUTBOX_GIVE_UP);
        if !overdue || self.gave_up {
            return None;
        }
        self.gave_up = true;
        Some(format!(
            "its outbox could not be written for {OUTBOX_GIVE_UP:?} ({})",
            self.last_error
        ))
    }
}
