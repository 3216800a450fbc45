//! Counters, named as in groupcache, and their plain snapshot.
//!
//! Hits are served under a shard's read lock, so the counters cannot live
//! in the locked state; they are relaxed atomics, of two kinds:
//!
//! - [`Lookups`] (hits and misses), bumped by every lookup, are striped by
//!   thread: each thread gets a slot number of its own (process-wide,
//!   reused after the thread exits), and each cache has a cache-line-sized
//!   stripe per slot number. A stripe has one writer, its thread, so a
//!   count is a plain load and store rather than a locked read-modify-write
//!   (which would cost a hit about a tenth of its time), and no two cores
//!   write the same line. Threads beyond [`STRIPES`] share one more stripe
//!   with `fetch_add`. A snapshot sums the stripes.
//! - [`Counters`] (everything else), bumped on misses, renders and inserts
//!   under the shard's write lock or beside it, are per shard, next to the
//!   shard's lock in the shard's own 128-byte-aligned slot.
//!
//! A lookup counts exactly one of hit and miss; `gets` is their sum, so
//! `gets == hits + misses` holds in every snapshot by construction.

use std::cell::Cell;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use parking_lot::Mutex;

/// The per-shard counters other than hits and misses.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) loads: AtomicU64,
    pub(crate) loads_deduped: AtomicU64,
    pub(crate) local_loads: AtomicU64,
    pub(crate) local_load_errors: AtomicU64,
    pub(crate) evictions: AtomicU64,
    pub(crate) expirations: AtomicU64,
    pub(crate) oversize_rejects: AtomicU64,
    pub(crate) error_hits: AtomicU64,
}

/// Adds `n` to a counter. Relaxed: counters order nothing, and each is
/// exact on its own.
#[inline]
pub(crate) fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// Adds 1 to a counter.
#[inline]
pub(crate) fn inc(counter: &AtomicU64) {
    add(counter, 1);
}

impl Counters {
    /// Adds this shard's counters into `stats`.
    pub(crate) fn add_to(&self, stats: &mut CacheStats) {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        stats.loads += get(&self.loads);
        stats.loads_deduped += get(&self.loads_deduped);
        stats.local_loads += get(&self.local_loads);
        stats.local_load_errors += get(&self.local_load_errors);
        stats.evictions += get(&self.evictions);
        stats.expirations += get(&self.expirations);
        stats.oversize_rejects += get(&self.oversize_rejects);
        stats.error_hits += get(&self.error_hits);
    }
}

/// Stripes per cache, so threads with their own stripe: 8 KiB per cache.
pub(crate) const STRIPES: usize = 64;

/// One thread's hits and misses in one cache, alone in its cache lines.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Stripe {
    hits: AtomicU64,
    misses: AtomicU64,
}

/// A cache's hit and miss counts; see the module docs.
#[derive(Debug)]
pub(crate) struct Lookups {
    stripes: Box<[Stripe]>,
    /// For threads without a stripe of their own.
    shared: Stripe,
}

impl Lookups {
    pub(crate) fn new() -> Self {
        Lookups { stripes: (0..STRIPES).map(|_| Stripe::default()).collect(), shared: Stripe::default() }
    }

    /// Counts a hit.
    #[inline]
    pub(crate) fn hit(&self) {
        self.count(|s| &s.hits);
    }

    /// Counts a miss.
    #[inline]
    pub(crate) fn miss(&self) {
        self.count(|s| &s.misses);
    }

    #[inline]
    fn count(&self, counter: impl Fn(&Stripe) -> &AtomicU64) {
        match self.stripes.get(slot::current()) {
            Some(own) => {
                // This thread is the stripe's only writer (its slot number
                // is its own until it exits), so load-then-store loses
                // nothing.
                let c = counter(own);
                c.store(c.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
            }
            None => add(counter(&self.shared), 1),
        }
    }

    /// Adds the hits and misses of every stripe, and their sum as gets,
    /// into `stats`.
    pub(crate) fn add_to(&self, stats: &mut CacheStats) {
        for s in self.stripes.iter().chain([&self.shared]) {
            let hits = s.hits.load(Ordering::Relaxed);
            let misses = s.misses.load(Ordering::Relaxed);
            stats.hits += hits;
            stats.misses += misses;
            stats.gets += hits + misses;
        }
    }
}

/// Process-wide thread slot numbers: small integers, each held by at most
/// one live thread, handed back when the thread exits.
mod slot {
    use super::*;

