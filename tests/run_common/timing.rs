//! The fault suite's checker (`tests/faults_*.rs`): what really ran, read from the timing log
//! that `tests/fixtures/faults/timed_worker.py` writes (each program's own CLOCK_MONOTONIC
//! timestamps), judged against the plan (`blockorch plan --json`) and the ledger
//! (`blockorch status --json`):
//!
//! - a **same-block overlap** is two stretches of work on one block, in two programs, at the
//!   same time;
//! - a **conflicting overlap** is work on two different blocks of a task with
//!   `read_write_conflict` at the same time when one's write ROI meets the other's read ROI
//!   (daisy's definition of a conflict);
//! - a **lost block** is one the ledger does not count as done, or that no program ever
//!   finished.
//!
//! Every test adds its runs to a [`Tally`], which prints one summary line and appends it as
//! JSON to `target/fault-counts.jsonl` (quoted by docs/reliability.md) before asserting.

use super::{bin, Plan};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Now on CLOCK_MONOTONIC in nanoseconds (the clock of the timing log).
pub fn monotonic_ns() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec we own.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut t) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_MONOTONIC)");
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// The number in environment variable `name`, else `default` (test sizes: CI keeps the
/// defaults, a longer soak sets bigger ones).
pub fn env_count(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a whole number")),
        _ => default,
    }
}

/// One program's work on one block, from the timing log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    pub pid: u32,
    pub task: String,
    pub block: u64,
    pub attempt: u32,
    /// CLOCK_MONOTONIC ns when the program started the block.
    pub start: u64,
    /// When it stopped working on it; `None`: killed in the block (no end line).
    pub end: Option<u64>,
    /// True if it completed the block's work (`done`), false if it gave up (`stopped`).
    pub done: bool,
}

impl Span {
    /// Its end, or the end of time for a program killed in the block.
    pub fn end_or_max(&self) -> u64 {
        self.end.unwrap_or(u64::MAX)
    }

    /// True if the two ran at the same time (touching ends do not count).
    pub fn overlaps(&self, other: &Span) -> bool {
        self.start < other.end_or_max() && other.start < self.end_or_max()
    }
}

/// Reads the timing log: `<pid> <block_id> <start_ns> <end_ns>|- <task> <attempt> <how>` per
/// line; a start line (`-`, `start`) is closed by the end line with the same pid, block and
/// start. A torn last line (no newline: its program was killed while writing) is ignored.
pub fn read_spans(log: &Path) -> Vec<Span> {
    let text = fs::read_to_string(log).unwrap_or_default();
    let mut spans: BTreeMap<(u32, String, u64, u64), Span> = BTreeMap::new();
    for line in text.split_inclusive('\n').filter(|l| l.ends_with('\n')) {
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(f.len(), 7, "{}: bad line {line:?}", log.display());
        let num = |i: usize| -> u64 {
            f[i].parse()
                .unwrap_or_else(|_| panic!("{}: bad number in {line:?}", log.display()))
        };
        let (pid, block, start, task) = (num(0) as u32, num(1), num(2), f[4].to_string());
        let key = (pid, task.clone(), block, start);
        match f[6] {
            "start" => {
                let old = spans.insert(
                    key,
                    Span {
                        pid,
                        task,
                        block,
                        attempt: num(5) as u32,
                        start,
                        end: None,
                        done: false,
                    },
                );
                assert!(old.is_none(), "{}: started twice: {line:?}", log.display());
            }
            how @ ("done" | "stopped") => {
                let span = spans
                    .get_mut(&key)
                    .unwrap_or_else(|| panic!("{}: end without start: {line:?}", log.display()));
                assert!(
                    span.end.is_none(),
                    "{}: ended twice: {line:?}",
                    log.display()
                );
                span.end = Some(num(3));
                span.done = how == "done";
            }
            other => panic!("{}: unknown kind {other:?} in {line:?}", log.display()),
        }
    }
    let mut out: Vec<Span> = spans.into_values().collect();
    out.sort_by_key(|s| s.start);
    out
}

