//! The ledger's load on a shared filesystem (issue 10), measured on latencyfs
//! (`tools/latencyfs`, mounted with `bench/fs/mount.sh`): a FUSE passthrough that delays every
//! metadata operation and fsync and counts operations by kind.
//!
//! Needs root and `/dev/fuse`; skipped without them unless `BLOCKORCH_REQUIRE_FUSE=1`
//! (scripts/test-all.sh sets it). The benchmark with the same instrument at scale is
//! `bench/fs/scale.sh` (docs/performance.md, "Shared-filesystem load").

mod run_common;

use blockorch::ledger::BlockState;
use run_common::{
    assert_gone_within, assert_ledger_all, assert_no_conflicting_overlap, assert_outputs,
    blockwork, by_block, children_of, python_command, reported_done, task, wait_until, Job, SAFETY,
};
use serde_json::{json, Value};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Most metadata operations per second per worker the whole run (orchestrator, agents,
/// programs) may cause while every worker is in the middle of a long block. Issue 10's target
/// is 1 per worker at 32 workers (0.15 measured, docs/performance.md); with the 4 workers of
/// this test the orchestrator's fixed costs (its heartbeat every 5 s, its status record every
/// 10 s) and its looks at outboxes of blocks whose time is not known yet (backing off from
/// 50 ms) weigh 8 times as much per worker: about 1 measured, so the limit keeps headroom
/// above the target instead of the 100 allowed before the polling schedule.
const MAX_OPS_PER_WORKER: f64 = 2.0;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Whether FUSE can be mounted here; panics when it cannot but the suite requires it.
fn fuse_available() -> bool {
    let ok = Path::new("/dev/fuse").exists() && nix::unistd::geteuid().is_root();
    if !ok {
        assert!(
            std::env::var("BLOCKORCH_REQUIRE_FUSE").as_deref() != Ok("1"),
            "BLOCKORCH_REQUIRE_FUSE=1 but FUSE cannot be mounted (needs root and /dev/fuse)"
        );
        eprintln!("skipped: FUSE needs root and /dev/fuse");
    }
    ok
}

/// A latencyfs mount in a temporary state directory, unmounted on drop.
struct Mount {
    state: tempfile::TempDir,
}

impl Mount {
    /// Mounts with `options` (latencyfs's command-line options).
    fn new(options: &[&str]) -> Mount {
        let state = tempfile::Builder::new()
            .prefix("bo-latencyfs")
            .tempdir()
            .unwrap();
        let out = Command::new(repo().join("bench/fs/mount.sh"))
            .arg(state.path())
            .args(options)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "bench/fs/mount.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Mount { state }
    }

    fn dir(&self) -> PathBuf {
        self.state.path().join("mnt")
    }

    /// The counters now (latencyfs writes them on SIGUSR2).
    fn stats(&self) -> Value {
        let out = Command::new(repo().join("bench/fs/stats.sh"))
            .arg(self.state.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "bench/fs/stats.sh failed");
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("bench/fs/umount.sh"))
            .arg(self.state.path())
            .status();
    }
}

fn count(stats: &Value, field: &str) -> f64 {
    stats[field].as_f64().unwrap()
}

#[test]
fn latencyfs_delays_and_counts_metadata_operations() {
    if !fuse_available() {
        return;
    }
    let mount = Mount::new(&["--metadata-ms", "20", "--fsync-ms", "50", "--actimeo", "0"]);
    let file = mount.dir().join("f");
    fs::write(&file, "x").unwrap();
    let before = mount.stats();
    let start = Instant::now();
    for _ in 0..5 {
        fs::metadata(&file).unwrap();
    }
    let stats_took = start.elapsed();
    let start = Instant::now();
    fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .unwrap()
        .sync_all()
        .unwrap();
    let open_sync_took = start.elapsed();
    let after = mount.stats();
    // No caching (actimeo 0): every stat reaches the filesystem, each waiting 20 ms.
    let metadata = count(&after, "metadata") - count(&before, "metadata");
    assert!(metadata >= 5.0, "5 stats counted {metadata} metadata ops");
    assert!(
        stats_took >= Duration::from_millis(100),
        "5 stats took {stats_took:?}"
    );
    assert_eq!(count(&after, "sync") - count(&before, "sync"), 1.0);
    assert!(
        open_sync_took >= Duration::from_millis(70),
        "open+fsync took {open_sync_took:?}"
    );
    // The data went through.
    assert_eq!(
        fs::read_to_string(mount.state.path().join("src/f")).unwrap(),
        "x"
    );
}

