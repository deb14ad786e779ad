//! The bundled example (`examples/smoothing`) runs to the end on the local backend from a copy
//! and its `verify.py` confirms the result equals a single-process computation.

mod run_common;

use blockorch::ledger::BlockState;
use run_common::*;
use std::fs;
use std::process::Command;

#[test]
fn bundled_smoothing_example_completes_and_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    // smooth.py finds the helper at ../../python relative to itself: keep that layout.
    let example = tmp.path().join("examples/smoothing");
    fs::create_dir_all(&example).unwrap();
    fs::create_dir_all(tmp.path().join("python")).unwrap();
    fs::copy(
        repo().join("python/blockorch_worker.py"),
        tmp.path().join("python/blockorch_worker.py"),
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
    let mut submit = Command::new(bin());
    submit
        .args(["submit", "task.json", "--quiet"])
        .current_dir(&example);
    let out = spawn_logged(submit, tmp.path(), "submit").wait(SAFETY);
    assert_eq!(out.code, Some(0), "{}", out.text());
    let stdout = &out.stdout;
    for task in ["smooth", "count"] {
        let row = stdout
            .lines()
            .find(|l| l.starts_with(task))
            .unwrap_or_else(|| panic!("no row for {task}: {stdout}"));
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cols[1..], ["210", "210", "0", "0", "0"], "{row}");
    }
    let state = blockorch::ledger::Ledger::open(example.join("task.ledger"))
        .unwrap()
        .load_state()
        .unwrap()
        .state;
    for t in state.tasks() {
        assert_eq!(t.counts().get(BlockState::Done), 210);
    }
    let mut verify = Command::new("python3");
    verify.arg("verify.py").current_dir(&example);
    let verify = spawn_logged(verify, tmp.path(), "verify").wait(SAFETY);
    let text = &verify.stdout;
    assert_eq!(verify.code, Some(0), "verify.py failed:\n{}", verify.text());
    assert!(
        text.contains("OK: the blockwise result equals the single-process computation"),
        "{text}"
    );
    assert!(text.contains("95400/95400 voxels"), "{text}");
}
