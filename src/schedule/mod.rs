//! The ready set: which blocks may be handed out now, given what is done, running or failed.
//!
//! See `docs/design/ready-set.md`.

mod phase;
mod ready_set;

pub use phase::{BlockPhase, PhaseCounts};
pub use ready_set::{Known, ReadySet};
