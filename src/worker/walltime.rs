//! Walltime awareness: when the agent's job ends, and whether one more block still fits.
//!
//! The end comes from `--deadline-unix`, or is asked once at start-up from the scheduler:
//! SLURM `squeue -h -j $SLURM_JOB_ID -o %L` (time left), LSF `bjobs -noheader -o time_left
//! $LSB_JOBID`. A running mean of block durations estimates the next block; a block is taken
//! only if `now + mean + margin ≤ deadline`.

use super::options::{lsf_job, slurm_job};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Running mean of block durations.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct DurationMean {
    count: u64,
    mean_seconds: f64,
}

impl DurationMean {
    /// Adds one observed block duration.
    pub fn add(&mut self, d: Duration) {
        self.count += 1;
        self.mean_seconds += (d.as_secs_f64() - self.mean_seconds) / self.count as f64;
    }

    /// The mean so far, if any block was observed.
    pub fn mean(&self) -> Option<Duration> {
        (self.count > 0).then(|| Duration::from_secs_f64(self.mean_seconds.max(0.0)))
    }
}

/// Whether a block started at `now_unix` (seconds) is expected to end `margin` before
/// `deadline_unix`.
pub fn block_fits(
    now_unix: f64,
    deadline_unix: Option<f64>,
    mean: &DurationMean,
    margin: Duration,
) -> bool {
    let Some(deadline) = deadline_unix else {
        return true;
    };
    let expected = mean.mean().unwrap_or_default().as_secs_f64();
    now_unix + expected + margin.as_secs_f64() <= deadline
}

/// Seconds since the UNIX epoch, now.
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Parses SLURM's `%L` time left: `[days-]hours:minutes:seconds`, `minutes:seconds`, or
/// `UNLIMITED`/`NOT_SET`/`INVALID` (no limit known → `None`).
pub fn parse_slurm_time_left(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (days, rest) = match text.split_once('-') {
        Some((d, rest)) => (d.parse::<u64>().ok()?, rest),
        None => (0, text),
    };
    let parts: Vec<u64> = rest
        .split(':')
        .map(|p| p.parse::<u64>().ok())
        .collect::<Option<_>>()?;
    let (h, m, s) = match parts.as_slice() {
        [h, m, s] => (*h, *m, *s),
        [m, s] => (0, *m, *s),
        [s] if days == 0 => (0, 0, *s),
        [h] => (*h, 0, 0),
        _ => return None,
    };
    Some(Duration::from_secs(((days * 24 + h) * 60 + m) * 60 + s))
}

/// Parses LSF's `time_left` column: `hours:minutes` optionally followed by a flag letter
/// (`0:59 L`); `-` means no limit (`None`).
pub fn parse_lsf_time_left(text: &str) -> Option<Duration> {
    let first = text.split_whitespace().next()?;
    let parts: Vec<u64> = first
        .split(':')
        .map(|p| p.parse::<u64>().ok())
        .collect::<Option<_>>()?;
    match parts.as_slice() {
        [h, m] => Some(Duration::from_secs((h * 60 + m) * 60)),
        [h, m, s] => Some(Duration::from_secs((h * 60 + m) * 60 + s)),
        _ => None,
    }
}

/// The job's end as seconds since the UNIX epoch, asked from the scheduler the environment
/// says the agent runs under; `None` when not under a scheduler, without a limit, or when the
/// query fails (the agent then runs without walltime awareness).
pub fn scheduler_deadline(env: &dyn Fn(&str) -> Option<String>) -> Option<f64> {
    let now = unix_now();
    if let Some(job) = slurm_job(env) {
        let out = run(Command::new("squeue").args(["-h", "-j", &job, "-o", "%L"]))?;
        return parse_slurm_time_left(&out).map(|left| now + left.as_secs_f64());
    }
    if let Some(id) = lsf_job(env) {
        let out = run(Command::new("bjobs").args(["-noheader", "-o", "time_left", &id]))?;
        return parse_lsf_time_left(&out).map(|left| now + left.as_secs_f64());
    }
    None
}

fn run(command: &mut Command) -> Option<String> {
    let out = command.output().ok()?;
    if !out.status.success() {
        tracing::warn!(
            "walltime query {:?} failed: {}",
            command,
            String::from_utf8_lossy(&out.stderr).trim()
        );
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slurm_time_left_forms() {
        let s = |t| parse_slurm_time_left(t).map(|d| d.as_secs());
        assert_eq!(s("1-02:03:04"), Some(((24 + 2) * 60 + 3) * 60 + 4));
        assert_eq!(s("02:03:04\n"), Some((2 * 60 + 3) * 60 + 4));
        assert_eq!(s("5:07"), Some(5 * 60 + 7));
        assert_eq!(s("UNLIMITED"), None);
        assert_eq!(s("NOT_SET"), None);
        assert_eq!(s(""), None);
    }

    #[test]
    fn lsf_time_left_forms() {
        let s = |t| parse_lsf_time_left(t).map(|d| d.as_secs());
        assert_eq!(s("0:59 L\n"), Some(59 * 60));
        assert_eq!(s("12:00"), Some(12 * 3600));
        assert_eq!(s("-"), None);
    }

    #[test]
    fn fits_uses_mean_and_margin() {
        let mut mean = DurationMean::default();
        let margin = Duration::from_secs(10);
        assert!(block_fits(0.0, None, &mean, margin));
        assert!(block_fits(0.0, Some(20.0), &mean, margin));
        assert!(!block_fits(15.0, Some(20.0), &mean, margin));
        mean.add(Duration::from_secs(4));
        mean.add(Duration::from_secs(8));
        assert_eq!(mean.mean(), Some(Duration::from_secs(6)));
        assert!(block_fits(4.0, Some(20.0), &mean, margin));
        assert!(!block_fits(5.0, Some(20.0), &mean, margin));
    }

    #[test]
    fn array_elements_are_asked_about_by_array_id() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let element = env(&[
            ("SLURM_JOB_ID", "331"),
            ("SLURM_ARRAY_JOB_ID", "331"),
            ("SLURM_ARRAY_TASK_ID", "2"),
        ]);
        assert_eq!(slurm_job(&element).as_deref(), Some("331_2"));
        let plain = env(&[("SLURM_JOB_ID", "77")]);
        assert_eq!(slurm_job(&plain).as_deref(), Some("77"));
    }

    #[test]
    fn no_scheduler_no_deadline() {
        assert_eq!(scheduler_deadline(&|_| None), None);
    }
}