#[test]
fn workers_in_long_blocks_stay_within_the_metadata_budget() {
    if !fuse_available() {
        return;
    }
    // A fast NFS as in issue 10: 1 ms per metadata operation, 3 ms per fsync, 1 s caching.
    let mount = Mount::new(&["--metadata-ms", "1", "--fsync-ms", "3", "--actimeo", "1"]);
    let job = tempfile::Builder::new()
        .prefix("bo-fsload")
        .tempdir()
        .unwrap();
    let marks = job.path().join("marks");
    fs::create_dir(&marks).unwrap();
    let workers = 4;
    let block_seconds = 14;
    let task = json!({
        "name": "sleep",
        "total_roi": {"offset": [0], "shape": [40]},
        "read_roi": {"offset": [0], "shape": [10]},
        "write_roi": {"offset": [0], "shape": [10]},
        "num_workers": workers,
        "worker": {
            "command": ["sh", repo().join("bench/fs/sleep_worker.sh").display().to_string()],
            "env": {"BLOCK_SECONDS": block_seconds.to_string(),
                    "MARKS": marks.display().to_string()}
        }
    });
    let task_file = job.path().join("task.json");
    fs::write(&task_file, task.to_string()).unwrap();
    let ledger = mount.dir().join("job.ledger");
    let log = fs::File::create(job.path().join("submit.log")).unwrap();
    let mut submit = Command::new(env!("CARGO_BIN_EXE_blockorch"))
        .arg("submit")
        .arg(&task_file)
        .arg("--backend")
        .arg("local")
        .arg("--ledger")
        .arg(&ledger)
        // One agent per worker, as on SLURM or LSF: every worker has its own inbox and outbox.
        .env(blockorch::backend::local::SLOTS_PER_AGENT_ENV, "1")
        .current_dir(job.path())
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    // Steady state: every worker is in its block; let the start-up settle, then measure.
    let deadline = Instant::now() + Duration::from_secs(30);
    while fs::read_dir(&marks).unwrap().count() < workers {
        assert!(
            Instant::now() < deadline,
            "the workers did not all start a block in 30 s"
        );
        assert!(submit.try_wait().unwrap().is_none(), "submit ended early");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let before = mount.stats();
    std::thread::sleep(Duration::from_secs(8));
    let after = mount.stats();
    let seconds = count(&after, "uptime") - count(&before, "uptime");
    let per_worker =
        (count(&after, "metadata") - count(&before, "metadata")) / seconds / workers as f64;
    let mut by_kind: Vec<(String, f64)> = after["ops"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_f64().unwrap() - before["ops"][k].as_f64().unwrap(),
            )
        })
        .filter(|(_, n)| *n > 0.0)
        .collect();
    by_kind.sort_by(|a, b| b.1.total_cmp(&a.1));
    eprintln!(
        "{per_worker:.1} metadata ops/s per worker over {seconds:.1} s; by kind: {by_kind:?}"
    );
    let status = submit.wait().unwrap();
    let log = fs::read_to_string(job.path().join("submit.log")).unwrap();
    assert!(status.success(), "submit failed on latencyfs: {log}");
    assert_eq!(
        fs::read_dir(&marks).unwrap().count(),
        4,
        "each of the 4 blocks ran once"
    );
    assert!(
        per_worker <= MAX_OPS_PER_WORKER,
        "{per_worker:.1} metadata ops/s per worker in the steady state (limit \
         {MAX_OPS_PER_WORKER}); by kind over {seconds:.1} s: {by_kind:?}"
    );
}

