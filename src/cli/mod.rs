//! The command line: argument parsing, output modes and exit codes.

mod args;
mod cancel_cmd;
mod exit;
mod logs_cmd;
mod plan_cmd;
mod status_cmd;
mod submit_cmd;
mod worker_cmd;

pub use args::{Cli, Command};
pub use exit::ExitCode;

use clap::Parser;

/// Runs the CLI and returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    if let Command::Submit(args) = &cli.command {
        if args.shared_group {
            // Read by every ledger check of this process and inherited by its agents.
            std::env::set_var(crate::ledger::SHARED_GROUP_ENV, "1");
        }
    }
    if matches!(cli.command, Command::Submit(_) | Command::Worker(_)) {
        // What blockorch creates in a ledger is never writable by others (nor by the group
        // unless it is shared), whatever the umask; the task's programs get the user's own.
        crate::ledger::restrict_umask(crate::ledger::TrustPolicy::from_env());
    }
    let result = match &cli.command {
        Command::Plan(args) => plan_cmd::run(args),
        Command::Submit(args) => submit_cmd::run(args),
        Command::Status(args) => status_cmd::run(args),
        Command::Logs(args) => logs_cmd::run(args),
        Command::Cancel(args) => cancel_cmd::run(args),
        Command::Worker(args) => match worker_cmd::run(args) {
            Ok(code) => return code,
            Err(err) => Err(err),
        },
    };
    match result {
        Ok(code) => code as i32,
        Err(err) if plan_cmd::is_broken_pipe(&err) => ExitCode::Success as i32,
        Err(err) => {
            let code = exit::classify(&err);
            crate::console::eprint_line(format_args!("error: {}", exit::render(&err)));
            code as i32
        }
    }
}

/// Logs go to stderr; `-v` raises the level, `RUST_LOG` overrides.
fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // A log line that cannot be written (stderr on a full disk) is dropped, not a panic.
        .log_internal_errors(false)
        // Colour codes only for a terminal: in a log file they are noise.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
}
