//! `blockorch worker`: the agent inside each job (started by the backends).

use super::args::WorkerArgs;
use crate::worker::{run_agent, AgentOptions, WorkerError, LEDGER_UNWRITABLE_EXIT};
use anyhow::Result;
use std::time::Duration;

/// Runs the agent and returns its documented exit code (see `docs/workers.md`).
pub fn run(args: &WorkerArgs) -> Result<i32> {
    let mut opts = AgentOptions::new(&args.ledger, &args.task);
    opts.worker_id = args.worker_id.clone();
    opts.workdir = args.workdir.clone();
    opts.slots = args.slots;
    opts.parent_pid = args.parent_pid;
    if let Some(ms) = args.poll_ms {
        opts.poll = Duration::from_millis(ms);
    }
    opts.deadline_unix = args.deadline_unix;
    if let Some(grace) = args.kill_grace {
        opts.kill_grace = Duration::from_secs_f64(grace.max(0.0));
    }
    if let Some(margin) = args.deadline_margin {
        opts.deadline_margin = Duration::from_secs_f64(margin.max(0.0));
    }
    if let Some(n) = args.max_program_crashes {
        opts.max_program_crashes = n;
    }
    opts.command_prefix = args.command_prefix.clone();
    match run_agent(&opts) {
        Ok(exit) => Ok(exit.code()),
        // Not the blocks' fault: a distinct code tells the orchestrator so.
        Err(err @ WorkerError::LedgerUnwritable { .. }) => {
            let err = anyhow::Error::new(err);
            crate::console::eprint_line(format_args!("error: {}", super::exit::render(&err)));
            Ok(LEDGER_UNWRITABLE_EXIT)
        }
        Err(err) => Err(err.into()),
    }
}
