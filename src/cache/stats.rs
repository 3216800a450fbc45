//! Counters, named as in groupcache, and their plain snapshot.
//!
//! Hits are served under a shard's read lock, so the counters cannot live
//! in the locked state: each shard keeps its own relaxed `AtomicU64`s, next
//! to its lock in the shard's own 128-byte-aligned slot (a global struct of
//! atomics would make every lookup on every core write the same cache
//! line). A lookup bumps exactly one of `hits` and `misses`; `gets` is
//! their sum, so `gets == hits + misses` holds in every snapshot by
//! construction. A snapshot reads each shard's counters in turn.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// The counters of one shard.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) hits: AtomicU64,
    pub(crate) misses: AtomicU64,
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
        let (hits, misses) = (get(&self.hits), get(&self.misses));
        stats.gets += hits + misses;
        stats.hits += hits;
        stats.misses += misses;
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
        inc(&c.hits);
        add(&c.misses, 2);
        add(&c.evictions, 5);
        let mut s = CacheStats::default();
        c.add_to(&mut s);
        c.add_to(&mut s);
        assert_eq!((s.gets, s.hits, s.misses, s.evictions), (6, 2, 4, 10));
    }
}
