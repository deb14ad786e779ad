//! Whose ledger this is: a ledger is trusted only if every entry in it is owned by this user
//! and writable by nobody else — or, when the user allows a shared group
//! ([`TrustPolicy::SharedGroup`]), by members of one of the user's groups. Anyone else who
//! could write into it could forge results or change the command that runs (see the trust
//! section of docs/design/ledger.md).

use nix::sys::stat::{umask, Mode};
use nix::unistd::{getegid, geteuid, getgroups, Uid, User};
use std::fs::{self, Metadata};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::error::{io_err, LedgerError, Result};
use super::layout::{Layout, WorkerId};

/// Environment variable that allows a shared group (`1`); `submit --shared-group` sets it.
pub const SHARED_GROUP_ENV: &str = "BLOCKORCH_SHARED_GROUP";
/// Environment variable carrying the user's own umask (octal) to the processes blockorch
/// starts, so that the task's programs create their outputs with it.
pub const USER_UMASK_ENV: &str = "BLOCKORCH_USER_UMASK";

/// Deepest nesting inspected below the ledger root (`logs/slurm/<task>/<file>` is 4).
const MAX_DEPTH: usize = 6;

/// Who besides this user may have written a ledger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrustPolicy {
    /// Nobody: every entry owned by this user, none writable by group or others.
    Private,
    /// Members of the user's groups too: entries may be owned by another user or be
    /// group-writable if their group is one of this user's groups; never writable by others.
    SharedGroup,
}

impl TrustPolicy {
    /// `SharedGroup` if [`SHARED_GROUP_ENV`] is `1` (or `true`/`yes`), else `Private`.
    pub fn from_env() -> Self {
        match std::env::var(SHARED_GROUP_ENV) {
            Ok(v) if matches!(v.trim(), "1" | "true" | "yes") => Self::SharedGroup,
            _ => Self::Private,
        }
    }
}

/// Which part of a ledger a process relies on.
#[derive(Clone, Debug)]
pub enum Scope<'a> {
    /// Everything (orchestrator, status, cancel).
    Whole,
    /// The root, its top-level entries and directories, and one worker's directory (an agent).
    Worker(&'a WorkerId),
    /// The root, its top-level entries, `owners/` and `orchestrator/` (a status that reads
    /// what the orchestrator recorded).
    Orchestrator,
}

/// Sets this process's umask so that what it creates is never writable by others, nor by
/// the group unless `policy` is `SharedGroup` (then directories and files are group-writable).
/// The user's own umask is kept in [`USER_UMASK_ENV`] for the task's programs (see
/// [`user_umask`]). Call it before starting threads.
pub fn restrict_umask(policy: TrustPolicy) {
    let current = umask(Mode::from_bits_truncate(0o022)).bits() as u32;
    if user_umask().is_none() {
        std::env::set_var(USER_UMASK_ENV, format!("{current:03o}"));
    }
    let forced = match policy {
        TrustPolicy::Private => current | 0o022,
        TrustPolicy::SharedGroup => (current | 0o002) & !0o020,
    };
    umask(Mode::from_bits_truncate(forced as libc::mode_t));
}

/// The umask the user started blockorch with, if [`restrict_umask`] recorded one.
pub fn user_umask() -> Option<u32> {
    let text = std::env::var(USER_UMASK_ENV).ok()?;
    u32::from_str_radix(text.trim(), 8)
        .ok()
        .filter(|m| *m <= 0o777)
}

/// In `SharedGroup` mode, makes a new ledger root setgid so that everything created in it
/// gets its group whoever creates it.
pub(crate) fn prepare_new_root(root: &Path, policy: TrustPolicy) -> Result<()> {
    if policy == TrustPolicy::SharedGroup {
        use std::os::unix::fs::PermissionsExt;
        let meta = fs::metadata(root).map_err(io_err("stat", root))?;
        let mode = (meta.mode() & 0o777) | 0o2000 | 0o070;
        fs::set_permissions(root, fs::Permissions::from_mode(mode))
            .map_err(io_err("set permissions of", root))?;
    }
    Ok(())
}

/// Refuses the ledger at `layout` ([`LedgerError::Untrusted`]) if an entry in `scope` could
/// have been written by someone `policy` does not trust. Symbolic links are judged by their
/// owner (their mode means nothing) and never followed, except a link at the root itself.
pub(crate) fn check(layout: &Layout, policy: TrustPolicy, scope: &Scope<'_>) -> Result<()> {
    let judge = Judge::new(policy);
    let root = layout.root();
    let meta = match fs::symlink_metadata(root) {
        Ok(m) => m,
        // Nothing to trust; opening it reports that it is not a ledger.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err("stat", root)(e)),
    };
    judge.entry(root, &meta)?;
    if meta.file_type().is_symlink() {
        let target = fs::metadata(root).map_err(io_err("stat", root))?;
        judge.entry(root, &target)?;
    }
    match scope {
        Scope::Whole => judge.tree(root, 0),
        Scope::Orchestrator => {
            judge.children(root)?;
            for dir in [layout.owners_dir(), layout.orchestrator_dir()] {
                let real_dir = fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir());
                if real_dir {
                    judge.children(&dir)?;
                }
            }
            Ok(())
        }
        Scope::Worker(worker) => {
            judge.children(root)?;
            for dir in [
                layout.owners_dir(),
                layout.orchestrator_dir(),
                layout.workers_dir(),
                layout.snapshots_dir(),
                layout.worker_dir(worker),
            ] {
                // A link among them was judged by its owner above and is never followed,
                // as in the whole-ledger check.
                let real_dir = fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir());
                if real_dir {
                    judge.children(&dir)?;
                }
            }
            Ok(())
        }
    }
}

