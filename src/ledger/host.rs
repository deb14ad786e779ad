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

#[cfg(test)]
mod tests {
    use super::*;

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
