//! [`Reservoir`]: a uniform sample of at most `capacity` items from a stream of unknown
//! length (Algorithm R), with a fixed seed so a report is the same every time.

/// A uniform random sample of a stream.
#[derive(Clone, Debug)]
pub struct Reservoir<T> {
    capacity: usize,
    seen: u64,
    items: Vec<T>,
    rng: u64,
}

impl<T> Reservoir<T> {
    /// An empty sample of at most `capacity` items.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            seen: 0,
            items: Vec::new(),
            rng: 0x9E37_79B9_7F4A_7C15,
        }
    }

    /// Offers one item of the stream.
    pub fn offer(&mut self, item: T) {
        self.seen += 1;
        if self.items.len() < self.capacity {
            self.items.push(item);
            return;
        }
        let j = self.next() % self.seen;
        if let Some(slot) = self.items.get_mut(j as usize) {
            *slot = item;
        }
    }

    /// How many items were offered.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// The sample.
    pub fn into_items(self) -> Vec<T> {
        self.items
    }

    /// xorshift64*: cheap, and good enough to pick sample slots.
    fn next(&mut self) -> u64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_capacity_items_spread_over_the_stream() {
        let mut r = Reservoir::new(100);
        for i in 0..100_000u32 {
            r.offer(i);
        }
        assert_eq!(r.seen(), 100_000);
        let items = r.into_items();
        assert_eq!(items.len(), 100);
        // A uniform sample has items from both halves of the stream.
        assert!(items.iter().any(|&i| i < 50_000) && items.iter().any(|&i| i >= 50_000));
    }

    #[test]
    fn a_short_stream_is_kept_whole() {
        let mut r = Reservoir::new(10);
        (0..3).for_each(|i| r.offer(i));
        assert_eq!(r.into_items(), vec![0, 1, 2]);
    }
}
