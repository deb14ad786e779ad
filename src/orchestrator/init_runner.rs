//! Runs a task's `init.command` once, in the background, and reports its result.

use crate::task::CommandSpec;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{channel, Receiver, TryRecvError};
use std::thread;

/// Result of one init run.
#[derive(Clone, Debug)]
pub struct InitResult {
    /// Exit 0.
    pub ok: bool,
    /// The last lines of its combined output (or the reason it could not start).
    pub output_tail: String,
}

/// An init command running in a thread.
pub struct InitRun {
    receiver: Receiver<InitResult>,
}

impl InitRun {
    /// Starts `spec` in `workdir`, logging to `log`.
    pub fn start(
        spec: &CommandSpec,
        task: &str,
        workdir: &Path,
        ledger: &Path,
        log: PathBuf,
    ) -> Self {
        let (sender, receiver) = channel();
        let spec = spec.clone();
        let task = task.to_string();
        let workdir = workdir.to_path_buf();
        let ledger = ledger.to_path_buf();
        thread::spawn(move || {
            let _ = sender.send(run(&spec, &task, &workdir, &ledger, &log));
        });
        Self { receiver }
    }

    /// The result, once it has finished.
    pub fn poll(&self) -> Option<InitResult> {
        match self.receiver.try_recv() {
            Ok(result) => Some(result),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => Some(InitResult {
                ok: false,
                output_tail: "the init runner thread died".into(),
            }),
        }
    }
}

fn run(spec: &CommandSpec, task: &str, workdir: &Path, ledger: &Path, log: &Path) -> InitResult {
    let Some((program, args)) = spec.command.split_first() else {
        return InitResult {
            ok: false,
            output_tail: "init.command is empty".into(),
        };
    };
    let mut command = Command::new(program);
    command
        .args(args)
        .current_dir(workdir)
        .envs(&spec.env)
        .env("BLOCKORCH_TASK", task)
        .env("BLOCKORCH_LEDGER", ledger)
        .stdin(Stdio::null());
    // An init must not outlive its orchestrator: after a kill -9 or Ctrl-C the next `submit`
    // runs it again (its success was not recorded), and two inits must never overlap.
    let parent = nix::unistd::getpid();
    let user_umask = crate::ledger::user_umask()
        .map(|mask| nix::sys::stat::Mode::from_bits_truncate(mask as nix::libc::mode_t));
    // SAFETY: the closure only calls async-signal-safe functions (prctl, getppid, umask).
    unsafe {
        command.pre_exec(move || {
            // The init creates the task's outputs: with the user's umask, not blockorch's.
            if let Some(mask) = user_umask {
                nix::sys::stat::umask(mask);
            }
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)?;
            if nix::unistd::getppid() != parent {
                return Err(std::io::Error::other("the orchestrator is gone"));
            }
            Ok(())
        });
    }
    let output = command.output();
    match output {
        Ok(out) => {
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            if let Some(dir) = log.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let _ = std::fs::write(log, &text);
            let status = match out.status.code() {
                Some(code) => format!("exit code {code}"),
                None => "killed by a signal".to_string(),
            };
            let mut tail = tail_lines(&text, 20);
            if !out.status.success() {
                tail = format!("{status}; output:\n{tail}");
            }
            InitResult {
                ok: out.status.success(),
                output_tail: tail,
            }
        }
        Err(err) => InitResult {
            ok: false,
            output_tail: format!(
                "could not start {program:?} in {}: {err}",
                workdir.display()
            ),
        },
    }
}

/// The last `n` lines of `text`.
pub fn tail_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
