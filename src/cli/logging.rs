//! Where log lines go: stderr (coloured only on a terminal, above the progress bars) and,
//! with `--log-file`, appended to a file (never coloured). `-v` raises the level, `RUST_LOG`
//! overrides it.

use super::exit::{CliFailure, ExitCode};
use crate::console::StderrLines;
use std::fs::OpenOptions;
use std::io::IsTerminal;
use std::path::Path;
use std::sync::Mutex;
use tracing_subscriber::prelude::*;
use tracing_subscriber::{fmt, EnvFilter};

/// The log filter without `RUST_LOG`: `submit` logs its launches, worker ends, block failures
/// and task ends (INFO) by default, other commands only warnings; each `-v` one level more.
pub fn default_filter(verbose: u8, submit: bool) -> &'static str {
    match (verbose, submit) {
        (0, false) => "warn",
        (0, true) => "warn,blockorch=info",
        (1, _) => "info",
        (2, _) => "debug",
        _ => "trace",
    }
}

/// Installs the log subscriber (see the module doc); fails only when `log_file` cannot be
/// opened for appending.
pub fn init(verbose: u8, submit: bool, log_file: Option<&Path>) -> Result<(), CliFailure> {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(default_filter(verbose, submit)));
    let file = match log_file {
        None => None,
        Some(path) => {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| {
                    CliFailure(
                        ExitCode::BadInput,
                        format!("cannot open --log-file {}: {e}", path.display()),
                    )
                })?;
            Some(
                fmt::layer()
                    .with_writer(Mutex::new(file))
                    .with_ansi(false)
                    .with_target(false)
                    .log_internal_errors(false),
            )
        }
    };
    let stderr = fmt::layer()
        .with_writer(StderrLines)
        // Colour codes only for a terminal: in a log file they are noise.
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        // A log line that cannot be written (stderr on a full disk) is dropped, not a panic.
        .log_internal_errors(false);
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(stderr)
        .with(file)
        .try_init();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::default_filter;

    #[test]
    fn submit_logs_info_by_default_and_the_rest_only_warnings() {
        assert_eq!(default_filter(0, true), "warn,blockorch=info");
        assert_eq!(default_filter(0, false), "warn");
        assert_eq!(default_filter(1, false), "info");
        assert_eq!(default_filter(3, true), "trace");
    }
}
