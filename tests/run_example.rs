//! The bundled example (`examples/smoothing`) runs to the end on the local backend from a copy
//! and its `verify.py` confirms the result equals a single-process computation; it survives a
//! kill -9 during its init (and the torn file an older version left behind), and `verify.py`
//! reports bad data in one line, never with a traceback.

mod run_common;

use blockorch::ledger::BlockState;
use run_common::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Copies the example (and the Python helper it imports) under `root`; returns its directory.
fn copy_example(root: &Path) -> PathBuf {
    // smooth.py finds the helper at ../../python relative to itself: keep that layout.
    let example = root.join("examples/smoothing");
    fs::create_dir_all(&example).unwrap();
    fs::create_dir_all(root.join("python")).unwrap();
    fs::copy(
        repo().join("python/blockorch_worker.py"),
        root.join("python/blockorch_worker.py"),
    )
    .unwrap();
    let source = repo().join("examples/smoothing");
    for entry in fs::read_dir(&source).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".py") || name == "task.json" {
            fs::copy(&path, example.join(&name)).unwrap();
        }
    }
    example
}

fn start_submit(example: &Path, log_dir: &Path, tag: &str) -> Running {
    let mut submit = Command::new(bin());
    submit
        .args(["submit", "task.json", "--quiet"])
        .current_dir(example);
    spawn_logged(submit, log_dir, tag)
}

/// Runs `submit` to the end and checks every block of both tasks is done.
fn submit_to_the_end(example: &Path, log_dir: &Path, tag: &str) {
    let out = start_submit(example, log_dir, tag).wait(SAFETY);
    assert_eq!(out.code, Some(0), "{}", out.text());
    let stdout = &out.stdout;
    for task in ["smooth", "count"] {
        let row = stdout
            .lines()
            .find(|l| l.starts_with(task))
            .unwrap_or_else(|| panic!("no row for {task}: {stdout}"));
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cols[1..], ["210", "210", "0", "0", "0", "0"], "{row}");
    }
    let state = blockorch::ledger::Ledger::open(example.join("task.ledger"))
        .unwrap()
        .load_state()
        .unwrap()
        .state;
    for t in state.tasks() {
        assert_eq!(t.counts().get(BlockState::Done), 210);
    }
}

fn run_verify(example: &Path, log_dir: &Path) -> RunOutput {
    let mut verify = Command::new("python3");
    verify.arg("verify.py").current_dir(example);
    spawn_logged(verify, log_dir, "verify").wait(SAFETY)
}

fn assert_verified(example: &Path, log_dir: &Path) {
    let verify = run_verify(example, log_dir);
    let text = &verify.stdout;
    assert_eq!(verify.code, Some(0), "verify.py failed:\n{}", verify.text());
    assert!(
        text.contains("OK: the blockwise result equals the single-process computation"),
        "{text}"
    );
    assert!(text.contains("95400/95400 voxels"), "{text}");
}

/// verify.py fails with exit 1 and a one-line cause containing `expected`, no traceback.
fn assert_verify_refuses(example: &Path, log_dir: &Path, expected: &str) {
    let verify = run_verify(example, log_dir);
    assert_eq!(verify.code, Some(1), "{}", verify.text());
    assert!(verify.stderr.contains(expected), "{}", verify.text());
    assert!(!verify.stderr.contains("Traceback"), "{}", verify.text());
    assert!(!verify.stdout.contains("OK:"), "{}", verify.text());
}

#[test]
fn bundled_smoothing_example_completes_and_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let example = copy_example(tmp.path());
    submit_to_the_end(&example, tmp.path(), "submit");
    assert_verified(&example, tmp.path());
}

#[test]
fn example_resumes_over_the_torn_input_a_killed_init_left() {
    let tmp = tempfile::tempdir().unwrap();
    let example = copy_example(tmp.path());
    // What an init killed mid-write leaves: with the old in-place write, a truncated
    // data/input.raw (and no ledger record of a successful init); with the new one, a stray
    // temporary. Also a torn output volume.
    let data = example.join("data");
    fs::create_dir_all(&data).unwrap();
    fs::write(data.join("input.raw"), vec![0u8; 12_345]).unwrap();
    fs::write(data.join(".input.raw.tmp-999999"), vec![0u8; 100]).unwrap();
    fs::write(data.join("smooth.raw"), vec![0u8; 7]).unwrap();
    assert_verify_refuses(&example, tmp.path(), "data/input.raw is 12345 bytes");

    submit_to_the_end(&example, tmp.path(), "resume");
    assert_eq!(
        fs::metadata(data.join("input.raw")).unwrap().len(),
        40 * 45 * 53 * 4
    );
    assert!(!data.join(".input.raw.tmp-999999").exists());
    assert_verified(&example, tmp.path());
}

#[test]
fn example_resumes_after_kill9_of_the_orchestrator_during_init() {
    let tmp = tempfile::tempdir().unwrap();
    let example = copy_example(tmp.path());
    let data = example.join("data");
    let running = start_submit(&example, tmp.path(), "killed");
    // Kill while init_smooth.py is writing the input under its temporary name.
    let deadline = Instant::now() + SAFETY;
    let temporary = loop {
        let found = fs::read_dir(&data).ok().and_then(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .find(|n| n.starts_with(".input.raw.tmp-"))
        });
        if let Some(name) = found {
            break name;
        }
        assert!(Instant::now() < deadline, "init never started writing");
        std::thread::sleep(Duration::from_millis(1));
    };
    running.kill9();
    // The init dies with its orchestrator (PR_SET_PDEATHSIG): give it a moment.
    std::thread::sleep(Duration::from_millis(300));
    // Whatever the timing, the input is absent or whole, never torn.
    if let Ok(meta) = fs::metadata(data.join("input.raw")) {
        assert_eq!(meta.len(), 40 * 45 * 53 * 4, "a torn input.raw");
    }
    submit_to_the_end(&example, tmp.path(), "resume");
    assert!(!data.join(&temporary).exists(), "{temporary} left behind");
    assert_verified(&example, tmp.path());
}

#[test]
fn verify_names_the_bad_file_instead_of_a_traceback() {
    let tmp = tempfile::tempdir().unwrap();
    let example = copy_example(tmp.path());
    assert_verify_refuses(&example, tmp.path(), "data/input.raw does not exist");
    submit_to_the_end(&example, tmp.path(), "submit");
    let data = example.join("data");

    let counts = data.join("counts/0");
    let good = fs::read(&counts).unwrap();
    fs::write(&counts, b"not a number\n").unwrap();
    assert_verify_refuses(&example, tmp.path(), "data/counts/0 is not a block count");
    fs::write(&counts, good).unwrap();

    let smooth = data.join("smooth.raw");
    let file = fs::OpenOptions::new().write(true).open(&smooth).unwrap();
    file.set_len(1000).unwrap();
    drop(file);
    assert_verify_refuses(&example, tmp.path(), "data/smooth.raw is 1000 bytes");
}
