//! The passthrough filesystem: every operation is counted, delayed by its class's latency on
//! a pool thread, then done on the source directory and answered.

use crate::counters::{Class, Counters, Op};
use crate::inodes::{fstat, proc_path, Inodes};
use crate::pool::Pool;
use fuser::{
    FileAttr, FileType, Filesystem, KernelConfig, ReplyAttr, ReplyCreate, ReplyData,
    ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyStatfs, ReplyWrite, Request, TimeOrNow,
};
use std::collections::HashMap;
use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Latencies and cache timeouts of a mount.
#[derive(Clone, Copy)]
pub struct Timing {
    /// Added to every metadata operation.
    pub metadata: Duration,
    /// Added to every fsync.
    pub fsync: Duration,
    /// How long the kernel may cache attributes and name lookups (NFS `actimeo`).
    pub cache: Duration,
    /// How long the kernel may cache "no such file" (NFS negative lookup cache); 0: never.
    pub negative: Duration,
}

/// One directory listing, read whole at `opendir` and served by offset.
type Listing = Vec<(u64, FileType, Vec<u8>)>;

struct Shared {
    inodes: Inodes,
    counters: Arc<Counters>,
    timing: Timing,
    dirs: Mutex<HashMap<u64, Listing>>,
    next_dir: AtomicU64,
}

/// The FUSE filesystem over one source directory.
pub struct LatencyFs {
    shared: Arc<Shared>,
    pool: Pool,
}

impl LatencyFs {
    /// A filesystem over the directory open as `inodes`' root, with `threads` pool threads.
    pub fn new(inodes: Inodes, counters: Arc<Counters>, timing: Timing, threads: usize) -> Self {
        Self {
            shared: Arc::new(Shared {
                inodes,
                counters,
                timing,
                dirs: Mutex::new(HashMap::new()),
                next_dir: AtomicU64::new(1),
            }),
            pool: Pool::new(threads),
        }
    }

    /// Counts `op` (for the process `pid`) and runs `job` on the pool after the op's latency.
    fn dispatch(&self, op: Op, pid: u32, job: impl FnOnce(&Shared) + Send + 'static) {
        let shared = Arc::clone(&self.shared);
        shared.counters.count(op, pid);
        let delay = match op.class() {
            Class::Metadata => shared.timing.metadata,
            Class::Sync => shared.timing.fsync,
            Class::Other => Duration::ZERO,
        };
        self.pool.run(move || {
            if !delay.is_zero() {
                std::thread::sleep(delay);
            }
            job(&shared)
        });
    }
}

fn errno(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EIO)
}

fn cstr(name: &OsStr) -> CString {
    CString::new(name.as_bytes()).unwrap_or_else(|_| CString::from(c"\u{1}"))
}

/// -1 into the last OS error.
fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn time(sec: i64, nsec: i64) -> SystemTime {
    if sec >= 0 {
        UNIX_EPOCH + Duration::new(sec as u64, nsec as u32)
    } else {
        UNIX_EPOCH
    }
}

fn kind(mode: u32) -> FileType {
    match mode & libc::S_IFMT {
        libc::S_IFDIR => FileType::Directory,
        libc::S_IFLNK => FileType::Symlink,
        libc::S_IFIFO => FileType::NamedPipe,
        libc::S_IFSOCK => FileType::Socket,
        libc::S_IFCHR => FileType::CharDevice,
        libc::S_IFBLK => FileType::BlockDevice,
        _ => FileType::RegularFile,
    }
}

fn attr(ino: u64, st: &libc::stat) -> FileAttr {
    FileAttr {
        ino,
        size: st.st_size as u64,
        blocks: st.st_blocks as u64,
        atime: time(st.st_atime, st.st_atime_nsec),
        mtime: time(st.st_mtime, st.st_mtime_nsec),
        ctime: time(st.st_ctime, st.st_ctime_nsec),
        crtime: time(st.st_ctime, st.st_ctime_nsec),
        kind: kind(st.st_mode),
        perm: (st.st_mode & 0o7777) as u16,
        nlink: st.st_nlink as u32,
        uid: st.st_uid,
        gid: st.st_gid,
        rdev: st.st_rdev as u32,
        blksize: st.st_blksize as u32,
        flags: 0,
    }
}

