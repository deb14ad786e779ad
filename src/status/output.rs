//! Output modes behind one trait: [`HumanOutput`] (tables for a terminal) and [`JsonOutput`]
//! (the typed structs serialized).

use std::fmt::Write as _;
use std::time::Duration;

use super::map::{CellState, MapView};
use super::model::{
    InitState, OwnerReport, OwnerState, StatusReport, TaskStatus, WorkerState, WorkerStatus,
};
use crate::backend::JobStatus;
use crate::ledger::{format_age, format_utc};

/// Up to this many workers are listed one by one; more are collapsed.
const WORKERS_LISTED: usize = 12;
/// Workers listed when collapsed (the most recently active).
const WORKERS_WHEN_COLLAPSED: usize = 10;
/// Block ids listed per worker in the human table.
const BLOCKS_LISTED: usize = 3;

/// Renders what status shows.
pub trait StatusOutput {
    /// The status of a run.
    fn status(&self, report: &StatusReport) -> String;
    /// A map of a task's blocks.
    fn map(&self, map: &MapView) -> String;
}

/// One JSON document per call (pretty, or on one line for `--watch`).
#[derive(Clone, Copy, Debug, Default)]
pub struct JsonOutput {
    /// Indent the document (otherwise one line).
    pub pretty: bool,
}

impl JsonOutput {
    fn render<T: serde::Serialize>(&self, value: &T) -> String {
        let mut text = if self.pretty {
            serde_json::to_string_pretty(value)
        } else {
            serde_json::to_string(value)
        }
        .expect("status structs always serialize");
        text.push('\n');
        text
    }
}

impl StatusOutput for JsonOutput {
    fn status(&self, report: &StatusReport) -> String {
        self.render(report)
    }
    fn map(&self, map: &MapView) -> String {
        self.render(map)
    }
}

/// Tables and a map for people; ANSI colours in the map when `color` is set.
#[derive(Clone, Copy, Debug, Default)]
pub struct HumanOutput {
    /// Colour the map cells.
    pub color: bool,
}

impl StatusOutput for HumanOutput {
    fn status(&self, r: &StatusReport) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "ledger  {}", r.ledger);
        let _ = writeln!(out, "owner   {}", owner_line(r.owner.as_ref(), r.now_us));
        if let Some(d) = &r.definition {
            let _ = writeln!(
                out,
                "definition {} (changed: {})",
                d.number,
                d.changed_fields().join(", ")
            );
        }
        if let Some(age) = r.recorded_age_s {
            let _ = writeln!(out, "as of   {age:.1}s ago (recorded by the orchestrator)");
        }
        if let Some(end) = r.owner.as_ref().and_then(|o| o.run_end.as_ref()) {
            let _ = writeln!(
                out,
                "run     {} at {}{}",
                end.reason.replace('_', " "),
                format_utc(end.time_us),
                if end.message.is_empty() {
                    String::new()
                } else {
                    format!(": {}", end.message)
                }
            );
        }
        out.push('\n');
        task_table(&mut out, r);
        worker_table(&mut out, r);
        if !r.warnings.is_empty() {
            let _ = writeln!(out, "\nwarnings (damaged data skipped while reading):");
            for w in &r.warnings {
                let _ = writeln!(out, "  {w}");
            }
        }
        out
    }

    fn map(&self, m: &MapView) -> String {
        let mut out = String::new();
        let shape: Vec<String> = m.grid_shape.iter().map(i64::to_string).collect();
        let _ = writeln!(out, "task {}: grid {} blocks", m.task, shape.join(" × "));
        let axis = |a: Option<usize>, n: u64| match a {
            Some(a) => format!("axis {a} ({n} blocks)"),
            None => "-".to_string(),
        };
        let _ = writeln!(
            out,
            "rows: {}, columns: {}",
            axis(m.row_axis, m.slice_shape[0]),
            axis(m.col_axis, m.slice_shape[1])
        );
        if !m.fixed.is_empty() {
            let fixed: Vec<String> = m
                .fixed
                .iter()
                .map(|f| format!("axis {} at index {}", f.axis, f.index))
                .collect();
            let _ = writeln!(out, "slice: {}", fixed.join(", "));
        }
        if m.scale > 1 {
            let _ = writeln!(
                out,
                "scale: 1 cell = {s} × {s} blocks, showing its most urgent state (failed, \
                 orphaned, running, pending, skipped, done){}",
                if m.sampled {
                    "; large cells are sampled"
                } else {
                    ""
                },
                s = m.scale
            );
        } else {
            let _ = writeln!(out, "scale: 1 cell = 1 block");
        }
        out.push('\n');
        for row in &m.cells {
            for &c in row {
                out.push_str(&self.cell(c));
            }
            if self.color {
                out.push_str(RESET);
            }
            out.push('\n');
        }
        out.push('\n');
        let legend: Vec<String> = CellState::ALL
            .iter()
            .map(|&s| format!("{} {} {}", self.cell(s), s.name(), m.counts.get(s)))
            .collect();
        let _ = writeln!(
            out,
            "{}{}",
            legend.join("   "),
            if m.sampled { "  (sampled blocks)" } else { "" }
        );
        if !m.orphans_computed {
            let _ = writeln!(out, "(no block failed: nothing is orphaned)");
        }
        out
    }
}

