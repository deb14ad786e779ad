//! Resource use of worker programs.
//!
//! - Per-block processes (and checks): CPU seconds (`ru_utime + ru_stime`) and peak RSS
//!   (`ru_maxrss`) from the `rusage` that `wait4` returns; both include the process's waited-for
//!   descendants.
//! - Persistent programs ([`ProgramMeter`]): CPU seconds are the change, since the previous
//!   block's report, of `utime + stime + cutime + cstime` in `/proc/<pid>/stat` (summed over
//!   the live descendants too once the program was seen with children — the children of every
//!   thread, `/proc/<p>/task/*/children`). Peak RSS is the program's `VmHWM`
//!   (`/proc/<pid>/status`), reset after each reading (`echo 5 > /proc/<pid>/clear_refs`) where the kernel allows it,
//!   read after every block of 5 ms or more and at least every 100 ms; a shorter block in
//!   between gets the resident size at its report (`/proc/<pid>/stat`), so sub-millisecond
//!   blocks cost one `pread` each. A block's peak is never less than the resident size when it
//!   began: a program that reports its last block and exits at once may be a zombie (resident
//!   size 0, no `VmHWM`) by the time the report is read.

use nix::unistd::{sysconf, SysconfVar};
use std::fs;
use std::time::{Duration, Instant};

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

/// A positive `sysconf` value, or `fallback` when the system does not say.
fn sysconf_or(name: SysconfVar, fallback: u64) -> u64 {
    match sysconf(name) {
        Ok(Some(value)) if value > 0 => value as u64,
        _ => fallback,
    }
}

/// Clock ticks per second for `/proc/<pid>/stat` times.
fn ticks_per_second() -> f64 {
    sysconf_or(SysconfVar::CLK_TCK, 100) as f64
}

/// What one `/proc/<pid>/stat` line says about resource use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatReading {
    /// `utime + stime + cutime + cstime` in clock ticks.
    pub ticks: u64,
    /// Resident set size now, in bytes.
    pub rss_bytes: u64,
}

/// The CPU ticks and resident size in a stat line.
pub fn parse_stat(stat: &str) -> Option<StatReading> {
    // The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // rest starts at field 3 (state): utime is field 14, rss (in pages) field 24.
    let mut field = |skip: usize| fields.nth(skip).and_then(|v| v.parse::<u64>().ok());
    let utime = field(11)?;
    let stime = field(0)?;
    let cutime = field(0).unwrap_or(0);
    let cstime = field(0).unwrap_or(0);
    let rss_pages = field(6).unwrap_or(0);
    Some(StatReading {
        ticks: utime + stime + cutime + cstime,
        rss_bytes: rss_pages * page_size(),
    })
}