impl Shared {
    fn entry(&self, parent: u64, name: &CString, reply: ReplyEntry) {
        match self.inodes.lookup(parent, name) {
            Ok((ino, st)) => reply.entry(&self.timing.cache, &attr(ino, &st), 0),
            Err(e) if errno(&e) == libc::ENOENT && !self.timing.negative.is_zero() => {
                // Inode 0: the kernel caches the name's absence for the timeout.
                // SAFETY: an all-zero `stat` is a valid value.
                let none = attr(0, &unsafe { std::mem::zeroed() });
                reply.entry(&self.timing.negative, &none, 0)
            }
            Err(e) => reply.error(errno(&e)),
        }
    }

    /// Runs `f` on `parent`'s descriptor, then answers with the new `name`'s entry.
    fn make(
        &self,
        parent: u64,
        name: &CString,
        reply: ReplyEntry,
        f: impl FnOnce(RawFd) -> io::Result<libc::c_int>,
    ) {
        match self.inodes.fd(parent).and_then(|dir| f(dir.as_raw_fd())) {
            Ok(_) => self.entry(parent, name, reply),
            Err(e) => reply.error(errno(&e)),
        }
    }

    /// Runs `f` on `parent`'s descriptor and answers with its success.
    fn in_dir(&self, parent: u64, reply: ReplyEmpty, f: impl FnOnce(RawFd) -> libc::c_int) {
        empty(
            self.inodes
                .fd(parent)
                .and_then(|dir| check(f(dir.as_raw_fd()))),
            reply,
        )
    }

    fn getattr(&self, ino: u64, reply: ReplyAttr) {
        let result = self.inodes.fd(ino).and_then(|fd| fstat(fd.as_raw_fd()));
        match result {
            Ok(st) => reply.attr(&self.timing.cache, &attr(ino, &st)),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn setattr(&self, ino: u64, change: AttrChange, reply: ReplyAttr) {
        match self.apply(ino, change) {
            Ok(()) => self.getattr(ino, reply),
            Err(e) => reply.error(errno(&e)),
        }
    }

    fn apply(&self, ino: u64, change: AttrChange) -> io::Result<()> {
        let fd = self.inodes.fd(ino)?;
        let path = proc_path(fd.as_raw_fd());
        // SAFETY (all blocks below): valid descriptors and NUL-terminated paths.
        if let Some(mode) = change.mode {
            check(unsafe { libc::chmod(path.as_ptr(), mode) })?;
        }
        if change.uid.is_some() || change.gid.is_some() {
            let uid = change.uid.unwrap_or(u32::MAX);
            let gid = change.gid.unwrap_or(u32::MAX);
            check(unsafe {
                libc::fchownat(
                    fd.as_raw_fd(),
                    c"".as_ptr(),
                    uid,
                    gid,
                    libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW,
                )
            })?;
        }
        if let Some(size) = change.size {
            match change.fh {
                Some(fh) => check(unsafe { libc::ftruncate(fh as i32, size as i64) })?,
                None => check(unsafe { libc::truncate(path.as_ptr(), size as i64) })?,
            };
        }
        if change.atime.is_some() || change.mtime.is_some() {
            let spec = |t: Option<TimeOrNow>| match t {
                None => libc::timespec {
                    tv_sec: 0,
                    tv_nsec: libc::UTIME_OMIT,
                },
                Some(TimeOrNow::Now) => libc::timespec {
                    tv_sec: 0,
                    tv_nsec: libc::UTIME_NOW,
                },
                Some(TimeOrNow::SpecificTime(t)) => {
                    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
                    libc::timespec {
                        tv_sec: d.as_secs() as i64,
                        tv_nsec: d.subsec_nanos() as i64,
                    }
                }
            };
            let times = [spec(change.atime), spec(change.mtime)];
            check(unsafe { libc::utimensat(libc::AT_FDCWD, path.as_ptr(), times.as_ptr(), 0) })?;
        }
        Ok(())
    }

    fn open(&self, ino: u64, flags: i32) -> io::Result<u64> {
        let fd = self.inodes.fd(ino)?;
        let path = proc_path(fd.as_raw_fd());
        let flags = flags & !(libc::O_NOFOLLOW | libc::O_CREAT | libc::O_EXCL) | libc::O_CLOEXEC;
        // SAFETY: a NUL-terminated path; the descriptor is owned by the file handle.
        Ok(check(unsafe { libc::open(path.as_ptr(), flags) })? as u64)
    }

    fn create(
        &self,
        parent: u64,
        name: &CString,
        mode: u32,
        flags: i32,
    ) -> io::Result<(u64, u64, libc::stat)> {
        let dir = self.inodes.fd(parent)?;
        let flags = flags | libc::O_CREAT | libc::O_CLOEXEC;
        // SAFETY: a valid descriptor and a NUL-terminated name.
        let fh = check(unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags, mode) })?;
        match self.inodes.lookup(parent, name) {
            Ok((ino, st)) => Ok((ino, fh as u64, st)),
            Err(e) => {
                // SAFETY: `fh` was opened above and is not handed out.
                unsafe { libc::close(fh) };
                Err(e)
            }
        }
    }