const RESET: &str = "\x1b[0m";

impl HumanOutput {
    fn cell(&self, state: CellState) -> String {
        if !self.color {
            return state.letter().to_string();
        }
        // Done is a solid block; the rarer states keep their letter so they stay readable
        // without colour vision.
        let (code, glyph) = match state {
            CellState::Pending => ("90", "·"),
            CellState::Running => ("1;33", "r"),
            CellState::Done => ("32", "█"),
            CellState::Skipped => ("36", "s"),
            CellState::Failed => ("1;31", "F"),
            CellState::Orphaned => ("35", "o"),
        };
        format!("\x1b[{code}m{glyph}{RESET}")
    }
}

fn owner_line(owner: Option<&OwnerReport>, now_us: u64) -> String {
    let Some(o) = owner else {
        return "none (no orchestrator has claimed this ledger)".to_string();
    };
    let state = match o.state {
        OwnerState::Alive => "alive",
        OwnerState::Stale => "stale (no heartbeat: probably dead; a new submit may take over)",
        OwnerState::Dead => "dead (its process is gone)",
        OwnerState::Ended => "ended",
    };
    format!(
        "pid {} on {} (epoch {}), since {}, heartbeat {} ago: {state}",
        o.pid,
        o.host,
        o.epoch,
        format_utc(o.since_us),
        format_age(Duration::from_micros(
            now_us.saturating_sub(o.heartbeat_us.unwrap_or(o.since_us))
        )),
    )
}

fn task_table(out: &mut String, r: &StatusReport) {
    let header = [
        "task", "progress", "total", "done", "skipped", "running", "queued", "failed", "orphaned",
        "pending", "init", "rate/s", "ETA",
    ];
    let mut rows: Vec<Vec<String>> = r.tasks.iter().map(task_row).collect();
    if r.tasks.len() > 1 {
        let all = TaskStatus {
            name: "all".into(),
            counts: r.totals.counts,
            init: InitState::None,
            rate_per_s: r.totals.rate_per_s,
            eta_s: r.totals.eta_s,
        };
        let mut row = task_row(&all);
        row[10] = String::new();
        rows.push(row);
    }
    table(out, &header, &rows, &[0, 10]);
    if let Some(w) = r.totals.rate_window_s {
        let _ = writeln!(
            out,
            "rates over the last {}",
            format_age(Duration::from_secs_f64(w))
        );
    }
    for t in &r.tasks {
        if let InitState::Failed { output_tail, .. } = &t.init {
            let last = output_tail.trim().lines().last().unwrap_or("");
            let _ = writeln!(out, "init of task {} failed: {last}", t.name);
        }
    }
    let c = &r.totals.counts;
    if c.failed + c.orphaned > 0 {
        let _ = writeln!(
            out,
            "by cause, with the command that shows one: blockorch status {} --failed",
            r.ledger
        );
    }
}

