//! Block planning: the block grid, daisy-compatible ids, fit modes, conflict and upstream
//! dependencies — all computed arithmetically on demand, never materialised per block.
//!
//! See `docs/design/planning.md` for the conflict-ordering scheme.

mod cantor;
mod conflict;
mod error;
mod fit;
mod lattice;
mod multi;
mod run_size;
mod summary;
mod task_plan;

pub use cantor::{cantor_coords, cantor_id};
pub use error::PlanError;
pub use fit::Fit;
pub use multi::{blocks_reading_nothing, BlockRef, Plan};
pub use run_size::{check_run_size, MAX_BLOCKS_PER_RUN};
pub use summary::TaskSummary;
pub use task_plan::{Block, BlockwiseSpec, TaskPlan};
