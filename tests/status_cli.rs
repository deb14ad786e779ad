//! End-to-end tests of `blockorch status`: real small jobs run with the built binary and a tiny
//! Python worker written into a temporary directory, then read back with `status`.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use blockorch::ledger::{ClaimOptions, Journal, Ledger, OrchestratorRecord, Outcome};
use blockorch::task::load_task_file;
use serde_json::{json, Value};

/// Reports every block done, except those listed in `FAIL` (comma-separated ids), which fail.
const WORKER: &str = r#"
import json, os, sys, time
out = os.fdopen(int(os.environ["BLOCKORCH_REPORT_FD"]), "w", buffering=1)
fail = {int(x) for x in os.environ.get("FAIL", "").split(",") if x}
delay = float(os.environ.get("DELAY", "0"))
for line in sys.stdin:
    b = json.loads(line)
    time.sleep(delay)
    if b["block_id"] in fail:
        out.write(json.dumps({"block_id": b["block_id"], "status": "failed", "error": "boom"}) + "\n")
    else:
        out.write(json.dumps({"block_id": b["block_id"], "status": "done"}) + "\n")
"#;

fn worker(env: Value) -> Value {
    json!({"command": ["python3", "w.py"], "env": env})
}

/// Two dependent 2-D tasks and a 3-D one.
fn job_tasks(fail_up: Option<u64>) -> Value {
    let fail = fail_up.map(|b| b.to_string()).unwrap_or_default();
    json!({"tasks": [
        {"name": "up", "total_roi": {"offset": [0, 0], "shape": [60, 70]},
         "read_roi": {"offset": [0, 0], "shape": [14, 14]},
         "write_roi": {"offset": [2, 2], "shape": [10, 10]},
         "num_workers": 2, "max_retries": 0, "worker": worker(json!({"FAIL": fail}))},
        {"name": "down", "upstream_tasks": ["up"], "total_roi": {"offset": [2, 2], "shape": [56, 66]},
         "read_roi": {"offset": [0, 0], "shape": [12, 12]},
         "write_roi": {"offset": [1, 1], "shape": [10, 10]},
         "num_workers": 2, "worker": worker(json!({}))},
        {"name": "cube", "total_roi": {"offset": [0, 0, 0], "shape": [4, 5, 6]},
         "read_roi": {"offset": [0, 0, 0], "shape": [1, 1, 1]},
         "write_roi": {"offset": [0, 0, 0], "shape": [1, 1, 1]},
         "num_workers": 1, "worker": worker(json!({}))}
    ]})
}

fn write_job(dir: &Path, tasks: &Value) {
    std::fs::write(dir.join("w.py"), WORKER).unwrap();
    std::fs::write(dir.join("t.json"), tasks.to_string()).unwrap();
}

fn blockorch(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_blockorch"))
        .args(args)
        .current_dir(dir)
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs the job in `dir` to its end and returns submit's JSON report and exit code.
fn submit(dir: &Path) -> (Value, i32) {
    let out = blockorch(dir, &["submit", "t.json", "--json"]);
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("submit printed no JSON ({e}): {}", stderr(&out)));
    (report, out.status.code().unwrap())
}

fn status_json(dir: &Path) -> Value {
    let out = blockorch(dir, &["status", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn plan_totals(dir: &Path) -> Vec<(String, u64)> {
    let file = load_task_file(&dir.join("t.json")).unwrap();
    let plan = file.plan().unwrap();
    (0..plan.len())
        .map(|t| (plan.name(t).to_string(), plan.task(t).num_blocks() as u64))
        .collect()
}

/// Every file under `dir` with its size and modification time.
fn listing(dir: &Path) -> Vec<(std::path::PathBuf, u64, std::time::SystemTime)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let m = e.metadata().unwrap();
            if m.is_dir() {
                stack.push(e.path());
            }
            out.push((e.path(), m.len(), m.modified().unwrap()));
        }
    }
    out.sort();
    out
}

fn task<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap()
}

