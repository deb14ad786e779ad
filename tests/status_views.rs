//! `status --failed`, `status --stats`, filtered `status --blocks` and `blockorch logs`:
//! golden outputs on a ledger with done, failed, orphaned and running blocks (written through
//! the ledger's own writers, with fixed times and measurements, so nothing is normalised),
//! and a real run of a Python worker whose block 7 raises, with blocks written ahead.
//!
//! Regenerate the goldens after a deliberate change of the output with
//! `BLOCKORCH_UPDATE_GOLDEN=1 cargo test --test status_views`, and review the diff.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use blockorch::ledger::{
    AttemptStats, ClaimOptions, FailureKind, Journal, Ledger, LogWriter, OrchestratorRecord,
    OutboxRecord, Outcome,
};
use blockorch::task::parse_task_file;
use serde_json::{json, Value};

fn blockorch(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_blockorch"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

/// Compares `actual` with the golden file `name` (or rewrites it when asked to).
fn golden(name: &str, actual: &str) {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests/fixtures/status_views",
        name,
    ]
    .iter()
    .collect();
    if std::env::var_os("BLOCKORCH_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (BLOCKORCH_UPDATE_GOLDEN=1 writes it)",
            path.display()
        )
    });
    assert_eq!(actual, want, "output differs from {}", path.display());
}

/// Two tasks of 8 one-cell blocks; block i of `down` reads what block i of `up` writes.
fn tasks() -> Value {
    let task = |name: &str, up: &[&str]| {
        json!({"name": name, "upstream_tasks": up,
               "total_roi": {"offset": [0], "shape": [8]},
               "read_roi": {"offset": [0], "shape": [1]},
               "write_roi": {"offset": [0], "shape": [1]},
               "worker": {"command": ["true"]}})
    };
    json!({"tasks": [task("up", &[]), task("down", &["up"])]})
}

const T0: u64 = 1_800_000_000_000_000;
const TRACEBACK: &str = "Traceback (most recent call last):\n  File \"w.py\", line 3, in process\nValueError: bad input";

fn stats(i: u64, wall_ms: u64, rss_mib: u64) -> AttemptStats {
    AttemptStats {
        start_us: T0 + i * 10_000_000,
        end_us: T0 + i * 10_000_000 + wall_ms * 1000,
        wall_s: wall_ms as f64 / 1000.0,
        cpu_s: wall_ms as f64 / 2000.0,
        peak_rss_bytes: rss_mib << 20,
        exit_code: None,
        signal: None,
    }
}