fn page_size() -> u64 {
    sysconf_or(SysconfVar::PAGE_SIZE, 4096)
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

/// The process `pid` and its live descendants (best effort, at most a few thousand), found
/// through every thread's `/proc/<p>/task/<t>/children` (children started by any thread of a
/// multi-threaded program count). Taken on a program's full readings, and on every block once it
/// was seen with children.
fn descendants(pid: i32) -> Vec<i32> {
    let mut out = vec![pid];
    let mut next = 0;
    while next < out.len() && out.len() < 4096 {
        let p = out[next];
        next += 1;
        let Ok(threads) = fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for thread in threads.flatten() {
            let children = thread.path().join("children");
            if let Some(text) = children.to_str().and_then(read_proc) {
                out.extend(
                    text.split_whitespace()
                        .filter_map(|c| c.parse::<i32>().ok()),
                );
            }
        }
    }
    out
}

/// CPU ticks used so far by the processes `tree` (including what they waited for).
fn tree_ticks(tree: &[i32]) -> Option<u64> {
    let mut ticks = 0u64;
    let mut any = false;
    for p in tree {
        if let Some(t) = read_proc(&format!("/proc/{p}/stat")).and_then(|s| parse_stat(&s)) {
            ticks += t.ticks;
            any = true;
        }
    }
    any.then_some(ticks)
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

/// Meters the blocks of one persistent program: CPU seconds and peak RSS per block, cheaply
/// enough for sub-millisecond blocks.
///
/// Every block costs one `pread` of the kept-open `/proc/<pid>/stat` (CPU ticks and the
/// resident size). The expensive readings — the live descendants, `VmHWM` and its reset —
/// are taken only after a block of at least [`FULL_READING_BLOCK`], or when the last one is
/// older than [`FULL_READING_EVERY`], or on every block once the program was seen with
/// children.
#[derive(Debug)]
pub struct ProgramMeter {
    pid: i32,
    stat: Option<fs::File>,
    has_children: bool,
    /// CPU ticks (program and, if it has any, live descendants) when the current block began.
    block_ticks: Option<u64>,
    block_started: Option<Instant>,
    /// Ticks at the previous block's report: reused as the next block's start.
    last_ticks: Option<u64>,
    /// Resident size when the current block began: its peak is at least that, and it is what
    /// is known once the program has exited before its report was read (a zombie's
    /// resident size reads 0).
    block_rss: Option<u64>,
    /// Resident size at the previous block's report: reused as the next block's start.
    last_rss: Option<u64>,
    /// Blocks handed to the program and not reported yet.
    outstanding: usize,
    last_full: Option<Instant>,
}

/// Blocks at least this long get a full reading (descendants, `VmHWM`).
pub const FULL_READING_BLOCK: Duration = Duration::from_millis(5);
/// A full reading is taken at least this often while blocks are reported.
pub const FULL_READING_EVERY: Duration = Duration::from_millis(100);

impl ProgramMeter {
    /// A meter for the persistent program `pid` (its high-water mark is reset now, so the
    /// first block does not inherit the program's start-up peak where the kernel allows it).
    pub fn new(pid: i32) -> Self {
        reset_peak_rss(pid);
        Self {
            pid,
            stat: fs::File::open(format!("/proc/{pid}/stat")).ok(),
            has_children: false,
            block_ticks: None,
            block_started: None,
            last_ticks: None,
            block_rss: None,
            last_rss: None,
            outstanding: 0,
            last_full: Some(Instant::now()),
        }
    }

    /// Counts `n` blocks handed to the program; the first starts now if it had none.
    pub fn sent(&mut self, n: usize) {
        if self.outstanding == 0 && n > 0 {
            self.begin_block();
        }
        self.outstanding += n;
    }

    fn begin_block(&mut self) {
        self.block_started = Some(Instant::now());
        let rss = self.last_rss.take();
        self.block_ticks = match self.last_ticks.take() {
            Some(ticks) => {
                self.block_rss = rss;
                Some(ticks)
            }
            None => {
                self.block_rss = self.own_stat().map(|s| s.rss_bytes).filter(|&b| b > 0);
                self.ticks()
            }
        };
    }

    /// The finished block's usage (call when the program reports it); the next block handed
    /// to it, if any, starts now.
    pub fn end_block(&mut self) -> Usage {
        let now = Instant::now();
        let long = self
            .block_started
            .take()
            .is_some_and(|t| now.duration_since(t) >= FULL_READING_BLOCK);
        let due = self
            .last_full
            .is_none_or(|t| now.duration_since(t) >= FULL_READING_EVERY);
        let own = self.own_stat();
        let now_rss = own.map(|s| s.rss_bytes).filter(|&b| b > 0);
        let mut peak = now_rss.max(self.block_rss.take());
        let mut ticks = own.map(|s| s.ticks);
        if long || due || self.has_children {
            let tree = descendants(self.pid);
            self.has_children = tree.len() > 1;
            if self.has_children {
                // The program's own line was just read through the kept-open fd.
                ticks = ticks.map(|own| own + tree_ticks(&tree[1..]).unwrap_or(0));
            }
            if let Some(hwm) = peak_rss_bytes(self.pid) {
                peak = Some(peak.unwrap_or(0).max(hwm));
            }
            reset_peak_rss(self.pid);
            self.last_full = Some(now);
        }
        let cpu = match (self.block_ticks.take(), ticks) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64 / ticks_per_second()),
            _ => None,
        };
        self.outstanding = self.outstanding.saturating_sub(1);
        if self.outstanding > 0 {
            self.block_started = Some(now);
            self.block_ticks = ticks;
            self.block_rss = now_rss;
        } else {
            self.last_ticks = ticks;
            self.last_rss = now_rss;
        }
        Usage {
            cpu_seconds: cpu,
            peak_rss_bytes: peak,
        }
    }

    /// CPU ticks of the program (and its live descendants when it has any).
    fn ticks(&mut self) -> Option<u64> {
        let own = self.own_stat()?.ticks;
        if self.has_children {
            Some(own + tree_ticks(&descendants(self.pid)[1..]).unwrap_or(0))
        } else {
            Some(own)
        }
    }

    fn own_stat(&mut self) -> Option<StatReading> {
        use std::os::unix::fs::FileExt;
        let file = self.stat.as_ref()?;
        let mut buf = [0u8; 2048];
        let n = file.read_at(&mut buf, 0).ok()?;
        let text = std::str::from_utf8(&buf[..n]).ok()?;
        parse_stat(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_line_with_odd_command_name() {
        let line = "1234 (we ird) name)) S 1 1234 1234 0 -1 4194560 100 0 0 0 \
                    250 50 7 3 20 0 1 0 100 1000 10";
        let reading = parse_stat(line).unwrap();
        assert_eq!(reading.ticks, 250 + 50 + 7 + 3);
        assert_eq!(reading.rss_bytes, 10 * page_size());
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn vm_hwm() {
        let status = "Name:\tx\nVmPeak:\t  2000 kB\nVmHWM:\t  1500 kB\n";
        assert_eq!(parse_vm_hwm(status), Some(1500 * 1024));
        assert_eq!(parse_vm_hwm("Name: x\n"), None);
    }

    #[test]
    fn program_meter_measures_a_busy_block() {
        let pid = std::process::id() as i32;
        let mut meter = ProgramMeter::new(pid);
        meter.sent(1);
        // Busy until this thread alone has used 0.2 s of CPU (a wall-clock bound gets less on
        // a loaded machine, and the other tests' threads only add to the process's figure).
        let thread_cpu = || {
            nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID)
                .map(|t| Duration::from(t).as_secs_f64())
                .unwrap_or(f64::MAX)
        };
        let start = thread_cpu();
        let mut x = 0u64;
        while thread_cpu() - start < 0.2 {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let usage = meter.end_block();
        assert!(usage.cpu_seconds.unwrap() >= 0.1, "{usage:?}");
        assert!(usage.peak_rss_bytes.unwrap() > 1 << 20, "{usage:?}");
        // Two short blocks handed at once: cheap readings, still CPU figures and a resident size.
        meter.sent(2);
        for _ in 0..2 {
            let usage = meter.end_block();
            assert!(usage.cpu_seconds.unwrap() < 0.1, "{usage:?}");
            assert!(usage.peak_rss_bytes.unwrap() > 1 << 20, "{usage:?}");
        }
    }

    #[test]
    fn a_block_reported_by_a_program_that_has_exited_keeps_its_resident_size() {
        // The program's last block: it reports and exits before the report is read.
        let mut program = std::process::Command::new("python3")
            .args(["-c", "import sys; x = bytearray(8 << 20); sys.stdin.read()"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let pid = program.id() as i32;
        let resident = || {
            read_proc(&format!("/proc/{pid}/stat"))
                .and_then(|s| parse_stat(&s))
                .map_or(0, |s| s.rss_bytes)
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while resident() < 8 << 20 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let mut meter = ProgramMeter::new(pid);
        meter.sent(1);
        drop(program.stdin.take());
        // Not waited for: a zombie until `wait`.
        let zombie = || {
            read_proc(&format!("/proc/{pid}/stat"))
                .is_some_and(|s| s[s.rfind(')').unwrap() + 1..].trim_start().starts_with('Z'))
        };
        while !zombie() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(zombie(), "the program did not exit");
        let usage = meter.end_block();
        let _ = program.wait();
        assert!(usage.peak_rss_bytes.unwrap() >= 8 << 20, "{usage:?}");
    }

    #[test]
    fn children_of_any_thread_are_descendants() {
        // A Python program whose second thread starts a child process.
        let script = "import subprocess, threading, time\n\
                      t = threading.Thread(target=lambda: subprocess.run(['sleep', '5']))\n\
                      t.start(); t.join()";
        let mut program = std::process::Command::new("python3")
            .args(["-c", script])
            .spawn()
            .unwrap();
        let pid = program.id() as i32;
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut found = descendants(pid);
        while found.len() < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            found = descendants(pid);
        }
        let _ = program.kill();
        let _ = program.wait();
        for child in &found[1..] {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(*child),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        assert!(
            found.len() >= 2,
            "the sleep started by a thread was not found: {found:?}"
        );
    }

    #[test]
    fn own_process_is_measurable() {
        let pid = std::process::id() as i32;
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_add(i * i);
        }
        assert!(x > 0);
        assert!(tree_ticks(&descendants(pid)).is_some());
        assert!(peak_rss_bytes(pid).unwrap() > 0);
    }
}
