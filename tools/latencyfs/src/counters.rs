//! Operation counters by kind, and the stats file that publishes them.
//!
//! The counters are written as one JSON object to the stats file (outside the mount) every
//! `interval`, atomically (temporary file + rename), so a reader always sees a whole snapshot.
//! SIGUSR1 resets every counter to zero; SIGUSR2 writes a snapshot at once, with the
//! metadata and sync operations of every calling thread id added, in total (`by_pid`) and by
//! kind (`by_pid_kind`), so a reader can tell which process makes which operations.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How an operation is charged: a metadata round trip, an fsync, or data/bookkeeping that
/// a network filesystem's metadata server does not see as a separate request.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Metadata,
    Sync,
    Other,
}

macro_rules! op_kinds {
    ($($variant:ident => $name:literal, $class:ident;)*) => {
        /// One kind of FUSE operation.
        #[derive(Clone, Copy)]
        pub enum Op { $($variant),* }

        impl Op {
            /// Every kind, in the order of the stats file.
            pub const ALL: &'static [Op] = &[$(Op::$variant),*];

            /// The name used in the stats file.
            pub fn name(self) -> &'static str {
                match self { $(Op::$variant => $name),* }
            }

            /// How this kind is charged (latency and the `metadata` total).
            pub fn class(self) -> Class {
                match self { $(Op::$variant => Class::$class),* }
            }
        }
    };
}

op_kinds! {
    Lookup => "lookup", Metadata;
    Getattr => "getattr", Metadata;
    Setattr => "setattr", Metadata;
    Readlink => "readlink", Metadata;
    Mknod => "mknod", Metadata;
    Mkdir => "mkdir", Metadata;
    Unlink => "unlink", Metadata;
    Rmdir => "rmdir", Metadata;
    Symlink => "symlink", Metadata;
    Rename => "rename", Metadata;
    Link => "link", Metadata;
    Open => "open", Metadata;
    Opendir => "opendir", Metadata;
    Readdir => "readdir", Metadata;
    Create => "create", Metadata;
    Access => "access", Metadata;
    Statfs => "statfs", Metadata;
    Fsync => "fsync", Sync;
    Fsyncdir => "fsyncdir", Sync;
    Read => "read", Other;
    Write => "write", Other;
    Flush => "flush", Other;
    Release => "release", Other;
    Releasedir => "releasedir", Other;
    Forget => "forget", Other;
}

/// The live counters, shared by every thread of the filesystem.
pub struct Counters {
    counts: Vec<AtomicU64>,
    /// Metadata and sync operations by the calling thread's id (FUSE's request pid), each
    /// counted by kind (indexed as `Op::ALL`).
    by_pid: Mutex<HashMap<u32, Vec<u64>>>,
    started: Instant,
    /// When the counters were last reset (seconds since `started`).
    reset_at: AtomicU64,
    resets: AtomicU64,
}

impl Counters {
    /// All counters at zero.
    pub fn new() -> Self {
        Self {
            counts: Op::ALL.iter().map(|_| AtomicU64::new(0)).collect(),
            by_pid: Mutex::new(HashMap::new()),
            started: Instant::now(),
            reset_at: AtomicU64::new(0),
            resets: AtomicU64::new(0),
        }
    }

    /// Counts one operation of `op`, made by the thread `pid`.
    pub fn count(&self, op: Op, pid: u32) {
        self.counts[op as usize].fetch_add(1, Ordering::Relaxed);
        if op.class() != Class::Other {
            let mut by_pid = self.by_pid.lock().unwrap();
            let kinds = by_pid.entry(pid).or_insert_with(|| vec![0; Op::ALL.len()]);
            kinds[op as usize] += 1;
        }
    }

