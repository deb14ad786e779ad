//! File-system primitives with the durability and atomicity the ledger relies on:
//! write-then-rename, exclusive publication by `link(2)`, directory fsync, ESTALE retries.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::error::{io_err, Result};
use super::host::{current_pid, hostname};
use super::time::now_us;

/// How often an NFS "stale file handle" is retried (a renamed-over file seen through a cached
/// name).
const ESTALE_RETRIES: usize = 3;

/// Opens a file for reading, retrying ESTALE.
pub(crate) fn open_read(path: &Path) -> io::Result<File> {
    let mut attempt = 0;
    loop {
        match File::open(path) {
            Err(e) if is_estale(&e) && attempt < ESTALE_RETRIES => attempt += 1,
            other => return other,
        }
    }
}

/// Reads a whole small file, retrying ESTALE.
pub(crate) fn read_small(path: &Path) -> io::Result<Vec<u8>> {
    let mut attempt = 0;
    loop {
        match fs::read(path) {
            Err(e) if is_estale(&e) && attempt < ESTALE_RETRIES => attempt += 1,
            other => return other,
        }
    }
}

fn is_estale(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ESTALE)
}

/// Fsyncs a directory so that entries created or renamed in it survive a crash.
/// File systems that cannot fsync a directory (EINVAL) are accepted as they are.
pub(crate) fn fsync_dir(dir: &Path) -> Result<()> {
    let f = File::open(dir).map_err(io_err("open directory", dir))?;
    match f.sync_all() {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(()),
        other => other.map_err(io_err("fsync directory", dir)),
    }
}

/// The parent directory of a ledger file path.
pub(crate) fn parent(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new("."))
}

/// A temporary name beside `path` that no other process uses.
fn unique_tmp(path: &Path, what: &str) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    parent(path).join(format!(
        ".{name}.{what}-{}-{}-{}-{n}",
        hostname(),
        current_pid(),
        now_us()
    ))
}

/// Replaces `path` by `bytes` atomically: write a temporary file beside it, then rename.
/// With `durable`, the file is fsynced before and the directory after the rename; without,
/// a crash may leave the old content (used for heartbeats, where old means "stale").
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], durable: bool) -> Result<()> {
    let tmp = unique_tmp(path, "tmp");
    let written = (|| -> Result<()> {
        let mut f = File::create(&tmp).map_err(io_err("create", &tmp))?;
        f.write_all(bytes).map_err(io_err("write", &tmp))?;
        if durable {
            f.sync_all().map_err(io_err("fsync", &tmp))?;
        }
        fs::rename(&tmp, path).map_err(io_err("rename into place", path))
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written?;
    if durable {
        fsync_dir(parent(path))?;
    }
    Ok(())
}

/// Creates `path` with `bytes` only if it does not exist yet; `Ok(true)` if this call created
/// it. Never shows a partially written file: the content is written and fsynced under a
/// temporary name and published with `link(2)`, which fails if the name exists (atomic on NFS,
/// Lustre and GPFS). If the reply of a retransmitted NFS `link` is lost, the link count of the
/// temporary file tells whether this call won. File systems without hard links fall back to
/// `O_CREAT|O_EXCL` (then a reader can briefly see an empty file).
pub(crate) fn publish_exclusive(path: &Path, bytes: &[u8]) -> Result<bool> {
    let tmp = unique_tmp(path, "new");
    let mut f = File::create(&tmp).map_err(io_err("create", &tmp))?;
    let prepared = f
        .write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(io_err("write", &tmp));
    if let Err(e) = prepared {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    let linked = fs::hard_link(&tmp, path);
    let created = match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            Ok(fs::metadata(&tmp).map(|m| m.nlink() == 2).unwrap_or(false))
        }
        Err(e) if link_unsupported(&e) => create_new_with(path, bytes),
        Err(e) => Err(io_err("link into place", path)(e)),
    };
    let _ = fs::remove_file(&tmp);
    let created = created?;
    if created {
        fsync_dir(parent(path))?;
    }
    Ok(created)
}

fn link_unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EPERM) | Some(libc::EOPNOTSUPP) | Some(libc::EMLINK) | Some(libc::ENOSYS)
    )
}

fn create_new_with(path: &Path, bytes: &[u8]) -> Result<bool> {
    let mut f = match OpenOptions::new().write(true).create_new(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(false),
        Err(e) => return Err(io_err("create", path)(e)),
    };
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(io_err("write", path))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_exclusive_creates_once() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.json");
        assert!(publish_exclusive(&p, b"one").unwrap());
        assert!(!publish_exclusive(&p, b"two").unwrap());
        assert_eq!(fs::read(&p).unwrap(), b"one");
        // No temporary files are left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn write_atomic_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("hb.json");
        write_atomic(&p, b"1", false).unwrap();
        write_atomic(&p, b"22", true).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"22");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
