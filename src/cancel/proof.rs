//! Proving that a pid read from a ledger is a blockorch process of this user and this ledger
//! before `cancel` signals it: a pid in a ledger is only a claim (it may be stale, reused, or
//! forged by whoever could write the file).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Why a pid is not signalled.
pub type NotProven = String;

/// `Ok` if process `pid` runs as this user, its program is named `blockorch…`, its command
/// line contains every string of `args`, and it holds a file inside `dir` open (agents their
/// `workers/<id>/` logs, the orchestrator its epoch log). Needs Linux's `/proc`; without it
/// nothing can be proven and nothing is signalled.
pub fn prove_ours(pid: u32, dir: &Path, args: &[&str]) -> Result<(), NotProven> {
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    if !Path::new("/proc/self/fd").exists() {
        return Err("/proc is not available to check what the process is".into());
    }
    let meta = std::fs::metadata(&proc_dir).map_err(|_| format!("its process {pid} is gone"))?;
    // SAFETY: geteuid cannot fail.
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != me {
        return Err(format!(
            "pid {pid} runs as uid {}, not as you (uid {me})",
            meta.uid()
        ));
    }
    let argv = cmdline(pid).ok_or_else(|| format!("pid {pid} has no readable command line"))?;
    let program = argv
        .first()
        .and_then(|a| Path::new(a).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !program.starts_with("blockorch") {
        return Err(format!(
            "pid {pid} is now another program ({program:?}), not blockorch"
        ));
    }
    if let Some(missing) = args.iter().find(|a| !argv.iter().any(|x| x == *a)) {
        return Err(format!(
            "pid {pid} is another blockorch process (its command line lacks {missing:?})"
        ));
    }
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    if !holds_file_in(&proc_dir, &dir) {
        return Err(format!(
            "pid {pid} has no file of {} open: it is not a process of this ledger",
            dir.display()
        ));
    }
    Ok(())
}

/// The arguments of `pid`, waiting briefly while it is in the middle of an exec.
fn cmdline(pid: u32) -> Option<Vec<String>> {
    for _ in 0..5 {
        match std::fs::read(format!("/proc/{pid}/cmdline")) {
            Ok(bytes) if bytes.is_empty() => std::thread::sleep(Duration::from_millis(20)),
            Ok(bytes) => {
                return Some(
                    bytes
                        .split(|&b| b == 0)
                        .filter(|a| !a.is_empty())
                        .map(|a| String::from_utf8_lossy(a).into_owned())
                        .collect(),
                )
            }
            Err(_) => return None,
        }
    }
    None
}

/// Whether one of the open files of the process at `proc_dir` lies inside `dir`.
fn holds_file_in(proc_dir: &Path, dir: &Path) -> bool {
    let Ok(fds) = std::fs::read_dir(proc_dir.join("fd")) else {
        return false;
    };
    fds.filter_map(Result::ok)
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .any(|target| target.starts_with(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unrelated_process_of_this_user_is_not_proven() {
        let dir = tempfile::tempdir().unwrap();
        let mut sleep = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let err = prove_ours(sleep.id(), dir.path(), &[]).unwrap_err();
        assert!(err.contains("not blockorch"), "{err}");
        sleep.kill().unwrap();
        sleep.wait().unwrap();
        let err = prove_ours(sleep.id(), dir.path(), &[]).unwrap_err();
        assert!(err.contains("gone"), "{err}");
    }
}
