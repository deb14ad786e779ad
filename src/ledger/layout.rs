//! Where everything lives inside a ledger directory, and the validated [`WorkerId`].
//!
//! ```text
//! LEDGER/ledger.json                          header (written once)
//! LEDGER/owners/epoch-<N>.json                claim of epoch N (created exclusively)
//! LEDGER/owners/heartbeat-<N>.json            heartbeat of epoch N's owner (tmp + rename)
//! LEDGER/orchestrator/epoch-<N>.log           log of epoch N's orchestrator
//! LEDGER/workers/<id>/outbox.log              written by the worker agent
//! LEDGER/workers/<id>/inbox-<N>.log           written by epoch N's orchestrator
//! LEDGER/workers/<id>/slot-<S>.<stream>.log   output of the worker's programs
//! LEDGER/snapshots/snapshot-<N>-<seq>.bin     compacted state (tmp + rename)
//! ```
//! Numbers are zero-padded to 8 digits (more digits parse too).

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::error::{io_err, LedgerError, Result};

/// Longest accepted worker id.
const MAX_WORKER_ID_LEN: usize = 200;

/// A worker id: 1 to 200 of `[A-Za-z0-9_.-]`, not starting with `.` (so it is a safe,
/// visible directory name), e.g. `local-3-0` or `slurm-12345_7`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WorkerId(String);

impl WorkerId {
    /// Validates `id`.
    pub fn new(id: impl Into<String>) -> Result<Self> {
        let id = id.into();
        let ok = !id.is_empty()
            && id.len() <= MAX_WORKER_ID_LEN
            && !id.starts_with('.')
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
        if ok {
            Ok(Self(id))
        } else {
            Err(LedgerError::InvalidWorkerId { id })
        }
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for WorkerId {
    type Err = LedgerError;
    fn from_str(s: &str) -> Result<Self> {
        Self::new(s)
    }
}

impl fmt::Display for WorkerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which output stream of a worker's program.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LogStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl LogStream {
    fn as_str(self) -> &'static str {
        match self {
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
        }
    }
}