    fn list(&self, ino: u64) -> io::Result<Listing> {
        let fd = self.inodes.fd(ino)?;
        // SAFETY: reopening the O_PATH descriptor as a directory stream that is closed below.
        unsafe {
            let raw = check(libc::openat(
                fd.as_raw_fd(),
                c".".as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            ))?;
            let dir = libc::fdopendir(raw);
            if dir.is_null() {
                let e = io::Error::last_os_error();
                libc::close(raw);
                return Err(e);
            }
            let mut out = Vec::new();
            loop {
                let ent = libc::readdir64(dir);
                if ent.is_null() {
                    break;
                }
                let name = std::ffi::CStr::from_ptr((*ent).d_name.as_ptr());
                let kind = match (*ent).d_type {
                    libc::DT_DIR => FileType::Directory,
                    libc::DT_LNK => FileType::Symlink,
                    libc::DT_FIFO => FileType::NamedPipe,
                    libc::DT_SOCK => FileType::Socket,
                    libc::DT_CHR => FileType::CharDevice,
                    libc::DT_BLK => FileType::BlockDevice,
                    _ => FileType::RegularFile,
                };
                out.push(((*ent).d_ino, kind, name.to_bytes().to_vec()));
            }
            libc::closedir(dir);
            Ok(out)
        }
    }
}

/// The changes of one `setattr`.
struct AttrChange {
    mode: Option<u32>,
    uid: Option<u32>,
    gid: Option<u32>,
    size: Option<u64>,
    atime: Option<TimeOrNow>,
    mtime: Option<TimeOrNow>,
    fh: Option<u64>,
}

fn empty(result: io::Result<libc::c_int>, reply: ReplyEmpty) {
    match result {
        Ok(_) => reply.ok(),
        Err(e) => reply.error(errno(&e)),
    }
}

impl Filesystem for LatencyFs {
    fn init(&mut self, _req: &Request<'_>, config: &mut KernelConfig) -> Result<(), libc::c_int> {
        // Lookups and listings in one directory run in parallel, as on NFS.
        let _ = config.add_capabilities(fuser::consts::FUSE_PARALLEL_DIROPS);
        Ok(())
    }

    fn lookup(&mut self, req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEntry) {
        let name = cstr(name);
        self.dispatch(Op::Lookup, req.pid(), move |s| {
            s.entry(parent, &name, reply)
        });
    }

