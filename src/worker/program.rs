//! Starting and stopping worker processes: each runs in its own process group (so a timeout
//! or a shutdown reaches its children too), with stdout/stderr appended to log files, an
//! optional stdin pipe and an optional report pipe on file descriptor 3.

use super::usage::{from_rusage, Usage};
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::sys::signal::{killpg, Signal};
use nix::sys::stat::Mode;
use nix::unistd::Pid;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// The file descriptor a persistent program reports on.
pub const REPORT_FD: RawFd = 3;

/// What to start.
#[derive(Clone, Debug)]
pub struct Launch {
    /// Program and arguments; a relative program containing `/` resolves against `cwd`,
    /// a bare name is looked up in `PATH`.
    pub argv: Vec<String>,
    /// Environment added to the agent's own.
    pub env: Vec<(String, String)>,
    /// Working directory.
    pub cwd: PathBuf,
    /// Log file stdout is appended to.
    pub stdout_log: PathBuf,
    /// Log file stderr is appended to.
    pub stderr_log: PathBuf,
    /// Give the program a stdin pipe (otherwise stdin is `/dev/null`).
    pub stdin_pipe: bool,
    /// Give the program a report pipe on fd 3.
    pub report_pipe: bool,
}

/// A started process.
#[derive(Debug)]
pub struct Started {
    /// Process id, also its process group id.
    pub pid: i32,
    /// Write end of its stdin (non-blocking), if requested.
    pub stdin: Option<ChildStdin>,
    /// Read end of its fd-3 report pipe, if requested.
    pub report: Option<File>,
    /// Size of the stderr log when the process started: its own stderr begins there.
    pub stderr_start: u64,
}

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Exit {
    /// Exit code, when it exited.
    pub code: Option<i32>,
    /// Signal number, when a signal ended it.
    pub signal: Option<i32>,
    /// Its resource use (including waited-for descendants).
    pub usage: Usage,
}

impl Exit {
    /// True for exit code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// `exit code 3` or `signal 9 (SIGKILL)`.
    pub fn describe(&self) -> String {
        match (self.code, self.signal) {
            (Some(code), _) => format!("exit code {code}"),
            (None, Some(sig)) => format!("signal {sig} ({})", signal_name(sig)),
            (None, None) => "an unknown status".to_owned(),
        }
    }
}

/// A conventional name for common signals.
pub fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        libc::SIGUSR1 => "SIGUSR1",
        libc::SIGUSR2 => "SIGUSR2",
        libc::SIGXCPU => "SIGXCPU",
        _ => "signal",
    }
}

fn append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// A close-on-exec pipe whose ends are both above fd 2, so `dup2(.., 3)` in the child never
/// collides with the standard streams.
fn report_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    Ok((above_stdio(r)?, above_stdio(w)?))
}

fn above_stdio(fd: OwnedFd) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() > 3 {
        return Ok(fd);
    }
    let new = fcntl(&fd, FcntlArg::F_DUPFD_CLOEXEC(4))?;
    // SAFETY: F_DUPFD_CLOEXEC just created `new`; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

