//! `blockorch logs`: one attempt of one block (read-only, from any node).

use anyhow::Result;

use super::args::LogsArgs;
use super::exit::ExitCode;
use super::status_cmd::{failure, print_flush, resolve_ledger};
use crate::status::{attempt_log, render_attempt, AttemptRequest};

/// Runs `blockorch logs`.
pub fn run(args: &LogsArgs) -> Result<ExitCode> {
    let root = resolve_ledger(args.ledger.as_deref())?;
    let request = AttemptRequest {
        task: args.task.clone(),
        block: args.block,
        attempt: args.attempt,
    };
    let log = attempt_log(&root, &request).map_err(failure)?;
    let text = if args.json {
        let mut t = serde_json::to_string_pretty(&log).expect("an attempt log always serializes");
        t.push('\n');
        t
    } else {
        render_attempt(&log)
    };
    print_flush(&text)?;
    Ok(ExitCode::Success)
}