fn task_row(t: &TaskStatus) -> Vec<String> {
    let c = &t.counts;
    vec![
        t.name.clone(),
        format!("{:.1}%", c.fraction_ok() * 100.0),
        c.total.to_string(),
        c.done.to_string(),
        c.skipped.to_string(),
        c.running.to_string(),
        c.queued.to_string(),
        c.failed.to_string(),
        c.orphaned.to_string(),
        c.pending.to_string(),
        match t.init {
            InitState::None => "-".into(),
            InitState::NotRun => "not run".into(),
            InitState::Ok { .. } => "ok".into(),
            InitState::Failed { .. } => "FAILED".into(),
        },
        t.rate_per_s.map_or("-".into(), format_rate),
        t.eta_s.map_or("-".into(), |s| {
            format_age(Duration::from_secs_f64(s.min(1e9)))
        }),
    ]
}

fn format_rate(r: f64) -> String {
    if r == 0.0 {
        "0".to_string()
    } else if r >= 100.0 {
        format!("{r:.0}")
    } else if r >= 1.0 {
        format!("{r:.1}")
    } else {
        format!("{r:.3}")
    }
}

fn worker_table(out: &mut String, r: &StatusReport) {
    let w = &r.workers;
    let c = w.counts;
    let _ = writeln!(
        out,
        "\nworkers {}: {} starting, {} active, {} silent, {} ended",
        w.workers.len(),
        c.starting,
        c.active,
        c.silent,
        c.ended
    );
    if w.workers.is_empty() {
        return;
    }
    let mut shown: Vec<&WorkerStatus> = w.workers.iter().collect();
    let collapsed = shown.len() > WORKERS_LISTED;
    if collapsed {
        shown.sort_by_key(|w| {
            std::cmp::Reverse(
                w.last_seen_us
                    .unwrap_or(0)
                    .max(w.registered_us.unwrap_or(0)),
            )
        });
        shown.truncate(WORKERS_WHEN_COLLAPSED);
    }
    let header = [
        "worker",
        "job",
        "host",
        "pid",
        "slots",
        "blocks",
        "last seen",
        "state",
    ];
    let dash = || "-".to_string();
    let rows: Vec<Vec<String>> = shown
        .iter()
        .map(|w| {
            vec![
                w.worker_id.clone(),
                w.job_id.clone().unwrap_or_else(dash),
                w.host.clone().unwrap_or_else(dash),
                w.pid.map_or_else(dash, |p| p.to_string()),
                w.slots.map_or_else(dash, |s| s.to_string()),
                blocks_cell(w),
                w.last_seen_us.map_or_else(dash, |t| {
                    format!(
                        "{} ago",
                        format_age(Duration::from_micros(r.now_us.saturating_sub(t)))
                    )
                }),
                worker_state(w),
            ]
        })
        .collect();
    table(out, &header, &rows, &[0, 1, 2, 5, 6, 7]);
    if collapsed {
        let _ = writeln!(
            out,
            "(the {} most recently active of {} workers; all of them with --json)",
            shown.len(),
            w.workers.len()
        );
    }
}

fn blocks_cell(w: &WorkerStatus) -> String {
    let n = w.current_blocks.len();
    if n == 0 {
        return "-".into();
    }
    let ids: Vec<String> = w
        .current_blocks
        .iter()
        .take(BLOCKS_LISTED)
        .map(|b| b.block_id.to_string())
        .collect();
    let more = if n > BLOCKS_LISTED {
        format!(" +{}", n - BLOCKS_LISTED)
    } else {
        String::new()
    };
    format!("{}{more}", ids.join(","))
}

fn worker_state(w: &WorkerStatus) -> String {
    let mut text = match w.state {
        WorkerState::Starting => "starting".to_string(),
        WorkerState::Active => "active".to_string(),
        WorkerState::Silent => "silent".to_string(),
        WorkerState::Ended => match w.bye_reason.as_ref().or(w.ended_reason.as_ref()) {
            Some(reason) => format!("ended: {reason}"),
            None => "ended".to_string(),
        },
    };
    if let Some(s) = &w.scheduler_state {
        let _ = write!(text, " [{}", scheduler_name(s));
        if let Some(node) = &w.node {
            let _ = write!(text, " on {node}");
        }
        text.push(']');
    }
    text
}