    fn forget(&mut self, _req: &Request<'_>, ino: u64, nlookup: u64) {
        self.shared.counters.count(Op::Forget, 0);
        self.shared.inodes.forget(ino, nlookup);
    }

    fn getattr(&mut self, req: &Request<'_>, ino: u64, _fh: Option<u64>, reply: ReplyAttr) {
        self.dispatch(Op::Getattr, req.pid(), move |s| s.getattr(ino, reply));
    }

    fn setattr(
        &mut self,
        req: &Request<'_>,
        ino: u64,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<u64>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<u32>,
        reply: ReplyAttr,
    ) {
        let change = AttrChange {
            mode,
            uid,
            gid,
            size,
            atime,
            mtime,
            fh,
        };
        self.dispatch(Op::Setattr, req.pid(), move |s| {
            s.setattr(ino, change, reply)
        });
    }

    fn readlink(&mut self, req: &Request<'_>, ino: u64, reply: ReplyData) {
        self.dispatch(Op::Readlink, req.pid(), move |s| {
            let result = s.inodes.fd(ino).and_then(|fd| {
                let mut buf = vec![0u8; libc::PATH_MAX as usize];
                // SAFETY: the buffer is as long as passed.
                let n = unsafe {
                    libc::readlinkat(
                        fd.as_raw_fd(),
                        c"".as_ptr(),
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                    )
                };
                if n < 0 {
                    return Err(io::Error::last_os_error());
                }
                buf.truncate(n as usize);
                Ok(buf)
            });
            match result {
                Ok(target) => reply.data(&target),
                Err(e) => reply.error(errno(&e)),
            }
        });
    }

    fn mknod(
        &mut self,
        req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        rdev: u32,
        reply: ReplyEntry,
    ) {
        let name = cstr(name);
        self.dispatch(Op::Mknod, req.pid(), move |s| {
            s.make(parent, &name, reply, |dir| {
                // SAFETY: a valid descriptor and a NUL-terminated name.
                check(unsafe { libc::mknodat(dir, name.as_ptr(), mode, rdev as libc::dev_t) })
            })
        });
    }

    fn mkdir(
        &mut self,
        req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        let name = cstr(name);
        self.dispatch(Op::Mkdir, req.pid(), move |s| {
            s.make(parent, &name, reply, |dir| {
                // SAFETY: a valid descriptor and a NUL-terminated name.
                check(unsafe { libc::mkdirat(dir, name.as_ptr(), mode) })
            })
        });
    }

    fn unlink(&mut self, req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        let name = cstr(name);
        self.dispatch(Op::Unlink, req.pid(), move |s| {
            // SAFETY: a valid descriptor and a NUL-terminated name.
            s.in_dir(parent, reply, |dir| unsafe {
                libc::unlinkat(dir, name.as_ptr(), 0)
            })
        });
    }

    fn rmdir(&mut self, req: &Request<'_>, parent: u64, name: &OsStr, reply: ReplyEmpty) {
        let name = cstr(name);
        self.dispatch(Op::Rmdir, req.pid(), move |s| {
            s.in_dir(parent, reply, |dir| {
                // SAFETY: a valid descriptor and a NUL-terminated name.
                unsafe { libc::unlinkat(dir, name.as_ptr(), libc::AT_REMOVEDIR) }
            })
        });
    }

    fn symlink(
        &mut self,
        req: &Request<'_>,
        parent: u64,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        let name = cstr(link_name);
        let target = cstr(target.as_os_str());
        self.dispatch(Op::Symlink, req.pid(), move |s| {
            s.make(parent, &name, reply, |dir| {
                // SAFETY: a valid descriptor and NUL-terminated strings.
                check(unsafe { libc::symlinkat(target.as_ptr(), dir, name.as_ptr()) })
            })
        });
    }

