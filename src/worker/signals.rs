//! SIGTERM and SIGINT (Ctrl-C, `scancel`, SLURM `--signal=B:TERM@…`) and SIGUSR2 (LSF's
//! warning before a run-limit kill): the handler only records the signal; the event loop turns
//! it into an event at its next turn (at most one tick later).

use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use std::sync::atomic::{AtomicI32, Ordering};

/// The last termination signal received (0: none).
static RECEIVED: AtomicI32 = AtomicI32::new(0);

extern "C" fn record(sig: libc::c_int) {
    RECEIVED.store(sig, Ordering::SeqCst);
}

/// Installed handlers; dropping restores the previous ones.
pub struct SignalGuard {
    previous: Vec<(Signal, SigAction)>,
}

impl SignalGuard {
    /// Installs the recording handler for SIGTERM, SIGINT and SIGUSR2.
    pub fn install() -> std::io::Result<Self> {
        RECEIVED.store(0, Ordering::SeqCst);
        let action = SigAction::new(
            SigHandler::Handler(record),
            SaFlags::SA_RESTART,
            SigSet::empty(),
        );
        let mut previous = Vec::new();
        for sig in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGUSR2] {
            // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
            let old = unsafe { sigaction(sig, &action) }?;
            previous.push((sig, old));
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
            let _ = unsafe { sigaction(*sig, old) };
        }
    }
}
