//! Writes the ledger of a finished run without running anything (benchmark helper, not a
//! test): every block of every task of TASK_FILE is assigned to one of `--workers` local
//! workers and finished `Done`, through the library's `Journal` (orchestrator log) and
//! `LogWriter` (each worker's inbox and outbox) — the same records, files and order a real
//! `blockorch submit` leaves behind, in seconds instead of the hours a 10^6-block run takes.
//!
//!   cargo bench --bench ledger_build -- TASK_FILE LEDGER_DIR [--workers N] [--no-snapshot]
//!
//! `--no-snapshot` leaves out the final snapshot (an orchestrator killed before its end), so a
//! reader has to fold the whole orchestrator log. The ledger directory must not exist.
//! Prints one JSON line with what was written and how long it took.

use blockorch::ledger::{
    hostname, now_us, AttemptStats, ClaimOptions, InboxRecord, Journal, Ledger, LogStream,
    LogWriter, OrchestratorRecord, OutboxRecord, Outcome, RunEndReason, WorkerId,
};
use blockorch::task::load_task_file;
use serde::Serialize;
use std::path::PathBuf;
use std::time::Instant;

/// Records buffered between commits (one fdatasync each).
const COMMIT_EVERY: usize = 20_000;

#[derive(Serialize)]
struct Built {
    ledger: String,
    blocks: u64,
    workers: u32,
    snapshot: bool,
    orchestrator_records: u64,
    outbox_records: u64,
    inbox_records: u64,
    bytes: u64,
    build_s: f64,
}

struct Worker {
    index: u32,
    inbox: LogWriter<InboxRecord>,
    outbox: LogWriter<OutboxRecord>,
    log_path: String,
}

fn usage() -> ! {
    eprintln!("usage: ledger_build TASK_FILE LEDGER_DIR [--workers N] [--no-snapshot]");
    std::process::exit(2);
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let mut positional = Vec::new();
    let mut workers_n = 2u32;
    let mut snapshot = true;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--workers" => {
                workers_n = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&n| n > 0)
                    .unwrap_or_else(|| usage())
            }
            "--no-snapshot" => snapshot = false,
            _ if a.starts_with("--") => usage(),
            _ => positional.push(a),
        }
    }
    let [task_file, root] = <[String; 2]>::try_from(positional).unwrap_or_else(|_| usage());
    let root = std::path::absolute(PathBuf::from(root))?;
    anyhow::ensure!(
        !root.exists(),
        "{} exists; give a new directory",
        root.display()
    );
    let start = Instant::now();

    // The same set-up as `blockorch submit` (orchestrator::prepare).
    let file = load_task_file(std::path::Path::new(&task_file))?;
    let plan = file.plan()?;
    let canonical = file.canonical_json();
    let ledger = Ledger::create_or_open(&root, &canonical)?;
    let ownership = ledger.claim(&ClaimOptions::default())?;
    ownership.heartbeat()?;
    let mut journal = Journal::start(&ledger, &ownership)?;
    let epoch = journal.epoch();
    let host = hostname();
    let pid = std::process::id();

    let mut orchestrator_records = 0u64;
    let (mut inbox_records, mut outbox_records) = (0u64, 0u64);
    let mut blocks = 0u64;
    let mut next_index = 0u32;
    for task in 0..plan.len() {
        let name = plan.name(task).to_string();
        let mut workers = Vec::new();
        for k in 0..workers_n {
            let worker_id = format!("local-e{epoch}-{name}-{}", next_index + 1);
            let id = WorkerId::new(worker_id.clone())?;
            std::fs::create_dir_all(ledger.worker_dir(&id))?;
            journal.append(OrchestratorRecord::WorkerRegistered {
                index: next_index,
                worker_id: worker_id.clone(),
                backend: "local".into(),
                job_id: None,
                time_us: now_us(),
            })?;
            journal.commit()?;
            orchestrator_records += 1;
            let mut outbox = LogWriter::open_append(ledger.outbox_path(&id))?;
            outbox.append(&OutboxRecord::Hello {
                worker_id: worker_id.clone(),
                host: host.clone(),
                pid: pid + 1 + k,
                backend_job: None,
                slots: 1,
                time_us: now_us(),
            })?;
            outbox_records += 1;
            let log = ledger.worker_log_path(&id, 0, LogStream::Stderr);
            workers.push(Worker {
                index: next_index,
                inbox: LogWriter::open_append(ledger.inbox_path(&id, epoch))?,
                outbox,
                log_path: log
                    .strip_prefix(&root)
                    .unwrap_or(&log)
                    .display()
                    .to_string(),
            });
            next_index += 1;
        }
        let t = task as u32;
        let n = workers.len();
        for (i, block) in plan.task(task).blocks().enumerate() {
            let w = &mut workers[i % n];
            let t0 = now_us();
            journal.append(OrchestratorRecord::Assigned {
                task: t,
                block: block.id,
                attempt: 1,
                worker: w.index,
                time_us: t0,
            })?;
            w.inbox.append(&InboxRecord::Assign {
                task: t,
                block: block.id,
                attempt: 1,
                time_us: t0,
            })?;
            w.outbox.append(&OutboxRecord::Started {
                task: t,
                block: block.id,
                attempt: 1,
                slot: 0,
                time_us: t0,
            })?;
            w.outbox.append(&OutboxRecord::Finished {
                task: t,
                block: block.id,
                attempt: 1,
                outcome: Outcome::Done,
                stats: AttemptStats {
                    start_us: t0,
                    end_us: t0 + 50,
                    wall_s: 50e-6,
                    cpu_s: 40e-6,
                    peak_rss_bytes: 12 << 20,
                    exit_code: None,
                    signal: None,
                },
                log_path: w.log_path.clone(),
            })?;
            journal.append(OrchestratorRecord::Finished {
                task: t,
                block: block.id,
                attempt: 1,
                worker: w.index,
                outcome: Outcome::Done,
                time_us: t0 + 100,
            })?;
            orchestrator_records += 2;
            inbox_records += 1;
            outbox_records += 2;
            blocks += 1;
            if journal.pending_records() >= COMMIT_EVERY {
                journal.commit()?;
                for w in &mut workers {
                    w.inbox.commit()?;
                    w.outbox.commit()?;
                }
            }
        }
        for w in &mut workers {
            w.inbox.append(&InboxRecord::Stop {
                reason: "no more blocks for this task".into(),
            })?;
            w.inbox.commit()?;
            w.outbox.append(&OutboxRecord::Bye {
                reason: "stopped: no more blocks for this task".into(),
                time_us: now_us(),
            })?;
            w.outbox.commit()?;
            journal.append(OrchestratorRecord::WorkerEnded {
                worker: w.index,
                reason: "stopped: no more blocks for this task".into(),
                time_us: now_us(),
            })?;
            inbox_records += 1;
            outbox_records += 1;
            orchestrator_records += 1;
        }
        journal.commit()?;
    }
    journal.append(OrchestratorRecord::RunEnded {
        reason: RunEndReason::Completed,
        message: "run finished".into(),
        time_us: now_us(),
    })?;
    journal.commit()?;
    orchestrator_records += 1;
    if snapshot {
        journal.write_snapshot()?;
    }
    ownership.release()?;
    let out = Built {
        ledger: root.display().to_string(),
        blocks,
        workers: next_index,
        snapshot,
        orchestrator_records,
        outbox_records,
        inbox_records,
        bytes: dir_bytes(&root),
        build_s: start.elapsed().as_secs_f64(),
    };
    println!("{}", serde_json::to_string(&out)?);
    Ok(())
}