/// Paths inside one ledger directory. Pure computation, no I/O except the `list_*` methods.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// The layout of the ledger at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The ledger directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `ledger.json`.
    pub fn header_path(&self) -> PathBuf {
        self.root.join("ledger.json")
    }

    /// `owners/`.
    pub fn owners_dir(&self) -> PathBuf {
        self.root.join("owners")
    }

    /// `owners/epoch-<N>.json`.
    pub fn epoch_claim_path(&self, epoch: u64) -> PathBuf {
        self.owners_dir().join(format!("epoch-{epoch:08}.json"))
    }

    /// `owners/heartbeat-<N>.json`.
    pub fn heartbeat_path(&self, epoch: u64) -> PathBuf {
        self.owners_dir().join(format!("heartbeat-{epoch:08}.json"))
    }

    /// `orchestrator/`.
    pub fn orchestrator_dir(&self) -> PathBuf {
        self.root.join("orchestrator")
    }

    /// `orchestrator/epoch-<N>.log`.
    pub fn orchestrator_log_path(&self, epoch: u64) -> PathBuf {
        self.orchestrator_dir()
            .join(format!("epoch-{epoch:08}.log"))
    }

    /// `orchestrator/status-<N>.json`: the status report epoch N's orchestrator recorded last.
    pub fn status_record_path(&self, epoch: u64) -> PathBuf {
        self.orchestrator_dir()
            .join(format!("status-{epoch:08}.json"))
    }

    /// `workers/`.
    pub fn workers_dir(&self) -> PathBuf {
        self.root.join("workers")
    }

    /// `workers/<id>/`.
    pub fn worker_dir(&self, worker: &WorkerId) -> PathBuf {
        self.workers_dir().join(worker.as_str())
    }

    /// `workers/<id>/outbox.log`.
    pub fn outbox_path(&self, worker: &WorkerId) -> PathBuf {
        self.worker_dir(worker).join("outbox.log")
    }

    /// `workers/<id>/inbox-<N>.log`.
    pub fn inbox_path(&self, worker: &WorkerId, epoch: u64) -> PathBuf {
        self.worker_dir(worker)
            .join(format!("inbox-{epoch:08}.log"))
    }

    /// `workers/<id>/slot-<S>.<stdout|stderr>.log`.
    pub fn worker_log_path(&self, worker: &WorkerId, slot: u32, stream: LogStream) -> PathBuf {
        self.worker_dir(worker)
            .join(format!("slot-{slot}.{}.log", stream.as_str()))
    }

    /// `tasks/<name>/init.log`: the output of a task's `init.command`.
    pub fn init_log_path(&self, task: &str) -> PathBuf {
        self.root.join("tasks").join(task).join("init.log")
    }

    /// `workers/<id>/` for a worker id not (yet) checked as a [`WorkerId`] (the id a backend
    /// is about to start an agent under).
    pub fn worker_dir_named(&self, worker: &str) -> PathBuf {
        self.workers_dir().join(worker)
    }

    /// `workers/<id>/agent.log`: a local agent's own stdout and stderr.
    pub fn agent_log_path(&self, worker: &str) -> PathBuf {
        self.worker_dir_named(worker).join("agent.log")
    }

    /// `logs/<scheduler>/`: a scheduler backend's job scripts and logs (`slurm`, `lsf`).
    pub fn scheduler_logs_dir(&self, scheduler: &str) -> PathBuf {
        self.root.join("logs").join(scheduler)
    }

    /// `logs/<scheduler>/<task>/`: one task's job scripts and job logs.
    pub fn scheduler_log_dir(&self, scheduler: &str, task: &str) -> PathBuf {
        self.scheduler_logs_dir(scheduler).join(task)
    }

    /// `logs/slurm/orchestrator.job`: the job id of a detached orchestrator.
    pub fn orchestrator_job_path(&self) -> PathBuf {
        self.scheduler_logs_dir("slurm").join("orchestrator.job")
    }

    /// `snapshots/`.
    pub fn snapshots_dir(&self) -> PathBuf {
        self.root.join("snapshots")
    }

    /// `snapshots/snapshot-<N>-<seq>.bin`.
    pub fn snapshot_path(&self, epoch: u64, seq: u64) -> PathBuf {
        self.snapshots_dir()
            .join(format!("snapshot-{epoch:08}-{seq:08}.bin"))
    }

    /// Epochs with a claim file, ascending.
    pub fn list_epoch_claims(&self) -> Result<Vec<u64>> {
        list_numbered(&self.owners_dir(), "epoch-", ".json")
    }

    /// Epochs with an orchestrator log, ascending.
    pub fn list_orchestrator_logs(&self) -> Result<Vec<u64>> {
        list_numbered(&self.orchestrator_dir(), "epoch-", ".log")
    }

    /// Epochs with an inbox for `worker`, ascending.
    pub fn list_inboxes(&self, worker: &WorkerId) -> Result<Vec<u64>> {
        list_numbered(&self.worker_dir(worker), "inbox-", ".log")
    }

    /// `(epoch, seq)` of every snapshot, ascending.
    pub fn list_snapshots(&self) -> Result<Vec<(u64, u64)>> {
        let mut out: Vec<(u64, u64)> = list_names(&self.snapshots_dir())?
            .iter()
            .filter_map(|name| {
                let mid = name.strip_prefix("snapshot-")?.strip_suffix(".bin")?;
                let (e, s) = mid.split_once('-')?;
                Some((parse_digits(e)?, parse_digits(s)?))
            })
            .collect();
        out.sort_unstable();
        Ok(out)
    }

    /// The highest epoch records were written for, claims aside: orchestrator logs,
    /// snapshots and every worker's inboxes. A new claim must be above it, so that deleting
    /// `owners/` never makes an epoch (its log, inboxes and worker ids) be used twice.
    pub fn highest_recorded_epoch(&self) -> Result<Option<u64>> {
        let mut highest = self.list_orchestrator_logs()?.last().copied();
        highest = highest.max(self.list_snapshots()?.iter().map(|&(e, _)| e).max());
        for worker in self.list_workers()? {
            highest = highest.max(self.list_inboxes(&worker)?.last().copied());
        }
        Ok(highest)
    }

    /// Every worker directory with a valid id, sorted.
    pub fn list_workers(&self) -> Result<Vec<WorkerId>> {
        let mut out: Vec<WorkerId> = list_names(&self.workers_dir())?
            .into_iter()
            .filter_map(|n| WorkerId::new(n).ok())
            .collect();
        out.sort();
        Ok(out)
    }

    /// `orchestrator.log`: the output of an orchestrator started by `submit --detach` on
    /// this machine.
    pub fn detached_log_path(&self) -> PathBuf {
        self.root.join("orchestrator.log")
    }

    /// `logs/slurm/orchestrator-<job>.out`: the output of the orchestrator job that
    /// `submit --detach --backend slurm` submitted as `job`.
    pub fn detached_slurm_output_path(&self, job: u64) -> PathBuf {
        self.root
            .join("logs")
            .join("slurm")
            .join(format!("orchestrator-{job}.out"))
    }
}