    fn rename(
        &mut self,
        req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        flags: u32,
        reply: ReplyEmpty,
    ) {
        let name = cstr(name);
        let newname = cstr(newname);
        self.dispatch(Op::Rename, req.pid(), move |s| {
            let result = s.inodes.fd(parent).and_then(|from| {
                let to = s.inodes.fd(newparent)?;
                // SAFETY: valid descriptors and NUL-terminated names.
                check(unsafe {
                    libc::renameat2(
                        from.as_raw_fd(),
                        name.as_ptr(),
                        to.as_raw_fd(),
                        newname.as_ptr(),
                        flags,
                    )
                })
            });
            empty(result, reply)
        });
    }

    fn link(
        &mut self,
        req: &Request<'_>,
        ino: u64,
        newparent: u64,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        let newname = cstr(newname);
        self.dispatch(Op::Link, req.pid(), move |s| {
            s.make(newparent, &newname, reply, |dir| {
                let path = proc_path(s.inodes.fd(ino)?.as_raw_fd());
                // SAFETY: valid descriptors and NUL-terminated paths.
                check(unsafe {
                    libc::linkat(
                        libc::AT_FDCWD,
                        path.as_ptr(),
                        dir,
                        newname.as_ptr(),
                        libc::AT_SYMLINK_FOLLOW,
                    )
                })
            })
        });
    }

    fn open(&mut self, req: &Request<'_>, ino: u64, flags: i32, reply: ReplyOpen) {
        // No FOPEN_KEEP_CACHE: the kernel drops cached pages at every open (close-to-open).
        self.dispatch(Op::Open, req.pid(), move |s| match s.open(ino, flags) {
            Ok(fh) => reply.opened(fh, 0),
            Err(e) => reply.error(errno(&e)),
        });
    }

    fn read(
        &mut self,
        req: &Request<'_>,
        _ino: u64,
        fh: u64,
        offset: i64,
        size: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyData,
    ) {
        self.dispatch(Op::Read, req.pid(), move |_| {
            let mut buf = vec![0u8; size as usize];
            // SAFETY: the buffer is as long as passed; `fh` is a descriptor we opened.
            let n = unsafe { libc::pread(fh as i32, buf.as_mut_ptr().cast(), buf.len(), offset) };
            if n < 0 {
                reply.error(errno(&io::Error::last_os_error()));
            } else {
                reply.data(&buf[..n as usize]);
            }
        });
    }

    fn write(
        &mut self,
        req: &Request<'_>,
        _ino: u64,
        fh: u64,
        offset: i64,
        data: &[u8],
        _write_flags: u32,
        _flags: i32,
        _lock_owner: Option<u64>,
        reply: ReplyWrite,
    ) {
        let data = data.to_vec();
        self.dispatch(Op::Write, req.pid(), move |_| {
            // SAFETY: `fh` is a descriptor we opened. With O_APPEND it appends at the real end.
            let n = unsafe { libc::pwrite(fh as i32, data.as_ptr().cast(), data.len(), offset) };
            if n < 0 {
                reply.error(errno(&io::Error::last_os_error()));
            } else {
                reply.written(n as u32);
            }
        });
    }

    fn flush(
        &mut self,
        req: &Request<'_>,
        _ino: u64,
        _fh: u64,
        _lock_owner: u64,
        reply: ReplyEmpty,
    ) {
        self.dispatch(Op::Flush, req.pid(), move |_| reply.ok());
    }

    fn release(
        &mut self,
        req: &Request<'_>,
        _ino: u64,
        fh: u64,
        _flags: i32,
        _lock_owner: Option<u64>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.dispatch(Op::Release, req.pid(), move |_| {
            // SAFETY: the kernel releases each handle once.
            unsafe { libc::close(fh as i32) };
            reply.ok();
        });
    }

    fn fsync(&mut self, req: &Request<'_>, _ino: u64, fh: u64, datasync: bool, reply: ReplyEmpty) {
        self.dispatch(Op::Fsync, req.pid(), move |_| {
            // SAFETY: `fh` is a descriptor we opened.
            let ret = unsafe {
                if datasync {
                    libc::fdatasync(fh as i32)
                } else {
                    libc::fsync(fh as i32)
                }
            };
            empty(check(ret), reply)
        });
    }