fn set_nonblocking(fd: impl AsFd) -> io::Result<()> {
    let flags = OFlag::from_bits_retain(fcntl(&fd, FcntlArg::F_GETFL)?);
    fcntl(&fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}

/// The program path to execute: relative paths with a `/` are taken from `cwd`.
fn resolve_program(program: &str, cwd: &Path) -> PathBuf {
    let path = Path::new(program);
    if path.is_relative() && program.contains('/') {
        cwd.join(path)
    } else {
        path.to_path_buf()
    }
}

/// Starts a process as described by `launch`, in a new process group.
pub fn spawn(launch: &Launch) -> io::Result<Started> {
    let Some(program) = launch.argv.first() else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the command is empty",
        ));
    };
    let stdout = append(&launch.stdout_log)?;
    let stderr = append(&launch.stderr_log)?;
    let stderr_start = stderr.metadata().map(|m| m.len()).unwrap_or(0);
    let mut command = Command::new(resolve_program(program, &launch.cwd));
    command
        .args(&launch.argv[1..])
        .current_dir(&launch.cwd)
        .envs(launch.env.iter().map(|(k, v)| (k, v)))
        .stdin(if launch.stdin_pipe {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(stdout)
        .stderr(stderr)
        .process_group(0);
    if let Some(mask) = crate::ledger::user_umask() {
        // The program creates the task's outputs: with the user's umask, not blockorch's.
        // SAFETY: umask(2) is async-signal-safe and cannot fail.
        unsafe {
            command.pre_exec(move || {
                nix::sys::stat::umask(Mode::from_bits_truncate(mask as libc::mode_t));
                Ok(())
            });
        }
    }
    let pipe = if launch.report_pipe {
        Some(report_pipe()?)
    } else {
        None
    };
    if let Some((_, write)) = &pipe {
        let w = write.as_raw_fd();
        // SAFETY: the closure only calls async-signal-safe functions (dup2). `w` stays open
        // until the child has exec'd (the parent drops it after spawn); fd 3 is handed to
        // the program, so the descriptor dup2 returns is released, never closed.
        unsafe {
            command.pre_exec(move || {
                // dup2 gives fd 3 without close-on-exec; w > 3 so they never coincide.
                let fd3 = nix::unistd::dup2_raw(BorrowedFd::borrow_raw(w), REPORT_FD)?;
                let _ = fd3.into_raw_fd();
                Ok(())
            });
        }
    }
    let mut child = command.spawn().map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot start {program:?} in {}: {e}", launch.cwd.display()),
        )
    })?;
    let stdin = child.stdin.take();
    if let Some(stdin) = &stdin {
        set_nonblocking(stdin)?;
    }
    // The write end is dropped here: the program holds the only copy, so EOF on the read end
    // means the program (and its children) closed fd 3.
    let report = pipe.map(|(read, _write)| File::from(read));
    Ok(Started {
        pid: child.id() as i32,
        stdin,
        report,
        stderr_start,
    })
}

