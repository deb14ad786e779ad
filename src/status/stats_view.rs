//! `status --stats`: per task, wall time, CPU time and peak memory of the finished attempts
//! (count, p50, p95, max), and the `timeout` and `mem` they suggest.
//!
//! Read from the outboxes one record at a time, into [`LogHistogram`]s: memory does not grow
//! with the number of attempts.

use std::fmt::Write as _;
use std::ops::ControlFlow;
use std::path::Path;

use serde::Serialize;

use super::error::StatusError;
use super::histogram::{LogHistogram, Quantiles};
use super::units::{format_bytes, format_seconds};
use crate::ledger::{Ledger, LogReader, OutboxRecord, Outcome};
use crate::task::parse_task_file;

/// Headroom of the suggestions over the largest value seen.
pub const HEADROOM: f64 = 1.5;

/// The `--json` document of `status --stats`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StatsReport {
    /// The ledger directory.
    pub ledger: String,
    /// Headroom factor of the suggestions.
    pub headroom: f64,
    /// One entry per task of the plan, in task-file order.
    pub tasks: Vec<TaskStats>,
}

/// One task's attempts.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TaskStats {
    /// Task name.
    pub task: String,
    /// Finished attempts counted (done and failed; skipped ones only ran the check).
    pub attempts: u64,
    /// Of which done.
    pub done: u64,
    /// Of which failed.
    pub failed: u64,
    /// Wall-clock seconds.
    pub wall_s: Option<Quantiles>,
    /// CPU seconds (user + system).
    pub cpu_s: Option<Quantiles>,
    /// Peak resident set size in bytes (attempts where it was measured).
    pub peak_rss_bytes: Option<Quantiles>,
    /// Most slots of a worker that ran the task's attempts.
    pub slots: u32,
    /// `timeout` for one attempt: the longest wall time × [`HEADROOM`], rounded up to whole
    /// seconds (whole minutes above 10 minutes).
    pub suggested_timeout: Option<String>,
    /// `mem` of a worker job: the largest peak × [`HEADROOM`] × `slots`, rounded up to whole
    /// MiB (`M`; whole GiB, `G`, from 10 GiB).
    pub suggested_mem: Option<String>,
}

struct Acc {
    done: u64,
    failed: u64,
    wall: LogHistogram,
    cpu: LogHistogram,
    rss: LogHistogram,
    slots: u32,
}

impl Acc {
    fn new() -> Self {
        Self {
            done: 0,
            failed: 0,
            wall: LogHistogram::seconds(),
            cpu: LogHistogram::seconds(),
            rss: LogHistogram::bytes(),
            slots: 0,
        }
    }
}

impl StatsReport {
    /// Reads the task names from the header of the ledger at `root`, then every outbox one
    /// record at a time (the orchestrator's state is not loaded).
    pub fn build(root: &Path) -> Result<Self, StatusError> {
        let ledger_err = |source| StatusError::Ledger {
            root: root.to_path_buf(),
            source,
        };
        let ledger = Ledger::open(root).map_err(ledger_err)?;
        let task_names: Vec<String> =
            parse_task_file("ledger.json", &ledger.header().tasks.to_string())
                .map_err(|source| StatusError::Tasks {
                    root: root.to_path_buf(),
                    source,
                })?
                .tasks
                .into_iter()
                .map(|t| t.name)
                .collect();
        let layout = ledger.layout();
        let mut acc: Vec<Acc> = task_names.iter().map(|_| Acc::new()).collect();
        for id in layout.list_workers().map_err(ledger_err)? {
            let mut slots = 0;
            let mut reader = LogReader::<OutboxRecord>::new(layout.outbox_path(&id));
            reader
                .poll_with(|record| {
                    match record {
                        OutboxRecord::Hello { slots: s, .. } => slots = s,
                        OutboxRecord::Finished {
                            task,
                            outcome,
                            stats,
                            ..
                        } => {
                            let Some(a) = acc.get_mut(task as usize) else {
                                return ControlFlow::Continue(());
                            };
                            match outcome {
                                Outcome::Done => a.done += 1,
                                Outcome::Failed { .. } => a.failed += 1,
                                Outcome::Skipped => return ControlFlow::Continue(()),
                            }
                            a.wall.add(stats.wall_s);
                            a.cpu.add(stats.cpu_s);
                            if stats.peak_rss_bytes > 0 {
                                a.rss.add(stats.peak_rss_bytes as f64);
                            }
                            a.slots = a.slots.max(slots);
                        }
                        _ => {}
                    }
                    ControlFlow::Continue(())
                })
                .map_err(ledger_err)?;
        }
        let tasks = task_names
            .iter()
            .zip(acc)
            .map(|(name, a)| {
                let rss = a.rss.quantiles();
                let wall = a.wall.quantiles();
                TaskStats {
                    task: name.clone(),
                    attempts: a.done + a.failed,
                    done: a.done,
                    failed: a.failed,
                    wall_s: wall,
                    cpu_s: a.cpu.quantiles(),
                    peak_rss_bytes: rss,
                    slots: a.slots,
                    suggested_timeout: wall.map(|w| suggest_timeout(w.max * HEADROOM)),
                    suggested_mem: rss
                        .map(|r| suggest_mem(r.max * HEADROOM * f64::from(a.slots.max(1)))),
                }
            })
            .collect();
        Ok(Self {
            ledger: root.display().to_string(),
            headroom: HEADROOM,
            tasks,
        })
    }

