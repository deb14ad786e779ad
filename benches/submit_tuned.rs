//! `blockorch submit` (local backend) with the run-loop knobs that have no CLI flag, for
//! benchmarking only: the same `orchestrator::submit` the CLI calls, with `SubmitOptions`
//! changed.
//!
//!   cargo bench --bench submit_tuned -- TASK_FILE LEDGER_DIR [--prefetch N] [--idle-sleep-ms MS]
//!       [--blockorch PATH]
//!
//! `--prefetch N` fixes the hand-out window at N blocks queued per slot (minimum and maximum
//! both N) instead of the adaptive default.
//!
//! The agents are started from the `blockorch` executable given by `--blockorch` (default:
//! `target/release/blockorch` next to this crate). Prints one JSON line: the options used,
//! wall seconds and blocks/s of the `submit` call.

use blockorch::backend::local::LocalBackend;
use blockorch::orchestrator::{submit, ProgressMode, SubmitOptions};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Serialize)]
struct Result {
    task_file: String,
    ledger: String,
    prefetch_per_slot: u32,
    idle_sleep_ms: u64,
    blocks: u64,
    wall_s: f64,
    blocks_per_s: f64,
    all_ok: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: submit_tuned TASK_FILE LEDGER_DIR [--prefetch N] [--idle-sleep-ms MS] \
         [--blockorch PATH]"
    );
    std::process::exit(2);
}

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let mut positional = Vec::new();
    let mut prefetch = None;
    let mut idle_sleep_ms = None;
    let mut exe = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/release/blockorch");
    while let Some(a) = args.next() {
        match a.as_str() {
            "--prefetch" => prefetch = args.next().and_then(|v| v.parse().ok()),
            "--idle-sleep-ms" => idle_sleep_ms = args.next().and_then(|v| v.parse().ok()),
            "--blockorch" => exe = args.next().map(PathBuf::from).unwrap_or_else(|| usage()),
            _ if a.starts_with("--") => usage(),
            _ => positional.push(a),
        }
    }
    let [task_file, ledger] = <[String; 2]>::try_from(positional).unwrap_or_else(|_| usage());
    let task_file = std::path::absolute(&task_file).expect("absolute task file path");
    let ledger = std::path::absolute(&ledger).expect("absolute ledger path");
    let mut opts = SubmitOptions::local(task_file.clone(), ledger.clone());
    opts.progress = ProgressMode::Quiet;
    if let Some(p) = prefetch {
        opts.prefetch_per_slot = p;
        opts.max_prefetch_per_slot = p;
    }
    if let Some(ms) = idle_sleep_ms {
        opts.idle_sleep = Duration::from_millis(ms);
    }
    let (prefetch_per_slot, idle_sleep_ms) =
        (opts.prefetch_per_slot, opts.idle_sleep.as_millis() as u64);
    let file = blockorch::task::load_task_file(&task_file).unwrap_or_else(|e| {
        eprintln!("submit_tuned: {e}");
        std::process::exit(1);
    });
    let start = Instant::now();
    let report = submit(
        file,
        opts,
        Box::new(LocalBackend::new(exe)),
        Arc::new(AtomicBool::new(false)),
    )
    .unwrap_or_else(|e| {
        eprintln!("submit_tuned: {e}");
        std::process::exit(1);
    });
    let wall_s = start.elapsed().as_secs_f64();
    let blocks: u64 = report.tasks.iter().map(|t| t.counts.total).sum();
    let out = Result {
        task_file: task_file.display().to_string(),
        ledger: ledger.display().to_string(),
        prefetch_per_slot,
        idle_sleep_ms,
        blocks,
        wall_s,
        blocks_per_s: blocks as f64 / wall_s,
        all_ok: report.all_ok(),
    };
    println!("{}", serde_json::to_string(&out).expect("serializable"));
}