/// Waits for process `pid` to end (blocking) and returns its status and resource use.
pub fn wait_exit(pid: i32) -> io::Result<Exit> {
    // Raw libc: nix has no wait4, and only wait4 gives the resource use of this one child.
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data; zeroed is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: valid pointers to a status int and a rusage struct.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        if r == pid {
            break;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
    let status = std::process::ExitStatus::from_raw(status);
    Ok(Exit {
        code: status.code(),
        signal: status.signal(),
        usage: from_rusage(&ru),
    })
}

/// Sends `signal` (0: none, only check) to every process of group `pgid`; false if the group
/// no longer exists (or `signal` is not a signal).
pub fn signal_group(pgid: i32, signal: i32) -> bool {
    // pgid > 1 never targets everything.
    if pgid <= 1 {
        return false;
    }
    let signal = match signal {
        0 => None,
        n => match Signal::try_from(n) {
            Ok(signal) => Some(signal),
            Err(_) => return false,
        },
    };
    killpg(Pid::from_raw(pgid), signal).is_ok()
}

/// True while some process of group `pgid` exists.
pub fn group_exists(pgid: i32) -> bool {
    signal_group(pgid, 0)
}

/// Terminates process group `pgid` in the background: SIGTERM now, SIGKILL to whatever is
/// left after `grace`.
pub fn terminate_group(pgid: i32, grace: Duration) {
    if !signal_group(pgid, libc::SIGTERM) {
        return;
    }
    let spawned = thread::Builder::new()
        .name(format!("terminate-{pgid}"))
        .spawn(move || {
            let until = Instant::now() + grace;
            while Instant::now() < until {
                if !group_exists(pgid) {
                    return;
                }
                thread::sleep(Duration::from_millis(10));
            }
            signal_group(pgid, libc::SIGKILL);
        });
    if spawned.is_err() {
        signal_group(pgid, libc::SIGKILL);
    }
}

/// The last `max` bytes of `path` written since byte `from`, as text (lossy), trimmed.
pub fn log_tail(path: &Path, from: u64, max: u64) -> String {
    let Ok(mut file) = File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = from.max(len.saturating_sub(max));
    if start >= len || file.seek(SeekFrom::Start(start)).is_err() {
        return String::new();
    }
    let mut bytes = Vec::new();
    if file.take(max).read_to_end(&mut bytes).is_err() {
        return String::new();
    }
    let text = String::from_utf8_lossy(&bytes);
    let text = text.trim();
    if start > from {
        format!("…{text}")
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};

    /// True if process `pid` exists and is not a zombie.
    pub fn process_running(pid: i32) -> bool {
        crate::ledger::pid_runs(pid as u32)
    }

    fn launch(dir: &Path, script: &str, stdin: bool, report: bool) -> Launch {
        Launch {
            argv: vec!["sh".into(), "-c".into(), script.into()],
            env: vec![("GREETING".into(), "hi".into())],
            cwd: dir.to_path_buf(),
            stdout_log: dir.join("out.log"),
            stderr_log: dir.join("err.log"),
            stdin_pipe: stdin,
            report_pipe: report,
        }
    }

    #[test]
    fn report_pipe_stdin_env_and_logs() {
        let dir = tempfile::tempdir().unwrap();
        let script = "read line; echo \"got $line $GREETING\"; echo oops >&2; \
                      echo \"{\\\"block_id\\\": $line}\" >&3; pwd";
        let mut started = spawn(&launch(dir.path(), script, true, true)).unwrap();
        writeln!(started.stdin.as_mut().unwrap(), "5").unwrap();
        let mut line = String::new();
        BufReader::new(started.report.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "{\"block_id\": 5}");
        let exit = wait_exit(started.pid).unwrap();
        assert!(exit.success());
        assert!(exit.usage.peak_rss_bytes.unwrap() > 0);
        let out = std::fs::read_to_string(dir.path().join("out.log")).unwrap();
        assert!(out.starts_with("got 5 hi\n"), "{out}");
        assert!(out.contains(dir.path().file_name().unwrap().to_str().unwrap()));
        assert_eq!(log_tail(&dir.path().join("err.log"), 0, 100), "oops");
    }

    #[test]
    fn terminate_reaches_grandchildren() {
        let dir = tempfile::tempdir().unwrap();
        let script = "sleep 30 & echo $! > child.pid; wait";
        let started = spawn(&launch(dir.path(), script, false, false)).unwrap();
        let pid_file = dir.path().join("child.pid");
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::fs::read_to_string(&pid_file).map_or(true, |s| !s.ends_with('\n')) {
            assert!(Instant::now() < deadline);
            thread::sleep(Duration::from_millis(5));
        }
        let grandchild: i32 = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        terminate_group(started.pid, Duration::from_secs(2));
        let exit = wait_exit(started.pid).unwrap();
        assert_eq!(exit.signal, Some(libc::SIGTERM));
        let deadline = Instant::now() + Duration::from_secs(5);
        while process_running(grandchild) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        assert!(!process_running(grandchild), "grandchild sleep survived");
    }

    #[test]
    fn missing_program_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = launch(dir.path(), "", false, false);
        l.argv = vec!["./no-such-program".into()];
        let err = spawn(&l).unwrap_err().to_string();
        assert!(err.contains("no-such-program"), "{err}");
    }

    #[test]
    fn log_tail_only_covers_the_new_part() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e.log");
        std::fs::write(&p, "old stuff\nnew 1\nnew 2\n").unwrap();
        assert_eq!(log_tail(&p, 10, 1000), "new 1\nnew 2");
        assert_eq!(log_tail(&p, 0, 6), "…new 2");
        assert_eq!(log_tail(&dir.path().join("none"), 0, 6), "");
    }
}
