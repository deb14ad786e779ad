//! The fault suite's ledger corruption (issue 8): every file kind of the ledger
//! (docs/design/ledger.md, *Layout*), after a run killed with kill -9 in the middle and after
//! a finished run, and the files of an older epoch that a later one sealed, is truncated, has
//! bytes flipped in the middle, gets garbage appended, has a region zero-filled, is deleted or
//! is replaced by an empty file (the framed logs and snapshots also get a byte of their file
//! header flipped); leftover temporary files (`.name.tmp-…`) are planted with damaged
//! contents. Then the same `submit` runs again, and for every case one of these must hold:
//!
//! - **completes**: exit 0, every block done in the ledger, and every done block's attempt
//!   was finished by a program (the timed worker's own log, `timing.log`): a block whose
//!   record the damage destroyed simply runs again;
//! - **refuses**: exit code neither 0 nor 101, an error naming the damaged file (or, for a
//!   missing file, the ledger), and the ledger exactly as it was (every entry, its bytes and
//!   mode). A refusal because the ledger looks owned (exit 4: the claim is unreadable) must
//!   be followed by a `submit --force` that completes.
//!
//! Never a panic (exit 101, or "panicked" in an agent's log), never a hang (each `submit` is
//! given [`LIMIT`]). Each case works on its own copy of a base job (the ledger and the
//! timing log), [`PARALLEL`] at a time. Damages are seeded (`BLOCKORCH_FAULT_SEED`, default 1); the
//! table of what happened is printed, and the counts go to `target/fault-counts.jsonl`.

mod run_common;

use blockorch::ledger::{BlockState, Ledger};
use run_common::timing::*;
use run_common::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Longest one `submit` on a damaged ledger may take (a hang otherwise).
const LIMIT: Duration = Duration::from_secs(60);

/// Cases run at the same time. Most of a case is waiting (blocks sleep; some resumes wait
/// 30 s for a worker that never says hello), so more than the cores.
const PARALLEL: usize = 4;

/// `submit`'s exit code for a ledger another orchestrator owns.
const BUSY: i32 = 4;

/// How long the programs and agents of a killed orchestrator may take to stop.
const STOP_LIMIT: Duration = Duration::from_secs(20);

/// The damages of the issue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Damage {
    /// Cut to a random length shorter than the file.
    Truncate,
    /// A few bytes in the middle XORed with random masks.
    Flip,
    /// Random bytes appended.
    Append,
    /// A region from the middle zero-filled.
    Zero,
    /// The file removed.
    Delete,
    /// The file replaced by an empty one.
    Empty,
    /// A byte of the 12-byte file header of a log or snapshot (magic, version, kind) flipped.
    Head,
}

const ALL: [Damage; 6] = [
    Damage::Truncate,
    Damage::Flip,
    Damage::Append,
    Damage::Zero,
    Damage::Delete,
    Damage::Empty,
];

/// The damages of the issue plus a flipped file header: for the framed logs and snapshots.
const FRAMED: [Damage; 7] = [
    Damage::Truncate,
    Damage::Flip,
    Damage::Append,
    Damage::Zero,
    Damage::Delete,
    Damage::Empty,
    Damage::Head,
];

impl Damage {
    fn name(self) -> &'static str {
        match self {
            Damage::Truncate => "truncate",
            Damage::Flip => "flip",
            Damage::Append => "append",
            Damage::Zero => "zero",
            Damage::Delete => "delete",
            Damage::Empty => "empty",
            Damage::Head => "head",
        }
    }

    /// The damaged contents of `bytes` (`None`: the file is deleted).
    fn apply(self, bytes: &[u8], rng: &mut SplitMix) -> Option<Vec<u8>> {
        let len = bytes.len() as u64;
        let mut out = bytes.to_vec();
        match self {
            Damage::Truncate => out.truncate(rng.range(0, len.max(1)) as usize),
            Damage::Flip => {
                let mid = len / 2;
                for _ in 0..rng.range(1, 5) {
                    if len == 0 {
                        break;
                    }
                    let at = (mid + rng.range(0, 8)).min(len - 1) as usize;
                    out[at] ^= rng.range(1, 256) as u8;
                }
            }
            Damage::Append => {
                let n = rng.range(1, 200);
                out.extend((0..n).map(|_| rng.range(0, 256) as u8));
            }
            Damage::Zero => {
                let start = rng.range(len / 4, (3 * len / 4).max(len / 4 + 1)).min(len);
                let end = (start + rng.range(1, 65)).min(len);
                out[start as usize..end as usize].fill(0);
            }
            Damage::Delete => return None,
            Damage::Empty => out.clear(),
            Damage::Head => {
                let at = rng.range(0, len.clamp(1, 12)) as usize;
                if at < out.len() {
                    out[at] ^= rng.range(1, 256) as u8;
                }
            }
        }
        Some(out)
    }
}

