//! Resource use of worker programs.
//!
//! - Per-block processes (and checks): CPU seconds (`ru_utime + ru_stime`) and peak RSS
//!   (`ru_maxrss`) from the `rusage` that `wait4` returns; both include the process's waited-for
//!   descendants.
//! - Persistent programs: CPU seconds are the change over the block of `utime + stime +
//!   cutime + cstime` summed over the program and its live descendants (`/proc/<pid>/stat`,
//!   descendants found through `/proc/<p>/task/<p>/children`, the main thread's); peak RSS is the program's
//!   `VmHWM` (`/proc/<pid>/status`) after the block, with the high-water mark reset at the block's
//!   start (`echo 5 > /proc/<pid>/clear_refs`) where the kernel allows it — otherwise it is the
//!   peak since the program started.

use std::fs;

/// CPU time and peak memory of one attempt, as far as they could be measured.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Usage {
    /// User + system CPU seconds.
    pub cpu_seconds: Option<f64>,
    /// Peak resident set size in bytes.
    pub peak_rss_bytes: Option<u64>,
}

/// Converts a `wait4` rusage to [`Usage`].
pub fn from_rusage(ru: &libc::rusage) -> Usage {
    let secs = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    Usage {
        cpu_seconds: Some(secs(ru.ru_utime) + secs(ru.ru_stime)),
        // Linux reports ru_maxrss in kilobytes.
        peak_rss_bytes: Some((ru.ru_maxrss.max(0) as u64) * 1024),
    }
}

/// Clock ticks per second for `/proc/<pid>/stat` times.
fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

/// `utime + stime + cutime + cstime` of one process in clock ticks, from its stat line.
pub fn parse_stat_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime is field 14 → index 11.
    let field = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok());
    Some(field(11)? + field(12)? + field(13).unwrap_or(0) + field(14).unwrap_or(0))
}

/// Reads a small `/proc` file with one `read` (std's `read_to_string` probes files that report
/// size 0 in 32-byte steps, which costs dozens of syscalls per block).
fn read_proc(path: &str) -> Option<String> {
    use std::io::Read;
    let mut file = fs::File::open(path).ok()?;
    let mut buf = vec![0u8; 8192];
    let mut len = 0;
    loop {
        let n = file.read(&mut buf[len..]).ok()?;
        if n == 0 {
            break;
        }
        len += n;
        if len == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
    }
    buf.truncate(len);
    String::from_utf8(buf).ok()
}

/// The process `pid` and its live descendants (best effort, at most a few thousand). Children
/// are found through each process's main thread (`/proc/<p>/task/<p>/children`): one read per
/// process instead of a directory listing per block; children started by other threads of a
/// multi-threaded program are missed until they are waited for (then they count as cutime).
fn descendants(pid: i32) -> Vec<i32> {
    let mut out = vec![pid];
    let mut next = 0;
    while next < out.len() && out.len() < 4096 {
        let p = out[next];
        next += 1;
        if let Some(text) = read_proc(&format!("/proc/{p}/task/{p}/children")) {
            out.extend(
                text.split_whitespace()
                    .filter_map(|c| c.parse::<i32>().ok()),
            );
        }
    }
    out
}

/// CPU seconds used so far by `pid` and its live descendants (including what they waited for).
pub fn tree_cpu_seconds(pid: i32) -> Option<f64> {
    let mut ticks = 0u64;
    let mut any = false;
    for p in descendants(pid) {
        if let Some(t) = read_proc(&format!("/proc/{p}/stat")).and_then(|s| parse_stat_ticks(&s)) {
            ticks += t;
            any = true;
        }
    }
    any.then(|| ticks as f64 / ticks_per_second())
}

/// `VmHWM` of `pid` in bytes.
pub fn peak_rss_bytes(pid: i32) -> Option<u64> {
    let status = read_proc(&format!("/proc/{pid}/status"))?;
    parse_vm_hwm(&status)
}

/// The `VmHWM:   1234 kB` line of a status file, in bytes.
pub fn parse_vm_hwm(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Resets the peak-RSS high-water mark of `pid` (Linux ≥ 4.0); false when not allowed.
pub fn reset_peak_rss(pid: i32) -> bool {
    fs::write(format!("/proc/{pid}/clear_refs"), b"5").is_ok()
}

/// A persistent program's counters at a block's start, to measure the block's share.
#[derive(Clone, Copy, Debug)]
pub struct BlockMeter {
    pid: i32,
    cpu_at_start: Option<f64>,
}

impl BlockMeter {
    /// Starts measuring a block run by the persistent program `pid`.
    pub fn start(pid: i32) -> Self {
        reset_peak_rss(pid);
        Self {
            pid,
            cpu_at_start: tree_cpu_seconds(pid),
        }
    }

    /// The block's usage so far (call when the program reports the block).
    pub fn finish(&self) -> Usage {
        let cpu = match (self.cpu_at_start, tree_cpu_seconds(self.pid)) {
            (Some(a), Some(b)) => Some((b - a).max(0.0)),
            _ => None,
        };
        Usage {
            cpu_seconds: cpu,
            peak_rss_bytes: peak_rss_bytes(self.pid),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_line_with_odd_command_name() {
        let line = "1234 (we ird) name)) S 1 1234 1234 0 -1 4194560 100 0 0 0 \
                    250 50 7 3 20 0 1 0 100 1000 10";
        assert_eq!(parse_stat_ticks(line), Some(250 + 50 + 7 + 3));
        assert_eq!(parse_stat_ticks("garbage"), None);
    }

    #[test]
    fn vm_hwm() {
        let status = "Name:\tx\nVmPeak:\t  2000 kB\nVmHWM:\t  1500 kB\n";
        assert_eq!(parse_vm_hwm(status), Some(1500 * 1024));
        assert_eq!(parse_vm_hwm("Name: x\n"), None);
    }

    #[test]
    fn own_process_is_measurable() {
        let pid = std::process::id() as i32;
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_add(i * i);
        }
        assert!(x > 0);
        assert!(tree_cpu_seconds(pid).is_some());
        assert!(peak_rss_bytes(pid).unwrap() > 0);
    }
}
