//! Fuzzing of everything that reads bytes a user or a crash can spoil: the task-file parser
//! and the ledger readers (logs of every kind, frames, snapshots, `ledger.json`, outbox
//! summaries). Properties: never a panic, never an absurd allocation (a watching global
//! allocator records each thread's largest single allocation), and for a corrupted valid log,
//! the records read are a prefix of the records written.
//!
//! Bounded time: `PROPTEST_CASES` (default 256) cases per property, each a few milliseconds.
//! Failures are kept in `proptest-regressions/fuzz_inputs.txt` and replayed first on every run.

use std::alloc::{GlobalAlloc, Layout as AllocLayout, System};
use std::cell::Cell;
use std::fs;
use std::path::{Path, PathBuf};

use blockorch::ledger::{
    decode_payload, parse_frame, summarize_outbox, InboxRecord, Ledger, LedgerView, LogReader,
    LogWriter, OrchestratorRecord, OutboxRecord, Outcome, FILE_HEADER_LEN,
};
use blockorch::task::{load_task_file, parse_task_file};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// Allocation watch

/// Largest single allocation a case may make: inputs are a few KiB, so anything near this is a
/// length field trusted before it was checked.
const ALLOC_LIMIT: usize = 64 << 20;

thread_local! {
    static BIGGEST: Cell<usize> = const { Cell::new(0) };
}

/// The system allocator, noting the largest request per thread.
struct Watch;

fn note(size: usize) {
    // `try_with`: allocations during thread teardown must not panic.
    let _ = BIGGEST.try_with(|b| {
        if size > b.get() {
            b.set(size);
        }
    });
}

// SAFETY: every call is forwarded unchanged to `System`; `note` neither allocates nor unwinds.
unsafe impl GlobalAlloc for Watch {
    unsafe fn alloc(&self, layout: AllocLayout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: AllocLayout) -> *mut u8 {
        note(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: AllocLayout, new_size: usize) -> *mut u8 {
        note(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: AllocLayout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Watch = Watch;

/// Runs `f` and fails the case if it made an allocation above [`ALLOC_LIMIT`].
fn bounded<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, TestCaseError> {
    BIGGEST.with(|b| b.set(0));
    let out = f();
    let biggest = BIGGEST.with(|b| b.get());
    prop_assert!(
        biggest <= ALLOC_LIMIT,
        "{what} allocated {biggest} bytes at once"
    );
    Ok(out)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/fuzz_inputs.txt",
        ))),
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------------
// Task files

fn good_task_files() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/task_files/good");
    let mut paths: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| fs::read_to_string(p).unwrap())
        .collect()
}

/// A task-file error must name the file and say something.
fn check_task_result<T>(
    result: Result<T, blockorch::task::TaskError>,
) -> Result<(), TestCaseError> {
    if let Err(err) = result {
        let text = err.to_string();
        prop_assert!(text.starts_with("task.json"), "{text}");
        prop_assert!(text.len() > "task.json: ".len(), "{text}");
    }
    Ok(())
}

/// Scalars a task file might hold, with the edge cases of every field type.
fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        prop_oneof![
            Just(0i64),
            Just(1),
            Just(-1),
            Just(i64::MAX),
            Just(i64::MIN),
            Just(1 << 40),
            Just(-(1 << 53))
        ]
        .prop_map(Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::from)),
        prop_oneof![
            Just("valid"),
            Just("overhang"),
            Just("shrink"),
            Just("1h 30m"),
            Just("90s"),
            Just("-5s"),
            Just("99999999999999999999h"),
            Just("--ntasks=1"),
            Just("-E x"),
            Just("a\nb"),
            Just("{block_id}"),
            Just("")
        ]
        .prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::from),
    ]
}

/// Keys of every level of a task file, plus some that are not.
const KEYS: &[&str] = &[
    "tasks",
    "name",
    "total_roi",
    "read_roi",
    "write_roi",
    "offset",
    "shape",
    "fit",
    "read_write_conflict",
    "upstream_tasks",
    "num_workers",
    "max_retries",
    "timeout",
    "worker",
    "command",
    "per_block",
    "env",
    "startup_timeout",
    "write_ahead",
    "check",
    "init",
    "slurm",
    "lsf",
    "partition",
    "time",
    "walltime",
    "mem",
    "extra_directives",
    "template",
    "cpus_per_worker",
    "gpus_per_worker",
    "bogus",
];