    fn opendir(&mut self, req: &Request<'_>, ino: u64, _flags: i32, reply: ReplyOpen) {
        self.dispatch(Op::Opendir, req.pid(), move |s| match s.list(ino) {
            Ok(listing) => {
                let fh = s.next_dir.fetch_add(1, Ordering::Relaxed);
                s.dirs.lock().unwrap().insert(fh, listing);
                reply.opened(fh, 0)
            }
            Err(e) => reply.error(errno(&e)),
        });
    }

    fn readdir(
        &mut self,
        req: &Request<'_>,
        _ino: u64,
        fh: u64,
        offset: i64,
        mut reply: ReplyDirectory,
    ) {
        self.dispatch(Op::Readdir, req.pid(), move |s| {
            let dirs = s.dirs.lock().unwrap();
            let Some(listing) = dirs.get(&fh) else {
                return reply.error(libc::EBADF);
            };
            for (i, (ino, kind, name)) in listing.iter().enumerate().skip(offset.max(0) as usize) {
                if reply.add(*ino, i as i64 + 1, *kind, OsStr::from_bytes(name)) {
                    break;
                }
            }
            drop(dirs);
            reply.ok()
        });
    }

    fn releasedir(
        &mut self,
        req: &Request<'_>,
        _ino: u64,
        fh: u64,
        _flags: i32,
        reply: ReplyEmpty,
    ) {
        self.dispatch(Op::Releasedir, req.pid(), move |s| {
            s.dirs.lock().unwrap().remove(&fh);
            reply.ok()
        });
    }

    fn fsyncdir(
        &mut self,
        req: &Request<'_>,
        ino: u64,
        _fh: u64,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        self.dispatch(Op::Fsyncdir, req.pid(), move |s| {
            let result = s.inodes.fd(ino).and_then(|fd| {
                // SAFETY: reopening the O_PATH descriptor read-only, closed below.
                unsafe {
                    let dir = check(libc::openat(
                        fd.as_raw_fd(),
                        c".".as_ptr(),
                        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
                    ))?;
                    let ret = libc::fsync(dir);
                    libc::close(dir);
                    check(ret)
                }
            });
            empty(result, reply)
        });
    }

    fn statfs(&mut self, req: &Request<'_>, ino: u64, reply: ReplyStatfs) {
        self.dispatch(Op::Statfs, req.pid(), move |s| {
            let result = s.inodes.fd(ino).and_then(|fd| {
                // SAFETY: `st` is written by the kernel.
                unsafe {
                    let mut st: libc::statvfs = std::mem::zeroed();
                    check(libc::fstatvfs(fd.as_raw_fd(), &mut st))?;
                    Ok(st)
                }
            });
            match result {
                Ok(st) => reply.statfs(
                    st.f_blocks,
                    st.f_bfree,
                    st.f_bavail,
                    st.f_files,
                    st.f_ffree,
                    st.f_bsize as u32,
                    st.f_namemax as u32,
                    st.f_frsize as u32,
                ),
                Err(e) => reply.error(errno(&e)),
            }
        });
    }

    fn access(&mut self, req: &Request<'_>, ino: u64, mask: i32, reply: ReplyEmpty) {
        self.dispatch(Op::Access, req.pid(), move |s| {
            let result = s.inodes.fd(ino).and_then(|fd| {
                let path = proc_path(fd.as_raw_fd());
                // SAFETY: a NUL-terminated path.
                check(unsafe { libc::access(path.as_ptr(), mask) })
            });
            empty(result, reply)
        });
    }

    fn create(
        &mut self,
        req: &Request<'_>,
        parent: u64,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let name = cstr(name);
        self.dispatch(Op::Create, req.pid(), move |s| {
            match s.create(parent, &name, mode, flags) {
                Ok((ino, fh, st)) => reply.created(&s.timing.cache, &attr(ino, &st), 0, fh, 0),
                Err(e) => reply.error(errno(&e)),
            }
        });
    }
}
