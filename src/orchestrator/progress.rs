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
                let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(4));
                let style = ProgressStyle::with_template(
                    "{prefix:>12} [{bar:30}] {pos}/{len} {msg} ({per_sec}, eta {eta})",
                )
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
                (Some((multi, bars)), None)
            }
            ProgressMode::Auto => (None, Some(Duration::from_secs(10))),
        };
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
            for ((bar, c), &slots) in bars.iter().zip(counts).zip(occupied) {
                bar.set_position(c.done + c.skipped);
                let mut msg = running_and_queued(c.running, slots);
                if c.failed + c.orphaned > 0 {
                    msg.push_str(&format!(", {} failed, {} orphaned", c.failed, c.orphaned));
                }
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
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        self.names
            .iter()
            .zip(counts)
            .zip(&self.start_settled)
            .zip(occupied)
            .map(|(((name, c), start), &slots)| {
                let finished = c.done + c.skipped;
                let rate = (finished.saturating_sub(*start)) as f64 / secs;
                let left = c.total - c.settled();
                let eta = if left == 0 {
                    "done".to_string()
                } else if rate > 0.0 {
                    format!("eta {:.0}s", left as f64 / rate)
                } else {
                    "eta ?".to_string()
                };
                format!(
                    "{name}: {finished}/{} done ({} skipped), {}, {} failed, {} orphaned, {rate:.1} blocks/s, {eta}",
                    c.total, c.skipped, running_and_queued(c.running, slots), c.failed, c.orphaned
                )
            })
            .collect()
    }

    /// Removes the bars (before the summary is printed).
    pub fn finish(&mut self) {
        if let Some((multi, bars)) = self.bars.take() {
            for bar in bars {
                bar.finish();
            }
            let _ = multi.clear();
        }
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
    use super::running_and_queued;

    #[test]
    fn blocks_beyond_the_occupied_slots_are_queued() {
        assert_eq!(running_and_queued(3, 4), "3 running");
        assert_eq!(running_and_queued(42, 2), "2 running, 40 queued");
        assert_eq!(running_and_queued(5, 0), "0 running, 5 queued");
    }
}