/// JSON shaped like a task file: objects keyed by task-file field names, lists of numbers.
fn task_like() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        4 => scalar(),
        1 => prop::collection::vec(any::<i64>(), 0..9).prop_map(Value::from),
        1 => prop::collection::vec(-3i64..300, 0..9).prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(prop::sample::select(KEYS), inner, 0..8).prop_map(|m| {
                Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
            }),
        ]
    })
}

/// A valid task with some fields replaced by fuzzed values.
fn mostly_valid_task() -> impl Strategy<Value = Value> {
    let roi = |o: i64, s: i64| json!({"offset": [o, o], "shape": [s, s]});
    (
        prop::collection::btree_map(prop::sample::select(KEYS), task_like(), 0..3),
        prop::sample::select(vec![1i64, 3, 1000, 1 << 31, i64::MAX / 2]),
        any::<bool>(),
    )
        .prop_map(move |(overrides, total, listed)| {
            let mut task = json!({
                "name": "a",
                "total_roi": roi(0, total),
                "read_roi": roi(0, 10),
                "write_roi": roi(1, 8),
                "worker": {"command": ["python3", "w.py"]},
            });
            for (k, v) in overrides {
                task[k] = v;
            }
            if listed {
                json!({"tasks": [task]})
            } else {
                task
            }
        })
}

