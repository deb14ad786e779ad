//! Colours: one per task, one per block state (the same meanings as `status --map`).

use crate::status::CellState;

/// Task colours (Tableau 10), reused cyclically.
const TASKS: [&str; 10] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f", "#bab0ac",
    "#ff9da7", "#e15759",
];

/// The red of failures everywhere in the report.
pub const FAILED: &str = "#d62728";

/// The colour of task `t`.
pub fn task(t: usize) -> &'static str {
    TASKS[t % TASKS.len()]
}

/// The colour of a block state.
pub fn state(s: CellState) -> &'static str {
    match s {
        CellState::Pending => "#d9d9d9",
        CellState::Running => "#4e79a7",
        CellState::Done => "#59a14f",
        CellState::Skipped => "#a6d96a",
        CellState::Failed => FAILED,
        CellState::Orphaned => "#f28e2b",
    }
}
