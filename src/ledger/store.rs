//! [`Ledger`]: creating or opening a ledger directory, and the entry points to its parts.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::block_table::BlockTable;
use super::compact_state::CompactState;
use super::error::{io_err, LedgerError, Result};
use super::fold::{load_state, LoadedState};
use super::fsutil::{fsync_dir, parent, publish_exclusive};
use super::header::{tasks_hash, LedgerHeader};
use super::layout::{Layout, LogStream, WorkerId};
use super::owner::{self, ClaimOptions, OwnerStatus, Ownership};
use super::reader::check_header;
use super::records::InboxRecord;
use super::records::{OrchestratorRecord, OutboxRecord};
use super::state::LedgerState;
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
        Self::create_or_open_compatible(root, tasks, |_, _| false)
    }

    /// [`Ledger::create_or_open`], also accepting a ledger whose stored tasks differ from
    /// `tasks` where `same_blocks(stored, tasks)` says the difference leaves every block as it
    /// was (an operational change, which the caller then publishes with
    /// [`Ledger::publish_definition`]).
    pub fn create_or_open_compatible(
        root: impl AsRef<Path>,
        tasks: &serde_json::Value,
        same_blocks: impl Fn(&serde_json::Value, &serde_json::Value) -> bool,
    ) -> Result<Self> {
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
        let changed = &header.plan_hash != plan_hash || &header.tasks != tasks;
        if changed && !same_blocks(&header.tasks, tasks) {
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

    /// The task definition in force: the newest one a resume published, else the one the
    /// ledger was created with (`ledger.json`).
    pub fn tasks_in_force(&self) -> Result<serde_json::Value> {
        Ok(super::definition::newest(&self.layout)?
            .map_or_else(|| self.header.tasks.clone(), |(_, tasks)| tasks))
    }

    /// Publishes `tasks` as the definition in force from `epoch` on (its owner only).
    pub fn publish_definition(&self, epoch: u64, tasks: &serde_json::Value) -> Result<()> {
        super::definition::publish(&self.layout, epoch, tasks)
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

    /// Opens an existing ledger to read what its orchestrator recorded: checks the root, its
    /// top-level entries, `owners/` and `orchestrator/` (not every worker's files).
    pub fn open_for_status(root: impl AsRef<Path>) -> Result<Self> {
        let layout = Layout::new(root.as_ref());
        trust::check(&layout, TrustPolicy::from_env(), &Scope::Orchestrator)?;
        let header = LedgerHeader::read(&layout.header_path())?;
        Ok(Self { layout, header })
    }

    /// Replaces `orchestrator/status-<epoch>.json` with `bytes` (tmp + rename, not fsynced:
    /// a lost record only makes `status` read the ledger itself).
    pub fn write_status_record(&self, epoch: u64, bytes: &[u8]) -> Result<()> {
        super::fsutil::write_atomic(&self.layout.status_record_path(epoch), bytes, false)
    }

    /// The bytes of `orchestrator/status-<epoch>.json`; `None` if there is none.
    pub fn read_status_record(&self, epoch: u64) -> Result<Option<Vec<u8>>> {
        let path = self.layout.status_record_path(epoch);
        match super::fsutil::read_small(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(super::error::io_err("read", &path)(e)),
        }
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
        // The writer creates the worker directory if it is missing.
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

    /// The owner of `epoch` (its claim and heartbeat, read without listing `owners/`): what
    /// an agent that follows that epoch checks now and then.
    pub fn owner_of(&self, epoch: u64) -> Result<OwnerStatus> {
        owner::read_owner(&self.layout, epoch, &super::host::hostname())
    }

    /// Whether `epoch` was claimed (one `stat` of its claim file, no listing).
    pub fn epoch_claimed(&self, epoch: u64) -> bool {
        self.layout.epoch_claim_path(epoch).exists()
    }

    /// Claims the next epoch; [`LedgerError::Busy`] if the current owner looks alive and
    /// `opts.force` is not set, or if another claimant won the race. What the run would refuse
    /// right after its claim is checked first, so that such a refusal writes nothing: the file
    /// headers of the orchestrator logs and outboxes ([`LedgerError::NotALogFile`],
    /// [`LedgerError::UnsupportedVersion`]) and, when some epoch has no orchestrator log, the
    /// history ([`LedgerError::HistoryMissing`]).
    pub fn claim(&self, opts: &ClaimOptions) -> Result<Ownership> {
        self.check_before_claim()?;
        owner::claim(&self.layout, opts)
    }

    /// The checks of [`claim`](Self::claim): a few directory listings and one 12-byte read
    /// per log; the whole fold only runs when an epoch was claimed, snapshotted or wrote an
    /// inbox but has no orchestrator log (rare: a deleted log).
    fn check_before_claim(&self) -> Result<()> {
        let logs = self.layout.list_orchestrator_logs()?;
        for &epoch in &logs {
            check_header::<OrchestratorRecord>(&self.layout.orchestrator_log_path(epoch))?;
        }
        let mut epochs = self.layout.list_epoch_claims()?;
        epochs.extend(self.layout.list_snapshots()?.iter().map(|&(e, _)| e));
        for worker in self.layout.list_workers()? {
            check_header::<OutboxRecord>(&self.layout.outbox_path(&worker))?;
            epochs.extend(self.layout.list_inboxes(&worker)?);
        }
        if epochs.iter().any(|e| !logs.contains(e)) {
            load_state::<LedgerState>(&self.layout)?;
        }
        Ok(())
    }

    /// Folds the latest usable snapshot and the orchestrator logs (read only).
    pub fn load_state(&self) -> Result<LoadedState> {
        load_state(&self.layout)
    }

    /// Folds the ledger like [`load_state`](Self::load_state) into a [`CompactState`]: the
    /// same fold, in about 16 bytes per block (read only).
    pub fn load_compact_state(&self) -> Result<LoadedState<CompactState>> {
        load_state(&self.layout)
    }

    /// Folds the ledger like [`load_state`](Self::load_state), each task's blocks kept in a
    /// `B` (read only).
    pub fn load_folded<B: BlockTable + serde::de::DeserializeOwned>(
        &self,
    ) -> Result<LoadedState<LedgerState<B>>> {
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