/// Which file of the ledger a case damages.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Header,
    EpochClaim,
    Heartbeat,
    EpochLog,
    Outbox,
    Inbox,
    SlotLog,
    Snapshot,
    /// A leftover temporary file beside `ledger.json`, planted from a damaged copy of it.
    TmpHeader,
    /// A leftover temporary heartbeat.
    TmpHeartbeat,
    /// A leftover temporary snapshot.
    TmpSnapshot,
    /// A leftover temporary claim (`publish_exclusive`'s name).
    TmpClaim,
    /// A stray dot-file beside the orchestrator log.
    TmpEpochLog,
    /// A stray dot-file beside an outbox.
    TmpOutbox,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Header => "ledger.json",
            Kind::EpochClaim => "owners/epoch-N.json",
            Kind::Heartbeat => "owners/heartbeat-N.json",
            Kind::EpochLog => "orchestrator/epoch-N.log",
            Kind::Outbox => "workers/<id>/outbox.log",
            Kind::Inbox => "workers/<id>/inbox-N.log",
            Kind::SlotLog => "workers/<id>/slot-S.stdout.log",
            Kind::Snapshot => "snapshots/snapshot-N-S.bin",
            Kind::TmpHeader => ".ledger.json.new-…",
            Kind::TmpHeartbeat => "owners/.heartbeat-N.json.tmp-…",
            Kind::TmpSnapshot => "snapshots/.snapshot-N-S.bin.tmp-…",
            Kind::TmpClaim => "owners/.epoch-N.json.new-…",
            Kind::TmpEpochLog => "orchestrator/.epoch-N.log.tmp-…",
            Kind::TmpOutbox => "workers/<id>/.outbox.log.tmp-…",
        }
    }

    /// True for the leftover temporary files (planted, not damaged in place).
    fn planted(self) -> bool {
        matches!(
            self,
            Kind::TmpHeader
                | Kind::TmpHeartbeat
                | Kind::TmpSnapshot
                | Kind::TmpClaim
                | Kind::TmpEpochLog
                | Kind::TmpOutbox
        )
    }

    /// The real file of this kind in `ledger` (for a planted kind: the file it copies).
    fn file(self, ledger: &Path) -> PathBuf {
        let first = |dir: &Path, pred: &dyn Fn(&str) -> bool| -> PathBuf {
            let mut names: Vec<PathBuf> = fs::read_dir(dir)
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .map(|e| e.unwrap().path())
                .filter(|p| pred(&p.file_name().unwrap().to_string_lossy()))
                .collect();
            names.sort();
            names
                .into_iter()
                .next()
                .unwrap_or_else(|| panic!("no such file in {}", dir.display()))
        };
        let worker = || first(&ledger.join("workers"), &|n| !n.starts_with('.'));
        match self {
            Kind::Header | Kind::TmpHeader => ledger.join("ledger.json"),
            Kind::EpochClaim | Kind::TmpClaim => {
                first(&ledger.join("owners"), &|n| n.starts_with("epoch-"))
            }
            Kind::Heartbeat | Kind::TmpHeartbeat => {
                first(&ledger.join("owners"), &|n| n.starts_with("heartbeat-"))
            }
            Kind::EpochLog | Kind::TmpEpochLog => {
                first(&ledger.join("orchestrator"), &|n| n.ends_with(".log"))
            }
            Kind::Outbox | Kind::TmpOutbox => worker().join("outbox.log"),
            Kind::Inbox => first(&worker(), &|n| n.starts_with("inbox-")),
            Kind::SlotLog => first(&worker(), &|n| {
                n.starts_with("slot-") && n.ends_with(".stdout.log")
            }),
            Kind::Snapshot | Kind::TmpSnapshot => {
                first(&ledger.join("snapshots"), &|n| n.starts_with("snapshot-"))
            }
        }
    }

    /// Where a planted temporary file goes (the name a crashed writer would have left).
    fn planted_path(self, real: &Path) -> PathBuf {
        let name = real.file_name().unwrap().to_string_lossy();
        let what = if matches!(self, Kind::TmpHeader | Kind::TmpClaim) {
            "new"
        } else {
            "tmp"
        };
        real.with_file_name(format!(".{name}.{what}-vm-424242-1796610592676516-0"))
    }
}

