//! Shared helpers of the end-to-end run tests (`tests/run_*.rs`) and the fault suite
//! (`tests/faults_*.rs`, whose checker is [`timing`]): a job in a temporary
//! directory (task file, Python worker programs from `tests/fixtures/run/`), the real
//! `blockorch` binary, the events the workers write, and checks against the plan and the ledger.
#![allow(dead_code)]

use blockorch::ledger::{BlockState, Ledger, LedgerState, LogReader, OutboxRecord};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub mod timing;

/// Longest any single `blockorch` command may take before the test gives up (a safety net
/// against hangs, not a speed requirement).
pub const SAFETY: Duration = Duration::from_secs(120);

/// The `blockorch` binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_blockorch")
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A Python program of `tests/fixtures/run/`.
pub fn fixture(name: &str) -> PathBuf {
    repo().join("tests/fixtures/run").join(name)
}

/// Nanoseconds since the UNIX epoch (the clock the Python workers use).
pub fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// A command object running `tests/fixtures/run/<script>` with `python3` and `args`, with the
/// Python helper on `PYTHONPATH`, plus `env`.
pub fn python_command(script: &str, args: &[&str], env: &[(&str, &str)]) -> Value {
    python_program(&fixture(script), args, env)
}

/// A command object running the Python program `path` with `python3` and `args`, with the
/// Python helper on `PYTHONPATH`, plus `env`.
pub fn python_program(path: &Path, args: &[&str], env: &[(&str, &str)]) -> Value {
    let mut command = vec!["python3".to_string(), path.display().to_string()];
    command.extend(args.iter().map(|a| a.to_string()));
    let mut e = serde_json::Map::new();
    e.insert(
        "PYTHONPATH".into(),
        json!(repo().join("python").display().to_string()),
    );
    e.insert("PYTHONUNBUFFERED".into(), json!("1"));
    for (k, v) in env {
        e.insert(k.to_string(), json!(v));
    }
    json!({ "command": command, "env": e })
}

/// The persistent `blockwork.py` worker; blocks sleep `sleep_ms` (lo, hi) if given.
pub fn blockwork(sleep_ms: Option<(u32, u32)>) -> Value {
    match sleep_ms {
        Some((lo, hi)) => python_command(
            "blockwork.py",
            &[],
            &[("BLOCKWORK_SLEEP_MS", &format!("{lo},{hi}"))],
        ),
        None => python_command("blockwork.py", &[], &[]),
    }
}

/// Task `t`: ten 1-D blocks (ids 0..9) without conflicts, `extra` merged in.
pub fn ten_block_line(extra: Value) -> Value {
    let mut t = task(
        "t",
        (&[0], &[100]),
        (&[0], &[10]),
        (&[0], &[10]),
        json!({"read_write_conflict": false, "num_workers": 2, "worker": blockwork(None)}),
    );
    for (k, v) in extra.as_object().unwrap() {
        t[k] = v.clone();
    }
    t
}

/// A task object: `name`, ROIs as (offset, shape) pairs, and `extra` fields merged in.
pub fn task(
    name: &str,
    total: (&[i64], &[i64]),
    read: (&[i64], &[i64]),
    write: (&[i64], &[i64]),
    extra: Value,
) -> Value {
    let roi = |(o, s): (&[i64], &[i64])| json!({"offset": o, "shape": s});
    let mut t = json!({
        "name": name,
        "total_roi": roi(total),
        "read_roi": roi(read),
        "write_roi": roi(write),
    });
    if let (Some(t), Some(extra)) = (t.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            t.insert(k.clone(), v.clone());
        }
    }
    t
}

/// What one `blockorch` command did.
#[derive(Debug)]
pub struct RunOutput {
    /// Exit code (`None` if killed by a signal).
    pub code: Option<i32>,
    /// Its stdout.
    pub stdout: String,
    /// Its stderr.
    pub stderr: String,
    /// When it was started (ns since the epoch).
    pub started_ns: u128,
    /// How long it ran.
    pub elapsed: Duration,
}