/// File names in `dir`; a missing directory has none.
fn list_names(dir: &Path) -> Result<Vec<String>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err("list directory", dir)(e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_err("list directory", dir))?;
        if let Some(name) = entry.file_name().to_str() {
            names.push(name.to_string());
        }
    }
    Ok(names)
}

fn list_numbered(dir: &Path, prefix: &str, suffix: &str) -> Result<Vec<u64>> {
    let mut out: Vec<u64> = list_names(dir)?
        .iter()
        .filter_map(|n| parse_digits(n.strip_prefix(prefix)?.strip_suffix(suffix)?))
        .collect();
    out.sort_unstable();
    Ok(out)
}

fn parse_digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_ids() {
        for ok in ["local-3-0", "slurm-12345_7", "a", "lsf.99-1"] {
            assert_eq!(WorkerId::new(ok).unwrap().as_str(), ok);
        }
        for bad in [
            "",
            ".",
            "..",
            ".hidden",
            "a/b",
            "a b",
            "é",
            &"x".repeat(201),
        ] {
            assert!(WorkerId::new(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn paths_and_listing() {
        let dir = tempfile::tempdir().unwrap();
        let l = Layout::new(dir.path());
        let w = WorkerId::new("slurm-1_2").unwrap();
        assert_eq!(
            l.inbox_path(&w, 3),
            dir.path().join("workers/slurm-1_2/inbox-00000003.log")
        );
        assert_eq!(
            l.worker_log_path(&w, 1, LogStream::Stderr),
            dir.path().join("workers/slurm-1_2/slot-1.stderr.log")
        );
        assert!(l.list_snapshots().unwrap().is_empty());
        fs::create_dir_all(l.snapshots_dir()).unwrap();
        for (e, s) in [(2, 10), (10, 1), (2, 9)] {
            fs::write(l.snapshot_path(e, s), b"").unwrap();
        }
        fs::write(l.snapshots_dir().join(".snapshot-x.tmp"), b"").unwrap();
        assert_eq!(l.list_snapshots().unwrap(), vec![(2, 9), (2, 10), (10, 1)]);
        assert_eq!(l.highest_recorded_epoch().unwrap(), Some(10));
        fs::create_dir_all(l.worker_dir(&w)).unwrap();
        fs::write(l.inbox_path(&w, 12), b"").unwrap();
        assert_eq!(l.highest_recorded_epoch().unwrap(), Some(12));
        fs::create_dir_all(l.orchestrator_dir()).unwrap();
        fs::write(l.orchestrator_log_path(13), b"").unwrap();
        assert_eq!(l.highest_recorded_epoch().unwrap(), Some(13));
    }

    #[test]
    fn backend_paths() {
        let l = Layout::new("/l");
        assert_eq!(
            l.agent_log_path("local-1-0"),
            Path::new("/l/workers/local-1-0/agent.log")
        );
        assert_eq!(
            l.scheduler_log_dir("lsf", "seg"),
            Path::new("/l/logs/lsf/seg")
        );
        assert_eq!(
            l.orchestrator_job_path(),
            Path::new("/l/logs/slurm/orchestrator.job")
        );
    }

    #[test]
    fn detached_orchestrator_output_paths() {
        let l = Layout::new("/runs/a.ledger");
        assert_eq!(
            l.detached_log_path(),
            Path::new("/runs/a.ledger/orchestrator.log")
        );
        assert_eq!(
            l.detached_slurm_output_path(42),
            Path::new("/runs/a.ledger/logs/slurm/orchestrator-42.out")
        );
    }
}
