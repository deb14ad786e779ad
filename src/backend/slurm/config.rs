//! What the SLURM backend needs to know: each task's settings, where blockorch lives, how to
//! run scheduler commands, and its policies (signal lead time, requeue, grace periods).

use super::backend::Slurm;
use crate::backend::array_scheduler::{ArrayConfig, ArrayTask};
use crate::task::{SlurmSettings, SlurmTime};
use std::time::Duration;

/// One task as the SLURM backend sees it.
pub type SlurmTask = ArrayTask<SlurmSettings>;

/// Configuration of a [`super::SlurmBackend`] (`requeue`: let SLURM requeue jobs after a node
/// failure, default no: blockorch replaces them).
pub type SlurmConfig = ArrayConfig<Slurm>;

/// How long SLURM may be late (early, for `--signal`): slurmctld checks time limits on a fixed
/// tick of about 30 s, so a `--signal=B:TERM@<s>` arrives up to `s + 30` seconds before the
/// walltime (measured on SLURM 22.05: `@10` and `@15` on a 1-minute job both arrived 38 s after
/// the start).
pub const SLURM_TIME_TICK: Duration = Duration::from_secs(30);

/// The `--signal=B:TERM@<s>` lead actually used for a job with walltime `time`: `grace`, but
/// at most a quarter of the walltime. A lead as long as the walltime would have SLURM send the
/// signal at its first check, so every worker would give its blocks back within 30 s of
/// starting (a 1-minute job with the default 120 s would never finish a block longer than that).
pub fn signal_lead(grace: Duration, time: Option<&SlurmTime>) -> Duration {
    match time.map(SlurmTime::duration) {
        Some(limit) if !limit.is_zero() => grace.min(limit / 4),
        _ => grace,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_lead_is_at_most_a_quarter_of_the_walltime() {
        let grace = Duration::from_secs(120);
        let time = |t: &str| SlurmTime::try_from(t).unwrap();
        assert_eq!(signal_lead(grace, None), grace);
        assert_eq!(
            signal_lead(grace, Some(&time("1"))),
            Duration::from_secs(15)
        );
        assert_eq!(
            signal_lead(grace, Some(&time("4"))),
            Duration::from_secs(60)
        );
        assert_eq!(signal_lead(grace, Some(&time("10"))), grace);
        assert_eq!(signal_lead(grace, Some(&time("1-0"))), grace);
    }
}
