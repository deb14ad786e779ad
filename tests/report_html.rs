//! `blockorch report` on real runs (local backend, real workers): the HTML holds every chart
//! with data and nothing fetched from elsewhere, and Debian's Chromium, headless, renders it
//! (a screenshot) and runs its scripts without an error.
//!
//! Without a `chromium` on PATH the browser checks are skipped with a loud message, unless
//! `BLOCKORCH_REQUIRE_SLURM=1` (scripts/test-all.sh, which installs it), where they fail.

mod run_common;

use run_common::*;
use serde_json::json;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The charts of a report, in page order (one block map per task).
const CHARTS: [&str; 5] = [
    "progress",
    "timeline",
    "wall-time",
    "peak-memory",
    "failures",
];

/// `(chart, data marks)` of every `<svg data-chart=…>` in `html`.
fn charts(html: &str) -> Vec<(String, u64)> {
    html.split("data-chart=\"")
        .skip(1)
        .map(|rest| {
            let name = rest.split('"').next().unwrap().to_string();
            let marks = rest
                .split("data-marks=\"")
                .nth(1)
                .and_then(|m| m.split('"').next())
                .and_then(|m| m.parse().ok())
                .unwrap_or_else(|| panic!("chart {name} has no data-marks"));
            (name, marks)
        })
        .collect()
}

/// The report page must not need anything from elsewhere to be viewed.
fn assert_self_contained(html: &str) {
    let without_ns = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    for needle in ["http://", "https://", " src=", "<link", "@import", "url("] {
        assert!(
            !without_ns.contains(needle),
            "the report refers to something outside itself ({needle})"
        );
    }
}

/// A line of blocks `t` (10 blocks, block 7 always raises) and `u` downstream of it.
fn failing_job() -> Job {
    let line = |name: &str, extra: serde_json::Value| {
        let mut t = task(
            name,
            (&[0], &[100]),
            (&[0], &[10]),
            (&[0], &[10]),
            json!({"read_write_conflict": false, "num_workers": 2, "max_retries": 1,
                   "worker": blockwork(Some((5, 20)))}),
        );
        for (k, v) in extra.as_object().unwrap() {
            t[k] = v.clone();
        }
        t
    };
    let job = Job::new(&[
        line("t", json!({})),
        line("u", json!({"upstream_tasks": ["t"]})),
    ]);
    job.ctl("fail-t-7");
    job
}

#[test]
fn report_of_a_run_with_a_failing_block_draws_every_chart_with_data() {
    let job = failing_job();
    let run = job.submit(&["--quiet"]);
    assert_eq!(run.code, Some(3), "{}", run.text());
    let out = job.run(&["report", "task.ledger", "-o", "report.html"]);
    assert_eq!(out.code, Some(0), "{}", out.text());
    assert!(out.stderr.contains("wrote report.html"), "{}", out.text());
    let html = fs::read_to_string(job.path("report.html")).unwrap();

    let found = charts(&html);
    let names: Vec<&str> = found.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [&CHARTS[..], &["block-map", "block-map"]].concat(),
        "charts in the page"
    );
    for (name, marks) in &found {
        assert!(*marks > 0, "chart {name} has no data");
    }
    assert_self_contained(&html);
    // Counts agree with the ledger: 9 of t's blocks done, block 7 failed on both attempts.
    assert!(
        html.contains("t: 9 of 10 blocks finished"),
        "progress line of t"
    );
    assert!(
        html.contains("t: 2 failed attempts between")
            || html.matches("t: 1 failed attempts between").count() == 2,
        "failure bars of t"
    );
    assert!(
        html.contains("block error: ") && html.contains("t block 7 attempt 1, t block 7 attempt 2"),
        "the failure cause with its example block"
    );
    assert!(html.contains("blockorch logs task.ledger --task t --block 7 --attempt 1"));
    for w in job.ledger_state().workers() {
        assert!(
            html.contains(&format!(">{}</text>", w.worker_id)),
            "row of {}",
            w.worker_id
        );
    }
    // The map of u shows its orphan, the map of t its failed block.
    assert!(html.contains("failed 1</text>") && html.contains("orphaned 1</text>"));

    match chromium() {
        Some(browser) => {
            let dir = job.path("browser");
            assert_renders(&browser, &job.path("report.html"), &dir, 7);
        }
        None => skip_browser("report_of_a_run_with_a_failing_block_draws_every_chart_with_data"),
    }
}