    /// A thread that has not asked yet.
    const UNASSIGNED: usize = usize::MAX;
    /// A thread without a slot (its thread-locals are being torn down): it
    /// uses the shared stripe.
    pub(super) const NONE: usize = usize::MAX - 1;

    /// Slot numbers handed back by exited threads. Its lock also orders an
    /// exited thread's last counts before the next holder's first.
    static FREE: Mutex<Vec<usize>> = Mutex::new(Vec::new());
    /// The next never-used slot number.
    static NEXT: AtomicUsize = AtomicUsize::new(0);

    thread_local! {
        /// This thread's slot number; read on every lookup, so a plain
        /// `Cell` with a const initialiser (no lazy-init check).
        static SLOT: Cell<usize> = const { Cell::new(UNASSIGNED) };
        /// Hands the slot number back when the thread exits.
        static GUARD: Guard = const { Guard(Cell::new(NONE)) };
    }

    struct Guard(Cell<usize>);

    impl Drop for Guard {
        fn drop(&mut self) {
            // Counts after this point (from other thread-locals' drops) go
            // to the shared stripe.
            SLOT.set(NONE);
            let id = self.0.replace(NONE);
            if id != NONE {
                FREE.lock().push(id);
            }
        }
    }

    /// The calling thread's slot number, or [`NONE`].
    #[inline]
    pub(super) fn current() -> usize {
        match SLOT.get() {
            UNASSIGNED => assign(),
            id => id,
        }
    }

    #[cold]
    fn assign() -> usize {
        let id = FREE.lock().pop().unwrap_or_else(|| NEXT.fetch_add(1, Ordering::Relaxed));
        let id = if id >= NONE { NONE } else { id };
        // Registering the guard fails if this thread's thread-locals are
        // already being torn down; then the number goes straight back.
        let id = match GUARD.try_with(|g| g.0.set(id)) {
            Ok(()) => id,
            Err(_) => {
                if id != NONE {
                    FREE.lock().push(id);
                }
                NONE
            }
        };
        SLOT.set(id);
        id
    }
}

/// A snapshot of a [`Cache`](super::Cache)'s counters and gauges.
///
/// Counters only grow (until the cache is dropped); `clear` does not reset
/// them. Invariants, exact whenever no call is in progress (a snapshot
/// taken during traffic reads each shard at a slightly different moment,
/// and a render in progress has counted its load but not yet its outcome):
///
/// - `gets == hits + misses` (every `get` and `get_or_render` is one get;
///   this one holds in every snapshot, as `gets` is computed as the sum);
/// - `loads == local_loads + local_load_errors + loads_deduped` (every
///   `get_or_render` miss either rendered or waited for another render);
/// - `misses == loads` if only `get_or_render` is used (a plain `get` miss
///   counts in `misses` but loads nothing);
/// - `error_hits <= hits`;
/// - `bytes <= capacity_bytes`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct CacheStats {
    /// Lookups: calls to `get`, `get_or_render` and `get_or_render_traced`.
    pub gets: u64,
    /// Lookups answered from the cache: a fresh value, or (for
    /// `get_or_render` with `error_ttl`) a remembered error, see
    /// `error_hits`.
    pub hits: u64,
    /// Lookups not answered from the cache (absent or expired).
    pub misses: u64,
    /// `get_or_render` misses: each rendered or waited for a render.
    pub loads: u64,
    /// Loads satisfied by another caller's render of the same key (whether
    /// it succeeded or failed) instead of rendering again; counted when the
    /// wait begins.
    pub loads_deduped: u64,
    /// Renders that succeeded.
    pub local_loads: u64,
    /// Renders that failed, panicked, or were refused because the render
    /// asked for its own key.
    pub local_load_errors: u64,
    /// Entries evicted by the eviction policy to stay within the budget.
    pub evictions: u64,
    /// Entries found past their `ttl` (or `error_ttl`) and dropped.
    pub expirations: u64,
    /// Values (or remembered errors) not cached because their charge
    /// exceeds one shard's budget.
    pub oversize_rejects: u64,
    /// Hits that returned a remembered error (`error_ttl`); included in
    /// `hits`.
    pub error_hits: u64,
    /// Sum of the charges of the entries held (see `Cache::ENTRY_OVERHEAD`).
    pub bytes: u64,
    /// Entries held, remembered errors included.
    pub items: u64,
    /// The byte budget, after normalisation (a multiple of `shards`).
    pub capacity_bytes: u64,
    /// Number of shards.
    pub shards: u64,
}

