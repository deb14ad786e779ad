//! Live progress: one bar per task on a terminal, periodic plain lines otherwise, or nothing.

use crate::schedule::PhaseCounts;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressMode {
    /// Bars if stderr is a terminal, plain lines otherwise.
    Auto,
    /// Nothing (`--quiet`).
    Quiet,
}

/// Shortest time between two progress updates.
const REFRESH: Duration = Duration::from_millis(100);

/// Progress display for a run.
pub struct Progress {
    names: Vec<String>,
    bars: Option<(MultiProgress, Vec<ProgressBar>)>,
    plain_every: Option<Duration>,
    last_plain: Instant,
    last_update: Instant,
    started: Instant,
    start_settled: Vec<u64>,
}

impl Progress {
    /// Sets up the display for tasks `names` with their initial counts.
    pub fn new(mode: ProgressMode, names: Vec<String>, counts: &[PhaseCounts]) -> Self {
        let start_settled = counts.iter().map(|c| c.done + c.skipped).collect();
        let (bars, plain_every) = match mode {
            ProgressMode::Quiet => (None, None),
            ProgressMode::Auto if std::io::stderr().is_terminal() => {
                let bars = bars(ProgressDrawTarget::stderr_with_hz(4), &names, counts);
                // Log lines go above the bars from now on.
                crate::console::set_progress_bars(Some(bars.0.clone()));
                (Some(bars), None)
            }
            ProgressMode::Auto => (None, Some(Duration::from_secs(10))),
        };
        Self::with(names, bars, plain_every, start_settled)
    }

    /// The display of [`new`](Self::new) with `bars` and plain lines `plain_every`.
    fn with(
        names: Vec<String>,
        bars: Option<(MultiProgress, Vec<ProgressBar>)>,
        plain_every: Option<Duration>,
        start_settled: Vec<u64>,
    ) -> Self {
        Self {
            names,
            bars,
            plain_every,
            last_plain: Instant::now(),
            last_update: Instant::now(),
            started: Instant::now(),
            start_settled,
        }
    }

    /// Whether an [`update`](Self::update) would show anything now: never when quiet, at most
    /// every [`REFRESH`] otherwise, so the run loop gathers counts only when they are shown.
    pub fn due(&mut self) -> bool {
        let shown = self.bars.is_some() || self.plain_every.is_some();
        if !shown || self.last_update.elapsed() < REFRESH {
            return false;
        }
        self.last_update = Instant::now();
        true
    }

    /// Shows the current counts. `occupied[t]`: blocks of task
    /// `t` that hold a worker slot (the rest of its handed-out blocks wait in queues).
    pub fn update(&mut self, counts: &[PhaseCounts], occupied: &[u64]) {
        if let Some((_, bars)) = &self.bars {
            let elapsed = self.started.elapsed();
            for (((bar, c), &slots), &start) in bars
                .iter()
                .zip(counts)
                .zip(occupied)
                .zip(&self.start_settled)
            {
                bar.set_position(c.done + c.skipped);
                let mut msg = running_and_queued(c.running, slots);
                if c.failed + c.orphaned > 0 {
                    msg.push_str(&format!(", {} failed, {} orphaned", c.failed, c.orphaned));
                }
                let rate = run_rate(start, c.done + c.skipped, elapsed);
                msg.push_str(&format!(
                    " ({rate:.1}/s, {})",
                    eta_text(c.total - c.settled(), rate)
                ));
                bar.set_message(msg);
            }
        }
        if let Some(every) = self.plain_every {
            if self.last_plain.elapsed() >= every {
                self.last_plain = Instant::now();
                for line in self.plain_lines(counts, occupied) {
                    crate::console::eprint_line(line);
                }
            }
        }
    }

    /// One line per task: done/total, rate and ETA since this run started.
    pub fn plain_lines(&self, counts: &[PhaseCounts], occupied: &[u64]) -> Vec<String> {
        let elapsed = self.started.elapsed();
        self.names
            .iter()
            .zip(counts)
            .zip(&self.start_settled)
            .zip(occupied)
            .map(|(((name, c), start), &slots)| {
                let finished = c.done + c.skipped;
                let rate = run_rate(*start, finished, elapsed);
                let eta = eta_text(c.total - c.settled(), rate);
                format!(
                    "{name}: {finished}/{} done ({} skipped), {}, {} failed, {} orphaned, {rate:.1} blocks/s, {eta}",
                    c.total, c.skipped, running_and_queued(c.running, slots), c.failed, c.orphaned
                )
            })
            .collect()
    }

    /// Removes the bars (before the summary of a finished run is printed).
    pub fn finish(&mut self) {
        if let Some((multi, bars)) = self.bars.take() {
            crate::console::set_progress_bars(None);
            for bar in bars {
                bar.finish_and_clear();
            }
            let _ = multi.clear();
        }
    }

    /// Leaves the bars where they stopped, with `counts` (an interrupted run: the summary
    /// that follows gives the same numbers).
    pub fn stop(&mut self, counts: &[PhaseCounts], occupied: &[u64]) {
        if self.bars.is_some() {
            self.update(counts, occupied);
        }
        if let Some((_, bars)) = self.bars.take() {
            crate::console::set_progress_bars(None);
            for bar in bars {
                bar.abandon();
            }
            // The cursor is still at the end of the last bar: what follows starts below.
            crate::console::eprint_line("");
        }
    }
}

