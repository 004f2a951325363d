//! The one way hfgit spreads work over threads: a bounded pool that takes the largest item
//! first (so one big file does not start last), as git-lfs's transfer queue does.

use std::sync::Mutex;

/// Worker threads for local work: the machine's cores, from 2 to 8.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).clamp(2, 8)
}

/// Runs `f` on every item on up to `threads` threads, largest `size` first. Each result comes
/// back with its item, in completion order.
pub fn largest_first<T: Send, R: Send>(
    mut items: Vec<T>,
    size: impl Fn(&T) -> u64,
    threads: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<(T, R)> {
    items.sort_by_key(|t| size(t));
    let queue = Mutex::new(items);
    let out = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| loop {
                let Some(item) = queue.lock().expect("queue lock").pop() else { break };
                let r = f(&item);
                out.lock().expect("results lock").push((item, r));
            });
        }
    });
    out.into_inner().expect("results lock")
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_item_once_largest_started_first() {
        let started = std::sync::Mutex::new(Vec::new());
        let out = super::largest_first(
            (1..=50u64).collect(),
            |n| *n,
            1,
            |n| {
                started.lock().unwrap().push(*n);
                n * 2
            },
        );
        assert_eq!(out.len(), 50);
        assert!(out.iter().all(|(n, r)| *r == n * 2));
        assert_eq!(started.into_inner().unwrap(), (1..=50u64).rev().collect::<Vec<_>>());
    }
}
