//! `blockorch plan` as the README shows it: the summary, one block, JSON lines, and errors.

use std::process::Command;

fn plan(args: &[&str]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let task = dir.path().join("task.json");
    // daisy's 1-D example: total read [0,100), read [0,10), write [1,9) → 12 valid blocks.
    std::fs::write(
        &task,
        r#"{"name": "t", "total_roi": {"offset": [0], "shape": [100]},
            "read_roi": {"offset": [0], "shape": [10]}, "write_roi": {"offset": [1], "shape": [8]},
            "worker": {"command": ["true"]}}"#,
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_blockorch"))
        .arg("plan")
        .arg(&task)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn summary_names_grid_levels_and_parallelism() {
    let (code, out, err) = plan(&[]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("task t (1-D, fit valid)"), "{out}");
    assert!(out.contains("block grid      12 = 12 blocks"), "{out}");
    assert!(
        out.contains("levels          2 (2 holding blocks)"),
        "{out}"
    );
    assert!(out.contains("max parallel    6 blocks at once"), "{out}");
}

#[test]
fn one_block_shows_its_rois_and_dependencies() {
    let (code, out, err) = plan(&["--block", "5"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("read_roi    [40..50)"), "{out}");
    assert!(out.contains("write_roi   [41..49)"), "{out}");
    // Block 5 is on the odd level: it waits for both conflicting neighbours.
    assert!(
        out.contains("depends on  2 blocks:\n  t 4\n  t 6\n"),
        "{out}"
    );
}

#[test]
fn json_streams_one_line_per_block() {
    let (code, out, err) = plan(&["--json"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 12);
    assert_eq!(lines[11]["block_id"], 11);
    assert_eq!(lines[11]["read_roi"]["offset"][0], 88);
}

#[test]
fn unknown_block_is_bad_input_with_a_hint() {
    let (code, _, err) = plan(&["--block", "99"]);
    assert_eq!(code, 2);
    assert!(err.contains("has no block with id 99"), "{err}");
    assert!(err.contains("blockorch plan --json"), "{err}");
}
