//! `blockorch status` and `blockorch cancel` as a library: what a run looks like from its
//! ledger, read without writing anything (so it works from any node while an orchestrator
//! runs), and which scheduler jobs belong to it.
//!
//! See `docs/status.md` for what every field means.

mod blocks;
mod cancel;
mod discover;
mod error;
mod map;
mod model;
mod output;
mod proof;
mod rate;
mod scheduler;
mod snapshot;

pub use blocks::{write_block_lines, AttemptLine, BlockDumpError, BlockLine};
pub use cancel::{
    cancel_targets, execute_cancel, signal_owner, wait_for_exit, CancelReport, CancelTargets,
    CancelledJob, JobTarget, LocalTarget, OwnerAction, SkippedWorker, SystemTerminator, Terminator,
};
pub use discover::find_ledger;
pub use error::{SliceError, StatusError};
pub use map::{CellState, FixedAxis, MapCounts, MapView, SliceRequest, MAP_MAX_CELLS};
pub use model::{
    BlockCounts, CurrentBlock, InitState, OwnerReport, OwnerState, RunEnd, StatusReport,
    TaskStatus, Totals, WorkerState, WorkerStateCounts, WorkerStatus, WorkerTable,
};
pub use output::{HumanOutput, JsonOutput, StatusOutput};
pub use rate::{throughput, Throughput, RATE_WINDOW};
pub use scheduler::{scheduler_probe, EachScheduler, NoScheduler, SchedulerProbe, SchedulerView};
pub use snapshot::{LedgerSnapshot, WORKER_SILENT_AFTER};