/// How far a worker's timestamps may be from the kill and still count as "at the kill": an
/// agent goes on with the blocks it holds until it notices its orchestrator is gone.
const AT_KILL_NS: u128 = 2_000_000_000;

/// Issue 10's "nothing lost on kill -9" on the slow filesystem: the ledger on latencyfs (1 ms
/// per metadata operation, 3 ms per fsync), the orchestrator killed with SIGKILL in the middle
/// of a conflicting task, its agents and programs gone by themselves, and a second `submit` on
/// the same ledger finishing the job: every block done in the ledger and its output written,
/// no two conflicting blocks ever overlapping, and only blocks in flight at the kill run again.
#[test]
fn kill_9_and_resume_on_the_slow_filesystem_loses_nothing() {
    if !fuse_available() {
        return;
    }
    let mount = Mount::new(&["--metadata-ms", "1", "--fsync-ms", "3", "--actimeo", "1"]);
    // 36 conflicting 2-D blocks with context (the read ROI overlaps neighbours' writes),
    // 40-80 ms each, on 3 workers; the task's init zeroes its output volume.
    let job = Job::new(&[task(
        "a",
        (&[0, 0], &[38, 38]),
        (&[0, 0], &[8, 8]),
        (&[1, 1], &[6, 6]),
        json!({"num_workers": 3, "worker": blockwork(Some((40, 80))),
               "init": python_command("init.py", &[], &[])}),
    )]);
    let plan = job.plan();
    // The ledger (the default `task.ledger` beside the task file) lives on latencyfs.
    let on_fuse = mount.dir().join("task.ledger");
    fs::create_dir(&on_fuse).unwrap();
    std::os::unix::fs::symlink(&on_fuse, job.ledger()).unwrap();

    let t0 = Instant::now();
    let mut run = job.spawn_submit(&["--quiet"]);
    wait_until(SAFETY, "eight finished blocks", || {
        job.attempts().iter().filter(|a| a.completed()).count() >= 8
    });
    assert!(run.exited().is_none(), "the run ended before the kill");
    let agents = children_of(run.pid());
    assert!(!agents.is_empty(), "no agents under the orchestrator");
    let killed = run.kill9();
    // Its agents notice the orchestrator is gone and leave, stopping their programs.
    let mut victims = agents;
    victims.extend(job.program_pids_started_before(killed));
    assert_gone_within(
        &victims,
        Duration::from_secs(20),
        "agents and programs of the killed orchestrator",
    );
    let before_resume = reported_done(&job, &plan);
    assert!(
        !before_resume.is_empty(),
        "no block reported done before the kill"
    );
    assert!(
        before_resume.len() < plan.blocks.len(),
        "every block was done before the kill"
    );

    let out = job.submit(&["--quiet"]);
    assert_eq!(out.code, Some(0), "resume on latencyfs: {}", out.text());
    eprintln!("killed, resumed and done in {:?}", t0.elapsed());
    let attempts = job.attempts();
    // Nothing lost: every block completed and wrote its output; the ledger says done.
    assert_outputs(&job, &plan, &attempts);
    assert_ledger_all(&job, &plan, BlockState::Done);
    assert!(assert_no_conflicting_overlap(&plan, &attempts) > 0);
    for ((task, block), runs) in by_block(&attempts) {
        assert!(runs.last().unwrap().completed(), "{runs:?}");
        for early in &runs[..runs.len() - 1] {
            // Ran again: it was reported done by no agent and was in flight at the kill.
            assert!(
                !before_resume.contains(&(task.clone(), block, early.attempt)),
                "block {block} of {task} ran again although {early:?} was reported done"
            );
            assert!(
                early.start < killed + AT_KILL_NS
                    && early.end.is_none_or(|e| e + AT_KILL_NS >= killed),
                "block {block} of {task} ran again although {early:?} was not in flight at \
                 the kill ({killed})"
            );
        }
        assert!(
            runs.len() <= 2,
            "block {block} of {task} ran {} times",
            runs.len()
        );
    }
}
