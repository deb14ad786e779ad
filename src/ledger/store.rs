//! [`Ledger`]: creating or opening a ledger directory, and the entry points to its parts.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::error::{io_err, LedgerError, Result};
use super::fold::{load_state, LoadedState};
use super::fsutil::{fsync_dir, parent, publish_exclusive};
use super::header::{tasks_hash, LedgerHeader};
use super::layout::{Layout, LogStream, WorkerId};
use super::owner::{self, ClaimOptions, OwnerStatus, Ownership};
use super::records::InboxRecord;
use super::trust::{self, Scope, TrustPolicy};
use super::writer::LogWriter;

/// An opened ledger directory.
#[derive(Clone, Debug)]
pub struct Ledger {
    layout: Layout,
    header: LedgerHeader,
}

impl Ledger {
    /// Creates the ledger of the canonical task JSON `tasks` at `root` (its plan hash is
    /// [`tasks_hash`]`(tasks)`), or opens it if it exists. Fails with
    /// [`LedgerError::Untrusted`] if anyone but this user (or, with
    /// [`TrustPolicy::SharedGroup`] from the environment, the user's groups) could have written
    /// it, [`LedgerError::HeaderTampered`] if its stored tasks do not hash to its plan hash,
    /// [`LedgerError::PlanChanged`] if it was created for another task definition, and
    /// [`LedgerError::NotALedger`] if `root` is a non-empty directory without `ledger.json`
    /// (even one that looks like a ledger that lost it).
    pub fn create_or_open(root: impl AsRef<Path>, tasks: &serde_json::Value) -> Result<Self> {
        let root = root.as_ref();
        let plan_hash = &tasks_hash(tasks);
        let policy = TrustPolicy::from_env();
        let layout = Layout::new(root);
        let header_path = layout.header_path();
        if !exists(&header_path)? {
            let created_root = !exists(root)?;
            if !created_root {
                trust::check(&layout, policy, &Scope::Whole)?;
                ensure_empty(root, &header_path)?;
            }
            fs::create_dir_all(root).map_err(io_err("create directory", root))?;
            if created_root {
                trust::prepare_new_root(root, policy)?;
                fsync_dir(parent(root))?;
            }
            let header = LedgerHeader::new(plan_hash, tasks);
            if publish_exclusive(&header_path, &header.to_bytes())? {
                tracing::info!(root = %root.display(), "ledger created");
            }
        }
        trust::check(&layout, policy, &Scope::Whole)?;
        let header = LedgerHeader::read(&header_path)?;
        if &header.plan_hash != plan_hash || &header.tasks != tasks {
            return Err(LedgerError::PlanChanged {
                root: root.to_path_buf(),
                old_hash: header.plan_hash,
                new_hash: plan_hash.to_string(),
                old_tasks: Box::new(header.tasks),
                new_tasks: Box::new(tasks.clone()),
            });
        }
        for dir in [
            layout.owners_dir(),
            layout.orchestrator_dir(),
            layout.workers_dir(),
            layout.snapshots_dir(),
        ] {
            fs::create_dir_all(&dir).map_err(io_err("create directory", &dir))?;
        }
        Ok(Self { layout, header })
    }

    /// Opens an existing ledger without writing anything (status, cancel), after checking
    /// that all of it can be trusted (see [`Ledger::create_or_open`]).
    pub fn open(root: impl AsRef<Path>) -> Result<Self> {
        let layout = Layout::new(root.as_ref());
        trust::check(&layout, TrustPolicy::from_env(), &Scope::Whole)?;
        let header = LedgerHeader::read(&layout.header_path())?;
        Ok(Self { layout, header })
    }

    /// Opens an existing ledger for the agent of `worker`: checks the root, its top-level
    /// directories and the worker's own directory (not every other worker's files).
    pub fn open_for_worker(root: impl AsRef<Path>, worker: &WorkerId) -> Result<Self> {
        let layout = Layout::new(root.as_ref());
        trust::check(&layout, TrustPolicy::from_env(), &Scope::Worker(worker))?;
        let header = LedgerHeader::read(&layout.header_path())?;
        Ok(Self { layout, header })
    }

    /// The ledger directory.
    pub fn root(&self) -> &Path {
        self.layout.root()
    }

    /// The header.
    pub fn header(&self) -> &LedgerHeader {
        &self.header
    }

    /// All paths of the ledger.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// `workers/<id>/`.
    pub fn worker_dir(&self, worker: &WorkerId) -> PathBuf {
        self.layout.worker_dir(worker)
    }

    /// `workers/<id>/inbox-<epoch>.log`.
    pub fn inbox_path(&self, worker: &WorkerId, epoch: u64) -> PathBuf {
        self.layout.inbox_path(worker, epoch)
    }

    /// Opens `worker`'s inbox of `epoch` (`workers/<id>/inbox-<epoch>.log`) for appending,
    /// creating the worker's directory first if the worker has not yet.
    pub fn open_inbox(&self, worker: &WorkerId, epoch: u64) -> Result<LogWriter<InboxRecord>> {
        let dir = self.layout.worker_dir(worker);
        fs::create_dir_all(&dir).map_err(io_err("create directory", &dir))?;
        LogWriter::open_append(self.layout.inbox_path(worker, epoch))
    }

    /// `workers/<id>/outbox.log`.
    pub fn outbox_path(&self, worker: &WorkerId) -> PathBuf {
        self.layout.outbox_path(worker)
    }

    /// `workers/<id>/slot-<slot>.<stream>.log`.
    pub fn worker_log_path(&self, worker: &WorkerId, slot: u32, stream: LogStream) -> PathBuf {
        self.layout.worker_log_path(worker, slot, stream)
    }

    /// The owner of the highest epoch (read only).
    pub fn current_owner(&self) -> Result<Option<OwnerStatus>> {
        owner::current_owner(&self.layout)
    }

    /// Claims the next epoch; [`LedgerError::Busy`] if the current owner looks alive and
    /// `opts.force` is not set, or if another claimant won the race.
    pub fn claim(&self, opts: &ClaimOptions) -> Result<Ownership> {
        owner::claim(&self.layout, opts)
    }

    /// Folds the latest usable snapshot and the orchestrator logs (read only).
    pub fn load_state(&self) -> Result<LoadedState> {
        load_state(&self.layout)
    }
}

fn exists(path: &Path) -> Result<bool> {
    match fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_err("stat", path)(e)),
    }
}

/// Refuses to turn a directory with any content into a ledger: only the header's temporary
/// files of a racing creator are fine. A directory that looks like a ledger but lost its
/// `ledger.json` is refused too: its records belong to a task definition nobody can check.
fn ensure_empty(root: &Path, header_path: &Path) -> Result<()> {
    let entries = fs::read_dir(root).map_err(io_err("list directory", root))?;
    for entry in entries {
        let entry = entry.map_err(io_err("list directory", root))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(".ledger.json.") {
            continue;
        }
        // A racing creator may have published the header since it was looked for.
        if exists(header_path)? {
            return Ok(());
        }
        let what = if matches!(
            name.as_ref(),
            "owners" | "orchestrator" | "workers" | "snapshots"
        ) {
            format!(
                "it contains {name:?} but has no ledger.json: it looks like a ledger whose \
                 header was deleted, and its records cannot be checked against a task file; \
                 use a new --ledger directory"
            )
        } else {
            format!("the directory is not empty (it contains {name:?}) and has no ledger.json")
        };
        return Err(LedgerError::NotALedger {
            path: root.to_path_buf(),
            reason: what,
        });
    }
    Ok(())
}
