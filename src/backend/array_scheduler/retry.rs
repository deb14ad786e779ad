//! Back-off between retries of a failed scheduler call, as an iterator of delays.

use std::time::Duration;

/// Delays between attempts: `initial`, then ×`factor` each time, capped at `max_delay`; the
/// iterator yields `attempts - 1` delays (no delay after the last attempt).
#[derive(Clone, Debug, PartialEq)]
pub struct Backoff {
    /// How many attempts in all (the first included).
    pub attempts: u32,
    /// Delay before the second attempt.
    pub initial: Duration,
    /// Growth per retry.
    pub factor: f64,
    /// Longest delay.
    pub max_delay: Duration,
}

impl Default for Backoff {
    /// 5 attempts, 1 s, 2 s, 4 s, 8 s apart.
    fn default() -> Self {
        Self {
            attempts: 5,
            initial: Duration::from_secs(1),
            factor: 2.0,
            max_delay: Duration::from_secs(30),
        }
    }
}

impl IntoIterator for &Backoff {
    type Item = Duration;
    type IntoIter = std::vec::IntoIter<Duration>;

    fn into_iter(self) -> Self::IntoIter {
        let mut delay = self.initial;
        let mut out = Vec::new();
        for _ in 1..self.attempts.max(1) {
            out.push(delay.min(self.max_delay));
            delay = delay.mul_f64(self.factor.max(1.0));
        }
        out.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays() {
        let b = Backoff::default();
        let secs: Vec<u64> = b.into_iter().map(|d| d.as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8]);
        let b = Backoff {
            attempts: 4,
            initial: Duration::from_secs(20),
            ..Backoff::default()
        };
        assert_eq!(
            b.into_iter().map(|d| d.as_secs()).collect::<Vec<_>>(),
            [20, 30, 30]
        );
        assert_eq!(Backoff { attempts: 0, ..b }.into_iter().count(), 0);
    }
}