/// One bar per task on `target`, at the tasks' `counts`.
fn bars(
    target: ProgressDrawTarget,
    names: &[String],
    counts: &[PhaseCounts],
) -> (MultiProgress, Vec<ProgressBar>) {
    let multi = MultiProgress::with_draw_target(target);
    let style = ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    let bars = names
        .iter()
        .zip(counts)
        .map(|(name, c)| {
            let bar = multi.add(ProgressBar::new(c.total));
            bar.set_style(style.clone());
            bar.set_prefix(name.clone());
            bar.set_position(c.done + c.skipped);
            bar
        })
        .collect();
    (multi, bars)
}

/// Blocks per second finished by this run: `finished` (done or skipped) now, of which
/// `at_start` were finished before it began (a resume does not count them), over `elapsed`.
pub fn run_rate(at_start: u64, finished: u64, elapsed: Duration) -> f64 {
    finished.saturating_sub(at_start) as f64 / elapsed.as_secs_f64().max(1e-3)
}

/// `done` when nothing is `left`, `eta 2m30s` at `rate` blocks per second, `eta ?` at 0.
fn eta_text(left: u64, rate: f64) -> String {
    if left == 0 {
        "done".to_string()
    } else if rate > 0.0 {
        format!("eta {}", short_duration(left as f64 / rate))
    } else {
        "eta ?".to_string()
    }
}

/// `42s`, `2m30s`, `3h05m`, `2d04h`.
fn short_duration(secs: f64) -> String {
    let s = secs.round().min(u64::MAX as f64) as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86400, s % 86400 / 3600),
    }
}

/// `3 running` or `2 running, 40 queued`: of `handed_out` blocks, those beyond the `occupied`
/// slots wait in the workers' queues.
fn running_and_queued(handed_out: u64, occupied: u64) -> String {
    let running = handed_out.min(occupied);
    match handed_out - running {
        0 => format!("{running} running"),
        queued => format!("{running} running, {queued} queued"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(total: u64, done: u64) -> PhaseCounts {
        PhaseCounts {
            total,
            done,
            ready: total - done,
            ..PhaseCounts::default()
        }
    }

    /// A display with hidden bars (no terminal needed), for task `t`.
    fn hidden(start: &PhaseCounts) -> Progress {
        let names = vec!["t".to_string()];
        let start = std::slice::from_ref(start);
        let bars = bars(ProgressDrawTarget::hidden(), &names, start);
        Progress::with(names, Some(bars), None, vec![start[0].done])
    }

    #[test]
    fn an_interrupted_run_leaves_the_bar_where_it_stopped() {
        let mut progress = hidden(&counts(500, 0));
        let bar = progress.bars.as_ref().unwrap().1[0].clone();
        progress.stop(&[counts(500, 128)], &[0]);
        assert!(bar.is_finished());
        assert_eq!(bar.position(), 128, "not redrawn as complete");
        assert!(progress.bars.is_none());
    }

    #[test]
    fn a_finished_run_clears_its_bars() {
        let mut progress = hidden(&counts(500, 0));
        let bar = progress.bars.as_ref().unwrap().1[0].clone();
        progress.update(&[counts(500, 500)], &[0]);
        progress.finish();
        assert!(bar.is_finished());
        assert!(progress.bars.is_none());
    }

    #[test]
    fn the_rate_counts_only_this_runs_blocks() {
        // A resume that found 128 of 500 done and finished 10 more in 2 s.
        assert_eq!(run_rate(128, 138, Duration::from_secs(2)), 5.0);
        assert_eq!(run_rate(128, 128, Duration::ZERO), 0.0);
        // What the bar shows right after a resume: no rate yet, not 128 blocks in no time.
        let progress = hidden(&counts(500, 128));
        let bar = progress.bars.as_ref().unwrap().1[0].clone();
        let mut progress = progress;
        progress.update(&[counts(500, 128)], &[0]);
        assert_eq!(bar.message(), "0 running (0.0/s, eta ?)");
        let lines = progress.plain_lines(&[counts(500, 128)], &[0]);
        assert!(lines[0].contains(" 0.0 blocks/s, eta ?"), "{lines:?}");
    }

    #[test]
    fn etas_are_short() {
        assert_eq!(eta_text(0, 0.0), "done");
        assert_eq!(eta_text(10, 0.0), "eta ?");
        assert_eq!(eta_text(150, 1.0), "eta 2m30s");
        assert_eq!(short_duration(42.4), "42s");
        assert_eq!(short_duration(3.0 * 3600.0 + 300.0), "3h05m");
        assert_eq!(short_duration(2.0 * 86400.0 + 4.0 * 3600.0), "2d04h");
    }

    #[test]
    fn blocks_beyond_the_occupied_slots_are_queued() {
        assert_eq!(running_and_queued(3, 4), "3 running");
        assert_eq!(running_and_queued(42, 2), "2 running, 40 queued");
        assert_eq!(running_and_queued(5, 0), "0 running, 5 queued");
    }
}
