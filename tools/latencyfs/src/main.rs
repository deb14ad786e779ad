//! latencyfs: a FUSE passthrough for blockorch's tests and benchmarks that makes a local
//! directory behave like a slow shared filesystem (every metadata operation and every fsync
//! takes a configurable time) and counts operations by kind. See README.md beside this file.

mod counters;
mod fs;
mod inodes;
mod pool;

use counters::Counters;
use fs::{LatencyFs, Timing};
use inodes::Inodes;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const USAGE: &str = "\
usage: latencyfs --source DIR --mountpoint DIR --stats FILE [options]

Mounts DIR (source) at the mountpoint through FUSE; every metadata operation waits
--metadata-ms, every fsync --fsync-ms, on a pool of --threads threads. Counts are written
as JSON to FILE every --stats-interval-ms; SIGUSR1 resets them, SIGUSR2 writes them at once.
SIGTERM or SIGINT unmounts and exits; so does `umount MOUNTPOINT`.

options:
  --metadata-ms MS         latency of each metadata operation (default 1)
  --fsync-ms MS            latency of each fsync (default 3)
  --actimeo SECONDS        attribute and name-lookup cache time, as NFS actimeo (default 1)
  --negative-timeout SECS  cache time of \"no such file\" answers (default 0: not cached)
  --threads N              operations in flight at once (default 256)
  --stats-interval-ms MS   how often the stats file is rewritten (default 200)";

struct Args {
    source: PathBuf,
    mountpoint: PathBuf,
    stats: PathBuf,
    timing: Timing,
    threads: usize,
    stats_interval: Duration,
}

fn parse() -> Result<Args, String> {
    let mut source = None;
    let mut mountpoint = None;
    let mut stats = None;
    let mut timing = Timing {
        metadata: Duration::from_millis(1),
        fsync: Duration::from_millis(3),
        cache: Duration::from_secs(1),
        negative: Duration::ZERO,
    };
    let mut threads = 256;
    let mut stats_interval = Duration::from_millis(200);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            return Err(String::new());
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || -> Result<f64, String> {
            value
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| format!("{flag}: {value:?} is not a non-negative number"))
        };
        match flag.as_str() {
            "--source" => source = Some(PathBuf::from(&value)),
            "--mountpoint" => mountpoint = Some(PathBuf::from(&value)),
            "--stats" => stats = Some(PathBuf::from(&value)),
            "--metadata-ms" => timing.metadata = Duration::from_secs_f64(number()? / 1e3),
            "--fsync-ms" => timing.fsync = Duration::from_secs_f64(number()? / 1e3),
            "--actimeo" => timing.cache = Duration::from_secs_f64(number()?),
            "--negative-timeout" => timing.negative = Duration::from_secs_f64(number()?),
            "--threads" => threads = number()? as usize,
            "--stats-interval-ms" => {
                stats_interval = Duration::from_secs_f64(number()?.max(1.0) / 1e3)
            }
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(Args {
        source: source.ok_or("--source is required")?,
        mountpoint: mountpoint.ok_or("--mountpoint is required")?,
        stats: stats.ok_or("--stats is required")?,
        timing,
        threads,
        stats_interval,
    })
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn open_dir(path: &std::path::Path) -> std::io::Result<OwnedFd> {
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: a NUL-terminated path; the descriptor is owned by the returned value.
    let raw = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if raw < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `raw` was just opened.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

fn config_json(args: &Args) -> String {
    format!(
        "{{\"source\": {:?}, \"mountpoint\": {:?}, \"metadata_ms\": {}, \"fsync_ms\": {}, \
         \"actimeo_s\": {}, \"negative_timeout_s\": {}, \"threads\": {}}}",
        args.source.display().to_string(),
        args.mountpoint.display().to_string(),
        args.timing.metadata.as_secs_f64() * 1e3,
        args.timing.fsync.as_secs_f64() * 1e3,
        args.timing.cache.as_secs_f64(),
        args.timing.negative.as_secs_f64(),
        args.threads,
    )
}

fn run(args: Args) -> Result<(), String> {
    let root = open_dir(&args.source)
        .map_err(|e| format!("opening source {}: {e}", args.source.display()))?;
    let inodes = Inodes::new(root).map_err(|e| format!("{}: {e}", args.source.display()))?;
    let counters = Arc::new(Counters::new());
    counters::publish(
        Arc::clone(&counters),
        args.stats.clone(),
        args.stats_interval,
        config_json(&args),
    );
    let fs = LatencyFs::new(inodes, counters, args.timing, args.threads);
    let options = [
        fuser::MountOption::FSName("latencyfs".into()),
        fuser::MountOption::AllowOther,
        fuser::MountOption::DefaultPermissions,
        fuser::MountOption::RW,
    ];
    let mut session = fuser::Session::new(fs, &args.mountpoint, &options)
        .map_err(|e| format!("mounting {}: {e}", args.mountpoint.display()))?;
    let mut unmounter = session.unmount_callable();
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGTERM, on_stop as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_stop as *const () as libc::sighandler_t);
    }
    std::thread::spawn(move || {
        while !STOP.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = unmounter.unmount();
    });
    eprintln!(
        "latencyfs: {} mounted at {} (pid {})",
        args.source.display(),
        args.mountpoint.display(),
        std::process::id()
    );
    session
        .run()
        .map_err(|e| format!("serving {}: {e}", args.mountpoint.display()))
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(args) => args,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("latencyfs: {message}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("latencyfs: {message}");
            ExitCode::FAILURE
        }
    }
}
