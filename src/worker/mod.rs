//! The worker agent (`blockorch worker`): the process inside every job that follows its inbox
//! in the ledger, runs the task's worker program on assigned blocks and reports in its outbox.
//! See `docs/workers.md` for the program protocol, flags and exit codes.

mod agent;
mod context;
mod error;
mod events;
mod executor;
mod group;
mod inbox;
mod launch;
mod leftovers;
mod liveness;
mod marker;
mod options;
mod outbox;
mod pipeline;
mod placeholders;
mod polling;
mod program;
mod shutdown;
mod signals;
mod slot;
mod stagger;
mod state;
mod usage;
mod walltime;
mod wire;

pub use agent::run_agent;
pub use error::WorkerError;
pub use leftovers::stop_leftover_programs;
pub use marker::{Marker, MarkerKind};
pub use options::{default_worker_id, worker_id_from_env, AgentOptions, AGENT_HEARTBEAT_INTERVAL};
pub use placeholders::{expand, expand_argv, PLACEHOLDERS};
pub use shutdown::{AgentExit, LEDGER_UNWRITABLE_EXIT};
pub use wire::{parse_report, BlockMessage, Report, ReportStatus};