#[test]
fn completed_run_counts_blocks_map_and_human_table() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_job(d, &job_tasks(None));
    let (_, code) = submit(d);
    assert_eq!(code, 0);

    // --json: counts equal the plan.
    let before = listing(&d.join("t.ledger"));
    let s = status_json(d);
    let totals = plan_totals(d);
    for (name, total) in &totals {
        let t = task(&s, name);
        assert_eq!(t["total"], *total, "{name}");
        assert_eq!(t["done"], *total, "{name}");
        for k in [
            "skipped", "running", "queued", "failed", "orphaned", "pending",
        ] {
            assert_eq!(t[k], 0, "{name} {k}");
        }
    }
    assert_eq!(s["run_over"], true);
    assert_eq!(s["owner"]["state"], "ended");
    assert_eq!(s["owner"]["run_end"]["reason"], "completed");
    assert!(s["workers"]["workers"].as_array().unwrap().len() >= 3);
    assert_eq!(s["workers"]["counts"]["active"], 0);

    // --blocks: one line per block, each with a plausible attempt.
    let out = blockorch(d, &["status", "--blocks", "--attempts"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let lines: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let all: u64 = totals.iter().map(|(_, n)| n).sum();
    assert_eq!(lines.len() as u64, all);
    for l in &lines {
        assert_eq!(l["state"], "done");
        let attempts = l["attempts"].as_array().unwrap();
        assert_eq!(attempts.len(), 1, "{l}");
        let a = &attempts[0];
        assert_eq!(a["outcome"], "done");
        assert_eq!(a["attempt"], 1);
        let (start, end) = (
            a["start_us"].as_u64().unwrap(),
            a["end_us"].as_u64().unwrap(),
        );
        assert!(start > 1_600_000_000_000_000 && end >= start, "{a}");
        let wall = a["wall_s"].as_f64().unwrap();
        assert!((0.0..60.0).contains(&wall), "{a}");
        assert!(a["cpu_s"].as_f64().unwrap() >= 0.0);
        assert!(a["peak_rss_bytes"].as_u64().unwrap() > 0, "{a}");
        assert_eq!(a["worker"], l["last_worker"]);
        let log = a["log_path"].as_str().unwrap();
        assert!(d.join("t.ledger").join(log).exists(), "{log}");
    }

    // --map: grid dimensions and done cells (letters: stdout is not a terminal).
    let out = blockorch(d, &["status", "--map", "--task", "down"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let grid: Vec<&str> = text
        .lines()
        .filter(|l| !l.is_empty() && l.chars().all(|c| ".r#sFo".contains(c)))
        .collect();
    let down = load_task_file(&d.join("t.json")).unwrap().plan().unwrap();
    let shape = down.task(1).grid_shape();
    assert_eq!(grid.len() as i64, shape[0], "{text}");
    assert!(grid.iter().all(|r| r.len() as i64 == shape[1]), "{text}");
    let done = grid
        .iter()
        .flat_map(|r| r.chars())
        .filter(|&c| c == '#')
        .count();
    assert_eq!(done as u64, totals[1].1);
    assert!(!text.contains('\x1b'), "no colours when piped");
    assert!(text.contains(&format!("# done {}", totals[1].1)), "{text}");

    // A 3-D grid: the leading axis is fixed at its middle, or as asked.
    let out = blockorch(d, &["status", "--map", "--task", "cube", "--json"]);
    let m: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(m["grid_shape"], json!([4, 5, 6]));
    assert_eq!(m["fixed"], json!([{"axis": 0, "index": 2}]));
    assert_eq!(m["cells"].as_array().unwrap().len(), 5);
    assert_eq!(m["cells"][0].as_str().unwrap(), "######");
    let out = blockorch(
        d,
        &[
            "status", "--map", "--task", "cube", "--axis", "2", "--index", "0", "--json",
        ],
    );
    let m: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (m["row_axis"].clone(), m["col_axis"].clone()),
        (json!(0), json!(1))
    );
    assert_eq!(m["cells"].as_array().unwrap().len(), 4);
    let out = blockorch(
        d,
        &[
            "status", "--map", "--task", "cube", "--axis", "2", "--index", "6",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--index 6 for axis 2"),
        "{}",
        stderr(&out)
    );

    // Human output: header lines, one row per task with its counts, the workers.
    let out = blockorch(d, &["status"]);
    assert!(out.status.success());
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "ledger  t.ledger");
    assert!(
        lines[1].starts_with("owner   pid ") && lines[1].ends_with(": ended"),
        "{text}"
    );
    assert!(lines[2].starts_with("run     completed at "), "{text}");
    let header: Vec<&str> = lines[4].split_whitespace().collect();
    assert_eq!(
        header,
        [
            "task", "progress", "total", "done", "skipped", "running", "queued", "failed",
            "orphaned", "pending", "init", "rate/s", "ETA"
        ]
    );
    for (i, (name, total)) in totals.iter().enumerate() {
        let row: Vec<&str> = lines[5 + i].split_whitespace().collect();
        let n = total.to_string();
        assert_eq!(
            row,
            [
                name.as_str(),
                "100.0%",
                &n,
                &n,
                "0",
                "0",
                "0",
                "0",
                "0",
                "0",
                "-",
                "-",
                "-"
            ]
        );
    }
    assert!(lines[8].starts_with("all "), "{text}");
    assert!(
        text.contains("\nworkers 3: 0 starting, 0 active, 0 silent, 3 ended\n"),
        "{text}"
    );
    assert!(text.contains("ended: "), "{text}");

    assert_eq!(
        listing(&d.join("t.ledger")),
        before,
        "status never writes to the ledger"
    );

    // --watch stops by itself once the run is over.
    let started = Instant::now();
    let out = blockorch(d, &["status", "--watch"]);
    assert!(out.status.success());
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(stdout(&out).starts_with("ledger  t.ledger"));
}

#[test]
fn failed_block_shows_failed_and_orphaned_as_submit_printed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_job(d, &job_tasks(Some(0)));
    let (report, code) = submit(d);
    assert_eq!(code, 3, "{report}");
    let s = status_json(d);
    let mut orphans = 0;
    for t in report["tasks"].as_array().unwrap() {
        let name = t["task"].as_str().unwrap();
        let st = task(&s, name);
        for k in ["total", "done", "skipped", "failed", "orphaned"] {
            assert_eq!(st[k], t[k], "{name} {k}");
        }
        orphans += t["orphaned"].as_u64().unwrap();
    }
    assert_eq!(task(&s, "up")["failed"], 1);
    assert!(orphans > 0, "a corner block of up has dependents");
    assert_eq!(s["owner"]["run_end"]["reason"], "blocks_failed");

    let out = blockorch(d, &["status", "--blocks", "--attempts"]);
    let failed: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|l| l["state"] == "failed")
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["block_id"], 0);
    assert_eq!(failed[0]["attempts"][0]["outcome"], "failed");
    assert_eq!(failed[0]["attempts"][0]["error"], "boom");
    assert!(failed[0]["last_error"].as_str().unwrap().contains("boom"));

    let out = blockorch(d, &["status", "--map", "--task", "up", "--json"]);
    let m: Value = serde_json::from_slice(&out.stdout).unwrap();
    let cells: String = m["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert_eq!(cells.chars().filter(|&c| c == 'F').count(), 1);
    assert_eq!(
        cells.chars().next(),
        Some('F'),
        "block 0 is the first corner"
    );
    assert_eq!(
        cells.chars().filter(|&c| c == 'o').count() as u64,
        task(&s, "up")["orphaned"].as_u64().unwrap()
    );
    assert_eq!(m["counts"]["orphaned"], task(&s, "up")["orphaned"]);
}

