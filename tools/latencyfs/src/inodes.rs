//! The table of inodes the kernel knows: each FUSE inode number holds an `O_PATH` descriptor
//! of the file underneath, so operations work relative to it and survive renames.

use std::collections::HashMap;
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex};

/// One inode: its `O_PATH` descriptor and how many lookups the kernel holds on it.
struct Entry {
    fd: Arc<OwnedFd>,
    key: (u64, u64),
    lookups: u64,
}

/// The inode table; inode 1 is the source directory.
pub struct Inodes {
    inner: Mutex<Table>,
}

struct Table {
    by_ino: HashMap<u64, Entry>,
    by_key: HashMap<(u64, u64), u64>,
    next: u64,
}

impl Inodes {
    /// A table whose root (inode 1) is the directory open as `root`.
    pub fn new(root: OwnedFd) -> io::Result<Self> {
        let st = fstat(root.as_raw_fd())?;
        let key = (st.st_dev, st.st_ino);
        let mut by_ino = HashMap::new();
        by_ino.insert(
            fuser::FUSE_ROOT_ID,
            Entry {
                fd: Arc::new(root),
                key,
                lookups: u64::MAX / 2,
            },
        );
        let by_key = HashMap::from([(key, fuser::FUSE_ROOT_ID)]);
        Ok(Self {
            inner: Mutex::new(Table {
                by_ino,
                by_key,
                next: fuser::FUSE_ROOT_ID + 1,
            }),
        })
    }

    /// The `O_PATH` descriptor of `ino`, or `ESTALE` for an inode the kernel forgot.
    pub fn fd(&self, ino: u64) -> io::Result<Arc<OwnedFd>> {
        let table = self.inner.lock().unwrap();
        table
            .by_ino
            .get(&ino)
            .map(|e| Arc::clone(&e.fd))
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ESTALE))
    }

    /// Looks `name` up under `parent`: opens it `O_PATH`, registers it (or adds a lookup to
    /// the inode already known for the same file) and returns its number and status.
    pub fn lookup(&self, parent: u64, name: &CString) -> io::Result<(u64, libc::stat)> {
        let dir = self.fd(parent)?;
        // SAFETY: a valid descriptor and a NUL-terminated name.
        let raw = unsafe {
            libc::openat(
                dir.as_raw_fd(),
                name.as_ptr(),
                libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` was just opened and is owned here.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let st = fstat(fd.as_raw_fd())?;
        let key = (st.st_dev, st.st_ino);
        let mut table = self.inner.lock().unwrap();
        if let Some(&ino) = table.by_key.get(&key) {
            if let Some(entry) = table.by_ino.get_mut(&ino) {
                entry.lookups += 1;
                return Ok((ino, st));
            }
        }
        let ino = table.next;
        table.next += 1;
        table.by_key.insert(key, ino);
        table.by_ino.insert(
            ino,
            Entry {
                fd: Arc::new(fd),
                key,
                lookups: 1,
            },
        );
        Ok((ino, st))
    }

    /// Drops `n` lookups of `ino`; the descriptor closes when none is left.
    pub fn forget(&self, ino: u64, n: u64) {
        let mut table = self.inner.lock().unwrap();
        let Some(entry) = table.by_ino.get_mut(&ino) else {
            return;
        };
        entry.lookups = entry.lookups.saturating_sub(n);
        if entry.lookups == 0 {
            let key = entry.key;
            table.by_ino.remove(&ino);
            if table.by_key.get(&key) == Some(&ino) {
                table.by_key.remove(&key);
            }
        }
    }
}

/// `fstat` of a descriptor (an `O_PATH` one too).
pub fn fstat(fd: RawFd) -> io::Result<libc::stat> {
    // SAFETY: `st` is written by the kernel; the empty path with AT_EMPTY_PATH names `fd`.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        let empty = c"";
        if libc::fstatat(
            fd,
            empty.as_ptr(),
            &mut st,
            libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW,
        ) < 0
        {
            return Err(io::Error::last_os_error());
        }
        Ok(st)
    }
}

/// The `/proc/self/fd/N` path of a descriptor, to reopen an `O_PATH` one for real.
pub fn proc_path(fd: RawFd) -> CString {
    CString::new(format!("/proc/self/fd/{fd}")).expect("no NUL in a number")
}
