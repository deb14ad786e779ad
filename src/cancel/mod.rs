//! `blockorch cancel` as a library: cancel exactly the scheduler jobs of a run, read from the
//! ledger's worker registry (never by name or user), through each scheduler backend's one
//! cancel entry point; SIGTERM to local agents and to the orchestrator only when they provably
//! belong to this ledger and user.

mod execute;
mod owner;
mod proof;
mod report;
mod targets;

pub use execute::{execute_cancel, SystemTerminator, Terminator};
pub use owner::{signal_owner, wait_for_exit, OwnerAction};
pub use report::{CancelReport, CancelledJob};
pub use targets::{cancel_targets, CancelTargets, JobTarget, LocalTarget, SkippedWorker};
