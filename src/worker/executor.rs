//! Carries out the decisions: starts processes (with a waiter thread each, and a report-reader
//! thread for persistent programs), writes blocks to stdin, closes stdin, terminates process
//! groups. Whatever happens to a process comes back as an [`Event`].

use super::events::{Event, ProcId, ProcKind};
use super::group;
use super::launch::Launcher;
use super::marker::{Marker, MarkerKind};
use super::program::{self, log_tail, Launch, Started};
use super::usage::ProgramMeter;
use super::wire::{is_ready_line, BlockMessage};
use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::path::PathBuf;
use std::process::ChildStdin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// Bytes of stderr quoted in failure messages.
const TAIL_BYTES: u64 = 2000;
/// How long an exited program's fd-3 reader may take to deliver its last lines.
const REPORT_DRAIN: Duration = Duration::from_millis(500);
/// Longest accepted fd-3 line.
const MAX_REPORT_LINE: u64 = 1 << 20;
/// How long after the end of its report channel a program must have exited for the end to
/// count as part of its exit rather than a channel it closed while running on.
const EXIT_AFTER_CHANNEL_END: Duration = Duration::from_secs(1);

type Meter = Arc<Mutex<ProgramMeter>>;

struct Proc {
    pid: i32,
    stdin: Option<ChildStdin>,
    /// Present for persistent programs (the ones with a report pipe).
    meter: Option<Meter>,
    /// Block lines waiting for [`Executor::flush`], and how many blocks they hold.
    input: Vec<u8>,
    input_blocks: usize,
    /// A persistent check program: the blocks it is sent are marked as checks.
    checker: bool,
}

/// Runs the processes of one agent.
pub struct Executor {
    launcher: Launcher,
    tx: Sender<Event>,
    kill_grace: Duration,
    procs: HashMap<ProcId, Proc>,
    /// Each slot's log files, opened once for the per-block marker lines.
    markers: std::cell::RefCell<HashMap<u32, (std::fs::File, std::fs::File)>>,
    /// Marker lines of sent blocks waiting for [`Executor::flush`], per slot.
    pending_marks: HashMap<u32, String>,
}

impl Executor {
    /// An executor that reports to `tx`.
    pub fn new(launcher: Launcher, tx: Sender<Event>, kill_grace: Duration) -> Self {
        Self {
            launcher,
            tx,
            kill_grace,
            procs: HashMap::new(),
            markers: std::cell::RefCell::new(HashMap::new()),
            pending_marks: HashMap::new(),
        }
    }

    /// Starts `kind` for `slot`; failures come back as [`Event::SpawnFailed`].
    pub fn spawn(&mut self, slot: u32, proc: ProcId, kind: &ProcKind) {
        let launch = match kind {
            ProcKind::Program => Some(self.launcher.program(slot)),
            ProcKind::PerBlock(block) => {
                self.mark(slot, block, MarkerKind::Sent);
                Some(self.launcher.per_block(slot, block))
            }
            ProcKind::Check(block) => {
                self.mark(slot, block, MarkerKind::Check);
                self.launcher.check(slot, block)
            }
            ProcKind::Checker => self.launcher.checker(slot),
        };
        let Some(launch) = launch else {
            let _ = self.tx.send(Event::SpawnFailed {
                proc,
                error: "the task has no check command".into(),
            });
            return;
        };
        let checker = matches!(kind, ProcKind::Checker);
        match program::spawn(&launch) {
            Ok(started) => self.watch(proc, started, &launch, checker),
            Err(e) => {
                let _ = self.tx.send(Event::SpawnFailed {
                    proc,
                    error: e.to_string(),
                });
            }
        }
    }

    /// Appends a marker line to the slot's logs so a block's output can be found.
    fn mark(&self, slot: u32, block: &BlockMessage, kind: MarkerKind) {
        self.write_marks(slot, &marker(block, kind));
    }

    fn write_marks(&self, slot: u32, text: &str) {
        let mut markers = self.markers.borrow_mut();
        let (out, err) = match markers.entry(slot) {
            std::collections::hash_map::Entry::Occupied(files) => files.into_mut(),
            std::collections::hash_map::Entry::Vacant(slot_files) => {
                let Some((out, err)) = self.launcher.logs.get(slot as usize) else {
                    return;
                };
                let open = |path| OpenOptions::new().create(true).append(true).open(path);
                let (Ok(out), Ok(err)) = (open(out), open(err)) else {
                    return;
                };
                slot_files.insert((out, err))
            }
        };
        // O_APPEND: interleaves correctly with the program's own writes to the same files.
        let _ = out.write_all(text.as_bytes());
        let _ = err.write_all(text.as_bytes());
    }