/// One case: a damage to a file kind of a base job.
#[derive(Clone, Copy, Debug)]
struct Case {
    kind: Kind,
    damage: Damage,
}

/// What a case came to.
#[derive(Debug)]
struct Outcome {
    case: Case,
    /// The damaged file, relative to the ledger.
    file: String,
    /// "completes" or "refuses", and the details the docs quote.
    verdict: String,
    /// Blocks the ledger counted done before the damage that ran again.
    reran: usize,
    /// What went wrong (empty: the case passed).
    problems: Vec<String>,
    /// A completed run, for the tally: its case directory.
    completed_dir: Option<PathBuf>,
}

/// The timed worker of the fault suite, blocks of `lo..hi` ms, stopping at once on SIGTERM.
fn worker(lo: u32, hi: u32) -> Value {
    python_program(
        &repo().join("tests/fixtures/faults/timed_worker.py"),
        &[],
        &[
            ("FAULT_ON_TERM", "stop"),
            ("FAULT_SLEEP_MS", &format!("{lo},{hi}")),
        ],
    )
}

/// 16 independent blocks (3×3 over 12×12), one agent with two programs.
fn tasks() -> Vec<Value> {
    vec![task(
        "a",
        (&[0, 0], &[12, 12]),
        (&[0, 0], &[3, 3]),
        (&[0, 0], &[3, 3]),
        json!({"num_workers": 2, "worker": worker(100, 200)}),
    )]
}

/// Blocks finished (`done`) in a timing log: (task, block, attempt).
fn finished_spans(log: &Path) -> BTreeSet<(String, u64, u32)> {
    read_spans(log)
        .into_iter()
        .filter(|s| s.done)
        .map(|s| (s.task, s.block, s.attempt))
        .collect()
}

/// A base job killed with kill -9 `kills` times, each after a few more blocks finished, its
/// agents and programs gone each time.
fn killed_base(kills: usize) -> Job {
    let job = Job::new(&tasks());
    let log = job.path("timing.log");
    for _ in 0..kills {
        let before = finished_spans(&log).len();
        let mut run = job.spawn_submit(&["--quiet"]);
        wait_until(SAFETY, "four more finished blocks", || {
            assert!(run.exited().is_none(), "the base run ended early");
            finished_spans(&log).len() >= before + 4
        });
        run.kill9();
        let agents = job.agent_pids();
        assert!(!agents.is_empty(), "no agent said Hello");
        assert_gone_within(&agents, STOP_LIMIT, "the agents of the killed run");
        wait_programs_gone(&log, STOP_LIMIT);
    }
    job
}

/// A base job that ran to its end.
fn finished_base() -> Job {
    let job = Job::new(&tasks());
    let out = job.submit(&["--quiet"]);
    assert_eq!(out.code, Some(0), "{}", out.text());
    wait_programs_gone(&job.path("timing.log"), STOP_LIMIT);
    job
}

/// Every entry below `dir`: relative path → (mode, contents; `None` for a directory).
fn listing(dir: &Path) -> BTreeMap<PathBuf, (u32, Option<Vec<u8>>)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let meta = fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(dir).unwrap().to_path_buf();
            let mode = meta.permissions().mode();
            if meta.is_dir() {
                stack.push(p);
                out.insert(rel, (mode, None));
            } else {
                out.insert(rel, (mode, Some(fs::read(&p).unwrap())));
            }
        }
    }
    out
}

/// The differences between two listings, for a message.
fn diff(
    before: &BTreeMap<PathBuf, (u32, Option<Vec<u8>>)>,
    after: &BTreeMap<PathBuf, (u32, Option<Vec<u8>>)>,
) -> Vec<String> {
    let keys: BTreeSet<&PathBuf> = before.keys().chain(after.keys()).collect();
    keys.into_iter()
        .filter(|k| before.get(*k) != after.get(*k))
        .map(|k| match (before.get(k), after.get(k)) {
            (None, _) => format!("{} created", k.display()),
            (_, None) => format!("{} removed", k.display()),
            _ => format!("{} changed", k.display()),
        })
        .collect()
}