#[test]
fn large_grids_are_downsampled_to_fit() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("wide.ledger");
    let tasks = json!({"tasks": [{"name": "wide",
        "total_roi": {"offset": [0, 0], "shape": [10, 250]},
        "read_roi": {"offset": [0, 0], "shape": [1, 1]},
        "write_roi": {"offset": [0, 0], "shape": [1, 1]},
        "worker": {"command": ["true"]}}]});
    let l = Ledger::create_or_open(&root, &tasks).unwrap();
    let own = l.claim(&ClaimOptions::default()).unwrap();
    let mut j = Journal::start(&l, &own).unwrap();
    j.append(OrchestratorRecord::WorkerRegistered {
        index: 0,
        worker_id: "w".into(),
        backend: "local".into(),
        job_id: None,
        time_us: 1,
    })
    .unwrap();
    let file = blockorch::task::parse_task_file("t", &tasks.to_string()).unwrap();
    let plan = file.plan().unwrap();
    // Every block of the first 6 columns done.
    for b in plan.task(0).blocks().filter(|b| b.coords[1] < 6) {
        for r in [
            OrchestratorRecord::Assigned {
                task: 0,
                block: b.id,
                attempt: 1,
                worker: 0,
                time_us: 1,
            },
            OrchestratorRecord::Finished {
                task: 0,
                block: b.id,
                attempt: 1,
                worker: 0,
                outcome: Outcome::Done,
                time_us: 1,
            },
        ] {
            j.append(r).unwrap();
        }
    }
    j.commit().unwrap();
    own.release().unwrap();
    let out = blockorch(dir.path(), &["status", "--map"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("scale: 1 cell = 3 × 3 blocks"), "{text}");
    let grid: Vec<&str> = text
        .lines()
        .filter(|l| !l.is_empty() && l.chars().all(|c| ".#".contains(c)))
        .collect();
    assert_eq!(grid.len(), 4, "{text}");
    assert!(grid.iter().all(|r| r.len() == 84), "{text}");
    // Cells of 3 × 3 blocks: the first two columns of cells are done in full.
    assert!(grid.iter().all(|r| r.starts_with("##.")), "{text}");
    assert!(text.contains("# done 60"), "{text}");
}

