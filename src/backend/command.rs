//! Running scheduler commands: a timeout, captured output, and a count of every call.
//!
//! Every scheduler command a cluster backend runs (`sbatch`, `squeue`, `sacct`, `scancel`,
//! `scontrol`, `srun`; `bsub`, `bjobs`, `bkill`, `bparams`) goes through one [`CommandRunner`],
//! which counts the calls per program so that tests (and the `--verbose` log) can check the
//! load blockorch puts on the scheduler.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use thiserror::Error;

/// Why a scheduler command could not be run to completion (a non-zero exit is not an error
/// here: see [`CommandOutput::success`]).
#[derive(Debug, Error)]
pub enum CommandError {
    /// The program could not be started (not installed, not on `PATH`).
    #[error("cannot run {program}")]
    Spawn {
        /// The program.
        program: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The command did not finish in time and was killed.
    #[error("{command_line} did not finish within {} s and was killed", timeout.as_secs_f64())]
    Timeout {
        /// The command as typed in a shell.
        command_line: String,
        /// The limit.
        timeout: Duration,
    },
    /// Waiting for the command failed.
    #[error("waiting for {command_line} failed")]
    Wait {
        /// The command as typed in a shell.
        command_line: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl CommandError {
    /// True when the command may have reached the scheduler (so a submission may exist).
    pub fn is_ambiguous(&self) -> bool {
        matches!(
            self,
            CommandError::Timeout { .. } | CommandError::Wait { .. }
        )
    }
}

/// What a finished command printed and how it exited.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandOutput {
    /// The command as typed in a shell (for messages).
    pub command_line: String,
    /// Exit code, `None` when killed by a signal.
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl CommandOutput {
    /// An output of the unit tests, as if `command_line` had printed `stdout` and `stderr`.
    #[cfg(test)]
    pub(crate) fn fake(
        command_line: &str,
        code: Option<i32>,
        stdout: &str,
        stderr: &str,
    ) -> CommandOutput {
        CommandOutput {
            command_line: command_line.into(),
            code,
            stdout: stdout.into(),
            stderr: stderr.into(),
        }
    }

    /// True on exit code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// A one-line summary for error messages: the command, its exit and its stderr.
    pub fn describe(&self) -> String {
        let exit = match self.code {
            Some(code) => format!("exit code {code}"),
            None => "killed by a signal".to_owned(),
        };
        let stderr = self.stderr.trim();
        if stderr.is_empty() {
            format!("{} failed ({exit})", self.command_line)
        } else {
            format!(
                "{} failed ({exit}): {}",
                self.command_line,
                stderr.replace('\n', " | ")
            )
        }
    }
}

/// How scheduler commands are run.
#[derive(Clone, Debug)]
pub struct CommandConfig {
    /// Directory holding the scheduler's programs; `None` looks them up on `PATH`.
    pub bin_dir: Option<PathBuf>,
    /// Kill a command that runs longer than this (SLURM clients hang ~9 s when slurmctld is
    /// down, ~60 s when `SLURM_CONF` is wrong).
    pub timeout: Duration,
    /// Extra environment for every command (e.g. `SLURM_CONF`).
    pub env: Vec<(String, String)>,
}

impl Default for CommandConfig {
    fn default() -> Self {
        Self {
            bin_dir: None,
            timeout: Duration::from_secs(30),
            env: Vec::new(),
        }
    }
}

/// Number of calls per program, e.g. `{"sbatch": 1, "squeue": 12}`.
pub type CommandCounts = BTreeMap<String, u64>;

/// Runs scheduler commands and counts them.
#[derive(Clone, Debug, Default)]
pub struct CommandRunner {
    config: CommandConfig,
    counts: Arc<Mutex<CommandCounts>>,
}

impl CommandRunner {
    /// A runner with `config`.
    pub fn new(config: CommandConfig) -> Self {
        Self {
            config,
            counts: Arc::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &CommandConfig {
        &self.config
    }

    /// Calls so far, per program name.
    pub fn counts(&self) -> CommandCounts {
        self.counts.lock().map(|c| c.clone()).unwrap_or_default()
    }

    /// Calls of `program` so far.
    pub fn count(&self, program: &str) -> u64 {
        self.counts().get(program).copied().unwrap_or(0)
    }

    /// The path the runner uses for `program`.
    pub fn program_path(&self, program: &str) -> PathBuf {
        match &self.config.bin_dir {
            Some(dir) => dir.join(program),
            None => PathBuf::from(program),
        }
    }

    /// Counts a call of `program` started elsewhere (a long-running `srun`).
    pub fn record(&self, program: &str) {
        if let Ok(mut counts) = self.counts.lock() {
            *counts.entry(program.to_owned()).or_default() += 1;
        }
    }

    /// Runs `program args…`, feeding `stdin` if given, and waits up to the timeout.
    pub fn run(
        &self,
        program: &str,
        args: &[String],
        stdin: Option<&str>,
    ) -> Result<CommandOutput, CommandError> {
        self.record(program);
        let command_line = command_line(program, args);
        tracing::debug!(command = %command_line, "running scheduler command");
        let mut command = Command::new(self.program_path(program));
        command
            .args(args)
            .envs(self.config.env.iter().map(|(k, v)| (k, v)))
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().map_err(|source| CommandError::Spawn {
            program: program.to_owned(),
            source,
        })?;
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            // A command that exits without reading stdin closes the pipe: not our error.
            let _ = pipe.write_all(text.as_bytes());
        }
        let stdout = child.stdout.take().map(reader_thread);
        let stderr = child.stderr.take().map(reader_thread);
        let started = Instant::now();
        let mut nap = Duration::from_millis(1);
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if started.elapsed() >= self.config.timeout => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(CommandError::Timeout {
                        command_line,
                        timeout: self.config.timeout,
                    });
                }
                Ok(None) => {
                    std::thread::sleep(nap);
                    nap = (nap * 2).min(Duration::from_millis(50));
                }
                Err(source) => {
                    return Err(CommandError::Wait {
                        command_line,
                        source,
                    })
                }
            }
        };
        let collect = |handle: Option<std::thread::JoinHandle<String>>| {
            handle.and_then(|h| h.join().ok()).unwrap_or_default()
        };
        Ok(CommandOutput {
            command_line,
            code: status.code(),
            stdout: collect(stdout),
            stderr: collect(stderr),
        })
    }
}

fn reader_thread(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// `program args…` with each word shell-quoted, as a user would type it.
pub fn command_line(program: &str, args: &[String]) -> String {
    std::iter::once(program)
        .chain(args.iter().map(String::as_str))
        .map(crate::template::shell_quote)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The error and its causes, `: `-joined (what a scheduler command's failure says in full).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runner(timeout_ms: u64) -> CommandRunner {
        CommandRunner::new(CommandConfig {
            timeout: Duration::from_millis(timeout_ms),
            ..Default::default()
        })
    }

    #[test]
    fn captures_and_counts() {
        let r = runner(5000);
        let out = r
            .run(
                "sh",
                &["-c".into(), "echo out; echo err >&2; exit 3".into()],
                None,
            )
            .unwrap();
        assert_eq!(
            (out.code, out.stdout.as_str(), out.stderr.as_str()),
            (Some(3), "out\n", "err\n")
        );
        assert_eq!(
            out.describe(),
            "sh -c 'echo out; echo err >&2; exit 3' failed (exit code 3): err"
        );
        let out = r.run("cat", &[], Some("script")).unwrap();
        assert_eq!(out.stdout, "script");
        assert_eq!(r.count("sh"), 1);
        assert_eq!(r.count("cat"), 1);
        assert_eq!(r.counts().values().sum::<u64>(), 2);
    }

    #[test]
    fn times_out() {
        let started = Instant::now();
        let err = runner(100).run("sleep", &["5".into()], None).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(err.is_ambiguous());
        assert_eq!(
            err.to_string(),
            "sleep 5 did not finish within 0.1 s and was killed"
        );
    }

    #[test]
    fn missing_program() {
        let err = runner(100)
            .run("blockorch-no-such-program", &[], None)
            .unwrap_err();
        assert!(matches!(err, CommandError::Spawn { .. }));
        assert!(!err.is_ambiguous());
    }
}
