//! The Python package: installs it into a fresh virtual environment and runs daisy scripts with
//! it, unchanged but for the import line, comparing every block's ids, ROIs and results with
//! daisy 2.0.0 running the same scripts (`tests/python/`).
//!
//! The package comes from the wheel in `BLOCKORCH_WHEEL` (scripts/test-all.sh builds it with
//! `pip wheel .` before the suite, sharing the suite's release build); without it the test runs
//! `pip install .` itself (a release build of the crate in `target/python-build`, minutes).
//! daisy comes from `BLOCKORCH_PYTHON` or `.venv` (scripts/setup-python.sh), as for the
//! differential test; without it this test fails, it is never skipped. The daisy pipeline also
//! runs on the real SLURM test cluster (skipped when it is down, unless
//! `BLOCKORCH_REQUIRE_SLURM=1`), chosen by `BLOCKORCH_BACKEND=slurm` outside the script.

#[path = "fixtures/slurm/common.rs"]
mod slurm;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A python with daisy 2.0.0 (the oracle, and the base of the fresh venv).
fn daisy_python() -> PathBuf {
    let p = std::env::var_os("BLOCKORCH_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv/bin/python"));
    assert!(
        p.exists(),
        "no Python with daisy 2.0.0 at {}: run scripts/setup-python.sh or set BLOCKORCH_PYTHON",
        p.display()
    );
    p
}

fn run(cmd: &mut Command, what: &str) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A fresh venv under `dir` with the blockorch package installed; returns its python.
fn install_package(dir: &Path) -> PathBuf {
    let venv = dir.join("venv");
    run(
        Command::new(daisy_python()).args(["-m", "venv"]).arg(&venv),
        "python -m venv",
    );
    let py = venv.join("bin/python");
    let mut pip = Command::new(&py);
    pip.args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
    ]);
    match std::env::var_os("BLOCKORCH_WHEEL") {
        Some(wheel) => pip.arg(wheel),
        None => pip
            .arg(repo())
            .env("CARGO_TARGET_DIR", repo().join("target/python-build")),
    };
    run(&mut pip, "pip install of the blockorch package");
    assert!(
        venv.join("bin/blockorch").exists(),
        "the package did not install the blockorch command into {}",
        venv.join("bin").display()
    );
    py
}

/// The script with `import daisy` replaced by `import blockorch as daisy` (the only change).
fn ported(script: &str) -> String {
    let text = fs::read_to_string(repo().join("tests/python").join(script)).unwrap();
    assert_eq!(text.matches("\nimport daisy\n").count(), 1, "{script}");
    text.replace("\nimport daisy\n", "\nimport blockorch as daisy\n")
}

/// Every `*.json` file in `dir`, by name, with its content.
fn outputs(dir: &Path) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, fs::read_to_string(&path).unwrap())
        })
        .collect();
    files.sort();
    files
}

/// Runs `script` with daisy and, ported, with the package; both must succeed and write the same
/// files. Returns how many blocks were recorded.
fn same_as_daisy(dir: &Path, py: &Path, script: &str, backend: &str) -> usize {
    let work = dir.join(format!("{}-{backend}", script.trim_end_matches(".py")));
    let (daisy_out, blockorch_out) = (work.join("daisy-out"), work.join("blockorch-out"));
    fs::create_dir_all(&daisy_out).unwrap();
    fs::create_dir_all(&blockorch_out).unwrap();
    let out = run(
        Command::new(daisy_python())
            .args(["-W", "ignore"])
            .arg(repo().join("tests/python").join(script))
            .arg(&daisy_out)
            .current_dir(&work),
        &format!("daisy 2.0.0 running {script}"),
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("run_blockwise: True"));

    let ported_script = work.join(format!("ported_{script}"));
    fs::write(&ported_script, ported(script)).unwrap();
    let mut cmd = Command::new(py);
    cmd.arg(&ported_script)
        .arg(&blockorch_out)
        .current_dir(&work)
        .env_remove("BLOCKORCH_BIN")
        .env_remove("PYTHONPATH")
        .env("BLOCKORCH_BACKEND", backend);
    if backend == "slurm" {
        cmd.env("SLURM_CONF", slurm::slurm_conf());
    }
    let out = run(
        &mut cmd,
        &format!("blockorch running {script} on {backend}"),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("run_blockwise: True"), "{stdout}");

    let (want, got) = (outputs(&daisy_out), outputs(&blockorch_out));
    assert!(!want.is_empty(), "daisy recorded no block for {script}");
    let names = |v: &[(String, String)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&got),
        names(&want),
        "{script}: other blocks than daisy's"
    );
    for ((name, g), (_, w)) in got.iter().zip(&want) {
        assert_eq!(g, w, "{script}: block {name} differs from daisy's");
    }
    want.len()
}