/// A good task file with byte-level damage: replaced, inserted and deleted bytes.
#[derive(Debug, Clone)]
enum Edit {
    Replace(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Replace(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Insert(i, b)),
        any::<usize>().prop_map(Edit::Delete),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

fn apply(bytes: &mut Vec<u8>, edit: &Edit) {
    let at = |i: usize, len: usize| if len == 0 { 0 } else { i % len };
    match *edit {
        Edit::Replace(i, b) if !bytes.is_empty() => {
            let i = at(i, bytes.len());
            bytes[i] = b;
        }
        Edit::Insert(i, b) => {
            let i = at(i, bytes.len() + 1);
            bytes.insert(i, b);
        }
        Edit::Delete(i) if !bytes.is_empty() => {
            let i = at(i, bytes.len());
            bytes.remove(i);
        }
        Edit::Truncate(i) => {
            let i = at(i, bytes.len() + 1);
            bytes.truncate(i);
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn task_file_text_never_panics(text in "\\PC{0,300}") {
        let result = bounded("parse_task_file", || parse_task_file("task.json", &text))?;
        check_task_result(result)?;
    }

    #[test]
    fn task_file_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("task.json");
        fs::write(&path, &bytes).unwrap();
        let result = bounded("load_task_file", || load_task_file(&path))?;
        if let Err(err) = result {
            let text = err.to_string();
            prop_assert!(text.contains("task.json"), "{text}");
        }
    }

    #[test]
    fn task_shaped_json_never_panics(doc in task_like()) {
        let text = doc.to_string();
        let result = bounded("parse_task_file", || parse_task_file("task.json", &text))?;
        check_task_result(result)?;
    }

    #[test]
    fn nearly_valid_tasks_never_panic(doc in mostly_valid_task()) {
        let text = serde_json::to_string_pretty(&doc).unwrap();
        let result = bounded("parse_task_file", || parse_task_file("task.json", &text))?;
        check_task_result(result)?;
    }

    #[test]
    fn damaged_good_task_files_never_panic(
        which in any::<prop::sample::Index>(),
        edits in prop::collection::vec(edit(), 1..6),
    ) {
        let files = good_task_files();
        let mut bytes = files[which.index(files.len())].clone().into_bytes();
        for e in &edits {
            apply(&mut bytes, e);
        }
        let text = String::from_utf8_lossy(&bytes);
        let result = bounded("parse_task_file", || parse_task_file("task.json", &text))?;
        check_task_result(result)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Ledger logs, frames, snapshots, headers

fn orchestrator_record() -> impl Strategy<Value = OrchestratorRecord> {
    prop_oneof![
        (any::<u32>(), "[a-z0-9._-]{1,20}", any::<u64>()).prop_map(|(index, id, time_us)| {
            OrchestratorRecord::WorkerRegistered {
                index,
                worker_id: id,
                backend: "local".into(),
                job_id: None,
                time_us,
            }
        }),
        (any::<u32>(), any::<u64>(), any::<u32>(), any::<u32>()).prop_map(
            |(task, block, attempt, worker)| OrchestratorRecord::Assigned {
                task,
                block,
                attempt,
                worker,
                time_us: 2,
            }
        ),
        (any::<u32>(), any::<u64>(), any::<u32>(), any::<u32>()).prop_map(
            |(task, block, attempt, worker)| OrchestratorRecord::Finished {
                task,
                block,
                attempt,
                worker,
                outcome: Outcome::Done,
                time_us: 3,
            }
        ),
    ]
}

/// Damage to a file: the edits above, plus runs of random bytes written over it.
#[derive(Debug, Clone)]
enum Damage {
    Edit(Edit),
    Overwrite(usize, Vec<u8>),
    FlipBit(usize, u8),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        edit().prop_map(Damage::Edit),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..12))
            .prop_map(|(i, b)| Damage::Overwrite(i, b)),
        (any::<usize>(), 0u8..8).prop_map(|(i, bit)| Damage::FlipBit(i, bit)),
    ]
}

fn spoil(bytes: &mut Vec<u8>, damage: &Damage) {
    match damage {
        Damage::Edit(e) => apply(bytes, e),
        Damage::Overwrite(i, run) if !bytes.is_empty() => {
            let start = i % bytes.len();
            for (k, b) in run.iter().enumerate() {
                if let Some(slot) = bytes.get_mut(start + k) {
                    *slot = *b;
                }
            }
        }
        Damage::FlipBit(i, bit) if !bytes.is_empty() => {
            let i = i % bytes.len();
            bytes[i] ^= 1 << bit;
        }
        _ => {}
    }
}

/// Writes `records` as a committed log at `path`.
fn write_log(path: &Path, records: &[OrchestratorRecord]) {
    let mut writer = LogWriter::<OrchestratorRecord>::open_append(path).unwrap();
    for r in records {
        writer.append(r).unwrap();
    }
    writer.commit().unwrap();
}

/// Reads `path` as each kind of log and as an outbox summary; none may panic or over-allocate.
fn read_every_way(path: &Path) -> Result<(), TestCaseError> {
    bounded("orchestrator log", || {
        let _ = LogReader::<OrchestratorRecord>::read_closed(path);
    })?;
    bounded("outbox", || {
        let _ = LogReader::<OutboxRecord>::read_closed(path);
        let _ = summarize_outbox(path);
    })?;
    bounded("inbox", || {
        let _ = LogReader::<InboxRecord>::read_closed(path);
    })?;
    // A reader that follows the file from the middle, as `status --watch` and agents do.
    bounded("tailing reader", || {
        let len = fs::metadata(path).map_or(0, |m| m.len());
        let mut reader = LogReader::<OrchestratorRecord>::new(path).starting_at(len / 2);
        let _ = reader.poll();
    })
}

/// A ledger with one finished epoch and its snapshot.
fn small_ledger(dir: &Path) -> Ledger {
    let l = Ledger::create_or_open(dir.join("l"), &json!({"tasks": ["a"]})).unwrap();
    let own = l
        .claim(&blockorch::ledger::ClaimOptions::default())
        .unwrap();
    let mut j = blockorch::ledger::Journal::start(&l, &own).unwrap();
    j.append(OrchestratorRecord::WorkerRegistered {
        index: 0,
        worker_id: "w".into(),
        backend: "local".into(),
        job_id: None,
        time_us: 1,
    })
    .unwrap();
    for block in 0..20 {
        j.append(OrchestratorRecord::Assigned {
            task: 0,
            block,
            attempt: 1,
            worker: 0,
            time_us: 2,
        })
        .unwrap();
        j.append(OrchestratorRecord::Finished {
            task: 0,
            block,
            attempt: 1,
            worker: 0,
            outcome: Outcome::Done,
            time_us: 3,
        })
        .unwrap();
    }
    j.write_snapshot().unwrap();
    j.ownership().release().unwrap();
    l
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn frames_and_payloads_of_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        bounded("parse_frame", || {
            let _ = parse_frame(&bytes);
            let _ = decode_payload::<OrchestratorRecord>(&bytes);
            let _ = decode_payload::<OutboxRecord>(&bytes);
            let _ = decode_payload::<InboxRecord>(&bytes);
        })?;
    }

    #[test]
    fn logs_of_arbitrary_bytes(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
        with_header in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.log");
        let mut content = Vec::new();
        if with_header {
            // A real header, so the reader gets past it to the frames.
            write_log(&path, &[]);
            content = fs::read(&path).unwrap();
        }
        content.extend_from_slice(&bytes);
        fs::write(&path, &content).unwrap();
        read_every_way(&path)?;
    }

    #[test]
    fn damaged_logs_read_a_prefix_of_what_was_written(
        records in prop::collection::vec(orchestrator_record(), 0..24),
        damages in prop::collection::vec(damage(), 1..4),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("epoch.log");
        write_log(&path, &records);
        let original = fs::read(&path).unwrap();
        let mut bytes = original.clone();
        for d in &damages {
            spoil(&mut bytes, d);
        }
        fs::write(&path, &bytes).unwrap();
        read_every_way(&path)?;
        let read = bounded("read_closed", || LogReader::<OrchestratorRecord>::read_closed(&path))?;
        match read {
            Ok(contents) => {
                prop_assert!(contents.records.len() <= records.len());
                prop_assert_eq!(&contents.records[..], &records[..contents.records.len()]);
                prop_assert!(contents.end_offset <= bytes.len() as u64);
            }
            // Only a damaged file header may be an error (a file of another kind or version).
            Err(err) => {
                let h = FILE_HEADER_LEN as usize;
                prop_assert!(
                    bytes.len() < h || bytes[..h] != original[..h],
                    "an error with an intact header: {}",
                    err
                );
            }
        }
    }

    #[test]
    fn snapshots_of_arbitrary_or_damaged_bytes_fall_back_to_the_logs(
        arbitrary in prop::option::of(prop::collection::vec(any::<u8>(), 0..512)),
        damages in prop::collection::vec(damage(), 1..4),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let l = small_ledger(dir.path());
        let snapshot = l.layout().snapshot_path(1, 1);
        let mut bytes = fs::read(&snapshot).unwrap();
        match &arbitrary {
            Some(a) => bytes.clone_from(a),
            None => {
                for d in &damages {
                    spoil(&mut bytes, d);
                }
            }
        }
        fs::write(&snapshot, &bytes).unwrap();
        let loaded = bounded("load_state", || l.load_state())?;
        // The snapshot is used only if it still reads back whole; either way the state is the
        // logs' state: 20 done blocks.
        let loaded = loaded.map_err(|e| TestCaseError::fail(e.to_string()))?;
        let done = loaded.state.tasks().first().map_or(0, |t| {
            t.counts().get(blockorch::ledger::BlockState::Done)
        });
        prop_assert_eq!(done, 20);
        bounded("LedgerView::open", || {
            let _ = LedgerView::open(l.root());
        })?;
    }

    #[test]
    fn ledger_json_of_arbitrary_bytes(
        bytes in prop::collection::vec(any::<u8>(), 0..400),
        damages in prop::collection::vec(damage(), 0..4),
        start_valid in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let l = small_ledger(dir.path());
        let header = l.layout().header_path();
        let mut content = if start_valid { fs::read(&header).unwrap() } else { bytes };
        for d in &damages {
            spoil(&mut content, d);
        }
        fs::write(&header, &content).unwrap();
        bounded("Ledger::open", || {
            let _ = Ledger::open(l.root());
            let _ = Ledger::create_or_open(l.root(), &json!({"tasks": ["a"]}));
            let _ = LedgerView::open(l.root());
        })?;
    }
}

#[test]
fn the_allocation_watch_catches_a_large_allocation() {
    let caught = bounded("a deliberate allocation", || {
        let v = vec![1u8; ALLOC_LIMIT + 1];
        v.len()
    });
    assert!(caught.is_err());
    assert!(bounded("a small allocation", || vec![1u8; 1024].len()).is_ok());
}
