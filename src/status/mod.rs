//! `blockorch status` as a library: what a run looks like from its ledger, read without
//! writing anything (so it works from any node while an orchestrator runs), with the
//! scheduler's view of its workers (asked through [`crate::backend::probe`]). Cancelling is
//! [`crate::cancel`]'s.
//!
//! See `docs/status.md` for what every field means.

mod attempt_log;
mod attempt_text;
mod blocks;
mod compact;
mod counts;
mod discover;
mod error;
mod failed_view;
mod failures;
mod histogram;
mod map;
mod model;
mod output;
mod rate;
mod recorded;
mod slot_log;
mod snapshot;
mod stats_view;
mod units;

pub use crate::backend::probe::{
    scheduler_probe, EachScheduler, NoScheduler, SchedulerProbe, SchedulerView,
};
pub use attempt_log::{attempt_log, AttemptLog, AttemptRequest};
pub use attempt_text::render_attempt;
pub use blocks::{write_block_lines, AttemptLine, BlockDumpError, BlockFilter, BlockLine};
pub use compact::CompactSnapshot;
pub use counts::LedgerPhases;
pub use discover::find_ledger;
pub use error::{SliceError, StatusError};
pub use failed_view::FailedReport;
pub use failures::{
    render_groups, summarize as summarize_cause, FailureGroup, FailureGroups, FailureState,
    EXAMPLES, MAX_CAUSES_PER_TASK,
};
pub use histogram::{LogHistogram, Quantiles};
pub use map::{CellState, FixedAxis, MapCounts, MapView, SliceRequest, MAP_MAX_CELLS};
pub use model::{
    BlockCounts, CurrentBlock, DefinitionReport, InitState, OwnerReport, OwnerState, RunEnd,
    StatusReport, TaskStatus, Totals, WorkerState, WorkerStateCounts, WorkerStatus, WorkerTable,
};
pub use output::{HumanOutput, JsonOutput, StatusOutput};
pub use rate::{throughput, Throughput, RATE_WINDOW};
pub use recorded::{read_fresh, RecordedScheduler, RecordedStatus, RECORD_EVERY, RECORD_FRESH};
pub use slot_log::{cut as cut_slot_log, AttemptKey, LogCut, MAX_CUT_BYTES};
pub(crate) use snapshot::reason_name;
pub use snapshot::{LedgerSnapshot, WORKER_SILENT_AFTER};
pub use stats_view::{StatsReport, TaskStats, HEADROOM};
