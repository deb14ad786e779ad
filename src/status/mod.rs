//! `blockorch status` as a library: what a run looks like from its ledger, read without
//! writing anything (so it works from any node while an orchestrator runs), with the
//! scheduler's view of its workers (asked through [`crate::backend::probe`]). Cancelling is
//! [`crate::cancel`]'s.
//!
//! See `docs/status.md` for what every field means.

mod blocks;
mod discover;
mod error;
mod map;
mod model;
mod output;
mod rate;
mod recorded;
mod snapshot;

pub use crate::backend::probe::{
    scheduler_probe, EachScheduler, NoScheduler, SchedulerProbe, SchedulerView,
};
pub use blocks::{write_block_lines, AttemptLine, BlockDumpError, BlockLine};
pub use discover::find_ledger;
pub use error::{SliceError, StatusError};
pub use map::{CellState, FixedAxis, MapCounts, MapView, SliceRequest, MAP_MAX_CELLS};
pub use model::{
    BlockCounts, CurrentBlock, InitState, OwnerReport, OwnerState, RunEnd, StatusReport,
    TaskStatus, Totals, WorkerState, WorkerStateCounts, WorkerStatus, WorkerTable,
};
pub use output::{HumanOutput, JsonOutput, StatusOutput};
pub use rate::{throughput, Throughput, RATE_WINDOW};
pub use recorded::{read_fresh, RecordedScheduler, RecordedStatus, RECORD_EVERY, RECORD_FRESH};
pub use snapshot::{LedgerSnapshot, WORKER_SILENT_AFTER};