    /// The report as a table per task.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}: finished attempts (done and failed)", self.ledger);
        for t in &self.tasks {
            let _ = writeln!(
                out,
                "\ntask {}: {} attempts ({} done, {} failed)",
                t.task, t.attempts, t.done, t.failed
            );
            if t.attempts == 0 {
                continue;
            }
            let _ = writeln!(
                out,
                "  {:<12} {:>10} {:>10} {:>10}",
                "", "p50", "p95", "max"
            );
            let row =
                |out: &mut String, name: &str, q: Option<Quantiles>, f: &dyn Fn(f64) -> String| {
                    if let Some(q) = q {
                        let _ = writeln!(
                            out,
                            "  {name:<12} {:>10} {:>10} {:>10}",
                            f(q.p50),
                            f(q.p95),
                            f(q.max)
                        );
                    }
                };
            row(&mut out, "wall", t.wall_s, &format_seconds);
            row(&mut out, "cpu", t.cpu_s, &format_seconds);
            row(&mut out, "peak memory", t.peak_rss_bytes, &|b| {
                format_bytes(b as u64)
            });
            if let Some(timeout) = &t.suggested_timeout {
                let _ = writeln!(
                    out,
                    "  suggested \"timeout\": \"{timeout}\" (longest wall × {})",
                    self.headroom
                );
            }
            if let Some(mem) = &t.suggested_mem {
                let _ = writeln!(
                    out,
                    "  suggested \"mem\": \"{mem}\" (largest peak × {} × {} slot{})",
                    self.headroom,
                    t.slots.max(1),
                    if t.slots > 1 { "s" } else { "" }
                );
            }
        }
        out
    }
}

/// Seconds rounded up to a `timeout` value: whole seconds, whole minutes above 10 minutes.
fn suggest_timeout(s: f64) -> String {
    let secs = s.ceil().max(1.0) as u64;
    if secs > 600 {
        format!("{}m", secs.div_ceil(60))
    } else {
        format!("{secs}s")
    }
}

/// Bytes rounded up to a `mem` value: whole MiB, whole GiB from 10 GiB.
fn suggest_mem(bytes: f64) -> String {
    let mib = (bytes / f64::from(1u32 << 20)).ceil().max(1.0) as u64;
    if mib >= 10 << 10 {
        format!("{}G", mib.div_ceil(1024))
    } else {
        format!("{mib}M")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_round_up() {
        assert_eq!(suggest_timeout(0.2), "1s");
        assert_eq!(suggest_timeout(90.1), "91s");
        assert_eq!(suggest_timeout(601.0), "11m");
        assert_eq!(suggest_mem(1.0), "1M");
        assert_eq!(suggest_mem(1.5 * 1024.0 * 1024.0), "2M");
        assert_eq!(suggest_mem(12.2 * 1024.0 * 1024.0 * 1024.0), "13G");
    }
}
