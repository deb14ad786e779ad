//! [`Timeline`]: which worker ran what and when, in bounded memory: at most [`MAX_ROWS`]
//! workers (evenly chosen by registration order when there are more), per worker the
//! attempts it finished per time bin, and a uniform sample of individual attempts.

use super::sample::Reservoir;

/// Most worker rows drawn.
pub const MAX_ROWS: usize = 200;
/// Time bins per worker row.
pub const TIMELINE_BINS: usize = 200;
/// Individual attempts drawn (a uniform sample of all of them).
pub const SAMPLED_ATTEMPTS: usize = 3000;
/// Failed attempts drawn (a separate sample, so failures show even when rare).
pub const SAMPLED_FAILURES: usize = 500;

/// One worker's row.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WorkerRow {
    /// Worker id.
    pub worker_id: String,
    /// Task it serves, when known.
    pub task: Option<u32>,
    /// Scheduler job id.
    pub job_id: Option<String>,
    /// Host from its Hello.
    pub host: Option<String>,
    /// When it was registered.
    pub registered_us: Option<u64>,
    /// Why and when it ended.
    pub ended: Option<(String, u64)>,
    /// Its last record.
    pub last_seen_us: Option<u64>,
    /// The row of the worker that replaced it (same task, registered when it ended).
    pub replaced_by: Option<usize>,
    /// Attempts it finished, per time bin.
    pub finished: Vec<u32>,
    /// Failed attempts, per time bin.
    pub failed: Vec<u32>,
}

/// One drawn attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttemptMark {
    /// Row of the worker that ran it.
    pub row: usize,
    /// Task.
    pub task: u32,
    /// Block id.
    pub block: u64,
    /// Attempt number.
    pub attempt: u32,
    /// Start.
    pub start_us: u64,
    /// End.
    pub end_us: u64,
    /// Whether it failed.
    pub failed: bool,
}

/// The worker timeline of a run.
#[derive(Clone, Debug)]
pub struct Timeline {
    /// Start of the time axis.
    pub start_us: u64,
    /// End of the time axis.
    pub end_us: u64,
    /// Workers the ledger knows.
    pub workers_total: usize,
    /// The drawn rows.
    pub rows: Vec<WorkerRow>,
    attempts: Reservoir<AttemptMark>,
    failures: Reservoir<AttemptMark>,
}

impl Timeline {
    /// A timeline over `[start_us, end_us]` of `workers` (all known workers, in
    /// registration order); only [`MAX_ROWS`] of them get a row.
    pub fn new(start_us: u64, end_us: u64, workers: Vec<WorkerRow>) -> Self {
        let workers_total = workers.len();
        let step = workers_total.div_ceil(MAX_ROWS).max(1);
        let mut rows: Vec<WorkerRow> = workers
            .into_iter()
            .step_by(step)
            .map(|mut w| {
                w.finished = vec![0; TIMELINE_BINS];
                w.failed = vec![0; TIMELINE_BINS];
                w
            })
            .collect();
        link_replacements(&mut rows);
        Self {
            start_us,
            end_us: end_us.max(start_us + 1),
            workers_total,
            rows,
            attempts: Reservoir::new(SAMPLED_ATTEMPTS),
            failures: Reservoir::new(SAMPLED_FAILURES),
        }
    }

    /// The row of worker `worker_id`, if it has one.
    pub fn row_of(&self, worker_id: &str) -> Option<usize> {
        self.rows.iter().position(|r| r.worker_id == worker_id)
    }

    /// Counts a finished attempt on `row`, and offers it to the samples.
    pub fn add(&mut self, mark: AttemptMark) {
        let bin = self.bin(mark.end_us);
        let Some(row) = self.rows.get_mut(mark.row) else {
            return;
        };
        row.finished[bin] += 1;
        if mark.failed {
            row.failed[bin] += 1;
            self.failures.offer(mark);
        } else {
            self.attempts.offer(mark);
        }
    }

    /// The time bin of `time_us` (clamped to the axis).
    pub fn bin(&self, time_us: u64) -> usize {
        let span = (self.end_us - self.start_us) as f64;
        let x = time_us.saturating_sub(self.start_us) as f64 / span;
        ((x * TIMELINE_BINS as f64) as usize).min(TIMELINE_BINS - 1)
    }

    /// The sampled attempts (successful ones first, then failed ones) and how many
    /// attempts there were in all.
    pub fn into_parts(self) -> (TimelineAxes, Vec<WorkerRow>, Vec<AttemptMark>, u64) {
        let seen = self.attempts.seen() + self.failures.seen();
        let mut marks = self.attempts.into_items();
        marks.extend(self.failures.into_items());
        let axes = TimelineAxes {
            start_us: self.start_us,
            end_us: self.end_us,
            workers_total: self.workers_total,
        };
        (axes, self.rows, marks, seen)
    }
}

/// The extent of a timeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimelineAxes {
    /// Start of the time axis.
    pub start_us: u64,
    /// End of the time axis.
    pub end_us: u64,
    /// Workers the ledger knows (rows may be fewer).
    pub workers_total: usize,
}

/// For every ended worker, the first later row of the same task registered at or after
/// its end (1 s of slack: the replacement is registered as the end is noticed).
fn link_replacements(rows: &mut [WorkerRow]) {
    for i in 0..rows.len() {
        let (Some(task), Some((_, ended_us))) = (rows[i].task, rows[i].ended.clone()) else {
            continue;
        };
        rows[i].replaced_by = (i + 1..rows.len()).find(|&j| {
            rows[j].task == Some(task)
                && rows[j]
                    .registered_us
                    .is_some_and(|r| r + 1_000_000 >= ended_us)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worker(id: &str, task: u32, registered: u64, ended: Option<u64>) -> WorkerRow {
        WorkerRow {
            worker_id: id.into(),
            task: Some(task),
            registered_us: Some(registered),
            ended: ended.map(|t| ("walltime".to_string(), t)),
            ..WorkerRow::default()
        }
    }

    #[test]
    fn a_worker_registered_after_an_end_replaces_it() {
        let rows = vec![
            worker("a", 0, 0, Some(50_000_000)),
            worker("b", 0, 0, None),
            worker("c", 1, 50_000_000, None),
            worker("d", 0, 50_200_000, None),
        ];
        let t = Timeline::new(0, 100_000_000, rows);
        assert_eq!(t.rows[0].replaced_by, Some(3));
        assert_eq!(t.rows[1].replaced_by, None);
    }

    #[test]
    fn rows_are_capped_and_attempts_binned() {
        let rows = (0..1000)
            .map(|i| worker(&format!("w{i}"), 0, i, None))
            .collect();
        let mut t = Timeline::new(0, 1_000_000, rows);
        assert_eq!(t.rows.len(), MAX_ROWS);
        assert_eq!(t.workers_total, 1000);
        let row = t.row_of("w5").unwrap();
        for (end, failed) in [(0, false), (999_999, true), (2_000_000, false)] {
            t.add(AttemptMark {
                row,
                task: 0,
                block: 1,
                attempt: 1,
                start_us: 0,
                end_us: end,
                failed,
            });
        }
        let (_, rows, marks, seen) = t.into_parts();
        assert_eq!(rows[row].finished[0], 1);
        assert_eq!(rows[row].finished[TIMELINE_BINS - 1], 2);
        assert_eq!(rows[row].failed[TIMELINE_BINS - 1], 1);
        assert_eq!((marks.len(), seen), (3, 3));
    }
}
