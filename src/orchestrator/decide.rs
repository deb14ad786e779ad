//! The retry policy as pure functions: what a report or a lost attempt means for a block.
//!
//! See the table in `docs/design/run-loop.md`.

use crate::backend::{Blame, JobEnd};
use crate::ledger::{FailureKind, Outcome};

/// What to do with a block after one of its attempts ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Finished: count it and release its dependents.
    Finish {
        /// The check command said it was already done.
        skipped: bool,
    },
    /// Put it back in the ready queue for another attempt.
    Retry,
    /// Out of attempts: fail it and orphan its dependents.
    Fail,
}

/// Per-task retry limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryLimits {
    /// Failures charged to a block before it fails for good is `max_retries + 1`.
    pub max_retries: u32,
    /// Attempts lost to the infrastructure (walltime, node failure, preemption…) a block may
    /// suffer before it fails for good.
    pub infra_retries: u32,
}

/// Bound on attempts a block may lose to the cluster (a constant, not a setting).
pub const DEFAULT_INFRA_RETRIES: u32 = 10;

impl RetryLimits {
    /// The limits of the task `spec`: its `max_retries`, and [`DEFAULT_INFRA_RETRIES`].
    pub fn of_task(spec: &crate::task::TaskSpec) -> Self {
        Self {
            max_retries: spec.max_retries,
            infra_retries: DEFAULT_INFRA_RETRIES,
        }
    }
}

/// The verdict on a reported outcome; `charged_failures` counts this failure too.
pub fn judge_outcome(outcome: &Outcome, charged_failures: u32, limits: RetryLimits) -> Verdict {
    match outcome {
        Outcome::Done => Verdict::Finish { skipped: false },
        Outcome::Skipped => Verdict::Finish { skipped: true },
        Outcome::Failed { .. } if charged_failures > limits.max_retries => Verdict::Fail,
        Outcome::Failed { .. } => Verdict::Retry,
    }
}

/// The verdict on an attempt lost without a report; the counts include this loss.
pub fn judge_loss(
    charged: bool,
    charged_failures: u32,
    infra_losses: u32,
    limits: RetryLimits,
) -> Verdict {
    let exhausted = if charged {
        charged_failures > limits.max_retries
    } else {
        infra_losses > limits.infra_retries
    };
    if exhausted {
        Verdict::Fail
    } else {
        Verdict::Retry
    }
}

/// Whether losing an in-flight block to a job that ended like `end` counts against the block,
/// and the failure kind to record when it does.
pub fn loss_from_job_end(end: &JobEnd) -> (bool, Option<FailureKind>) {
    match end.blame() {
        Blame::Block => match end {
            JobEnd::OutOfMemory => (true, Some(FailureKind::OutOfMemory)),
            _ => (true, Some(FailureKind::ProgramDied)),
        },
        // A job that exited normally with blocks still assigned lost them through no fault of
        // theirs (e.g. it stopped before its walltime).
        Blame::Nobody | Blame::Infrastructure => (false, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: RetryLimits = RetryLimits {
        max_retries: 2,
        infra_retries: 3,
    };

    fn failed() -> Outcome {
        Outcome::Failed {
            kind: FailureKind::BlockError,
            message: "boom".into(),
        }
    }

    #[test]
    fn a_block_gets_max_retries_plus_one_attempts() {
        assert_eq!(judge_outcome(&failed(), 1, LIMITS), Verdict::Retry);
        assert_eq!(judge_outcome(&failed(), 2, LIMITS), Verdict::Retry);
        assert_eq!(judge_outcome(&failed(), 3, LIMITS), Verdict::Fail);
        assert_eq!(
            judge_outcome(&Outcome::Skipped, 3, LIMITS),
            Verdict::Finish { skipped: true }
        );
    }

    #[test]
    fn infrastructure_losses_use_their_own_bound() {
        assert_eq!(judge_loss(false, 5, 1, LIMITS), Verdict::Retry);
        assert_eq!(judge_loss(false, 0, 4, LIMITS), Verdict::Fail);
        assert_eq!(judge_loss(true, 3, 0, LIMITS), Verdict::Fail);
        assert_eq!(judge_loss(true, 1, 9, LIMITS), Verdict::Retry);
    }

    #[test]
    fn job_ends_are_blamed_like_the_policy_says() {
        assert_eq!(
            loss_from_job_end(&JobEnd::OutOfMemory),
            (true, Some(FailureKind::OutOfMemory))
        );
        assert_eq!(loss_from_job_end(&JobEnd::Timeout), (false, None));
        assert_eq!(loss_from_job_end(&JobEnd::NodeFail), (false, None));
        assert_eq!(loss_from_job_end(&JobEnd::Preempted), (false, None));
        assert!(
            loss_from_job_end(&JobEnd::Failed {
                exit_code: Some(1),
                signal: None
            })
            .0
        );
        // An agent that could not write its own ledger files: the cluster's fault.
        assert_eq!(
            loss_from_job_end(&JobEnd::Failed {
                exit_code: Some(crate::worker::LEDGER_UNWRITABLE_EXIT),
                signal: None
            }),
            (false, None)
        );
    }
}