fn scheduler_name(s: &JobStatus) -> String {
    match s {
        JobStatus::Queued => "queued".into(),
        JobStatus::Running => "running".into(),
        JobStatus::Suspended => "suspended".into(),
        JobStatus::Ended(end) => format!("ended: {end:?}").to_lowercase(),
        JobStatus::Unknown(s) => s.clone(),
    }
}

/// Appends an aligned table; columns in `left` are left-aligned, the others right-aligned.
fn table(out: &mut String, header: &[&str], rows: &[Vec<String>], left: &[usize]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            let pad = widths[i].saturating_sub(cell.chars().count());
            if left.contains(&i) {
                s.push_str(cell);
                if i + 1 < cells.len() {
                    s.push_str(&" ".repeat(pad));
                }
            } else {
                s.push_str(&" ".repeat(pad));
                s.push_str(cell);
            }
        }
        s.trim_end().to_string()
    };
    let _ = writeln!(out, "{}", line(header.to_vec()));
    for row in rows {
        let _ = writeln!(out, "{}", line(row.iter().map(String::as_str).collect()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::model::{
        BlockCounts, CurrentBlock, DefinitionReport, RunEnd, Totals, WorkerTable,
    };
    use crate::status::{WorkerStateCounts, WorkerStatus};

    const NOW: u64 = 1_700_000_100_000_000;

    fn worker(i: u64, state: WorkerState) -> WorkerStatus {
        WorkerStatus {
            worker_id: format!("slurm-4242_{i}"),
            backend: Some("slurm".into()),
            job_id: Some(format!("4242_{i}")),
            host: Some(format!("node{i:02}")),
            pid: Some(1000 + i as u32),
            slots: Some(1),
            registered_us: Some(NOW - 90_000_000),
            last_seen_us: Some(NOW - 1_000_000 * (i + 1)),
            current_blocks: if state == WorkerState::Active {
                (0..i)
                    .map(|b| CurrentBlock {
                        task: "predict".into(),
                        block_id: 10 + b,
                        attempt: 1,
                    })
                    .collect()
            } else {
                vec![]
            },
            state,
            bye_reason: (state == WorkerState::Ended).then(|| "stopped: walltime".into()),
            ended_reason: None,
            ended_us: None,
            scheduler_state: (state == WorkerState::Active).then_some(JobStatus::Running),
            node: None,
        }
    }

    fn report(workers: Vec<WorkerStatus>) -> StatusReport {
        let predict = BlockCounts {
            total: 1000,
            done: 600,
            skipped: 20,
            running: 2,
            queued: 2,
            failed: 1,
            orphaned: 3,
            pending: 372,
        };
        let relabel = BlockCounts {
            total: 500,
            pending: 500,
            ..BlockCounts::default()
        };
        let mut all = predict;
        all.add(&relabel);
        let mut counts = WorkerStateCounts::default();
        for w in &workers {
            match w.state {
                WorkerState::Active => counts.active += 1,
                WorkerState::Ended => counts.ended += 1,
                WorkerState::Starting => counts.starting += 1,
                WorkerState::Silent => counts.silent += 1,
            }
        }
        StatusReport {
            ledger: "/scratch/run.ledger".into(),
            now_us: NOW,
            created_us: NOW - 100_000_000,
            plan_hash: "abc".into(),
            definition: Some(DefinitionReport {
                number: 2,
                changed: vec![
                    "tasks[0].num_workers: 4 -> 8".into(),
                    "tasks[0].slurm.mem: \"1G\" -> \"2G\"".into(),
                    "tasks[0].slurm.partition: null -> \"gpu\"".into(),
                    "tasks[0].worker.env.K: (absent) -> \"v\"".into(),
                    "tasks[1].slurm.mem: null -> \"4G\"".into(),
                ],
            }),
            owner: Some(OwnerReport {
                epoch: 2,
                host: "login1".into(),
                pid: 777,
                since_us: 1_700_000_000_000_000,
                heartbeat_us: Some(NOW - 2_000_000),
                heartbeat_age_s: 2.0,
                state: OwnerState::Alive,
                run_end: None,
            }),
            run_over: false,
            tasks: vec![
                TaskStatus {
                    name: "predict".into(),
                    counts: predict,
                    init: InitState::Ok { time_us: 1 },
                    rate_per_s: Some(2.5),
                    eta_s: Some(150.4),
                },
                TaskStatus {
                    name: "relabel".into(),
                    counts: relabel,
                    init: InitState::Failed {
                        time_us: 1,
                        output_tail: "loading\nNo such file: seg.zarr\n".into(),
                    },
                    rate_per_s: Some(0.0),
                    eta_s: None,
                },
            ],
            totals: Totals {
                counts: all,
                rate_per_s: Some(2.5),
                eta_s: Some(350.0),
                rate_window_s: Some(300.0),
            },
            workers: WorkerTable { counts, workers },
            warnings: vec!["orchestrator/epoch-00000002.log: incomplete last frame".into()],
            recorded_age_s: None,
        }
    }

    #[test]
    fn human_status_snapshot() {
        let r = report(vec![
            worker(0, WorkerState::Ended),
            worker(1, WorkerState::Active),
            worker(4, WorkerState::Active),
        ]);
        let expected = "\
ledger  /scratch/run.ledger
owner   pid 777 on login1 (epoch 2), since 2023-11-14 22:13:20 UTC, heartbeat 2s ago: alive
definition 2 (changed: num_workers, mem, partition, worker.env)

task     progress  total  done  skipped  running  queued  failed  orphaned  pending  init    rate/s    ETA
predict     62.0%   1000   600       20        2       2       1         3      372  ok         2.5  2m30s
relabel      0.0%    500     0        0        0       0       0         0      500  FAILED       0      -
all         41.3%   1500   600       20        2       2       1         3      872             2.5  5m50s
rates over the last 5m00s
init of task relabel failed: No such file: seg.zarr
by cause, with the command that shows one: blockorch status /scratch/run.ledger --failed

workers 3: 0 starting, 2 active, 0 silent, 1 ended
worker        job     host     pid  slots  blocks       last seen  state
slurm-4242_0  4242_0  node00  1000      1  -            1s ago     ended: stopped: walltime
slurm-4242_1  4242_1  node01  1001      1  10           2s ago     active [running]
slurm-4242_4  4242_4  node04  1004      1  10,11,12 +1  5s ago     active [running]

warnings (damaged data skipped while reading):
  orchestrator/epoch-00000002.log: incomplete last frame
";
        assert_eq!(HumanOutput::default().status(&r), expected);
    }

    #[test]
    fn many_workers_are_collapsed_to_the_most_recent() {
        let workers = (0..30)
            .map(|i| {
                worker(
                    i,
                    if i % 3 == 0 {
                        WorkerState::Ended
                    } else {
                        WorkerState::Active
                    },
                )
            })
            .collect();
        let mut r = report(workers);
        r.owner.as_mut().unwrap().run_end = Some(RunEnd {
            reason: "blocks_failed".into(),
            message: "run finished".into(),
            time_us: NOW,
        });
        let text = HumanOutput::default().status(&r);
        assert!(text.contains("workers 30: 0 starting, 20 active, 0 silent, 10 ended\n"));
        assert!(text.contains("run     blocks failed at 2023-11-14 22:15:00 UTC: run finished\n"));
        let listed: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("slurm-"))
            .map(|l| l.split_whitespace().next().unwrap())
            .collect();
        assert_eq!(listed.len(), 10);
        assert_eq!(listed[0], "slurm-4242_0", "most recently seen first");
        assert!(
            text.contains("(the 10 most recently active of 30 workers; all of them with --json)")
        );
    }

    #[test]
    fn json_is_the_typed_structs() {
        let r = report(vec![worker(1, WorkerState::Active)]);
        let v: serde_json::Value =
            serde_json::from_str(&JsonOutput { pretty: false }.status(&r)).unwrap();
        assert_eq!(v["tasks"][0]["done"], 600);
        assert_eq!(v["tasks"][1]["init"]["state"], "failed");
        assert_eq!(v["owner"]["state"], "alive");
        assert_eq!(v["workers"]["workers"][0]["scheduler_state"], "Running");
        assert_eq!(v["totals"]["pending"], 872);
    }
}