/// Runs `blockorch submit task.json --quiet` in `dir`, at most [`LIMIT`]; `None` on a hang
/// (the process is killed).
fn submit_bounded(dir: &Path, extra: &[&str]) -> Option<RunOutput> {
    let mut command = Command::new(bin());
    command
        .args(["submit", "task.json", "--quiet"])
        .args(extra)
        .current_dir(dir);
    let mut run = spawn_logged(command, dir, &format!("resume{}", extra.join("")));
    let deadline = Instant::now() + LIMIT;
    while run.exited().is_none() {
        if Instant::now() > deadline {
            run.signal(libc::SIGKILL);
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(run.wait(Duration::from_secs(1)))
}

/// Agent logs of the ledger that report a panic.
fn agent_panics(ledger: &Path) -> Vec<String> {
    listing(ledger)
        .into_iter()
        .filter_map(|(rel, (_, bytes))| {
            let text = String::from_utf8_lossy(bytes.as_deref()?).into_owned();
            (rel.ends_with("agent.log") && text.contains("panicked"))
                .then(|| format!("{}: {}", rel.display(), text.trim()))
        })
        .collect()
}

/// The first line of `text` that says what went wrong (for the table).
fn gist(text: &str) -> String {
    let text = strip_ansi(text);
    let line = text
        .lines()
        .find(|l| l.contains("rror") || l.contains("refus"))
        .or_else(|| text.lines().find(|l| !l.trim().is_empty()))
        .unwrap_or("")
        .trim();
    line.chars().take(220).collect()
}

/// Runs one case on a copy of `base` in `work`.
fn run_case(base: &Path, plan: &Plan, case: Case, seed: u64, work: &Path) -> Outcome {
    let dir = work.join(
        format!("{}-{}", case.kind.name(), case.damage.name()).replace(['/', '<', '>', '…'], "_"),
    );
    let status = Command::new("cp")
        .arg("-a")
        .arg(base)
        .arg(&dir)
        .status()
        .unwrap();
    assert!(status.success(), "cp -a {}", base.display());
    let ledger = dir.join("task.ledger");
    let log = dir.join("timing.log");
    let base_done = finished_spans(&log);
    let counted_done = ledger_done_blocks(plan, &ledger);

    let mut rng = SplitMix(seed);
    let real = case.kind.file(&ledger);
    let target = if case.kind.planted() {
        case.kind.planted_path(&real)
    } else {
        real.clone()
    };
    let original = fs::read(&real).unwrap();
    match case.damage.apply(&original, &mut rng) {
        Some(bytes) => fs::write(&target, bytes).unwrap(),
        None if case.kind.planted() => {} // nothing to plant
        None => fs::remove_file(&target).unwrap(),
    }
    let file = target.strip_prefix(&ledger).unwrap().display().to_string();
    let before = listing(&ledger);

    let mut outcome = Outcome {
        case,
        file: file.clone(),
        verdict: String::new(),
        reran: 0,
        problems: Vec::new(),
        completed_dir: None,
    };
    let Some(out) = submit_bounded(&dir, &[]) else {
        outcome.verdict = "HANG".into();
        outcome
            .problems
            .push(format!("submit did not end within {LIMIT:?}"));
        return outcome;
    };
    if out.code == Some(101) || out.stderr.contains("panicked") {
        outcome.problems.push(format!("panic: {}", out.text()));
    }
    outcome.problems.extend(agent_panics(&ledger));
    if out.code == Some(0) {
        let (reran, problems) = check_completed(plan, &ledger, &log, &base_done, &counted_done);
        outcome.reran = reran;
        outcome.problems.extend(problems);
        outcome.verdict = format!(
            "completes (exit 0), {reran} done block(s) ran again{}",
            warning(&out.stderr)
        );
        outcome.completed_dir = Some(dir);
    } else {
        // Refuses: a clear error naming the file, the ledger untouched.
        let name = Path::new(&file).file_name().unwrap().to_string_lossy();
        // A deleted file is named by the ledger that lacks it; a claim whose damage left
        // valid JSON (another host, say) cannot be told from a real one: its owner is named.
        let names = out.stderr.contains(&*name)
            || (case.damage == Damage::Delete && out.stderr.contains("task.ledger"))
            || (out.code == Some(BUSY) && out.stderr.contains("is owned by orchestrator pid"));
        if !names {
            outcome
                .problems
                .push(format!("the error does not name {file}: {}", out.text()));
        }
        let after = listing(&ledger);
        let changed = diff(&before, &after);
        if !changed.is_empty() {
            outcome
                .problems
                .push(format!("refused but wrote to the ledger: {changed:?}"));
        }
        outcome.verdict = format!("refuses (exit {:?}): {}", out.code, gist(&out.stderr));
        if out.code == Some(BUSY) {
            // The way out the message names: `submit --force` takes over and completes.
            match submit_bounded(&dir, &["--force"]) {
                Some(forced) if forced.code == Some(0) => {
                    let (reran, problems) =
                        check_completed(plan, &ledger, &log, &base_done, &counted_done);
                    outcome.reran = reran;
                    outcome.problems.extend(problems);
                    outcome.verdict.push_str(&format!(
                        "; then `submit --force` completes (exit 0), {reran} done block(s) ran \
                         again"
                    ));
                    outcome.completed_dir = Some(dir);
                }
                Some(forced) => outcome
                    .problems
                    .push(format!("submit --force failed: {}", forced.text())),
                None => outcome
                    .problems
                    .push(format!("submit --force did not end within {LIMIT:?}")),
            }
        }
    }
    outcome
}

/// After a `submit` that exited 0: every block is done in the ledger, each by an attempt a
/// program finished (the timing log). Returns how many blocks the ledger counted done before
/// the damage (`counted_done`) ran again (a new `done` line beyond `base_done`), and what is
/// wrong.
fn check_completed(
    plan: &Plan,
    ledger: &Path,
    log: &Path,
    base_done: &BTreeSet<(String, u64, u32)>,
    counted_done: &BTreeSet<(String, u64)>,
) -> (usize, Vec<String>) {
    let mut problems = Vec::new();
    let state = match Ledger::open(ledger).and_then(|l| l.load_state()) {
        Ok(loaded) => loaded.state,
        Err(e) => return (0, vec![format!("exit 0 but the ledger does not load: {e}")]),
    };
    let after_done = finished_spans(log);
    for b in &plan.blocks {
        match state.block(plan.task_index(&b.task), b.id) {
            Some(e) if e.state() == BlockState::Done => {
                if !after_done.contains(&(b.task.clone(), b.id, e.last_attempt())) {
                    problems.push(format!(
                        "block {} counted done by attempt {} that no program finished",
                        b.id,
                        e.last_attempt()
                    ));
                }
            }
            other => problems.push(format!(
                "exit 0 but block {} is {:?}",
                b.id,
                other.map(|e| e.state())
            )),
        }
    }
    let rerun: BTreeSet<(String, u64)> = after_done
        .difference(base_done)
        .map(|(t, b, _)| (t.clone(), *b))
        .collect();
    (rerun.intersection(counted_done).count(), problems)
}

/// The blocks the (undamaged) ledger counts done.
fn ledger_done_blocks(plan: &Plan, ledger: &Path) -> BTreeSet<(String, u64)> {
    let state = Ledger::open(ledger).unwrap().load_state().unwrap().state;
    plan.blocks
        .iter()
        .filter(|b| {
            state
                .block(plan.task_index(&b.task), b.id)
                .is_some_and(|e| e.state() == BlockState::Done)
        })
        .map(|b| (b.task.clone(), b.id))
        .collect()
}

/// The first warning `submit` printed, for the table (without terminal colours).
fn warning(stderr: &str) -> String {
    strip_ansi(stderr)
        .lines()
        .find(|l| l.contains("WARN"))
        .map(|l| {
            let text = l.split_once("WARN").map_or(l, |(_, t)| t).trim();
            format!("; warns: {}", text.chars().take(200).collect::<String>())
        })
        .unwrap_or_default()
}

/// `text` without ANSI colour sequences.
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Runs `cases` on copies of `base`, [`PARALLEL`] at a time, prints the table, adds the completed
/// runs to a tally and asserts that every case passed.
fn run_cases(test: &str, base: &Job, cases: &[Case]) {
    let seed = env_count("BLOCKORCH_FAULT_SEED", 1);
    let mut tally = Tally::new(test, "local");
    let plan = base.plan();
    let root = base.root.as_path();
    let work = tempfile::tempdir().unwrap();
    let next = Mutex::new(0usize);
    let results: Mutex<Vec<(usize, Outcome)>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..PARALLEL {
            s.spawn(|| loop {
                let i = {
                    let mut n = next.lock().unwrap();
                    *n += 1;
                    *n - 1
                };
                let Some(&case) = cases.get(i) else { break };
                let o = run_case(root, &plan, case, seed * 1_000_003 + i as u64, work.path());
                results.lock().unwrap().push((i, o));
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(i, _)| *i);

    let mut table = format!("\n{test}: seed {seed}\n");
    let mut problems = Vec::new();
    for (_, o) in &results {
        tally.faults += 1;
        if let Some(dir) = &o.completed_dir {
            let label = format!("{} {}", o.case.kind.name(), o.case.damage.name());
            tally.add_run(
                &label,
                &plan,
                &dir.join("timing.log"),
                &dir.join("task.ledger"),
            );
        }
        table.push_str(&format!(
            "  {:<34} {:<9} {:<40} {}\n",
            o.case.kind.name(),
            o.case.damage.name(),
            o.file,
            o.verdict
        ));
        for p in &o.problems {
            problems.push(format!(
                "{} {} ({}): {p}",
                o.case.kind.name(),
                o.case.damage.name(),
                o.file
            ));
        }
    }
    let _ = std::io::stdout().lock().write_all(table.as_bytes());
    tally.finish();
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// Every kind with the given damages.
fn cases(kinds: &[(Kind, &[Damage])]) -> Vec<Case> {
    kinds
        .iter()
        .flat_map(|(kind, damages)| {
            damages.iter().map(|&damage| Case {
                kind: *kind,
                damage,
            })
        })
        .collect()
}

/// After kill -9 in the middle of a run: every kind the run has written, every damage.
#[test]
fn ledger_damage_after_kill_9() {
    let base = killed_base(1);
    let planted = [Damage::Truncate, Damage::Flip, Damage::Empty];
    let list = cases(&[
        (Kind::Header, &ALL),
        (Kind::EpochClaim, &ALL),
        (Kind::Heartbeat, &ALL),
        (Kind::EpochLog, &FRAMED),
        (Kind::Outbox, &FRAMED),
        (Kind::Inbox, &FRAMED),
        (
            Kind::SlotLog,
            &[Damage::Truncate, Damage::Append, Damage::Delete],
        ),
        (Kind::TmpHeader, &planted),
        (Kind::TmpHeartbeat, &planted),
        (Kind::TmpClaim, &[Damage::Truncate, Damage::Empty]),
        (Kind::TmpEpochLog, &[Damage::Truncate, Damage::Flip]),
        (Kind::TmpOutbox, &[Damage::Truncate, Damage::Append]),
    ]);
    run_cases("ledger_damage_after_kill_9", &base, &list);
}

/// After a finished run: the snapshot (which a killed run may not have written yet), and the
/// logs it stands in for.
#[test]
fn ledger_damage_after_finished_run() {
    let base = finished_base();
    let list = cases(&[
        (Kind::Snapshot, &FRAMED),
        (Kind::EpochLog, &FRAMED),
        (
            Kind::Outbox,
            &[Damage::Truncate, Damage::Flip, Damage::Delete],
        ),
        (Kind::Inbox, &[Damage::Zero, Damage::Delete]),
        (Kind::Heartbeat, &[Damage::Flip, Damage::Delete]),
        (Kind::EpochClaim, &[Damage::Flip, Damage::Empty]),
        (Kind::Header, &[Damage::Append]),
        (Kind::TmpSnapshot, &[Damage::Truncate, Damage::Empty]),
    ]);
    run_cases("ledger_damage_after_finished_run", &base, &list);
}

/// After two kills: the first epoch's files, which the second epoch sealed (its log is read
/// only up to the seal) and whose worker it already replaced.
#[test]
fn ledger_damage_of_an_older_epoch() {
    let base = killed_base(2);
    let list = cases(&[
        (Kind::EpochLog, &FRAMED),
        (Kind::EpochClaim, &[Damage::Delete, Damage::Empty]),
        (Kind::Inbox, &[Damage::Truncate, Damage::Delete]),
        (Kind::Outbox, &[Damage::Truncate, Damage::Delete]),
    ]);
    run_cases("ledger_damage_of_an_older_epoch", &base, &list);
}
