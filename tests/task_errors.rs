//! Task-file parsing and validation through the library API, pinned by example files:
//!
//! - `tests/task_files/bad/NAME.json` must be refused with the message in `NAME.expected`
//!   (the whole message if it starts with `task.json: `, else a distinctive substring; the
//!   file's real path is shown as `task.json`);
//! - `tests/task_files/good/*.json` must parse, with the values and defaults checked below.

use blockorch::geometry::{Coordinate, Roi};
use blockorch::plan::Fit;
use blockorch::task::{diff_task_files, load_task_file, parse_task_file, TaskError, TaskFile};
use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn fixtures(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/task_files")
        .join(kind)
}

fn files_with_extension(dir: &Path, extension: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == extension))
        .collect();
    files.sort();
    files
}

/// The error message of a bad file with its path replaced by `task.json`.
fn message_for(path: &Path) -> String {
    match load_task_file(path) {
        Ok(_) => "(accepted)".to_owned(),
        Err(e) => e
            .to_string()
            .replacen(&path.display().to_string(), "task.json", 1),
    }
}

fn good(name: &str) -> TaskFile {
    let path = fixtures("good").join(name);
    load_task_file(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn roi(offset: &[i64], shape: &[i64]) -> Roi {
    Roi::new(Coordinate::new(offset), Coordinate::new(shape))
}

// ---------------------------------------------------------------------------------------------
// Bad files

#[test]
fn every_bad_file_is_refused_with_the_expected_message() {
    let cases = files_with_extension(&fixtures("bad"), "json");
    assert!(cases.len() >= 35, "only {} bad task files", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let expected_path = case.with_extension("expected");
        let expected = std::fs::read_to_string(&expected_path)
            .unwrap_or_else(|e| panic!("{}: {e}", expected_path.display()));
        let expected = expected.trim_end_matches('\n');
        let message = message_for(case);
        let matches = if expected.starts_with("task.json: ") {
            message == expected
        } else {
            message.contains(expected)
        };
        if !matches {
            failures.push(format!(
                "{}\n  expected: {expected}\n  got:      {message}",
                case.display()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_expected_file_belongs_to_a_case() {
    for expected in files_with_extension(&fixtures("bad"), "expected") {
        assert!(
            expected.with_extension("json").exists(),
            "{} has no .json",
            expected.display()
        );
    }
}

#[test]
fn parse_and_load_report_the_same_errors() {
    for case in files_with_extension(&fixtures("bad"), "json") {
        let Ok(text) = std::fs::read_to_string(&case) else {
            continue; // the non-UTF-8 case can only go through load_task_file
        };
        let parsed = parse_task_file("task.json", &text).expect_err("bad file accepted");
        assert_eq!(parsed.to_string(), message_for(&case), "{}", case.display());
    }
}

#[test]
fn a_missing_file_is_a_read_error_naming_it() {
    let path = fixtures("bad").join("does-not-exist.json");
    let err = load_task_file(&path).expect_err("missing file accepted");
    assert!(matches!(err, TaskError::Read { .. }));
    let message = err.to_string();
    assert!(
        message.starts_with(&format!("{}: cannot read the task file: ", path.display())),
        "{message}"
    );
}

#[test]
fn errors_expose_their_field_path() {
    let text =
        std::fs::read_to_string(fixtures("bad").join("shape_negative.json")).expect("fixture");
    let err = parse_task_file("task.json", &text).expect_err("bad file accepted");
    assert_eq!(err.path(), Some("tasks[1].write_roi.shape[2]"));
    assert_eq!(
        err.to_string(),
        "task.json: tasks[1].write_roi.shape[2]: must be > 0, got -4"
    );
    let syntax = parse_task_file("task.json", "{\n  \"name\": \n").expect_err("bad JSON accepted");
    assert!(
        matches!(syntax, TaskError::Syntax { line: 3, .. }),
        "{syntax}"
    );
}

// ---------------------------------------------------------------------------------------------
// Good files

#[test]
fn a_minimal_task_gets_every_default() {
    let file = good("single_task.json");
    assert_eq!(file.tasks.len(), 1);
    let task = &file.tasks[0];
    assert_eq!(task.name, "predict");
    assert_eq!(task.total_roi, roi(&[0, 0, 0], &[1000, 1000, 1000]));
    assert_eq!(task.read_roi, roi(&[0, 0, 0], &[140, 140, 140]));
    assert_eq!(task.write_roi, roi(&[20, 20, 20], &[100, 100, 100]));
    assert_eq!(task.fit, Fit::Valid);
    assert!(task.read_write_conflict);
    assert!(task.upstream_tasks.is_empty());
    assert_eq!(task.num_workers, 1);
    assert_eq!(task.max_retries, 2);
    assert_eq!(task.timeout, None);
    assert_eq!(task.worker.command, ["python", "worker.py"]);
    assert!(!task.worker.per_block);
    assert!(task.worker.env.is_empty());
    assert!(task.check.is_none() && task.init.is_none());
    assert_eq!(task.slurm, Default::default());
    assert_eq!(task.lsf, Default::default());
    assert!(file.path.ends_with("good/single_task.json"));
    assert!(file.working_dir().ends_with("good"));
    assert!(file.task("predict").is_some() && file.task("other").is_none());
}

#[test]
fn every_field_of_a_full_task_is_read() {
    let task = good("full_task.json").tasks.remove(0);
    assert_eq!(task.fit, Fit::Shrink);
    assert!(!task.read_write_conflict);
    assert_eq!((task.num_workers, task.max_retries), (16, 5));
    assert_eq!(task.timeout, Some(Duration::from_secs(600)));
    assert!(task.worker.per_block);
    assert_eq!(task.worker.command[3], "{block_id}");
    assert_eq!(task.worker.env["OMP_NUM_THREADS"], "4");
    assert_eq!(
        task.check.as_ref().map(|c| c.command.clone()),
        Some(vec!["python".into(), "check.py".into()])
    );
    assert_eq!(
        task.init.as_ref().map(|c| c.env["STAGE"].as_str()),
        Some("init")
    );

    let slurm = &task.slurm;
    assert_eq!(slurm.partition.as_ref().map(|p| p.as_str()), Some("gpu"));
    assert_eq!(slurm.account.as_ref().map(|a| a.as_str()), Some("lab"));
    assert_eq!(slurm.qos.as_ref().map(|q| q.as_str()), Some("normal"));
    assert_eq!(
        slurm.time.as_ref().map(|t| t.duration()),
        Some(Duration::from_secs(7200))
    );
    assert_eq!(slurm.cpus_per_worker.map(|c| c.get()), Some(4));
    assert_eq!(slurm.mem.as_ref().map(|m| m.megabytes()), Some(16 * 1024));
    assert_eq!(slurm.gpus_per_worker, Some(1));
    assert_eq!(slurm.constraint.as_ref().map(|c| c.as_str()), Some("a100"));
    let directives: Vec<&str> = slurm.extra_directives.iter().map(|d| d.as_str()).collect();
    assert_eq!(directives, ["--exclusive", "--mail-type=END,FAIL"]);
    assert_eq!(
        slurm.template.as_ref().map(|t| t.as_path()),
        Some(Path::new("templates/slurm.sbatch"))
    );

    let lsf = &task.lsf;
    assert_eq!(lsf.queue.as_ref().map(|q| q.as_str()), Some("gpu"));
    assert_eq!(lsf.project.as_ref().map(|p| p.as_str()), Some("lab"));
    assert_eq!(
        lsf.walltime.as_ref().map(|w| w.duration()),
        Some(Duration::from_secs(7200))
    );
    assert_eq!(lsf.cpus_per_worker.map(|c| c.get()), Some(4));
    assert_eq!(lsf.gpus_per_worker, Some(1));
    assert_eq!(
        lsf.resource.as_ref().map(|r| r.as_str()),
        Some("select[mem>16000] span[hosts=1]")
    );
    assert_eq!(lsf.extra_directives.len(), 1);
    assert!(lsf.template.is_some());
}

#[test]
fn a_chain_keeps_file_order_and_sorts_topologically() {
    let file = good("chain.json");
    let names: Vec<&str> = file.tasks.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["relabel", "predict", "segment"]);
    assert_eq!(file.topological_order(), [1, 2, 0]);
    let segment = file.task("segment").expect("segment");
    assert_eq!(segment.upstream_tasks, ["predict"]);
    assert_eq!(segment.fit, Fit::Overhang);
    assert_eq!(segment.max_retries, 0);
    assert_eq!(
        file.task("predict").and_then(|t| t.timeout),
        Some(Duration::from_secs(3600))
    );
    assert_eq!(file.task("relabel").map(|t| t.num_workers), Some(8));
}

#[test]
fn one_six_and_eight_dimensions() {
    let line = good("one_dimensional.json").tasks.remove(0);
    assert_eq!(line.dims(), 1);
    assert_eq!(line.write_roi, roi(&[1], &[8]));
    let hyper = good("six_dimensional.json").tasks.remove(0);
    assert_eq!(hyper.dims(), 6);
    assert_eq!(hyper.read_roi.shape, Coordinate::splat(4, 6));
    assert_eq!(good("eight_dimensional.json").tasks[0].dims(), 8);
}

#[test]
fn negative_offsets_are_kept() {
    let task = good("negative_offsets.json").tasks.remove(0);
    assert_eq!(task.total_roi, roi(&[-500, -500, -40], &[1000, 1000, 80]));
    assert_eq!(task.read_roi, roi(&[-4, -4, -4], &[18, 18, 18]));
}

#[test]
fn every_duration_form() {
    let file = good("durations.json");
    let timeout = |name: &str| file.task(name).and_then(|t| t.timeout);
    assert_eq!(timeout("int_seconds"), Some(Duration::from_secs(90)));
    assert_eq!(timeout("float_seconds"), Some(Duration::from_millis(1500)));
    assert_eq!(timeout("seconds"), Some(Duration::from_secs(90)));
    assert_eq!(timeout("minutes"), Some(Duration::from_secs(600)));
    assert_eq!(timeout("hours"), Some(Duration::from_secs(7200)));
    assert_eq!(timeout("hours_minutes"), Some(Duration::from_secs(5400)));
    assert_eq!(timeout("milliseconds"), Some(Duration::from_millis(500)));
    assert_eq!(timeout("days_and_more"), Some(Duration::from_secs(93_784)));
    assert_eq!(timeout("none"), None);
    let startup = |name: &str| file.task(name).and_then(|t| t.worker.startup_timeout);
    assert_eq!(startup("startup"), Some(Duration::from_secs(300)));
    assert_eq!(startup("none"), None);
    let write_ahead = |name: &str| file.task(name).map(|t| t.worker.write_ahead);
    assert_eq!(write_ahead("startup"), Some(false));
    assert_eq!(write_ahead("none"), Some(true), "on by default");
    // Left out of the canonical form when unset, so ledgers of older task files still match.
    let canonical = file.canonical_json();
    assert_eq!(canonical["tasks"][9]["worker"]["startup_timeout"], 300);
    assert_eq!(canonical["tasks"][9]["worker"]["write_ahead"], false);
    assert!(canonical["tasks"][8]["worker"]
        .as_object()
        .is_some_and(|w| !w.contains_key("startup_timeout") && !w.contains_key("write_ahead")));
}

// ---------------------------------------------------------------------------------------------
// Canonical form and diff

#[test]
fn canonical_json_fills_defaults_and_round_trips() {
    let canonical = good("single_task.json").canonical_json();
    let task = &canonical["tasks"][0];
    assert_eq!(task["fit"], "valid");
    assert_eq!(task["read_write_conflict"], true);
    assert_eq!(task["num_workers"], 1);
    assert_eq!(task["max_retries"], 2);
    assert_eq!(task["timeout"], serde_json::Value::Null);
    assert_eq!(task["upstream_tasks"], serde_json::json!([]));
    assert_eq!(task["worker"]["per_block"], false);
    assert_eq!(
        task["write_roi"],
        serde_json::json!({"offset": [20, 20, 20], "shape": [100, 100, 100]})
    );
    assert_eq!(
        good("full_task.json").canonical_json()["tasks"][0]["timeout"],
        600
    );
    assert_eq!(
        good("durations.json").canonical_json()["tasks"][1]["timeout"],
        1.5
    );

    for path in files_with_extension(&fixtures("good"), "json") {
        let file = load_task_file(&path).unwrap_or_else(|e| panic!("{e}"));
        let text = file.canonical_json().to_string();
        let again = parse_task_file("canonical.json", &text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(again.tasks, file.tasks, "{}", path.display());
        assert!(diff_task_files(&file.canonical_json(), &again.canonical_json()).is_empty());
    }
}

#[test]
fn diff_names_what_changed() {
    let old = good("chain.json");
    let mut new = old.clone();
    new.tasks[1].write_roi = roi(&[20, 20, 20], &[50, 50, 50]);
    new.tasks[2].timeout = Some(Duration::from_secs(90));
    assert_eq!(
        diff_task_files(&old.canonical_json(), &new.canonical_json()),
        [
            "tasks[1].write_roi.shape: [100,100,100] -> [50,50,50]",
            "tasks[2].timeout: null -> 90",
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Robustness: no input panics

#[test]
fn truncated_files_never_panic() {
    for path in files_with_extension(&fixtures("good"), "json") {
        let text = std::fs::read_to_string(&path).expect("fixture");
        for (end, _) in text.char_indices().step_by(3) {
            let _ = parse_task_file("task.json", &text[..end]);
        }
    }
}

fn geometry_task(
    total: (Vec<i64>, Vec<i64>),
    read: (Vec<i64>, Vec<i64>),
    write: (Vec<i64>, Vec<i64>),
    fit: &str,
) -> String {
    serde_json::json!({
        "tasks": [
            {
                "name": "up",
                "total_roi": {"offset": total.0, "shape": total.1},
                "read_roi": {"offset": read.0, "shape": read.1},
                "write_roi": {"offset": write.0, "shape": write.1},
                "fit": fit,
                "worker": {"command": ["w"]}
            },
            {
                "name": "down",
                "upstream_tasks": ["up"],
                "total_roi": {"offset": write.0, "shape": total.1},
                "read_roi": {"offset": read.0, "shape": read.1},
                "write_roi": {"offset": write.0, "shape": write.1},
                "fit": fit,
                "worker": {"command": ["w"]}
            }
        ]
    })
    .to_string()
}

fn coordinate() -> impl Strategy<Value = i64> {
    prop_oneof![
        -20i64..40,
        Just(i64::MIN),
        Just(i64::MAX),
        Just(blockorch::task::MAX_COORDINATE),
        Just(-blockorch::task::MAX_COORDINATE),
        any::<i64>(),
    ]
}

fn coordinates() -> impl Strategy<Value = Vec<i64>> {
    proptest::collection::vec(coordinate(), 0..4)
}

proptest! {
    #[test]
    fn arbitrary_geometry_is_refused_or_valid_never_a_panic(
        total in (coordinates(), coordinates()),
        read in (coordinates(), coordinates()),
        write in (coordinates(), coordinates()),
        fit in prop_oneof![Just("valid"), Just("overhang"), Just("shrink")],
    ) {
        let text = geometry_task(total, read, write, fit);
        if let Ok(file) = parse_task_file("task.json", &text) {
            for task in &file.tasks {
                prop_assert!(task.read_roi.contains(&task.write_roi));
                prop_assert!(!task.total_roi.is_empty() && !task.write_roi.is_empty());
                prop_assert_eq!(task.read_roi.dims(), task.total_roi.dims());
            }
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let _ = parse_task_file("task.json", &text);
    }
}

/// A plausible task geometry: small positive shapes, context 0..4 on each side.
fn plausible_geometry(dims: usize) -> impl Strategy<Value = serde_json::Value> {
    let axis = (-20i64..20, 1i64..60, 1i64..16, 0i64..4, 0i64..4);
    (
        proptest::collection::vec(axis, dims),
        prop_oneof![Just("valid"), Just("overhang"), Just("shrink")],
    )
        .prop_map(|(axes, fit)| {
            let total_offset: Vec<i64> = axes.iter().map(|a| a.0).collect();
            let total_shape: Vec<i64> = axes.iter().map(|a| a.1).collect();
            let read_shape: Vec<i64> = axes.iter().map(|a| a.2 + a.3 + a.4).collect();
            let write_offset: Vec<i64> = axes.iter().map(|a| a.3).collect();
            let write_shape: Vec<i64> = axes.iter().map(|a| a.2).collect();
            serde_json::json!({
                "total_roi": {"offset": total_offset, "shape": total_shape},
                "read_roi": {"offset": vec![0; axes.len()], "shape": read_shape},
                "write_roi": {"offset": write_offset, "shape": write_shape},
                "fit": fit,
            })
        })
}

proptest! {
    #[test]
    fn plausible_chains_are_planned_without_panics(
        (up, down) in (1usize..4).prop_flat_map(|d| (plausible_geometry(d), plausible_geometry(d))),
    ) {
        let mut up = up;
        let mut down = down;
        up["name"] = "up".into();
        up["worker"] = serde_json::json!({"command": ["w"]});
        down["name"] = "down".into();
        down["upstream_tasks"] = serde_json::json!(["up"]);
        down["worker"] = serde_json::json!({"command": ["w"]});
        let text = serde_json::json!({"tasks": [up, down]}).to_string();
        match parse_task_file("task.json", &text) {
            Ok(file) => {
                for task in &file.tasks {
                    let plan = blockorch::plan::TaskPlan::new(&task.blockwise_spec());
                    prop_assert!(plan.is_ok_and(|p| p.num_blocks() > 0));
                }
            }
            Err(e) => {
                // Only the planner-level refusals are possible for this geometry.
                let message = e.to_string();
                prop_assert!(
                    message.contains("zero blocks") || message.contains("would wait forever"),
                    "{}", message
                );
            }
        }
    }
}

#[test]
fn backend_setup_lines_prefix_throttle_and_orchestrator_resources_are_read() {
    let file = good("cluster_setup.json");
    assert_eq!(file.backend, Some(blockorch::task::BackendName::Slurm));
    let slurm = file.tasks[0].slurm.job_setup();
    assert_eq!(
        slurm.setup,
        ["module load cuda/12", "source venv/bin/activate"]
    );
    assert_eq!(
        slurm.container_prefix,
        ["apptainer", "exec", "--nv", "image.sif"]
    );
    assert_eq!((slurm.max_running, slurm.requeue), (Some(8), Some(true)));
    let orchestrator = &file.tasks[0].slurm.orchestrator;
    assert_eq!(orchestrator.time.as_ref().unwrap().as_str(), "3-00:00:00");
    assert_eq!(orchestrator.partition.as_ref().unwrap().as_str(), "cpu");
    assert_eq!(orchestrator.mem.as_ref().unwrap().as_str(), "2G");
    assert_eq!(orchestrator.account.as_ref().unwrap().as_str(), "lab");
    let lsf = file.tasks[0].lsf.job_setup();
    assert_eq!(lsf.setup, ["conda activate seg"]);
    assert_eq!((lsf.max_running, lsf.requeue), (Some(4), Some(false)));
    // The canonical form keeps the new fields and parses back to the same tasks; the backend is
    // not part of it (one ledger may be run on another backend).
    let canonical = file.canonical_json();
    assert!(canonical.get("backend").is_none());
    let again = parse_task_file("again.json", &canonical.to_string()).unwrap();
    assert_eq!(again.tasks, file.tasks);
    // A file without them has no trace of them in its canonical form: existing ledgers'
    // definitions stay byte-identical.
    let text = good("single_task.json").canonical_json().to_string();
    for key in [
        "setup",
        "container_prefix",
        "max_running",
        "requeue",
        "orchestrator",
    ] {
        assert!(!text.contains(key), "{key} in {text}");
    }
}
