//! The programs a dead agent left behind on this host. An agent killed outright (SIGKILL, a
//! crash) cannot stop its programs, and they keep writing their blocks; its blocks may be run
//! again only once those processes are gone. They are recognised by the environment every
//! program inherits from its agent (`BLOCKORCH_LEDGER`, `BLOCKORCH_WORKER_ID`), and only
//! among this user's processes (another user's environment cannot be read).

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

/// Poll interval while waiting for the killed programs to go.
const POLL: Duration = Duration::from_millis(5);

/// Kills every process of this user on this host that was started for worker `worker_id` of
/// the ledger at `ledger` (and is not a zombie), and waits until none is left. Returns how
/// many it found at first.
pub fn stop_leftover_programs(ledger: &Path, worker_id: &str) -> usize {
    let Ok(ledger) = ledger.canonicalize() else {
        return 0;
    };
    let found = programs_of(&ledger, worker_id);
    let mut left = found.clone();
    while !left.is_empty() {
        for &pid in &left {
            // pid > 1 was read from /proc.
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        thread::sleep(POLL);
        left = programs_of(&ledger, worker_id);
    }
    if !found.is_empty() {
        tracing::info!(
            "killed {} leftover process(es) of worker {worker_id} before returning its blocks",
            found.len()
        );
    }
    found.len()
}

/// Live processes whose environment names `ledger` (canonical) and `worker_id`.
fn programs_of(ledger: &Path, worker_id: &str) -> Vec<i32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let me = std::process::id() as i32;
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| pid > 1 && pid != me)
        .filter(|&pid| crate::ledger::pid_runs(pid as u32))
        .filter(|&pid| {
            fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| names_worker(&env, pid, ledger, worker_id))
        })
        .collect()
}

/// True when the NUL-separated environment `env` of process `pid` holds
/// `BLOCKORCH_WORKER_ID=<worker_id>` and a `BLOCKORCH_LEDGER` that resolves to `ledger`.
fn names_worker(env: &[u8], pid: i32, ledger: &Path, worker_id: &str) -> bool {
    let mut id_matches = false;
    let mut ledger_value: Option<PathBuf> = None;
    for var in env.split(|&b| b == 0) {
        let Ok(var) = std::str::from_utf8(var) else {
            continue;
        };
        if let Some(v) = var.strip_prefix("BLOCKORCH_WORKER_ID=") {
            id_matches = v == worker_id;
        } else if let Some(v) = var.strip_prefix("BLOCKORCH_LEDGER=") {
            ledger_value = Some(PathBuf::from(v));
        }
    }
    let Some(value) = ledger_value.filter(|_| id_matches) else {
        return false;
    };
    let value = if value.is_absolute() {
        value
    } else {
        Path::new(&format!("/proc/{pid}/cwd")).join(value)
    };
    value.canonicalize().is_ok_and(|v| v == ledger)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn environment_must_name_both_the_worker_and_the_ledger() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = dir.path().canonicalize().unwrap();
        let me = std::process::id() as i32;
        let env = |id: &str, l: &Path| {
            format!(
                "A=1\0BLOCKORCH_WORKER_ID={id}\0BLOCKORCH_LEDGER={}\0",
                l.display()
            )
        };
        assert!(names_worker(
            env("w1", &ledger).as_bytes(),
            me,
            &ledger,
            "w1"
        ));
        assert!(!names_worker(
            env("w2", &ledger).as_bytes(),
            me,
            &ledger,
            "w1"
        ));
        assert!(!names_worker(
            env("w1", Path::new("/tmp")).as_bytes(),
            me,
            &ledger,
            "w1"
        ));
        assert!(!names_worker(
            b"BLOCKORCH_WORKER_ID=w1\0",
            me,
            &ledger,
            "w1"
        ));
    }

    #[test]
    fn leftover_programs_of_a_worker_are_killed_and_others_spared() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = dir.path();
        let spawn = |id: &str| {
            Command::new("sleep")
                .arg("30")
                .env("BLOCKORCH_WORKER_ID", id)
                .env("BLOCKORCH_LEDGER", ledger)
                .spawn()
                .unwrap()
        };
        let mut victim = spawn("w-dead");
        let mut bystander = spawn("w-alive");
        assert_eq!(stop_leftover_programs(ledger, "w-dead"), 1);
        assert!(victim.wait().unwrap().signal().is_some());
        assert!(
            bystander.try_wait().unwrap().is_none(),
            "another worker's program"
        );
        bystander.kill().unwrap();
        bystander.wait().unwrap();
    }

    use std::os::unix::process::ExitStatusExt;
}