impl RunOutput {
    /// stdout and stderr, for assertion messages.
    pub fn text(&self) -> String {
        format!(
            "exit {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// A `blockorch` process running in the background, its output going to files.
pub struct Running {
    pub child: Child,
    pub started_ns: u128,
    started: Instant,
    out: PathBuf,
    err: PathBuf,
}

impl Running {
    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` to it (only to it: its agents run in their own process groups).
    pub fn signal(&self, signal: i32) {
        // SAFETY: kill has no memory-safety preconditions; the pid is our live child.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, signal) }, 0);
    }

    /// True once it exited (it is reaped then).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().unwrap()
    }

    /// Waits for it to exit (at most `limit`, then kills it and panics).
    pub fn wait(mut self, limit: Duration) -> RunOutput {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "blockorch did not exit within {limit:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                    fs::read_to_string(&self.out).unwrap_or_default(),
                    fs::read_to_string(&self.err).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        RunOutput {
            code: status.code(),
            stdout: fs::read_to_string(&self.out).unwrap_or_default(),
            stderr: fs::read_to_string(&self.err).unwrap_or_default(),
            started_ns: self.started_ns,
            elapsed: self.started.elapsed(),
        }
    }

    /// SIGKILLs it and reaps it at once (so its agents see their parent gone).
    pub fn kill9(mut self) -> u128 {
        self.signal(libc::SIGKILL);
        let killed = now_ns();
        self.child.wait().unwrap();
        killed
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Starts `command` with stdin closed and stdout/stderr going to `<log_dir>/<tag>.stdout` and
/// `.stderr` (files, so a chatty process never blocks on a full pipe).
pub fn spawn_logged(mut command: Command, log_dir: &Path, tag: &str) -> Running {
    let out = log_dir.join(format!("{tag}.stdout"));
    let err = log_dir.join(format!("{tag}.stderr"));
    let started_ns = now_ns();
    let child = command
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out).unwrap())
        .stderr(fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    Running {
        child,
        started_ns,
        started: Instant::now(),
        out,
        err,
    }
}

/// One job in its own temporary directory: `task.json`, the ledger `task.ledger`, and the
/// files the workers write (`events/`, `out/`, `done/`, `ctl/`).
pub struct Job {
    _dir: tempfile::TempDir,
    /// The job directory (the task file's directory, the programs' working directory).
    pub root: PathBuf,
    runs: std::cell::Cell<u32>,
}

impl Job {
    /// A job with these tasks.
    pub fn new(tasks: &[Value]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        let job = Self {
            _dir: dir,
            root,
            runs: std::cell::Cell::new(0),
        };
        job.write_tasks(tasks);
        fs::create_dir_all(job.root.join("ctl")).unwrap();
        job
    }

    /// (Re)writes the task file.
    pub fn write_tasks(&self, tasks: &[Value]) {
        let text = serde_json::to_string_pretty(&json!({ "tasks": tasks })).unwrap();
        fs::write(self.task_file(), text).unwrap();
    }

    /// The task file.
    pub fn task_file(&self) -> PathBuf {
        self.root.join("task.json")
    }

    /// The ledger directory (`submit`'s default for `task.json`).
    pub fn ledger(&self) -> PathBuf {
        self.root.join("task.ledger")
    }

    /// A path inside the job directory.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Creates the behaviour switch `ctl/<name>`.
    pub fn ctl(&self, name: &str) {
        fs::write(self.root.join("ctl").join(name), "").unwrap();
    }

    /// Removes the behaviour switch `ctl/<name>`.
    pub fn rm_ctl(&self, name: &str) {
        fs::remove_file(self.root.join("ctl").join(name)).unwrap();
    }

    /// Starts `blockorch <args>` in the job directory, in the background.
    pub fn spawn(&self, args: &[&str]) -> Running {
        let n = self.runs.get() + 1;
        self.runs.set(n);
        let mut command = Command::new(bin());
        command.args(args).current_dir(&self.root);
        spawn_logged(command, &self.root, &format!("blockorch-{n}"))
    }

    /// Runs `blockorch <args>` in the job directory to its end.
    pub fn run(&self, args: &[&str]) -> RunOutput {
        self.spawn(args).wait(SAFETY)
    }

    /// `blockorch submit task.json <extra>` in the background.
    pub fn spawn_submit(&self, extra: &[&str]) -> Running {
        let mut args = vec!["submit", "task.json"];
        args.extend_from_slice(extra);
        self.spawn(&args)
    }

    /// `blockorch submit task.json <extra>` to its end.
    pub fn submit(&self, extra: &[&str]) -> RunOutput {
        self.spawn_submit(extra).wait(SAFETY)
    }

    /// The plan (`blockorch plan task.json --json`).
    pub fn plan(&self) -> Plan {
        plan_of(&self.task_file())
    }

    /// Every event the Python workers wrote, in time order.
    pub fn events(&self) -> Vec<Event> {
        let mut events = Vec::new();
        let Ok(dir) = fs::read_dir(self.root.join("events")) else {
            return events;
        };
        for entry in dir {
            let text = fs::read_to_string(entry.unwrap().path()).unwrap();
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                let v: Value = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("bad event line {line:?}: {e}"));
                events.push(Event {
                    kind: v["ev"].as_str().unwrap().to_string(),
                    task: v["task"].as_str().unwrap().to_string(),
                    block: v["block"].as_u64().unwrap(),
                    attempt: v["attempt"].as_u64().unwrap() as u32,
                    pid: v["pid"].as_u64().unwrap() as u32,
                    t: v["t"].as_u64().unwrap() as u128,
                    read_sum: v["read_sum"].as_i64(),
                });
            }
        }
        events.sort_by_key(|e| e.t);
        events
    }

    /// The attempts the workers ran (start event plus its closing event, if any).
    pub fn attempts(&self) -> Vec<Attempt> {
        let mut map: BTreeMap<(String, u64, u32, u32), Attempt> = BTreeMap::new();
        for e in self.events() {
            let key = (e.task.clone(), e.block, e.attempt, e.pid);
            if e.kind == "start" {
                let old = map.insert(
                    key,
                    Attempt {
                        task: e.task.clone(),
                        block: e.block,
                        attempt: e.attempt,
                        pid: e.pid,
                        start: e.t,
                        end: None,
                        how: None,
                        read_sum: None,
                    },
                );
                assert!(old.is_none(), "attempt started twice: {e:?}");
            } else {
                let a = map
                    .get_mut(&key)
                    .unwrap_or_else(|| panic!("{e:?} without a start"));
                assert!(a.end.is_none(), "attempt ended twice: {e:?}");
                a.end = Some(e.t);
                a.how = Some(e.kind.clone());
                a.read_sum = e.read_sum;
            }
        }
        map.into_values().collect()
    }

    /// Pids of the worker programs that started an attempt before `t` (ns since the epoch).
    pub fn program_pids_started_before(&self, t: u128) -> Vec<u32> {
        self.attempts()
            .iter()
            .filter(|a| a.start < t)
            .map(|a| a.pid)
            .collect()
    }

    /// The ledger's folded state (through the library).
    pub fn ledger_state(&self) -> LedgerState {
        Ledger::open(self.ledger())
            .unwrap()
            .load_state()
            .unwrap()
            .state
    }

    /// Every record of every worker's outbox, with the worker id.
    pub fn outbox_records(&self) -> Vec<(String, OutboxRecord)> {
        let mut out = Vec::new();
        let Ok(dir) = fs::read_dir(self.ledger().join("workers")) else {
            return out;
        };
        let mut dirs: Vec<PathBuf> = dir.map(|e| e.unwrap().path()).collect();
        dirs.sort();
        for d in dirs {
            let id = d.file_name().unwrap().to_string_lossy().into_owned();
            let contents = LogReader::<OutboxRecord>::read_closed(d.join("outbox.log")).unwrap();
            out.extend(contents.records.into_iter().map(|r| (id.clone(), r)));
        }
        out
    }

    /// Pids of the agents that said Hello in their outbox.
    pub fn agent_pids(&self) -> Vec<u32> {
        self.outbox_records()
            .into_iter()
            .filter_map(|(_, r)| match r {
                OutboxRecord::Hello { pid, .. } => Some(pid),
                _ => None,
            })
            .collect()
    }

    /// The task's output volume (`out/<task>.raw`), one value per cell of its total ROI.
    pub fn output(&self, task: &TaskInfo) -> Vec<i64> {
        let bytes =
            fs::read(self.root.join("out").join(format!("{}.raw", task.name))).unwrap_or_default();
        let n = task.total.volume() as usize;
        let mut values: Vec<i64> = bytes
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
            .collect();
        values.resize(n, 0);
        values
    }
}

/// The plan of a task file (`blockorch plan TASK_FILE --json`, run in the file's directory),
/// with each task's total ROI, conflict flag and upstream tasks from the file itself.
pub fn plan_of(task_file: &Path) -> Plan {
    let out = Command::new(bin())
        .args(["plan", "--json"])
        .arg(task_file)
        .current_dir(task_file.parent().unwrap())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "blockorch plan {}: {}\n{stdout}",
        task_file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let blocks = stdout
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).unwrap();
            PlanBlock {
                task: v["task"].as_str().unwrap().to_string(),
                id: v["block_id"].as_u64().unwrap(),
                read: Roi::from_json(&v["read_roi"]),
                write: Roi::from_json(&v["write_roi"]),
                depends_on: v["depends_on"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| {
                        (
                            d["task"].as_str().unwrap().to_string(),
                            d["block_id"].as_u64().unwrap(),
                        )
                    })
                    .collect(),
            }
        })
        .collect();
    let doc: Value =
        serde_json::from_str(&fs::read_to_string(task_file).unwrap()).expect("task.json");
    let tasks = doc["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| TaskInfo {
            name: t["name"].as_str().unwrap().to_string(),
            total: Roi::from_json(&t["total_roi"]),
            conflict: t["read_write_conflict"].as_bool().unwrap_or(true),
            upstream: t["upstream_tasks"]
                .as_array()
                .map(|u| u.iter().map(|n| n.as_str().unwrap().to_string()).collect())
                .unwrap_or_default(),
        })
        .collect();
    Plan { tasks, blocks }
}

/// An n-D region: `offset` and `shape`, end exclusive.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Roi {
    pub offset: Vec<i64>,
    pub shape: Vec<i64>,
}

impl Roi {
    /// From `{"offset": [...], "shape": [...]}`.
    pub fn from_json(v: &Value) -> Self {
        let ints = |k: &str| -> Vec<i64> {
            v[k].as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_i64().unwrap())
                .collect()
        };
        Self {
            offset: ints("offset"),
            shape: ints("shape"),
        }
    }

    /// One past the last cell per axis.
    pub fn end(&self) -> Vec<i64> {
        self.offset
            .iter()
            .zip(&self.shape)
            .map(|(o, s)| o + s)
            .collect()
    }

    /// True if the regions share a cell.
    pub fn intersects(&self, other: &Roi) -> bool {
        let (e1, e2) = (self.end(), other.end());
        (0..self.offset.len())
            .all(|d| self.offset[d].max(other.offset[d]) < e1[d].min(e2[d]) && self.shape[d] > 0)
    }

    /// The common part (possibly empty: some shape ≤ 0).
    pub fn intersect(&self, other: &Roi) -> Roi {
        let (e1, e2) = (self.end(), other.end());
        let offset: Vec<i64> = (0..self.offset.len())
            .map(|d| self.offset[d].max(other.offset[d]))
            .collect();
        let shape = (0..self.offset.len())
            .map(|d| (e1[d].min(e2[d]) - offset[d]).max(0))
            .collect();
        Roi { offset, shape }
    }

    /// Number of cells.
    pub fn volume(&self) -> i64 {
        self.shape.iter().map(|s| (*s).max(0)).product()
    }

    /// Every cell, in C order.
    pub fn cells(&self) -> Vec<Vec<i64>> {
        let mut out = Vec::new();
        if self.volume() == 0 {
            return out;
        }
        let mut idx = self.offset.clone();
        let end = self.end();
        loop {
            out.push(idx.clone());
            let mut k = idx.len();
            loop {
                if k == 0 {
                    return out;
                }
                k -= 1;
                idx[k] += 1;
                if idx[k] < end[k] {
                    break;
                }
                idx[k] = self.offset[k];
            }
        }
    }

    /// Row-major index of `cell` (inside this ROI).
    pub fn index_of(&self, cell: &[i64]) -> usize {
        let mut index = 0i64;
        for ((c, o), s) in cell.iter().zip(&self.offset).zip(&self.shape) {
            index = index * s + (c - o);
        }
        index as usize
    }

    /// `offset:shape` with comma-separated integers (the `{read_roi}` placeholder format).
    pub fn placeholder(&self) -> String {
        let join = |v: &[i64]| {
            v.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        format!("{}:{}", join(&self.offset), join(&self.shape))
    }
}

/// The value the workers write at `cell` (same formula as `blockwork_lib.f`).
pub fn f(cell: &[i64]) -> i64 {
    const PRIMES: [i128; 8] = [
        73856093, 19349663, 83492791, 2654435761, 97, 1009, 7919, 104729,
    ];
    let s: i128 = cell
        .iter()
        .zip(PRIMES)
        .map(|(&c, p)| (c as i128 + 1009) * p)
        .sum();
    1 + s.rem_euclid(999983) as i64
}

/// One task of the task file, as far as the checks need it.
#[derive(Clone, Debug)]
pub struct TaskInfo {
    pub name: String,
    pub total: Roi,
    pub conflict: bool,
    pub upstream: Vec<String>,
}

/// One block of `blockorch plan --json`.
#[derive(Clone, Debug)]
pub struct PlanBlock {
    pub task: String,
    pub id: u64,
    pub read: Roi,
    pub write: Roi,
    pub depends_on: Vec<(String, u64)>,
}

/// The plan of a job.
#[derive(Clone, Debug)]
pub struct Plan {
    pub tasks: Vec<TaskInfo>,
    pub blocks: Vec<PlanBlock>,
}

impl Plan {
    /// The task named `name`.
    pub fn task(&self, name: &str) -> &TaskInfo {
        self.tasks.iter().find(|t| t.name == name).unwrap()
    }

    /// Index of task `name` in the file (the ledger's task index).
    pub fn task_index(&self, name: &str) -> u32 {
        self.tasks.iter().position(|t| t.name == name).unwrap() as u32
    }

    /// The blocks of task `name`.
    pub fn blocks_of<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a PlanBlock> + 'a {
        self.blocks.iter().filter(move |b| b.task == name)
    }

    /// Block `id` of task `name`.
    pub fn block(&self, name: &str, id: u64) -> &PlanBlock {
        self.blocks
            .iter()
            .find(|b| b.task == name && b.id == id)
            .unwrap()
    }

    /// Every (task, block) of the plan.
    pub fn keys(&self) -> BTreeSet<(String, u64)> {
        self.blocks.iter().map(|b| (b.task.clone(), b.id)).collect()
    }

    /// Blocks that (transitively) depend on `(task, id)`, found from the ROIs alone: same-task
    /// conflicting blocks that `plan --json` orders after it, and downstream blocks reading
    /// what it writes.
    pub fn dependents_closure(&self, task: &str, id: u64) -> BTreeSet<(String, u64)> {
        let mut reverse: HashMap<(String, u64), Vec<(String, u64)>> = HashMap::new();
        for b in &self.blocks {
            for d in &b.depends_on {
                reverse
                    .entry(d.clone())
                    .or_default()
                    .push((b.task.clone(), b.id));
            }
        }
        let mut out = BTreeSet::new();
        let mut stack = vec![(task.to_string(), id)];
        while let Some(k) = stack.pop() {
            for d in reverse.get(&k).into_iter().flatten() {
                if out.insert(d.clone()) {
                    stack.push(d.clone());
                }
            }
        }
        out
    }

    /// Expected content of a task's output volume: f(v) where some block writes v, else 0.
    pub fn expected_output(&self, name: &str) -> Vec<i64> {
        let task = self.task(name);
        let mut values = vec![0i64; task.total.volume() as usize];
        for b in self.blocks_of(name) {
            for cell in b.write.intersect(&task.total).cells() {
                values[task.total.index_of(&cell)] = f(&cell);
            }
        }
        values
    }

    /// Expected `read_sum` of a block: its upstream tasks' expected outputs over its read ROI.
    pub fn expected_read_sum(&self, block: &PlanBlock) -> i64 {
        let mut sum = 0;
        for up in &self.task(&block.task).upstream {
            let upstream = self.task(up);
            let values = self.expected_output(up);
            for cell in block.read.intersect(&upstream.total).cells() {
                sum += values[upstream.total.index_of(&cell)];
            }
        }
        sum
    }
}

/// One line of `events/<pid>.jsonl`.
#[derive(Clone, Debug)]
pub struct Event {
    pub kind: String,
    pub task: String,
    pub block: u64,
    pub attempt: u32,
    pub pid: u32,
    pub t: u128,
    pub read_sum: Option<i64>,
}

/// One attempt as the worker program saw it.
#[derive(Clone, Debug)]
pub struct Attempt {
    pub task: String,
    pub block: u64,
    pub attempt: u32,
    pub pid: u32,
    /// `start` event time (ns).
    pub start: u128,
    /// Time of the closing event (`end`, `fail`, `term`, `sigkill`), if any.
    pub end: Option<u128>,
    /// Kind of the closing event.
    pub how: Option<String>,
    /// From the `end` event.
    pub read_sum: Option<i64>,
}

impl Attempt {
    /// Its end, or "never" when it left no closing event.
    pub fn end_or_max(&self) -> u128 {
        self.end.unwrap_or(u128::MAX)
    }

    /// True if it finished the block (`end` event).
    pub fn completed(&self) -> bool {
        self.how.as_deref() == Some("end")
    }
}

/// Attempts grouped by (task, block), in start order.
pub fn by_block(attempts: &[Attempt]) -> BTreeMap<(String, u64), Vec<Attempt>> {
    let mut map: BTreeMap<(String, u64), Vec<Attempt>> = BTreeMap::new();
    for a in attempts {
        map.entry((a.task.clone(), a.block))
            .or_default()
            .push(a.clone());
    }
    for v in map.values_mut() {
        v.sort_by_key(|a| a.start);
    }
    map
}

/// (b) No two attempts of conflicting blocks (one's read ROI meets the other's write ROI, in a
/// task with `read_write_conflict`) overlapped in time. Returns the number of conflicting
/// pairs checked.
pub fn assert_no_conflicting_overlap(plan: &Plan, attempts: &[Attempt]) -> usize {
    let grouped = by_block(attempts);
    let mut pairs = 0;
    for task in plan.tasks.iter().filter(|t| t.conflict) {
        let blocks: Vec<&PlanBlock> = plan.blocks_of(&task.name).collect();
        for (i, a) in blocks.iter().enumerate() {
            for b in &blocks[i + 1..] {
                if !(a.read.intersects(&b.write) || b.read.intersects(&a.write)) {
                    continue;
                }
                pairs += 1;
                let none = Vec::new();
                let xs = grouped.get(&(task.name.clone(), a.id)).unwrap_or(&none);
                let ys = grouped.get(&(task.name.clone(), b.id)).unwrap_or(&none);
                for x in xs {
                    for y in ys {
                        let disjoint = x.end_or_max() < y.start || y.end_or_max() < x.start;
                        assert!(
                            disjoint,
                            "conflicting blocks {} and {} of task {} ran at the same time:\n{x:?}\n{y:?}",
                            a.id, b.id, task.name
                        );
                    }
                }
            }
        }
    }
    pairs
}

/// (c) Every attempt of a downstream block started after every attempt of each upstream block
/// whose write ROI meets its read ROI had ended. Returns the number of pairs checked.
pub fn assert_upstream_order(plan: &Plan, attempts: &[Attempt]) -> usize {
    let grouped = by_block(attempts);
    let mut pairs = 0;
    for task in &plan.tasks {
        for up in &task.upstream {
            for d in plan.blocks_of(&task.name) {
                let Some(ds) = grouped.get(&(task.name.clone(), d.id)) else {
                    continue;
                };
                let first_start = ds.iter().map(|a| a.start).min().unwrap();
                for u in plan.blocks_of(up) {
                    if !u.write.intersects(&d.read) {
                        continue;
                    }
                    pairs += 1;
                    let us = grouped.get(&(up.clone(), u.id)).unwrap_or_else(|| {
                        panic!(
                            "block {} of {} ran, but upstream block {} of {} never did",
                            d.id, task.name, u.id, up
                        )
                    });
                    let last_end = us.iter().map(Attempt::end_or_max).max().unwrap();
                    assert!(
                        last_end < first_start,
                        "block {} of {} started before upstream block {} of {} finished:\n{us:?}\n{ds:?}",
                        d.id,
                        task.name,
                        u.id,
                        up
                    );
                }
            }
        }
    }
    pairs
}

/// (a) Every block of the plan completed (an `end` event), downstream blocks read exactly what
/// their upstream blocks wrote, and every output volume equals the direct computation, cell by
/// cell.
pub fn assert_outputs(job: &Job, plan: &Plan, attempts: &[Attempt]) {
    let grouped = by_block(attempts);
    for b in &plan.blocks {
        let runs = grouped
            .get(&(b.task.clone(), b.id))
            .unwrap_or_else(|| panic!("block {} of {} never ran", b.id, b.task));
        let done: Vec<&Attempt> = runs.iter().filter(|a| a.completed()).collect();
        assert!(
            !done.is_empty(),
            "block {} of {} never completed: {runs:?}",
            b.id,
            b.task
        );
        if !plan.task(&b.task).upstream.is_empty() {
            let want = plan.expected_read_sum(b);
            for a in done {
                assert_eq!(
                    a.read_sum,
                    Some(want),
                    "block {} of {} read something else than its upstream blocks wrote",
                    b.id,
                    b.task
                );
            }
        }
    }
    assert_volumes(job, plan);
}

/// Every task's output volume equals the direct computation, cell by cell.
pub fn assert_volumes(job: &Job, plan: &Plan) {
    for task in &plan.tasks {
        let got = job.output(task);
        let want = plan.expected_output(&task.name);
        let wrong: Vec<usize> = (0..want.len()).filter(|&i| got[i] != want[i]).collect();
        assert!(
            wrong.is_empty(),
            "task {}: {} of {} cells differ from the direct computation (first at index {})",
            task.name,
            wrong.len(),
            want.len(),
            wrong[0]
        );
    }
}

/// Every block of the plan is `want` in the ledger (through the library).
pub fn assert_ledger_all(job: &Job, plan: &Plan, want: BlockState) {
    let state = job.ledger_state();
    for b in &plan.blocks {
        let got = state
            .block(plan.task_index(&b.task), b.id)
            .map(|e| e.state());
        assert_eq!(
            got,
            Some(want),
            "block {} of {} in the ledger",
            b.id,
            b.task
        );
    }
}

/// True if process `pid` exists and is not a zombie (nothing may reap orphans here).
pub fn process_running(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Waits until none of `pids` runs; panics naming the survivors after `limit`.
pub fn assert_gone_within(pids: &[u32], limit: Duration, what: &str) {
    let deadline = Instant::now() + limit;
    loop {
        let alive: Vec<u32> = pids
            .iter()
            .copied()
            .filter(|&p| process_running(p))
            .collect();
        if alive.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: pids {alive:?} still run after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until `cond` holds (panics with `what` after `limit`).
pub fn wait_until(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Reads a file that must exist.
pub fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The parent of process `pid` (field 4 of `/proc/<pid>/stat`), if it runs.
pub fn parent_of(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// The command line of process `pid`, arguments joined by spaces (empty if it is gone).
pub fn cmdline_of(pid: u32) -> String {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_default()
}

/// The direct children of process `pid` (from `/proc/<pid>/task/*/children`).
pub fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        if let Ok(text) = fs::read_to_string(task.path().join("children")) {
            out.extend(
                text.split_whitespace()
                    .filter_map(|c| c.parse::<u32>().ok()),
            );
        }
    }
    out
}

/// A small deterministic pseudo-random generator (SplitMix64) for seeded test delays.
pub struct SplitMix(pub u64);

impl SplitMix {
    /// The next value in `[lo, hi)`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        lo + z % (hi - lo)
    }
}

/// (task name, block, attempt) of every `Finished` record with outcome `Done` in any outbox.
pub fn reported_done(job: &Job, plan: &Plan) -> BTreeSet<(String, u64, u32)> {
    job.outbox_records()
        .into_iter()
        .filter_map(|(_, r)| match r {
            OutboxRecord::Finished {
                task,
                block,
                attempt,
                outcome: blockorch::ledger::Outcome::Done,
                ..
            } => Some((plan.tasks[task as usize].name.clone(), block, attempt)),
            _ => None,
        })
        .collect()
}

/// The summary row of `task` in `submit`'s output: total, done, skipped, failed, orphaned
/// (pending, the last column, is the rest).
pub fn summary_row(out: &RunOutput, task: &str) -> [u64; 5] {
    let row = out
        .stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(task))
        .unwrap_or_else(|| panic!("no summary row for task {task}:\n{}", out.text()));
    let cols: Vec<u64> = row
        .split_whitespace()
        .skip(1)
        .take(5)
        .map(|c| {
            c.parse()
                .unwrap_or_else(|_| panic!("bad summary row {row:?}"))
        })
        .collect();
    cols.try_into()
        .unwrap_or_else(|_| panic!("bad summary row {row:?}"))
}

/// The outbox `Finished` records of one block: (attempt, outcome, stats), by attempt.
pub fn finished_records(
    job: &Job,
    plan: &Plan,
    task: &str,
    block: u64,
) -> Vec<(
    u32,
    blockorch::ledger::Outcome,
    blockorch::ledger::AttemptStats,
)> {
    let index = plan.task_index(task);
    let mut out: Vec<_> = job
        .outbox_records()
        .into_iter()
        .filter_map(|(_, r)| match r {
            OutboxRecord::Finished {
                task: t,
                block: b,
                attempt,
                outcome,
                stats,
                ..
            } if t == index && b == block => Some((attempt, outcome, stats)),
            _ => None,
        })
        .collect();
    out.sort_by_key(|r| r.0);
    out
}

/// `blockorch status LEDGER --blocks --attempts`: one JSON object per block the ledger has a record of.
pub fn status_blocks(job: &Job) -> BTreeMap<(String, u64), Value> {
    let ledger = job.ledger().display().to_string();
    let out = job.run(&["status", &ledger, "--blocks", "--attempts"]);
    assert_eq!(out.code, Some(0), "{}", out.text());
    out.stdout
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("status --blocks line {line:?}: {e}"));
            let key = (
                v["task"].as_str().unwrap().to_string(),
                v["block_id"].as_u64().unwrap(),
            );
            (key, v)
        })
        .collect()
}

/// `blockorch status --blocks` agrees with the ledger (read through the library) and with the
/// workers' own files: each block's state; each reported attempt ran in a registered worker,
/// its agent-measured interval contains the program's own start and end, its wall time is
/// end − start, and it has a peak RSS; a done block's last attempt is its one `done` attempt.
pub fn assert_status_agrees(job: &Job, plan: &Plan, attempts: &[Attempt]) {
    let status = status_blocks(job);
    let state = job.ledger_state();
    let workers: BTreeSet<String> = state
        .workers()
        .iter()
        .map(|w| w.worker_id.clone())
        .collect();
    let ran: HashMap<(String, u64, u32), &Attempt> = attempts
        .iter()
        .map(|a| ((a.task.clone(), a.block, a.attempt), a))
        .collect();
    for b in &plan.blocks {
        let key = (b.task.clone(), b.id);
        let entry = state.block(plan.task_index(&b.task), b.id);
        let Some(s) = status.get(&key) else {
            assert!(
                entry.is_none_or(|e| e.state() == BlockState::Pending && e.last_attempt() == 0),
                "status --blocks has no line for {key:?} but the ledger has {entry:?}"
            );
            continue;
        };
        let want = match entry.map(|e| e.state()).unwrap_or_default() {
            // A block that waits on a failed one is listed as orphaned.
            BlockState::Pending if s["state"] == "orphaned" => "orphaned",
            BlockState::Pending => "pending",
            BlockState::Assigned => "running",
            BlockState::Done => "done",
            BlockState::Skipped => "skipped",
            BlockState::Failed => "failed",
        };
        assert_eq!(s["state"], want, "{key:?}: {s}");
        let list = s["attempts"].as_array().unwrap();
        let mut done = 0;
        for a in list {
            let outcome = a["outcome"].as_str().unwrap();
            if outcome != "done" && outcome != "failed" {
                continue;
            }
            let worker = a["worker"].as_str().unwrap();
            assert!(workers.contains(worker), "{key:?}: unknown worker {worker}");
            let (start, end) = (
                a["start_us"].as_u64().unwrap(),
                a["end_us"].as_u64().unwrap(),
            );
            let wall = a["wall_s"].as_f64().unwrap();
            assert!(start <= end, "{key:?}: {a}");
            assert!(
                (wall - (end - start) as f64 / 1e6).abs() < 1e-3,
                "{key:?}: {a}"
            );
            assert!(a["peak_rss_bytes"].as_u64().unwrap() > 0, "{key:?}: {a}");
            assert!(a["cpu_s"].as_f64().unwrap() >= 0.0, "{key:?}: {a}");
            let number = a["attempt"].as_u64().unwrap() as u32;
            if outcome == "done" {
                done += 1;
                assert_eq!(
                    s["last_attempt"].as_u64(),
                    Some(number as u64),
                    "{key:?}: {s}"
                );
            }
            // Check-only attempts (skipped blocks) never reach the program.
            let Some(py) = ran.get(&(b.task.clone(), b.id, number)) else {
                panic!("{key:?}: attempt {number} reported {outcome} but the program never ran it");
            };
            let closing = if outcome == "done" { "end" } else { "fail" };
            if py.how.as_deref() == Some(closing) {
                let slack = 1000; // µs
                assert!(
                    start <= (py.start / 1000) as u64 + slack
                        && (py.end.unwrap() / 1000) as u64 <= end + slack,
                    "{key:?}: the agent's interval [{start}, {end}] µs does not contain the \
                     program's {py:?}"
                );
            }
        }
        if want == "done" {
            assert_eq!(done, 1, "{key:?}: {s}");
        }
    }
}

/// The lines of `init.log` written by `init.py`: (task, "start" or "end", time ns, pid).
pub fn init_log(job: &Job) -> Vec<(String, String, u128, u32)> {
    fs::read_to_string(job.path("init.log"))
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let p: Vec<&str> = l.split_whitespace().collect();
            (
                p[0].to_string(),
                p[1].to_string(),
                p[2].parse().unwrap(),
                p[3].parse().unwrap(),
            )
        })
        .collect()
}

/// Every record of every orchestrator epoch log, with its epoch.
pub fn orchestrator_records(job: &Job) -> Vec<(u64, blockorch::ledger::OrchestratorRecord)> {
    let mut out = Vec::new();
    let Ok(dir) = fs::read_dir(job.ledger().join("orchestrator")) else {
        return out;
    };
    // The epoch logs (not the definitions or the recorded status reports beside them).
    let mut paths: Vec<PathBuf> = dir
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    paths.sort();
    for path in &paths {
        let epoch: u64 = path
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.strip_prefix("epoch-"))
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("unexpected file {}", path.display()));
        let contents =
            LogReader::<blockorch::ledger::OrchestratorRecord>::read_closed(path).unwrap();
        out.extend(contents.records.into_iter().map(|r| (epoch, r)));
    }
    out
}

/// The blocks of `task` in `skipped` never reached the worker program, are `Skipped` in the
/// ledger and were finished once, as skipped; every other block ran once and is `Done`.
pub fn assert_skipped_or_ran_once(job: &Job, plan: &Plan, task: &str, skipped: &[u64]) {
    let grouped = by_block(&job.attempts());
    let state = job.ledger_state();
    let index = plan.task_index(task);
    for b in plan.blocks_of(task) {
        let key = (task.to_owned(), b.id);
        let s = state.block(index, b.id).map(|e| e.state());
        if skipped.contains(&b.id) {
            assert!(!grouped.contains_key(&key), "block {} ran", b.id);
            assert_eq!(s, Some(BlockState::Skipped), "block {}", b.id);
            let records = finished_records(job, plan, task, b.id);
            assert_eq!(records.len(), 1, "{records:?}");
            assert_eq!(records[0].1, blockorch::ledger::Outcome::Skipped);
        } else {
            assert_eq!(grouped[&key].len(), 1, "block {}", b.id);
            assert_eq!(s, Some(BlockState::Done), "block {}", b.id);
        }
    }
}
