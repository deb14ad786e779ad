//! Errors raised while planning (input that validates but cannot be planned).

use thiserror::Error;

/// Why a task cannot be planned.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum PlanError {
    /// The block grid is so large that daisy's Cantor ids would not fit in 64 bits.
    #[error("the block grid {grid:?} is too large: its block ids would exceed 2^64 (use a larger write_roi)")]
    IdOverflow {
        /// Blocks per axis.
        grid: Vec<i64>,
    },
    /// A block id that no block of the task has.
    #[error("task {task:?} has no block with id {id}")]
    NoSuchBlock {
        /// Task name.
        task: String,
        /// The id asked for.
        id: u64,
    },
    /// The run has more blocks than one orchestrator can keep in memory.
    #[error(
        "the run has {total} blocks ({task_blocks} of them in task {task:?}), more than the \
         {limit} blocks one run may have (the orchestrator keeps about 21 bytes per block in \
         memory, and more per settled block): use a larger write_roi, or split total_roi into \
         several task files"
    )]
    TooManyBlocks {
        /// The task with the most blocks.
        task: String,
        /// Its number of blocks.
        task_blocks: u64,
        /// Blocks of all tasks together (saturated at `u64::MAX`).
        total: u64,
        /// [`MAX_BLOCKS_PER_RUN`](super::MAX_BLOCKS_PER_RUN).
        limit: u64,
    },
    /// A task name that is not in the plan.
    #[error("no task named {0:?} in the plan")]
    NoSuchTask(String),
}
