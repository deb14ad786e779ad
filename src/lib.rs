//! blockorch: run huge block-wise jobs (daisy semantics) on a laptop or an HPC cluster,
//! with a ledger on the shared filesystem as the single source of truth.

pub mod backend;
pub mod cancel;
pub mod cli;
pub mod console;
pub mod geometry;
pub mod ledger;
pub mod orchestrator;
pub mod parallel;
pub mod plan;
pub mod recent;
pub mod report;
pub mod schedule;
pub mod status;
pub mod task;
pub mod template;
pub mod worker;
