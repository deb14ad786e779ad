//! SIGTERM and SIGINT (Ctrl-C, `scancel`, SLURM `--signal=B:TERM@…`) and SIGUSR2 (LSF's
//! warning before a run-limit kill): the handler only records the signal; the event loop turns
//! it into an event at its next turn (at most one tick later).

use std::sync::atomic::{AtomicI32, Ordering};

/// The last termination signal received (0: none).
static RECEIVED: AtomicI32 = AtomicI32::new(0);

extern "C" fn record(sig: libc::c_int) {
    RECEIVED.store(sig, Ordering::SeqCst);
}

/// Installed handlers; dropping restores the previous ones.
pub struct SignalGuard {
    previous: Vec<(libc::c_int, libc::sigaction)>,
}

impl SignalGuard {
    /// Installs the recording handler for SIGTERM, SIGINT and SIGUSR2.
    pub fn install() -> std::io::Result<Self> {
        RECEIVED.store(0, Ordering::SeqCst);
        let mut previous = Vec::new();
        for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGUSR2] {
            // SAFETY: a zeroed sigaction is valid; the handler only stores to an atomic, which
            // is async-signal-safe.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = record as extern "C" fn(libc::c_int) as usize;
                action.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut action.sa_mask);
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(sig, &action, &mut old) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                previous.push((sig, old));
            }
        }
        Ok(Self { previous })
    }

    /// The termination signal received since installation, if any (reported once).
    pub fn take(&self) -> Option<i32> {
        match RECEIVED.swap(0, Ordering::SeqCst) {
            0 => None,
            sig => Some(sig),
        }
    }
}

impl Drop for SignalGuard {
    fn drop(&mut self) {
        for (sig, old) in &self.previous {
            // SAFETY: restoring a sigaction previously returned by the kernel.
            unsafe {
                libc::sigaction(*sig, old, std::ptr::null_mut());
            }
        }
    }
}