/// The overlaps found in one run's spans.
#[derive(Debug, Default)]
pub struct Overlaps {
    /// Pairs of spans of one block that ran at the same time.
    pub same_block: Vec<(Span, Span)>,
    /// Pairs of spans of conflicting blocks that ran at the same time.
    pub conflicting: Vec<(Span, Span)>,
}

/// Every pair of spans that ran at the same time although they must not: the same block, or
/// two blocks of a conflicting task where one's write ROI meets the other's read ROI.
pub fn find_overlaps(plan: &Plan, spans: &[Span]) -> Overlaps {
    let mut conflicts: BTreeSet<(&str, u64, u64)> = BTreeSet::new();
    for task in plan.tasks.iter().filter(|t| t.conflict) {
        let blocks: Vec<_> = plan.blocks_of(&task.name).collect();
        for a in &blocks {
            for b in &blocks {
                if a.id != b.id && (a.write.intersects(&b.read) || b.write.intersects(&a.read)) {
                    conflicts.insert((task.name.as_str(), a.id, b.id));
                }
            }
        }
    }
    let mut found = Overlaps::default();
    for (i, x) in spans.iter().enumerate() {
        for y in &spans[i + 1..] {
            if x.task != y.task || !x.overlaps(y) {
                continue;
            }
            let pair = (x.clone(), y.clone());
            if x.block == y.block {
                found.same_block.push(pair);
            } else if conflicts.contains(&(x.task.as_str(), x.block, y.block)) {
                found.conflicting.push(pair);
            }
        }
    }
    found
}

/// (total, done + skipped) over every task, from `blockorch status LEDGER --json`.
pub fn ledger_done(ledger: &Path) -> (u64, u64) {
    let out = Command::new(bin())
        .arg("status")
        .arg(ledger)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "blockorch status {} --json: {}",
        ledger.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("status --json");
    let n = |k: &str| {
        v["totals"][k]
            .as_u64()
            .unwrap_or_else(|| panic!("status --json has no totals.{k}: {v}"))
    };
    (n("total"), n("done") + n("skipped"))
}

/// The counts of one fault test over all its runs, and a few examples of what went wrong.
#[derive(Debug)]
pub struct Tally {
    test: String,
    backend: String,
    started: Instant,
    /// Faults injected (signals delivered, kills).
    pub faults: u64,
    /// Jobs run to completion (each with its own ledger; resumes not counted).
    pub runs: u64,
    /// Blocks in those jobs.
    pub blocks: u64,
    /// Spans in the timing logs (a block's work in one program).
    pub spans: u64,
    /// Blocks not done in the ledger or never finished by a program.
    pub lost: u64,
    pub same_block_overlaps: u64,
    pub conflicting_overlaps: u64,
    /// Spans without an end (their program was killed in the block).
    pub unclosed: u64,
    examples: Vec<String>,
}

impl Tally {
    /// An empty tally for test `test` on `backend`.
    pub fn new(test: &str, backend: &str) -> Self {
        Self {
            test: test.to_string(),
            backend: backend.to_string(),
            started: Instant::now(),
            faults: 0,
            runs: 0,
            blocks: 0,
            spans: 0,
            lost: 0,
            same_block_overlaps: 0,
            conflicting_overlaps: 0,
            unclosed: 0,
            examples: Vec::new(),
        }
    }

