//! Running independent file-system round trips a few at once. On a shared file system each
//! create, fsync or open is a round trip to a server; one after another they add up to the
//! time of a whole launch or hand-out, a few threads at once overlap them.

/// Runs `f` on every item with up to `threads` scoped threads (in chunks, in order; one
/// after another on this thread for fewer than two items or one thread) and returns the
/// results in the items' order. Every thread is waited for before the first error is returned.
pub fn try_map<T, R, E>(
    items: &mut [T],
    threads: usize,
    f: impl Fn(&mut T) -> Result<R, E> + Sync,
) -> Result<Vec<R>, E>
where
    T: Send,
    R: Send,
    E: Send,
{
    if items.len() < 2 || threads <= 1 {
        return items.iter_mut().map(f).collect();
    }
    let len = items.len();
    let per_thread = len.div_ceil(threads);
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks_mut(per_thread)
            .map(|chunk| {
                scope.spawn(move || chunk.iter_mut().map(f).collect::<Result<Vec<R>, E>>())
            })
            .collect();
        let results: Vec<_> = handles
            .into_iter()
            .map(|h| h.join().expect("a parallel file-system thread panicked"))
            .collect();
        let mut out = Vec::with_capacity(len);
        for chunk in results {
            out.extend(chunk?);
        }
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_in_order_and_the_first_error_wins_after_every_thread_ended() {
        let mut items: Vec<u32> = (0..20).collect();
        let doubled = try_map(&mut items, 8, |x| Ok::<_, String>(*x * 2)).unwrap();
        assert_eq!(doubled, (0..20).map(|x| x * 2).collect::<Vec<_>>());
        let touched = std::sync::atomic::AtomicUsize::new(0);
        let err = try_map(&mut items, 4, |x| {
            touched.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if *x % 7 == 3 {
                Err(format!("bad {x}"))
            } else {
                Ok(())
            }
        })
        .unwrap_err();
        assert_eq!(err, "bad 3", "the first error in the items' order");
        // Chunks of five, each stopped at its own first error (3, 10, 17) or its end: every
        // chunk ran.
        assert_eq!(
            touched.load(std::sync::atomic::Ordering::SeqCst),
            4 + 5 + 1 + 3
        );
        let one = try_map(&mut items[..1], 8, |x| Ok::<_, ()>(*x)).unwrap();
        assert_eq!(one, [0]);
    }
}
