//! Facts about processes and hosts used by the ownership protocol and the agents.

use nix::errno::Errno;
use nix::unistd::Pid;

/// This machine's host name as reported by `gethostname(2)` ("unknown" if that fails).
pub fn hostname() -> String {
    match nix::unistd::gethostname() {
        Ok(name) => name.to_string_lossy().into_owned(),
        Err(_) => "unknown".to_string(),
    }
}

/// The id of the current process.
pub fn current_pid() -> u32 {
    std::process::id()
}

/// Whether a process with this pid exists on this host (`kill(pid, 0)`; EPERM counts as alive).
pub fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    match nix::sys::signal::kill(Pid::from_raw(pid), None) {
        Ok(()) => true,
        Err(errno) => errno == Errno::EPERM,
    }
}

/// A process's scheduling state letter (`R`, `S`, `D`, `Z`…) and process group, from
/// `/proc/<pid>/stat` (`None` if the process is gone or `/proc` cannot tell).
pub fn process_state(pid: u32) -> Option<(char, i32)> {
    parse_state_and_group(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// True while process `pid` exists and can still run: a zombie (exited, not reaped — under a
/// PID 1 that does not reap, for ever) counts as gone. Without `/proc`, [`pid_alive`].
pub fn pid_runs(pid: u32) -> bool {
    match process_state(pid) {
        Some((state, _)) => !matches!(state, 'Z' | 'X' | 'x'),
        // With /proc, a stat that cannot be read means the process is gone.
        None if std::path::Path::new("/proc/self/stat").exists() => false,
        None => pid_alive(pid),
    }
}

/// The state letter (field 3) and process group (field 5) of a `/proc/<pid>/stat` line.
fn parse_state_and_group(stat: &str) -> Option<(char, i32)> {
    // The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    let state = fields.next()?.chars().next()?;
    let _ppid = fields.next()?;
    let group = fields.next()?.parse().ok()?;
    Some((state, group))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_with_odd_command_names() {
        let line = "4242 (we ird) (name)) S 1 4240 4240 0 -1 4194560 1 0 0 0";
        assert_eq!(parse_state_and_group(line), Some(('S', 4240)));
        assert_eq!(parse_state_and_group("4242 (x) Z 1 77 77"), Some(('Z', 77)));
        assert_eq!(parse_state_and_group("garbage"), None);
        assert!(pid_runs(std::process::id()));
        assert!(process_state(std::process::id()).is_some());
        assert!(!pid_runs(u32::MAX / 2));
    }

    #[test]
    fn own_pid_is_alive_and_reaped_child_is_not() {
        assert!(pid_alive(current_pid()));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!pid_alive(pid));
        assert!(!pid_alive(0));
        assert!(!pid_alive(u32::MAX));
        assert!(!hostname().is_empty());
    }
}
