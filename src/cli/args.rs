//! Command-line arguments (clap derive).

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Run huge block-wise jobs (daisy semantics) on this machine, SLURM or LSF, with a ledger on
/// the shared filesystem as the single source of truth.
#[derive(Debug, Parser)]
#[command(name = "blockorch", version, about, long_about = None)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug, -vvv trace; RUST_LOG overrides).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show how a task file tiles into blocks (summary, one block, or every block as JSON).
    Plan(PlanArgs),
}

/// Arguments of `blockorch plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The task file (one task object, or {"tasks": [...]}).
    pub task_file: PathBuf,
    /// Print every block as one JSON line (task, block_id, read_roi, write_roi, depends_on).
    #[arg(long, conflicts_with = "block")]
    pub json: bool,
    /// Show one block (its ROIs and dependencies) by daisy block id.
    #[arg(long, value_name = "ID")]
    pub block: Option<u64>,
    /// The task the --block id or --json output refers to (default: every task for --json;
    /// required for --block when the file has several tasks).
    #[arg(long, value_name = "NAME")]
    pub task: Option<String>,
}
