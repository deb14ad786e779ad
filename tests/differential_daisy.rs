//! Differential test of `blockorch plan --json` against daisy 2.0.0.
//!
//! Runs `tests/daisy/compare.py` (one Python process, daisy loaded once) over
//! the hand-written edge specs in `tests/daisy/specs/` plus random specs from
//! a fixed seed. Needs the venv from `scripts/setup-python.sh` (or a python
//! with daisy 2.0.0 in `BLOCKORCH_PYTHON`); without it this test FAILS, it is
//! never skipped.
//!
//! Knobs: `BLOCKORCH_DIFF_SEED` (default 20260101) and `BLOCKORCH_DIFF_COUNT`
//! (default 300) change the random specs.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const DEFAULT_SEED: u64 = 20260101;
const DEFAULT_COUNT: u64 = 300;
const TIMEOUT: Duration = Duration::from_secs(600);

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("BLOCKORCH_PYTHON") {
        let p = PathBuf::from(p);
        assert!(
            p.exists(),
            "BLOCKORCH_PYTHON={} does not exist; unset it or point it at a python with daisy 2.0.0 \
             (scripts/setup-python.sh makes one at .venv/bin/python)",
            p.display()
        );
        return p;
    }
    let p = repo_root().join(".venv").join("bin").join("python");
    assert!(
        p.exists(),
        "no Python for the daisy differential test at {}: run `scripts/setup-python.sh` \
         (creates .venv with daisy 2.0.0), or set BLOCKORCH_PYTHON",
        p.display()
    );
    p
}

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        Err(_) => default,
    }
}

fn read_lossy(path: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned()
}

#[test]
fn blockorch_plan_matches_daisy_2_0_0() {
    let root = repo_root();
    let python = python();
    let blockorch = env!("CARGO_BIN_EXE_blockorch");
    let seed = env_u64("BLOCKORCH_DIFF_SEED", DEFAULT_SEED);
    let count = env_u64("BLOCKORCH_DIFF_COUNT", DEFAULT_COUNT);
    let specs_dir = root.join("tests").join("daisy").join("specs");
    let hand_written = std::fs::read_dir(&specs_dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", specs_dir.display()))
        .filter_map(|e| e.ok())
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.ends_with(".json") && !name.ends_with(".expect.json")
        })
        .count() as u64;
    assert!(
        hand_written > 0,
        "no hand-written specs in {}",
        specs_dir.display()
    );

    // Output goes to files, not pipes: no reader threads, no pipe deadlock.
    let out_dir =
        std::env::temp_dir().join(format!("blockorch-differential-{}", std::process::id()));
    std::fs::create_dir_all(&out_dir).expect("create temp dir");
    let stdout_path = out_dir.join("stdout");
    let stderr_path = out_dir.join("stderr");

    let mut cmd = Command::new(&python);
    cmd.current_dir(&root)
        .arg(root.join("tests").join("daisy").join("compare.py"))
        .arg("--blockorch")
        .arg(blockorch)
        .arg("--specs")
        .arg(&specs_dir)
        .arg("--seed")
        .arg(seed.to_string())
        .arg("--count")
        .arg(count.to_string())
        .arg("--quiet")
        .env("BLOCKORCH_BIN", blockorch)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::from(
            File::create(&stdout_path).expect("create stdout file"),
        ))
        .stderr(Stdio::from(
            File::create(&stderr_path).expect("create stderr file"),
        ));
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for compare.py") {
            break Some(status);
        }
        if started.elapsed() > TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = read_lossy(&stdout_path);
    let stderr = read_lossy(&stderr_path);
    let _ = std::fs::remove_dir_all(&out_dir);
    let report = format!(
        "--- compare.py stdout ---\n{stdout}\n--- compare.py stderr ---\n{stderr}\n\
         (rerun: {} tests/daisy/compare.py --blockorch {} --specs tests/daisy/specs \
         --seed {seed} --count {count})",
        python.display(),
        blockorch
    );

    let status =
        status.unwrap_or_else(|| panic!("compare.py did not finish within {TIMEOUT:?}\n{report}"));
    let last = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    let expected = format!("{} passed, 0 failed", hand_written + count);
    assert!(
        status.success() && last == expected,
        "blockorch plan differs from daisy 2.0.0 (compare.py: {status}; expected final line \
         {expected:?}, got {last:?})\n{report}"
    );
    eprintln!(
        "differential test vs daisy 2.0.0: {last} in {:.1?}",
        started.elapsed()
    );
}