/// `up`: blocks 2 and 5 fail with the same traceback, 7 runs out of memory, the rest are
/// done; `down`: 0 and 1 done, 3 running, 2, 5 and 7 orphaned, 4 and 6 pending.
fn build(root: &Path) {
    let tasks = tasks();
    let plan = parse_task_file("t", &tasks.to_string())
        .unwrap()
        .plan()
        .unwrap();
    let ids: Vec<u64> = plan.task(0).blocks().map(|b| b.id).collect();
    let l = Ledger::create_or_open(root, &tasks).unwrap();
    let own = l.claim(&ClaimOptions::default()).unwrap();
    let mut j = Journal::start(&l, &own).unwrap();
    let mut outboxes = Vec::new();
    for (index, (id, backend, job, host, slots)) in [
        ("local-1-0", "local", None, "node-a", 1),
        ("slurm-77_1", "slurm", Some("77_1"), "node-b", 2),
    ]
    .into_iter()
    .enumerate()
    {
        j.append(OrchestratorRecord::WorkerRegistered {
            index: index as u32,
            worker_id: id.into(),
            backend: backend.into(),
            job_id: job.map(str::to_string),
            time_us: T0,
        })
        .unwrap();
        let path = root.join("workers").join(id).join("outbox.log");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut w = LogWriter::<OutboxRecord>::open_append(&path).unwrap();
        w.append(&OutboxRecord::Hello {
            worker_id: id.into(),
            host: host.into(),
            pid: 100 + index as u32,
            backend_job: job.map(str::to_string),
            slots,
            time_us: T0,
        })
        .unwrap();
        outboxes.push(w);
    }
    let mut run = |task: u32, i: usize, worker: u32, outcome: Option<Outcome>, s: AttemptStats| {
        let block = ids[i];
        j.append(OrchestratorRecord::Assigned {
            task,
            block,
            attempt: 1,
            worker,
            time_us: s.start_us,
        })
        .unwrap();
        let w = &mut outboxes[worker as usize];
        w.append(&OutboxRecord::Started {
            task,
            block,
            attempt: 1,
            slot: 0,
            time_us: s.start_us,
        })
        .unwrap();
        let Some(outcome) = outcome else { return };
        w.append(&OutboxRecord::Finished {
            task,
            block,
            attempt: 1,
            outcome: outcome.clone(),
            stats: s.clone(),
            log_path: "workers/x/slot-0.stderr.log".into(),
        })
        .unwrap();
        j.append(OrchestratorRecord::Finished {
            task,
            block,
            attempt: 1,
            worker,
            outcome,
            time_us: s.end_us,
        })
        .unwrap();
    };
    let failed = |kind, message: &str| {
        Some(Outcome::Failed {
            kind,
            message: message.into(),
        })
    };
    for i in 0..8 {
        let outcome = match i {
            2 | 5 => failed(FailureKind::BlockError, TRACEBACK),
            7 => failed(
                FailureKind::OutOfMemory,
                "killed by the kernel (out of memory)",
            ),
            _ => Some(Outcome::Done),
        };
        run(
            0,
            i,
            0,
            outcome,
            stats(i as u64, 100 * (i as u64 + 1), 10 * (i as u64 + 1)),
        );
    }
    run(1, 0, 1, Some(Outcome::Done), stats(10, 2500, 300));
    run(1, 1, 1, Some(Outcome::Done), stats(11, 3500, 500));
    run(1, 3, 1, None, stats(12, 0, 0));
    // The slot logs of `up`'s worker: each block's marker and a line, the failed ones'
    // traceback on stderr.
    let (mut out, mut err) = (String::new(), String::new());
    for (i, id) in ids.iter().enumerate() {
        let mark = format!("=== blockorch: task up block {id} attempt 1 ===\n");
        out.push_str(&format!("{mark}processing block {id}\n"));
        err.push_str(&mark);
        if [2, 5].contains(&i) {
            err.push_str(&format!("{TRACEBACK}\n"));
        }
    }
    let slot = root.join("workers/local-1-0/slot-0");
    std::fs::write(slot.with_extension("stdout.log"), out).unwrap();
    std::fs::write(slot.with_extension("stderr.log"), err).unwrap();
    j.commit().unwrap();
    for w in &mut outboxes {
        w.commit().unwrap();
    }
    own.release().unwrap();
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = blockorch(dir, args);
    assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn failed_stats_and_filtered_blocks_match_their_goldens() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    build(&d.join("g.ledger"));
    golden("failed.txt", &ok(d, &["status", "--failed"]));
    golden("failed.json", &ok(d, &["status", "--failed", "--json"]));
    golden("stats.txt", &ok(d, &["status", "--stats"]));
    golden("stats.json", &ok(d, &["status", "--stats", "--json"]));
    golden("blocks-all.jsonl", &ok(d, &["status", "--blocks"]));
    golden(
        "blocks-down-orphaned.jsonl",
        &ok(
            d,
            &[
                "status", "--blocks", "--task", "down", "--state", "orphaned",
            ],
        ),
    );
    golden(
        "blocks-running.jsonl",
        &ok(d, &["status", "--blocks", "--state", "running"]),
    );
    golden(
        "blocks-up-failed.jsonl",
        &ok(
            d,
            &["status", "--blocks", "--task", "up", "--state", "failed"],
        ),
    );
    // The same facts, checked independently of the goldens.
    let f: Value = serde_json::from_str(&ok(d, &["status", "--failed", "--json"])).unwrap();
    assert_eq!(
        (f["failed"].as_u64(), f["orphaned"].as_u64()),
        (Some(3), Some(3))
    );
    let groups = f["groups"].as_array().unwrap();
    assert_eq!(groups[0]["count"], 2, "{f}");
    assert!(groups[0]["cause"]
        .as_str()
        .unwrap()
        .ends_with("ValueError: bad input"));
    let by_state = |s: &str| -> Vec<Value> {
        ok(d, &["status", "--blocks", "--state", s])
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    assert_eq!(by_state("failed").len(), 3);
    assert_eq!(by_state("orphaned").len(), 3);
    assert_eq!(by_state("running").len(), 1);
    assert_eq!(by_state("done").len(), 7);
    assert_eq!(by_state("pending").len(), 2);
    let s: Value = serde_json::from_str(&ok(d, &["status", "--stats", "--json"])).unwrap();
    let up = &s["tasks"][0];
    assert_eq!(
        (up["attempts"].as_u64(), up["wall_s"]["max"].as_f64()),
        (Some(8), Some(0.8))
    );
    // 80 MiB × 1.5 × 1 slot; 0.8 s × 1.5 rounded up.
    assert_eq!(
        (
            up["suggested_mem"].as_str(),
            up["suggested_timeout"].as_str()
        ),
        (Some("120M"), Some("2s"))
    );
    // 500 MiB × 1.5 × 2 slots.
    assert_eq!(s["tasks"][1]["suggested_mem"], "1500M");

    // The first group's command shows the block, with the worker's host and job.
    let command = groups[0]["command"].as_str().unwrap();
    let args: Vec<&str> = command.split_whitespace().skip(1).collect();
    let shown = ok(d, &args);
    assert!(shown.contains("ValueError: bad input"), "{shown}");
    assert!(shown.contains("worker: local-1-0 on node-a"), "{shown}");
    golden("logs-failed.txt", &shown);
    let running = ok(
        d,
        &[
            "logs",
            "g.ledger",
            "--task",
            "down",
            "--block",
            &by_state("running")[0]["block_id"].to_string(),
            "--json",
        ],
    );
    let r: Value = serde_json::from_str(&running).unwrap();
    assert_eq!(
        (
            r["outcome"].as_str(),
            r["job_id"].as_str(),
            r["host"].as_str()
        ),
        (Some("running"), Some("77_1"), Some("node-b"))
    );
}

/// `status`, `status --map` and `report` read the ledger folded into a `CompactState`; the
/// orchestrator records its status from its own `LedgerState`, lent by reference. Both give
/// the same report and the same maps on a ledger with done, failed, orphaned and running
/// blocks.
#[test]
fn the_compact_and_the_orchestrators_fold_give_the_same_status() {
    use blockorch::ledger::{LedgerState, LedgerView};
    use blockorch::status::{LedgerSnapshot, MapView, NoScheduler, SliceRequest};
    use std::sync::Arc;

    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("g.ledger");
    build(&root);
    let now = T0 + 3_600_000_000;
    let compact = LedgerSnapshot::load_at(&root, now).unwrap();
    let view: LedgerView<LedgerState> = LedgerView::open(&root).unwrap();
    let tasks = parse_task_file("ledger.json", &view.header.tasks.to_string()).unwrap();
    let plan = Arc::new(tasks.plan().unwrap());
    let state = &view.loaded.state;
    let lent = LedgerView {
        root: view.root.clone(),
        header: view.header.clone(),
        owner: view.owner.clone(),
        loaded: blockorch::ledger::LoadedState {
            state,
            coverage: view.loaded.coverage.clone(),
            warnings: Vec::new(),
            snapshot: None,
        },
        workers: view.workers.clone(),
    };
    let full = LedgerSnapshot::from_parts(lent, tasks, plan, now);
    let a = serde_json::to_value(compact.report(&mut NoScheduler).unwrap()).unwrap();
    let b = serde_json::to_value(full.report(&mut NoScheduler).unwrap()).unwrap();
    assert_eq!(a, b);
    assert_eq!(a["totals"]["failed"], 3, "{a}");
    assert_eq!(a["totals"]["orphaned"], 3, "{a}");
    for task in ["up", "down"] {
        let request = SliceRequest::default();
        let m1 = MapView::build(&compact, Some(task), &request).unwrap();
        let m2 = MapView::build(&full, Some(task), &request).unwrap();
        assert_eq!(m1, m2, "map of {task}");
    }
}

#[test]
fn logs_names_what_it_cannot_find() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    build(&d.join("g.ledger"));
    let pending = {
        let lines = ok(d, &["status", "--blocks", "--state", "pending"]);
        let v: Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
        v["block_id"].as_u64().unwrap().to_string()
    };
    for (args, message) in [
        (
            vec!["logs", "--task", "nope", "--block", "0"],
            "no task \"nope\" in this ledger; its tasks are: up, down",
        ),
        (
            vec!["logs", "--task", "up", "--block", "999999"],
            "task \"up\" has no block 999999",
        ),
        (
            vec!["logs", "--task", "down", "--block", &pending],
            "of task \"down\" has not run yet",
        ),
        (
            vec![
                "logs",
                "--task",
                "down",
                "--block",
                &pending,
                "--attempt",
                "2",
            ],
            "of task \"down\" has not run yet",
        ),
    ] {
        let out = blockorch(d, &args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains(message),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
    let failed = ok(
        d,
        &["status", "--blocks", "--task", "up", "--state", "failed"],
    );
    let v: Value = serde_json::from_str(failed.lines().next().unwrap()).unwrap();
    let id = v["block_id"].to_string();
    let out = blockorch(
        d,
        &["logs", "--task", "up", "--block", &id, "--attempt", "3"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains(&format!("block {id} of task \"up\" has 1 attempt, not 3")),
        "{}",
        text(&out.stderr)
    );
}

/// The issue's case: a Python worker using the helper's `run()` prints two stdout lines and
/// one stderr line per block and raises in block 7 (and every block whose id ends in 7);
/// blocks are short, so the agent writes them ahead. `blockorch logs --task T --block 7`
/// shows the traceback and block 7's own lines, and nothing of any other block; so does it
/// for the failed blocks whose marker the agent wrote before the previous block's output.
#[test]
fn logs_of_a_python_block_that_raised_are_its_own_with_write_ahead() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("w.py"),
        r#"
import sys
from blockorch_worker import run

def process(block):
    print("out of block %d: first" % block.block_id)
    print("out of block %d: second" % block.block_id)
    sys.stderr.write("err of block %d\n" % block.block_id)
    if block.block_id % 10 == 7:
        raise ValueError("block %d is broken" % block.block_id)

run(process)
"#,
    )
    .unwrap();
    let python_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("python");
    let tasks = json!({"tasks": [{"name": "T",
        "total_roi": {"offset": [0], "shape": [300]},
        "read_roi": {"offset": [0], "shape": [1]},
        "write_roi": {"offset": [0], "shape": [1]},
        "read_write_conflict": false, "num_workers": 1, "max_retries": 0,
        "worker": {"command": ["python3", "w.py"], "write_ahead": true,
                   "env": {"PYTHONPATH": python_dir.display().to_string()}}}]});
    std::fs::write(d.join("t.json"), tasks.to_string()).unwrap();
    let out = blockorch(d, &["submit", "t.json", "--quiet"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "block 7 fails: {}",
        text(&out.stderr)
    );
    // Blocks were written ahead: their agent markers come before the earlier block's output.
    let workers: Vec<PathBuf> = std::fs::read_dir(d.join("t.ledger/workers"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let logs: String = workers
        .iter()
        .filter_map(|w| std::fs::read_to_string(w.join("slot-0.stdout.log")).ok())
        .collect();
    assert!(
        logs.contains(" (written ahead) ==="),
        "no block was written ahead:\n{logs}"
    );

    let shown = ok(d, &["logs", "--task", "T", "--block", "7"]);
    assert!(
        shown.contains("task T, block 7, attempt 1 of 1: failed (block error)"),
        "{shown}"
    );
    assert!(
        shown.contains("Traceback (most recent call last)"),
        "{shown}"
    );
    assert!(shown.contains("ValueError: block 7 is broken"), "{shown}");
    for line in shown.lines().filter(|l| l.contains(" of block ")) {
        assert!(
            line.starts_with("out of block 7: ") || line == "err of block 7",
            "a line of another block: {line:?}\n{shown}"
        );
    }
    let json: Value =
        serde_json::from_str(&ok(d, &["logs", "--task", "T", "--block", "7", "--json"])).unwrap();
    assert_eq!(
        json["stdout"]["text"], "out of block 7: first\nout of block 7: second\n",
        "{json}"
    );
    let stderr = json["stderr"]["text"].as_str().unwrap();
    assert!(
        stderr.starts_with("err of block 7\nTraceback (most recent call last)"),
        "{stderr}"
    );
    assert!(
        stderr.trim_end().ends_with("ValueError: block 7 is broken"),
        "{stderr}"
    );
    assert_eq!(stderr.matches(" of block ").count(), 1, "{stderr}");
    assert!(json["message"]
        .as_str()
        .unwrap()
        .contains("ValueError: block 7 is broken"));
    assert_eq!(json["stdout"]["ambiguous"], false);
    assert!(
        json["wall_s"].as_f64().is_some() && json["host"].is_string(),
        "{json}"
    );
    // Its neighbours are cut just as exactly.
    for id in [6u64, 8] {
        let v: Value = serde_json::from_str(&ok(
            d,
            &["logs", "--task", "T", "--block", &id.to_string(), "--json"],
        ))
        .unwrap();
        assert_eq!(
            v["stdout"]["text"],
            format!("out of block {id}: first\nout of block {id}: second\n"),
            "{v}"
        );
        assert_eq!(v["stderr"]["text"], format!("err of block {id}\n"), "{v}");
    }
    // The failed blocks whose agent marker precedes output of the block before them (written
    // ahead while it ran): their own lines and traceback, nothing else.
    let lines: Vec<&str> = logs.lines().collect();
    let pos = |needle: &str| lines.iter().position(|l| *l == needle);
    let mut tricky = 0;
    for id in (7..300u64).step_by(10) {
        let mark = |what: &str| format!("=== blockorch: task T block {id} attempt 1{what} ===");
        let (Some(ahead), Some(started)) =
            (pos(&mark(" (written ahead)")), pos(&mark(" (started)")))
        else {
            continue;
        };
        if !lines[ahead..started]
            .iter()
            .any(|l| l.starts_with("out of block "))
        {
            continue;
        }
        tricky += 1;
        let v: Value = serde_json::from_str(&ok(
            d,
            &["logs", "--task", "T", "--block", &id.to_string(), "--json"],
        ))
        .unwrap();
        assert_eq!(
            v["stdout"]["text"],
            format!("out of block {id}: first\nout of block {id}: second\n"),
            "{v}"
        );
        let err = v["stderr"]["text"].as_str().unwrap();
        assert!(
            err.starts_with(&format!("err of block {id}\nTraceback")),
            "{err}"
        );
        assert!(
            err.trim_end()
                .ends_with(&format!("ValueError: block {id} is broken")),
            "{err}"
        );
    }
    assert!(
        tricky > 0,
        "no failed block was written ahead of the previous block's output:\n{logs}"
    );
}
