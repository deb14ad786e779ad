//! The command line: argument parsing, output modes and exit codes.

mod args;
mod cancel_cmd;
mod exit;
mod logging;
mod logs_cmd;
mod plan_cmd;
mod report_cmd;
mod status_cmd;
mod submit_cmd;
mod worker_cmd;

pub use args::{Cli, Command};
pub use exit::ExitCode;

use clap::Parser;

/// Runs the CLI and returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    let submit = matches!(cli.command, Command::Submit(_));
    if let Err(err) = logging::init(cli.verbose, submit, cli.log_file.as_deref()) {
        crate::console::eprint_line(format_args!("error: {err}"));
        return err.0 as i32;
    }
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
        Command::Submit(args) => submit_cmd::run(args, cli.log_file.as_deref()),
        Command::Status(args) => status_cmd::run(args),
        Command::Logs(args) => logs_cmd::run(args),
        Command::Cancel(args) => cancel_cmd::run(args),
        Command::Report(args) => report_cmd::run(args),
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