#[test]
fn default_ledger_discovery_and_bad_ledgers_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = blockorch(d, &["status"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no *.ledger directory in"),
        "{}",
        stderr(&out)
    );

    std::fs::create_dir(d.join("a.ledger")).unwrap();
    std::fs::create_dir(d.join("b.ledger")).unwrap();
    let out = blockorch(d, &["status"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("(a.ledger, b.ledger)"),
        "{}",
        stderr(&out)
    );
    let out = blockorch(d, &["cancel"]);
    assert_eq!(out.status.code(), Some(2));

    // A directory that is not a ledger.
    std::fs::write(d.join("a.ledger/notes.txt"), "hello").unwrap();
    let out = blockorch(d, &["status", "a.ledger"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out).trim(),
        "error: cannot read ledger a.ledger: a.ledger is not a blockorch ledger: it has no ledger.json"
    );
    // A garbage header.
    std::fs::write(d.join("b.ledger/ledger.json"), "\u{0}\u{1}garbage").unwrap();
    let out = blockorch(d, &["status", "b.ledger", "--json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot parse ledger header"),
        "{}",
        stderr(&out)
    );
    let out = blockorch(d, &["status", "missing.ledger"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("ledger missing.ledger does not exist"));
    let out = blockorch(d, &["status", "b.ledger", "--index", "3"]);
    assert_eq!(out.status.code(), Some(2));
}

/// Blocks assigned beyond one per slot of a live worker are shown as queued, not running;
/// blocks of a worker without a Hello (still starting) are all queued.
#[test]
fn assigned_blocks_beyond_the_slots_are_queued() {
    use blockorch::ledger::{LogWriter, OutboxRecord};
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("run.ledger");
    let tasks = json!({"tasks": [{"name": "t",
        "total_roi": {"offset": [0], "shape": [20]},
        "read_roi": {"offset": [0], "shape": [1]},
        "write_roi": {"offset": [0], "shape": [1]},
        "read_write_conflict": false,
        "worker": {"command": ["true"]}}]});
    let ledger = Ledger::create_or_open(&root, &tasks).unwrap();
    let owner = ledger.claim(&ClaimOptions::default()).unwrap();
    let mut journal = Journal::start(&ledger, &owner).unwrap();
    for (index, id) in ["w-live", "w-starting"].into_iter().enumerate() {
        journal
            .append(OrchestratorRecord::WorkerRegistered {
                index: index as u32,
                worker_id: id.into(),
                backend: "local".into(),
                job_id: None,
                time_us: 1,
            })
            .unwrap();
    }
    // 5 blocks to the live worker (2 slots), 3 to the one still starting.
    for block in 0..8u64 {
        journal
            .append(OrchestratorRecord::Assigned {
                task: 0,
                block,
                attempt: 1,
                worker: u32::from(block >= 5),
                time_us: 2,
            })
            .unwrap();
    }
    journal.commit().unwrap();
    let outbox = root.join("workers/w-live/outbox.log");
    std::fs::create_dir_all(outbox.parent().unwrap()).unwrap();
    let mut w = LogWriter::<OutboxRecord>::open_append(&outbox).unwrap();
    w.append(&OutboxRecord::Hello {
        worker_id: "w-live".into(),
        host: "h".into(),
        pid: 1,
        backend_job: None,
        slots: 2,
        time_us: blockorch::ledger::now_us(),
    })
    .unwrap();
    w.commit().unwrap();
    let out = blockorch(dir.path(), &["status", "--json", "run.ledger"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    let t = task(&s, "t");
    assert_eq!(
        (t["running"].as_u64(), t["queued"].as_u64()),
        (Some(2), Some(6)),
        "{t}"
    );
    assert_eq!(t["pending"], 12);
    let human = blockorch(dir.path(), &["status", "run.ledger"]);
    let text = String::from_utf8_lossy(&human.stdout);
    let row: Vec<&str> = text
        .lines()
        .find(|l| l.starts_with("t "))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(&row[5..7], ["2", "6"], "{text}");
    drop(owner);
}

/// Starts `blockorch ARGS` in `dir` in the background, its stdout to `stdout`.
fn spawn_in(dir: &Path, args: &[&str], stdout: Stdio) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_blockorch"))
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// While the orchestrator runs, `status --watch` reads the ledger for its first frame and then
/// the report the orchestrator records (`orchestrator/status-<N>.json`), saying how old it is.
#[test]
fn watch_frames_after_the_first_show_the_orchestrators_record() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let tasks = json!({"name": "slow", "total_roi": {"offset": [0], "shape": [4]},
        "read_roi": {"offset": [0], "shape": [1]}, "write_roi": {"offset": [0], "shape": [1]},
        "num_workers": 1, "worker": worker(json!({"DELAY": "3"}))});
    write_job(d, &tasks);
    let mut submit = spawn_in(d, &["submit", "t.json", "--quiet"], Stdio::null());
    let record = d.join("t.ledger/orchestrator/status-00000001.json");
    let until = Instant::now() + Duration::from_secs(30);
    while !record.exists() {
        assert!(Instant::now() < until, "no status record in 30 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut watch = spawn_in(d, &["status", "--watch", "--json"], Stdio::piped());
    // One document per frame (frames are separated by an empty line).
    let mut docs = std::io::BufRead::lines(std::io::BufReader::new(watch.stdout.take().unwrap()))
        .map(|l| l.unwrap())
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str::<Value>(&l).unwrap());
    let first = docs.next().unwrap();
    let second = docs.next().unwrap();
    watch.kill().unwrap();
    watch.wait().unwrap();
    assert!(first["recorded_age_s"].is_null(), "{first}");
    let age = second["recorded_age_s"]
        .as_f64()
        .expect("the second frame is the record");
    assert!((0.0..=30.0).contains(&age), "{age}");
    assert_eq!(second["totals"]["total"], 4, "{second}");
    assert_eq!(second["owner"]["epoch"], 1, "{second}");
    assert!(submit.wait().unwrap().success());
    // Once the run is over the ledger is read again: the final state, no record shown.
    let after = status_json(d);
    assert!(after["recorded_age_s"].is_null(), "{after}");
    assert_eq!(after["totals"]["done"], 4, "{after}");
}