impl CacheStats {
    /// `hits / gets`, or 0 before the first lookup.
    pub fn hit_ratio(&self) -> f64 {
        if self.gets == 0 { 0.0 } else { self.hits as f64 / self.gets as f64 }
    }

    /// One line of JSON with every field, in declaration order, e.g. for a
    /// status endpoint: `{"gets":10,"hits":7,...,"shards":16}`.
    pub fn to_json(&self) -> String {
        let fields: [(&str, u64); 15] = [
            ("gets", self.gets),
            ("hits", self.hits),
            ("misses", self.misses),
            ("loads", self.loads),
            ("loads_deduped", self.loads_deduped),
            ("local_loads", self.local_loads),
            ("local_load_errors", self.local_load_errors),
            ("evictions", self.evictions),
            ("expirations", self.expirations),
            ("oversize_rejects", self.oversize_rejects),
            ("error_hits", self.error_hits),
            ("bytes", self.bytes),
            ("items", self.items),
            ("capacity_bytes", self.capacity_bytes),
            ("shards", self.shards),
        ];
        let mut out = String::with_capacity(320);
        for (i, (name, value)) in fields.iter().enumerate() {
            out.push(if i == 0 { '{' } else { ',' });
            // Writing to a String cannot fail.
            let _ = write!(out, "\"{name}\":{value}");
        }
        out.push('}');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_has_every_field_in_order() {
        let stats = CacheStats { gets: 3, hits: 2, misses: 1, shards: 16, ..Default::default() };
        assert_eq!(
            stats.to_json(),
            "{\"gets\":3,\"hits\":2,\"misses\":1,\"loads\":0,\"loads_deduped\":0,\
             \"local_loads\":0,\"local_load_errors\":0,\"evictions\":0,\"expirations\":0,\
             \"oversize_rejects\":0,\"error_hits\":0,\"bytes\":0,\"items\":0,\
             \"capacity_bytes\":0,\"shards\":16}"
        );
        assert!((stats.hit_ratio() - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(CacheStats::default().hit_ratio(), 0.0);
    }

    #[test]
    fn shard_counters_add_up() {
        let c = Counters::default();
        inc(&c.loads);
        add(&c.evictions, 5);
        let mut s = CacheStats::default();
        c.add_to(&mut s);
        c.add_to(&mut s);
        assert_eq!((s.loads, s.evictions, s.gets), (2, 10, 0));
    }

    #[test]
    fn lookups_are_exact_across_threads_and_slot_reuse() {
        let lookups = Lookups::new();
        // Waves of threads, each joined (thread-locals dropped, slot
        // numbers handed back) before the next starts, so later waves
        // reuse numbers; in the middle wave more threads than stripes hold
        // a number at once, so some count in the shared stripe.
        let waves = [4, STRIPES + 8, 3];
        for threads in waves {
            let all_counted_once = std::sync::Barrier::new(threads);
            std::thread::scope(|s| {
                let handles: Vec<_> = (0..threads)
                    .map(|t| {
                        let (lookups, barrier) = (&lookups, &all_counted_once);
                        s.spawn(move || {
                            lookups.hit();
                            barrier.wait();
                            for i in 1..1_000 {
                                if (i + t) % 3 == 0 { lookups.miss() } else { lookups.hit() }
                            }
                        })
                    })
                    .collect();
                for h in handles {
                    h.join().expect("counting thread");
                }
            });
        }
        let mut s = CacheStats::default();
        lookups.add_to(&mut s);
        let calls = waves.iter().sum::<usize>() as u64 * 1_000;
        assert_eq!(s.gets, calls);
        assert_eq!(s.hits + s.misses, calls);
        assert!(s.misses > calls / 4 && s.misses < calls / 2, "{s:?}");
        assert!(lookups.shared.hits.load(Ordering::Relaxed) > 0, "threads beyond the stripes");
        assert_ne!(slot::current(), slot::NONE);
    }
}
