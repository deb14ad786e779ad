//! Whether the ledger is on a local disk or on a shared file system (NFS, Lustre, GPFS, a
//! FUSE layer…), where every metadata operation is a round trip to a server shared by the
//! whole cluster. Decided from `statfs`'s file system type; `BLOCKORCH_LEDGER_FS=local` or
//! `=shared` overrides it (a local file system this list does not know, or a test that wants
//! the shared schedule on a local disk).

use std::path::Path;

/// Overrides the detection: `local` or `shared`.
pub const LEDGER_FS_ENV: &str = "BLOCKORCH_LEDGER_FS";

/// Where a ledger lives, as far as polling is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LedgerFs {
    /// A disk of this machine (ext4, xfs, btrfs, tmpfs, …): metadata operations reach no
    /// server and cost nothing to anyone else.
    Local,
    /// Anything else: metadata operations are budgeted.
    Shared,
}

/// `statfs` magic numbers of file systems that are local to the machine (linux/magic.h).
const LOCAL_MAGICS: &[i64] = &[
    0xEF53,      // ext2/3/4
    0x5846_5342, // xfs
    0x9123_683E, // btrfs
    0x0102_1994, // tmpfs
    0x8584_58F6, // ramfs
    0x794C_7630, // overlayfs
    0x2FC1_2FC1, // zfs
    0xF2F5_2010, // f2fs
    0xCA45_1A4E, // bcachefs
    0x5265_4973, // reiserfs
    0x3153_464A, // jfs
];

impl LedgerFs {
    /// The kind of file system `path` is on (the override first; a path that cannot be
    /// examined counts as shared, the polite guess).
    pub fn of(path: &Path) -> Self {
        match std::env::var(LEDGER_FS_ENV).ok().as_deref() {
            Some("local") => return Self::Local,
            Some("shared") => return Self::Shared,
            _ => {}
        }
        match nix::sys::statfs::statfs(path) {
            Ok(fs) if is_local_magic(fs.filesystem_type().0) => Self::Local,
            _ => Self::Shared,
        }
    }

    /// The kind of file system a ledger at `path` is or will be on: that of `path`'s nearest
    /// existing ancestor (a ledger not created yet lands on its parent's file system).
    pub fn of_planned(path: &Path) -> Self {
        let existing = path.ancestors().find(|p| p.exists()).unwrap_or(path);
        Self::of(existing)
    }
}

/// Whether a `statfs` type (its width differs between architectures) is a local disk's.
#[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
fn is_local_magic(magic: impl Into<i64>) -> bool {
    LOCAL_MAGICS.contains(&magic.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_is_not_a_local_disk_and_a_missing_path_counts_as_shared() {
        if std::env::var(LEDGER_FS_ENV).is_ok() {
            return;
        }
        // procfs is not in the list: whatever is not known to be a local disk is budgeted.
        assert_eq!(LedgerFs::of(Path::new("/proc")), LedgerFs::Shared);
        assert_eq!(
            LedgerFs::of(Path::new("/surely/not/a/path/here")),
            LedgerFs::Shared
        );
        let dir = tempfile::tempdir().unwrap();
        let kind = LedgerFs::of(dir.path());
        let magic = nix::sys::statfs::statfs(dir.path())
            .unwrap()
            .filesystem_type()
            .0;
        assert_eq!(kind == LedgerFs::Local, is_local_magic(magic));
    }
}