/// Who this process is, and the policy.
struct Judge {
    policy: TrustPolicy,
    uid: u32,
    groups: Vec<u32>,
}

impl Judge {
    fn new(policy: TrustPolicy) -> Self {
        let (uid, gid) = (geteuid().as_raw(), getegid().as_raw());
        let mut groups = vec![gid];
        groups.extend(getgroups().unwrap_or_default().iter().map(|g| g.as_raw()));
        Self {
            policy,
            uid,
            groups,
        }
    }

    fn shared_group(&self, gid: u32) -> bool {
        self.policy == TrustPolicy::SharedGroup && self.groups.contains(&gid)
    }

    /// Checks one entry.
    fn entry(&self, path: &Path, meta: &Metadata) -> Result<()> {
        let mode = meta.mode() & 0o7777;
        let untrusted = |reason: String| {
            Err(LedgerError::Untrusted {
                path: path.to_path_buf(),
                reason,
            })
        };
        if meta.uid() != self.uid && !self.shared_group(meta.gid()) {
            return untrusted(format!(
                "it is owned by {}, not by you ({}; mode {mode:04o})",
                user_name(meta.uid()),
                user_name(self.uid)
            ));
        }
        if meta.file_type().is_symlink() {
            return Ok(());
        }
        if mode & 0o002 != 0 {
            return untrusted(format!(
                "it is writable by every user (mode {mode:04o}, owner {})",
                user_name(meta.uid())
            ));
        }
        if mode & 0o020 != 0 && !self.shared_group(meta.gid()) {
            return untrusted(format!(
                "it is writable by group {} (mode {mode:04o}, owner {})",
                meta.gid(),
                user_name(meta.uid())
            ));
        }
        Ok(())
    }

    /// Checks the entries of `dir` (a missing directory has none) and returns its
    /// subdirectories.
    fn children(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        let entries = match fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err("list directory", dir)(e)),
        };
        let mut subdirs = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_err("list directory", dir))?;
            let path = entry.path();
            let meta = match fs::symlink_metadata(&path) {
                Ok(m) => m,
                // Removed meanwhile (a temporary file renamed into place).
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io_err("stat", &path)(e)),
            };
            self.entry(&path, &meta)?;
            if meta.is_dir() {
                subdirs.push(path);
            }
        }
        Ok(subdirs)
    }

    /// Checks everything below `dir` down to [`MAX_DEPTH`].
    fn tree(&self, dir: &Path, depth: usize) -> Result<()> {
        let subdirs = self.children(dir)?;
        if depth + 1 < MAX_DEPTH {
            for sub in subdirs {
                self.tree(&sub, depth + 1)?;
            }
        }
        Ok(())
    }
}

/// `alice (uid 1000)`, or `uid 1000` when the name is unknown.
fn user_name(uid: u32) -> String {
    match User::from_uid(Uid::from_raw(uid)) {
        Ok(Some(user)) if !user.name.is_empty() => format!("{} (uid {uid})", user.name),
        _ => format!("uid {uid}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn chmod(path: &Path, mode: u32) {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn group_or_other_writable_entries_are_refused_unless_shared() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        chmod(dir.path(), 0o755);
        fs::create_dir(layout.workers_dir()).unwrap();
        let deep = layout.workers_dir().join("w1");
        fs::create_dir(&deep).unwrap();
        let file = deep.join("outbox.log");
        fs::write(&file, b"").unwrap();
        chmod(&file, 0o644);
        assert!(check(&layout, TrustPolicy::Private, &Scope::Whole).is_ok());

        chmod(&file, 0o664);
        let err = check(&layout, TrustPolicy::Private, &Scope::Whole).unwrap_err();
        assert!(matches!(&err, LedgerError::Untrusted { path, .. } if path == &file));
        assert!(err.to_string().contains("writable by group"), "{err}");
        assert!(err.to_string().contains("0664"), "{err}");
        // This user's own primary group is one of its groups.
        assert!(check(&layout, TrustPolicy::SharedGroup, &Scope::Whole).is_ok());

        chmod(&file, 0o646);
        let err = check(&layout, TrustPolicy::SharedGroup, &Scope::Whole).unwrap_err();
        assert!(err.to_string().contains("writable by every user"), "{err}");

        // An agent of another worker does not look into w1.
        chmod(&file, 0o664);
        let other = WorkerId::new("w2").unwrap();
        assert!(check(&layout, TrustPolicy::Private, &Scope::Worker(&other)).is_ok());
        let own = WorkerId::new("w1").unwrap();
        assert!(check(&layout, TrustPolicy::Private, &Scope::Worker(&own)).is_err());
    }

    #[test]
    fn a_group_writable_root_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        chmod(dir.path(), 0o775);
        let err = check(
            &Layout::new(dir.path()),
            TrustPolicy::Private,
            &Scope::Whole,
        )
        .unwrap_err();
        assert!(matches!(&err, LedgerError::Untrusted { path, .. } if path == dir.path()));
    }

    #[test]
    fn users_are_named_with_their_uid() {
        assert_eq!(user_name(0), "root (uid 0)");
        assert_eq!(user_name(3_999_999_999), "uid 3999999999");
    }
}