    fn watch(&mut self, proc: ProcId, mut started: Started, launch: &Launch, checker: bool) {
        let pid = started.pid;
        let exited = Arc::new(AtomicBool::new(false));
        let mut meter = None;
        let (drained_tx, drained_rx) = mpsc::channel::<()>();
        if let Some(report) = started.report.take() {
            let tx = self.tx.clone();
            let program_meter: Meter = Arc::new(Mutex::new(ProgramMeter::new(pid)));
            meter = Some(program_meter.clone());
            let meter = program_meter;
            let exited = exited.clone();
            let reader = thread::Builder::new()
                .name(format!("report-{pid}"))
                .spawn(move || {
                    read_reports(proc, report, &meter, &tx);
                    if !exited_within(&exited, EXIT_AFTER_CHANNEL_END) {
                        let _ = tx.send(Event::ReportClosed(proc));
                    }
                    let _ = drained_tx.send(());
                });
            if let Err(e) = reader {
                tracing::error!("cannot start a report reader thread: {e}");
            }
        } else {
            drop(drained_tx);
        }
        let tx = self.tx.clone();
        let stderr_log: PathBuf = launch.stderr_log.clone();
        let stderr_start = started.stderr_start;
        let waiter = thread::Builder::new()
            .name(format!("wait-{pid}"))
            .spawn(move || {
                let exit = match program::wait_exit(pid) {
                    Ok(exit) => exit,
                    Err(e) => {
                        tracing::error!("cannot wait for process {pid}: {e}");
                        return;
                    }
                };
                exited.store(true, Ordering::SeqCst);
                // Whatever the program left behind in its group goes with it, and the exit is
                // reported only once none of it can run: its block may be run again next.
                group::kill_and_wait_gone(pid);
                let _ = drained_rx.recv_timeout(REPORT_DRAIN);
                let stderr_tail = log_tail(&stderr_log, stderr_start, TAIL_BYTES);
                let _ = tx.send(Event::Exited {
                    proc,
                    exit,
                    stderr_tail,
                });
            });
        if let Err(e) = waiter {
            tracing::error!("cannot start a waiter thread for process {pid}: {e}");
        }
        self.procs.insert(
            proc,
            Proc {
                pid,
                stdin: started.stdin.take(),
                meter,
                input: Vec::new(),
                input_blocks: 0,
                checker,
            },
        );
    }

    /// Queues `block` for the program's stdin; [`flush`](Self::flush) writes it (so blocks
    /// sent in one turn of the event loop cost one write). `ahead`: written behind a block the
    /// program still runs (see [`MarkerKind::WrittenAhead`]).
    pub fn send(&mut self, slot: u32, proc: ProcId, block: &BlockMessage, ahead: bool) {
        let Some(p) = self.procs.get_mut(&proc) else {
            return; // it failed to start: SpawnFailed is on its way
        };
        if p.stdin.is_none() {
            return;
        }
        self.pending_marks
            .entry(slot)
            .or_default()
            .push_str(&marker(
                block,
                if p.checker {
                    MarkerKind::Check
                } else if ahead {
                    MarkerKind::WrittenAhead
                } else {
                    MarkerKind::Sent
                },
            ));
        p.input.extend_from_slice(block.to_json().as_bytes());
        p.input.push(b'\n');
        p.input_blocks += 1;
    }

    /// Writes the queued marker lines, then the queued blocks, and starts measuring them.
    pub fn flush(&mut self) {
        for (slot, text) in std::mem::take(&mut self.pending_marks) {
            self.write_marks(slot, &text);
        }
        for (&proc, p) in &mut self.procs {
            p.write_input(proc, &self.tx);
        }
    }

    /// Closes the program's stdin.
    pub fn close_stdin(&mut self, proc: ProcId) {
        self.flush();
        if let Some(p) = self.procs.get_mut(&proc) {
            p.stdin = None;
        }
    }

    /// Terminates the process group of `proc` (SIGTERM, SIGKILL after the grace period).
    pub fn terminate(&mut self, proc: ProcId) {
        if let Some(p) = self.procs.get(&proc) {
            program::terminate_group(p.pid, self.kill_grace);
        }
    }

    /// Forgets a process that ended.
    pub fn forget(&mut self, proc: ProcId) {
        self.procs.remove(&proc);
    }
}

impl Proc {
    /// Writes the blocks queued for its stdin (one write) and counts them into its meter; a
    /// failure other than a gone program comes back as [`Event::SendFailed`].
    fn write_input(&mut self, proc: ProcId, tx: &Sender<Event>) {
        if self.input.is_empty() {
            return;
        }
        let input = std::mem::take(&mut self.input);
        let blocks = std::mem::take(&mut self.input_blocks);
        let Some(stdin) = self.stdin.as_mut() else {
            return;
        };
        if let Some(Ok(mut m)) = self.meter.as_ref().map(|m| m.lock()) {
            m.sent(blocks);
        }
        match stdin.write_all(&input) {
            Ok(()) => {}
            // The program is gone; its exit event follows.
            Err(e) if e.kind() == ErrorKind::BrokenPipe => {}
            Err(e) => {
                let error = if e.kind() == ErrorKind::WouldBlock {
                    "its stdin is full: the program does not read the blocks it is sent".into()
                } else {
                    e.to_string()
                };
                let _ = tx.send(Event::SendFailed { proc, error });
            }
        }
    }
}

/// The line that introduces a block's output in the slot's logs.
fn marker(block: &BlockMessage, kind: MarkerKind) -> String {
    let marker = Marker {
        task: block.task.clone(),
        block: block.block_id,
        attempt: block.attempt,
        kind,
    };
    format!("{marker}\n")
}

/// True once `exited` is set, waiting at most `limit` for it.
fn exited_within(exited: &AtomicBool, limit: Duration) -> bool {
    let until = std::time::Instant::now() + limit;
    while !exited.load(Ordering::SeqCst) {
        if std::time::Instant::now() >= until {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
    true
}

/// Delivers the program's fd-3 lines until the channel ends (EOF or a read error).
fn read_reports(proc: ProcId, report: std::fs::File, meter: &Meter, tx: &Sender<Event>) {
    let mut reader = BufReader::new(report);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match std::io::Read::take(&mut reader, MAX_REPORT_LINE).read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let line = String::from_utf8_lossy(&buf).trim().to_owned();
        if line.is_empty() {
            continue;
        }
        if is_ready_line(&line) {
            if tx.send(Event::Ready(proc)).is_err() {
                break;
            }
            continue;
        }
        let usage = meter.lock().map(|mut m| m.end_block()).unwrap_or_default();
        if tx.send(Event::Report { proc, line, usage }).is_err() {
            break;
        }
    }
}
