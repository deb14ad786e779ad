//! [`CompactSnapshot`]: the plan, the ledger folded into a [`CompactState`] (about 16 bytes
//! per block) and the block phases: what `status --blocks` and `status --failed` read, in far
//! less memory than a [`LedgerSnapshot`](super::LedgerSnapshot).

use std::path::Path;
use std::sync::Arc;

use super::counts::LedgerPhases;
use super::error::StatusError;
use super::model::CellState;
use super::snapshot::{header_tasks, plan_of};
use crate::ledger::{BlockEntry, CompactState, Ledger};
use crate::plan::{Block, Plan};

/// A compact read of a ledger's blocks and its plan.
pub struct CompactSnapshot {
    plan: Arc<Plan>,
    state: CompactState,
    phases: LedgerPhases,
}

impl CompactSnapshot {
    /// Reads the ledger at `root` (read-only: no lock, no write).
    pub fn load(root: &Path) -> Result<Self, StatusError> {
        let ledger_err = |source| StatusError::Ledger {
            root: root.to_path_buf(),
            source,
        };
        let ledger = Ledger::open(root).map_err(ledger_err)?;
        let plan = Arc::new(plan_of(root, &header_tasks(root, ledger.header())?)?);
        let state = ledger.load_compact_state().map_err(ledger_err)?.state;
        let any_failed = state.total_counts().failed > 0;
        let phases = LedgerPhases::with_lookup(Arc::clone(&plan), any_failed, |t, id| {
            state.block_state(t as u32, id)
        });
        Ok(Self {
            plan,
            state,
            phases,
        })
    }

    /// The plan.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The folded blocks and workers.
    pub fn state(&self) -> &CompactState {
        &self.state
    }

    /// Whether orphans were computed (some block failed).
    pub fn orphans_computed(&self) -> bool {
        self.phases.orphans_computed()
    }

    /// The ledger's entry of one block of `task` (if it mentions it) and its state as the
    /// map shows it.
    pub fn block(&self, task: usize, block: &Block) -> (Option<BlockEntry>, CellState) {
        let entry = self.state.entry(task as u32, block.id);
        let cell = self
            .phases
            .cell_state_of(task, block, entry.as_ref().map(|e| e.state()));
        (entry, cell)
    }
}