#[test]
fn package_runs_daisy_scripts_like_daisy() {
    let dir = tempfile::tempdir().unwrap();
    let py = install_package(dir.path());

    // Two tasks chained with upstream_tasks, fit="shrink", read_write_conflict=True: the same
    // blocks (ids, ROIs) and results (downstream blocks saw the upstream outputs they depend on).
    assert_eq!(
        same_as_daisy(dir.path(), &py, "daisy_pipeline.py", "local"),
        42
    );
    // A daisy.Client worker loop with a check_function skipping every third block.
    assert_eq!(
        same_as_daisy(dir.path(), &py, "daisy_client.py", "local"),
        32
    );
    // The same unchanged pipeline script on the real SLURM cluster.
    if slurm::cluster_up_or_skip("package_runs_daisy_scripts_like_daisy (slurm part)") {
        assert_eq!(
            same_as_daisy(dir.path(), &py, "daisy_pipeline.py", "slurm"),
            42
        );
    }

    // The DaCapo bridge: a worker module that says `import daisy` (no daisy in this venv) runs
    // as a 0-argument process_function once the driver made `daisy` mean blockorch.
    let work = dir.path().join("dacapo");
    let dacapo_out = work.join("out");
    fs::create_dir_all(&dacapo_out).unwrap();
    let out = run(
        Command::new(&py)
            .arg(repo().join("tests/python/dacapo_bridge.py"))
            .arg(&dacapo_out)
            .current_dir(&work)
            .env_remove("BLOCKORCH_BIN")
            .env_remove("PYTHONPATH"),
        "the DaCapo bridge",
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("run_blockwise: True"));
    let blocks = outputs(&dacapo_out);
    assert_eq!(blocks.len(), 16, "{blocks:?}");
    for (name, text) in &blocks {
        assert!(text.contains("\"scaled\": 300"), "{name}: {text}");
    }

    // A block that raises fails alone, its traceback in its slot's stderr log; a refused task
    // definition raises blockorch.TaskError with blockorch's message.
    let work = dir.path().join("errors");
    fs::create_dir_all(&work).unwrap();
    let out = Command::new(&py)
        .arg(repo().join("tests/python/blockorch_errors.py"))
        .current_dir(&work)
        .env_remove("BLOCKORCH_BIN")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("run_blockwise: False"), "{stdout}");
    assert!(
        stdout.contains("TaskError: ")
            && stdout.contains("tasks[0].write_roi: write_roi [1..5) is not inside read_roi"),
        "{stdout}"
    );
    let mut logs = String::new();
    for worker in fs::read_dir(work.join("fails.ledger/workers")).unwrap() {
        for file in fs::read_dir(worker.unwrap().path()).unwrap() {
            let path = file.unwrap().path();
            if path.to_string_lossy().ends_with(".stderr.log") {
                logs += &fs::read_to_string(&path).unwrap();
            }
        }
    }
    assert!(
        logs.contains("Traceback (most recent call last)")
            && logs.contains("ValueError: boom in block 3"),
        "the failing block's traceback is not in the slot stderr logs:\n{logs}"
    );

    // `blockorch plan --json` lines feed the worker by hand (debugging without the agent).
    let bin = py.parent().unwrap().join("blockorch");
    let out = run(
        Command::new("sh")
            .arg("-c")
            .arg(r#""$1" plan --json fails.ledger.task/task.json | "$2" -m blockorch.worker_main fails.ledger.task/fails.process.pkl 3>&1"#)
            .arg("sh")
            .arg(&bin)
            .arg(&py)
            .current_dir(&work),
        "blockorch plan --json | python -m blockorch.worker_main",
    );
    let reports: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let statuses: Vec<(u64, String)> = reports
        .iter()
        .filter(|r| r.get("block_id").is_some())
        .map(|r| {
            (
                r["block_id"].as_u64().unwrap(),
                r["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want: Vec<(u64, String)> = (0..5)
        .map(|i| (i, if i == 3 { "failed" } else { "done" }.to_owned()))
        .collect();
    assert_eq!(statuses, want, "{reports:?}");
}