    fn reset(&self) {
        for count in &self.counts {
            count.store(0, Ordering::Relaxed);
        }
        self.by_pid.lock().unwrap().clear();
        self.reset_at
            .store(self.started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        self.resets.fetch_add(1, Ordering::Relaxed);
    }

    /// The snapshot as one JSON object (no external JSON crate: the format is flat), with
    /// `by_pid` if asked for.
    fn to_json(&self, config: &str, with_pids: bool) -> String {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        let uptime = self.started.elapsed().as_secs_f64();
        let since_reset = uptime - self.reset_at.load(Ordering::Relaxed) as f64 / 1e9;
        let mut ops = String::new();
        let (mut metadata, mut sync, mut other) = (0u64, 0u64, 0u64);
        for (i, op) in Op::ALL.iter().enumerate() {
            let n = self.counts[i].load(Ordering::Relaxed);
            match op.class() {
                Class::Metadata => metadata += n,
                Class::Sync => sync += n,
                Class::Other => other += n,
            }
            let sep = if i == 0 { "" } else { ", " };
            let _ = write!(ops, "{sep}\"{}\": {n}", op.name());
        }
        let mut pids = String::new();
        if with_pids {
            let by_pid = self.by_pid.lock().unwrap();
            pids.push_str(", \"by_pid\": {");
            for (i, (pid, kinds)) in by_pid.iter().enumerate() {
                let sep = if i == 0 { "" } else { ", " };
                let _ = write!(pids, "{sep}\"{pid}\": {}", kinds.iter().sum::<u64>());
            }
            pids.push_str("}, \"by_pid_kind\": {");
            for (i, (pid, kinds)) in by_pid.iter().enumerate() {
                let sep = if i == 0 { "" } else { ", " };
                let _ = write!(pids, "{sep}\"{pid}\": {{");
                let nonzero = Op::ALL.iter().zip(kinds).filter(|(_, n)| **n > 0);
                for (j, (op, n)) in nonzero.enumerate() {
                    let sep = if j == 0 { "" } else { ", " };
                    let _ = write!(pids, "{sep}\"{}\": {n}", op.name());
                }
                pids.push('}');
            }
            pids.push('}');
        }
        format!(
            "{{\"time\": {wall:.6}, \"uptime\": {uptime:.6}, \"since_reset\": {since_reset:.6}, \
             \"resets\": {}, \"metadata\": {metadata}, \"sync\": {sync}, \"other\": {other}, \
             \"ops\": {{{ops}}}{pids}, \"config\": {config}}}\n",
            self.resets.load(Ordering::Relaxed)
        )
    }
}

static RESET_REQUESTED: AtomicBool = AtomicBool::new(false);
static DUMP_REQUESTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_usr1(_: libc::c_int) {
    RESET_REQUESTED.store(true, Ordering::SeqCst);
}

extern "C" fn on_usr2(_: libc::c_int) {
    DUMP_REQUESTED.store(true, Ordering::SeqCst);
}

/// Starts the thread that writes `counters` to `path` every `interval`, resets them on
/// SIGUSR1 and writes at once on SIGUSR2. `config` is a JSON value copied into every snapshot.
pub fn publish(counters: Arc<Counters>, path: PathBuf, interval: Duration, config: String) {
    // SAFETY: the handlers only store to atomics, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGUSR1, on_usr1 as *const () as libc::sighandler_t);
        libc::signal(libc::SIGUSR2, on_usr2 as *const () as libc::sighandler_t);
    }
    std::thread::spawn(move || {
        let tick = Duration::from_millis(5).min(interval);
        let mut last = Instant::now() - interval;
        loop {
            let reset = RESET_REQUESTED.swap(false, Ordering::SeqCst);
            if reset {
                counters.reset();
            }
            let dump = DUMP_REQUESTED.swap(false, Ordering::SeqCst);
            if reset || dump || last.elapsed() >= interval {
                last = Instant::now();
                if let Err(e) = write_atomically(&path, &counters.to_json(&config, dump)) {
                    eprintln!("latencyfs: writing {}: {e}", path.display());
                }
            }
            std::thread::sleep(tick);
        }
    });
}

fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}
