//! Job arrays shared by the cluster backends: a wave of workers is split into arrays no larger
//! than the scheduler allows (SLURM MaxArraySize, LSF MAX_JOB_ARRAY_SIZE), each with an optional
//! limit on elements running at once. Each backend formats a chunk its own way (`--array` for
//! sbatch in `slurm/array.rs`, `-J name[…]` for bsub in `lsf/array.rs`).

/// One array submission of `count` elements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArrayChunk {
    /// Number of elements (at least 1).
    pub count: u32,
    /// At most this many elements run at once, if limited.
    pub max_running: Option<u32>,
}

impl ArrayChunk {
    /// The running limit worth writing down: only when it is below the element count.
    pub fn effective_limit(&self) -> Option<u32> {
        self.max_running.filter(|&m| m < self.count)
    }
}

/// Splits `count` workers into arrays of at most `max_array_size` elements, each limited to
/// `max_running` running at once (0 means unlimited).
pub fn chunks(count: u32, max_array_size: u32, max_running: Option<u32>) -> Vec<ArrayChunk> {
    let size = max_array_size.max(1);
    let mut left = count;
    let mut out = Vec::new();
    while left > 0 {
        let n = left.min(size);
        out.push(ArrayChunk {
            count: n,
            max_running: max_running.filter(|&m| m > 0),
        });
        left -= n;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waves_are_split_at_the_array_size_limit() {
        let sizes: Vec<u32> = chunks(2500, 1000, None).iter().map(|c| c.count).collect();
        assert_eq!(sizes, [1000, 1000, 500]);
        assert!(chunks(0, 1000, None).is_empty());
        assert_eq!(chunks(3, 0, Some(0))[0].max_running, None);
        assert_eq!(chunks(5, 10, Some(2))[0].effective_limit(), Some(2));
        assert_eq!(chunks(2, 10, Some(4))[0].effective_limit(), None);
        let sizes: Vec<u32> = chunks(2500, 1001, Some(100))
            .iter()
            .map(|c| c.count)
            .collect();
        assert_eq!(sizes, [1001, 1001, 498]);
        let one = ArrayChunk {
            count: 1,
            max_running: None,
        };
        assert_eq!(chunks(5, 0, Some(0)), vec![one; 5]);
    }
}
