//! [`LedgerView`]: everything `status` shows, read without writing anything, so it works from
//! any node, on a read-only mount, while an orchestrator runs.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::block_table::BlockTable;
use super::error::Result;
use super::fold::LoadedState;
use super::header::LedgerHeader;
use super::layout::WorkerId;
use super::outbox_summary::{summarize_outbox, OutboxSummary};
use super::owner::OwnerStatus;
use super::state::{LedgerState, WorkerEntry};
use super::store::Ledger;

/// Which outboxes a view summarizes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OutboxDetail {
    /// None.
    None,
    /// Workers not recorded as ended, and worker directories unknown to the orchestrator log.
    #[default]
    Live,
    /// All workers.
    All,
}

/// One worker as status shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WorkerSummary {
    /// String id.
    pub worker_id: String,
    /// Index in the orchestrator log, if registered.
    pub index: Option<u32>,
    /// Registration (backend, job, end) from the orchestrator log.
    pub entry: Option<WorkerEntry>,
    /// Blocks assigned to it per the orchestrator log: `(task, block, attempt)`.
    pub assigned: Vec<(u32, u64, u32)>,
    /// Its outbox, if summarized and present.
    pub outbox: Option<OutboxSummary>,
}

/// A read-only snapshot of a ledger; `S` is the folded state (the orchestrator's
/// [`LedgerState`] by default; `status` reads a [`CompactState`](super::CompactState), and the
/// orchestrator's status recorder lends its own state by reference).
#[derive(Debug)]
pub struct LedgerView<S = LedgerState> {
    /// The ledger directory.
    pub root: PathBuf,
    /// `ledger.json`.
    pub header: LedgerHeader,
    /// Owner of the highest epoch.
    pub owner: Option<OwnerStatus>,
    /// Folded state, coverage and warnings.
    pub loaded: LoadedState<S>,
    /// Workers, registered ones first (by index), then unregistered directories.
    pub workers: Vec<WorkerSummary>,
}

impl LedgerView {
    /// Reads the ledger at `root`, summarizing the outboxes of live workers.
    pub fn open(root: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(root, OutboxDetail::default())
    }

    /// Reads the ledger at `root` with the given outbox detail.
    pub fn open_with(root: impl AsRef<Path>, detail: OutboxDetail) -> Result<Self> {
        Self::open_folded(root, detail)
    }
}

impl<B: BlockTable + DeserializeOwned> LedgerView<LedgerState<B>> {
    /// Reads the ledger at `root` with the given outbox detail, folding its blocks into `B`
    /// (a [`CompactBlocks`](super::CompactBlocks) table for a [`CompactState`](super::CompactState)).
    pub fn open_folded(root: impl AsRef<Path>, detail: OutboxDetail) -> Result<Self> {
        let ledger = Ledger::open(root)?;
        let owner = ledger.current_owner()?;
        let loaded = ledger.load_folded::<B>()?;
        let state = &loaded.state;
        let mut workers: Vec<WorkerSummary> = state
            .workers()
            .iter()
            .enumerate()
            .map(|(i, w)| WorkerSummary {
                worker_id: w.worker_id.clone(),
                index: Some(i as u32),
                entry: Some(w.clone()),
                assigned: Vec::new(),
                outbox: None,
            })
            .collect();
        for (task, block, attempt, worker) in state.assigned_blocks() {
            if let Some(w) = workers.get_mut(worker as usize) {
                w.assigned.push((task, block, attempt));
            }
        }
        let registered: std::collections::HashSet<&str> = state
            .workers()
            .iter()
            .map(|w| w.worker_id.as_str())
            .collect();
        for id in ledger.layout().list_workers()? {
            if !registered.contains(id.as_str()) {
                workers.push(WorkerSummary {
                    worker_id: id.as_str().to_string(),
                    index: None,
                    entry: None,
                    assigned: Vec::new(),
                    outbox: None,
                });
            }
        }
        for w in &mut workers {
            let wanted = match detail {
                OutboxDetail::None => false,
                OutboxDetail::Live => w.entry.as_ref().is_none_or(|e| e.ended.is_none()),
                OutboxDetail::All => true,
            };
            if !wanted {
                continue;
            }
            if let Ok(id) = WorkerId::new(w.worker_id.clone()) {
                w.outbox = summarize_outbox(&ledger.layout().outbox_path(&id))?;
            }
        }
        Ok(Self {
            root: ledger.root().to_path_buf(),
            header: ledger.header().clone(),
            owner,
            loaded,
            workers,
        })
    }
}