    /// Checks one finished job: its plan, its timing log and its ledger. Returns false if it
    /// found anything wrong (the details go into the final assertion message).
    pub fn add_run(&mut self, label: &str, plan: &Plan, log: &Path, ledger: &Path) -> bool {
        let spans = read_spans(log);
        let overlaps = find_overlaps(plan, &spans);
        let finished: BTreeSet<(&str, u64)> = spans
            .iter()
            .filter(|s| s.done)
            .map(|s| (s.task.as_str(), s.block))
            .collect();
        let never: Vec<(&str, u64)> = plan
            .blocks
            .iter()
            .map(|b| (b.task.as_str(), b.id))
            .filter(|k| !finished.contains(k))
            .collect();
        let (total, done) = ledger_done(ledger);
        let not_done = total.saturating_sub(done);
        let lost = (never.len() as u64).max(not_done);
        let unclosed = spans.iter().filter(|s| s.end.is_none()).count() as u64;

        self.runs += 1;
        self.blocks += plan.blocks.len() as u64;
        self.spans += spans.len() as u64;
        self.lost += lost;
        self.same_block_overlaps += overlaps.same_block.len() as u64;
        self.conflicting_overlaps += overlaps.conflicting.len() as u64;
        self.unclosed += unclosed;
        let mut ok = true;
        if lost > 0 {
            ok = false;
            self.examples.push(format!(
                "{label}: {not_done} of {total} blocks not done in the ledger; never finished \
                 by a program: {never:?}"
            ));
        }
        for (kind, pairs) in [
            ("same-block", &overlaps.same_block),
            ("conflicting", &overlaps.conflicting),
        ] {
            if let Some((x, y)) = pairs.first() {
                ok = false;
                self.examples.push(format!(
                    "{label}: {} {kind} overlaps, e.g.\n  {x:?}\n  {y:?}\n  (log {})",
                    pairs.len(),
                    log.display()
                ));
            }
        }
        ok
    }

    /// The summary as JSON.
    pub fn to_json(&self) -> Value {
        json!({
            "test": self.test,
            "backend": self.backend,
            "faults": self.faults,
            "runs": self.runs,
            "blocks": self.blocks,
            "spans": self.spans,
            "lost": self.lost,
            "same_block_overlaps": self.same_block_overlaps,
            "conflicting_overlaps": self.conflicting_overlaps,
            "unclosed": self.unclosed,
            "seconds": (self.started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
            "unix_time": std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs(),
        })
    }

    /// Prints the summary line (uncaptured), appends it to `target/fault-counts.jsonl`, then asserts
    /// 0 lost blocks, 0 same-block and 0 conflicting overlaps, and at least one fault.
    pub fn finish(self) {
        let line = self.to_json();
        let summary = format!(
            "fault summary: {}: {} faults, {} runs, {} blocks, {} lost, {} same-block \
             overlaps, {} conflicting overlaps ({} spans, {} unclosed, {} s)\n",
            self.test,
            self.faults,
            self.runs,
            self.blocks,
            self.lost,
            self.same_block_overlaps,
            self.conflicting_overlaps,
            self.spans,
            self.unclosed,
            line["seconds"]
        );
        // Straight to the process's stdout: the test harness captures only `print!`, and
        // the summary belongs in the suite's output whether the test passes or not.
        let _ = std::io::stdout().lock().write_all(summary.as_bytes());
        append_line(&counts_file(), &line.to_string());
        assert!(
            self.examples.is_empty(),
            "{}: {} lost, {} same-block overlaps, {} conflicting overlaps\n{}",
            self.test,
            self.lost,
            self.same_block_overlaps,
            self.conflicting_overlaps,
            self.examples.join("\n")
        );
        assert!(
            self.faults > 0 && self.runs > 0,
            "nothing was tested: {line}"
        );
    }
}

/// `target/fault-counts.jsonl` (next to the integration tests' `target/tmp`).
pub fn counts_file() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("fault-counts.jsonl")
}

/// Appends `line` and a newline in one write (tests run in parallel).
fn append_line(path: &Path, line: &str) {
    let mut f = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    f.write_all(format!("{line}\n").as_bytes())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// Spans of the log still in progress (no end line yet) whose program still runs.
pub fn in_flight(log: &Path) -> Vec<Span> {
    read_spans(log)
        .into_iter()
        .filter(|s| s.end.is_none() && super::process_running(s.pid))
        .collect()
}

/// Waits (at most `limit`) until no program of the log runs any more, so that every span
/// that will ever end has its end line.
pub fn wait_programs_gone(log: &Path, limit: std::time::Duration) {
    let pids: Vec<u32> = read_spans(log)
        .iter()
        .map(|s| s.pid)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    super::assert_gone_within(&pids, limit, "the worker programs of the run");
}