#[test]
fn report_of_a_directory_that_is_not_a_ledger_is_bad_input_and_writes_nothing() {
    let job = Job::new(&[]);
    fs::create_dir(job.path("empty.ledger")).unwrap();
    let out = job.run(&["report", "empty.ledger", "-o", "r.html"]);
    assert_eq!(out.code, Some(2), "{}", out.text());
    assert!(out.stderr.contains("empty.ledger"), "{}", out.text());
    let left: Vec<_> = fs::read_dir(&job.root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("r.html"))
        .collect();
    assert!(left.is_empty(), "files left behind: {left:?}");
}

#[test]
fn report_of_the_bundled_example_renders_in_headless_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let example = dir.path().join("examples/smoothing");
    fs::create_dir_all(&example).unwrap();
    for entry in fs::read_dir(repo().join("examples/smoothing")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            fs::copy(&path, example.join(path.file_name().unwrap())).unwrap();
        }
    }
    // The example finds the Python helper at ../../python, as in the repository.
    std::os::unix::fs::symlink(repo().join("python"), dir.path().join("python")).unwrap();
    let status = Command::new(bin())
        .args(["submit", "task.json", "--quiet"])
        .current_dir(&example)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "the example run failed: {status}");
    let report = example.join("report.html");
    let status = Command::new(bin())
        .args(["report", "-o"])
        .arg(&report)
        .current_dir(&example)
        .status()
        .unwrap();
    assert!(status.success(), "blockorch report failed: {status}");
    let html = fs::read_to_string(&report).unwrap();
    assert_self_contained(&html);
    for (name, marks) in charts(&html) {
        // Nothing failed in the example: its failure chart alone is empty.
        assert_eq!(
            marks == 0,
            name == "failures",
            "chart {name}: {marks} marks"
        );
    }
    let Some(browser) = chromium() else {
        skip_browser("report_of_the_bundled_example_renders_in_headless_chromium");
        return;
    };
    let shot = assert_renders(&browser, &report, &dir.path().join("browser"), 7);
    if let Some(keep) = std::env::var_os("BLOCKORCH_REPORT_SCREENSHOT") {
        // How docs/img/report-example.png is made.
        fs::copy(shot, keep).unwrap();
    }
}

/// The `chromium` on PATH, if any.
fn chromium() -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join("chromium"))
        .find(|p| p.is_file())
}

fn skip_browser(test: &str) {
    if std::env::var("BLOCKORCH_REQUIRE_SLURM").is_ok_and(|v| v == "1") {
        panic!("{test}: chromium is not installed (apt-get install chromium; scripts/test-all.sh does)");
    }
    eprintln!(
        "\n!!! {test}: SKIPPED the headless-browser check: no chromium on PATH \
         (apt-get install -y chromium; set BLOCKORCH_REQUIRE_SLURM=1 to fail instead) !!!\n"
    );
}

/// Runs headless Chromium on `page` twice — a screenshot, then the DOM after the page's
/// scripts ran — and checks both; returns the screenshot.
fn assert_renders(browser: &Path, page: &Path, dir: &Path, charts_expected: usize) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    let url = format!("file://{}", page.display());
    let shot = dir.join("report.png");
    let out = run_browser(
        browser,
        dir,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1000,2400",
            &url,
        ],
    );
    let png = fs::read(&shot).unwrap_or_else(|e| {
        panic!(
            "no screenshot ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    // A blank page of this size compresses to a few kB; charts make it far larger.
    assert!(
        png.len() > 40_000,
        "screenshot of {} bytes: blank?",
        png.len()
    );

    let out = run_browser(browser, dir, &["--dump-dom", &url]);
    let dom = String::from_utf8_lossy(&out.stdout);
    // The page's error hook turns any script error into this element.
    if let Some(at) = dom.find("<pre class=\"report-script-error\"") {
        panic!(
            "a script error in the page: {}",
            &dom[at..dom.len().min(at + 500)]
        );
    }
    assert!(
        dom.contains(&format!("data-report-ready=\"{charts_expected}\"")),
        "the page's script did not run to its end or found other charts: {}",
        &dom[..dom.len().min(600)]
    );
    for chart in CHARTS {
        assert!(
            dom.contains(&format!("data-chart=\"{chart}\"")),
            "{chart} not in the DOM"
        );
    }
    shot
}

/// One headless Chromium run with a fresh profile and no network use of its own; its output
/// goes to files (it writes enough to stderr to fill a pipe nobody reads yet).
fn run_browser(browser: &Path, dir: &Path, args: &[&str]) -> Output {
    let profile = tempfile::tempdir_in(dir).unwrap();
    let (out_path, err_path) = (profile.path().join("stdout"), profile.path().join("stderr"));
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .stdin(Stdio::null())
        .stdout(fs::File::create(&out_path).unwrap())
        .stderr(fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: fs::read(&out_path).unwrap(),
        stderr: fs::read(&err_path).unwrap(),
    }
}
