//! In-process cache of finished thumbnails: sharded, bounded by bytes,
//! S3-FIFO eviction per shard, hits under a shared (read) lock, with
//! single-flight de-duplication of misses.
//!
//! Keys are strings: the caller's source identity joined with the canonical
//! spec string. As in groupcache, a key has one value: the cache never
//! holds two versions of a key, and a render's result is the value for
//! every caller that asked while it ran.
//!
//! Layout: the key's hash (foldhash, seeded randomly per cache so colliding
//! request URLs cannot be precomputed) picks a shard; each shard is a
//! `parking_lot::RwLock` around its map (`s3fifo.rs`) and its renders in
//! flight (`flight.rs`), next to its atomic counters (`stats.rs`; hits and
//! misses, the one count every lookup makes, are kept per thread instead).
//!
//! Eviction policy: S3-FIFO (`s3fifo.rs`), not LRU. New keys enter a
//! small FIFO queue (~10% of the shard's bytes); a key hit while there
//! moves to the main queue when it reaches the small queue's end, an unhit
//! one is evicted and its hash remembered in a ghost table (a key that
//! comes back while remembered goes straight to main). Main is a FIFO
//! where each hit (up to three) buys an entry one more pass instead of
//! eviction (a CLOCK). What this gives, and an LRU does not: scan
//! resistance. A burst of keys used once (a crawler, a scan) fills the
//! small queue and from then on evicts from it, so it displaces at most
//! the small queue's share of main, where the keys that are hit again
//! live; under an LRU the same burst flushes the whole cache. What it
//! gives up: eviction order is not recency order (an entry hit once long
//! ago can outlive one inserted and hit once just now). On Zipf-like
//! traffic its hit ratio is above an exact LRU's (see benches/README.md's table
//! and `benches/cache.rs`). The type and test names that say LRU predate
//! the policy.
//!
//! A hit takes the shard's read lock, raises the entry's 2-bit frequency
//! (an atomic byte, written only while below its maximum), clones the
//! `Thumbnail`, which shares its bytes (an `Arc` increment, no copy), and
//! counts itself in the calling thread's own stripe (`stats.rs`). It never
//! relinks anything, so concurrent hits on a shard do not exclude each
//! other, and what it reads of the entry (keys of up to 77 bytes
//! included, `key.rs`) is one aligned pair of cache lines. Misses,
//! inserts, evictions, removals and expired entries take the write lock
//! (an expired entry found under the read lock is a miss, and is removed
//! under the write lock right after). Renders and waits happen with no
//! shard lock held. See [`CacheStats`] for what is counted and the
//! invariants.

mod flight;
mod key;
mod s3fifo;
mod stats;

pub use stats::CacheStats;

use std::any::Any;
use std::fmt;
use std::hash::BuildHasher;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::RwLock;

use crate::error::Error;
use crate::image::Thumbnail;
use flight::{Flight, Flights};
use key::Key;
use s3fifo::{Lookup, S3Fifo};
use stats::{Counters, Lookups, add, inc};

/// Upper bound on the shard count; more shards than cores buys nothing and
/// each shard splits the budget further.
const MAX_SHARDS: usize = 1024;

/// How a [`Cache`] is sized and how long entries stay fresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheOptions {
    /// Total byte budget, split evenly across shards; each entry is charged
    /// its key length + data length + [`Cache::ENTRY_OVERHEAD`]. A value
    /// whose charge exceeds one shard's share (`capacity_bytes / shards`)
    /// is never cached. 0 caches nothing (single-flight still works).
    pub capacity_bytes: usize,
    /// Number of independently locked shards; rounded up to a power of two
    /// and clamped to 1..=1024. More shards mean less lock contention but a
    /// smaller largest cacheable value.
    pub shards: usize,
    /// If set, a value older than this counts as a miss and is dropped.
    pub ttl: Option<Duration>,
    /// If set, a failed render is remembered for this long and returned to
    /// `get_or_render` callers without rendering again (negative caching,
    /// e.g. for a source that is not an image). Zero means unset.
    pub error_ttl: Option<Duration>,
}

impl Default for CacheOptions {
    /// 64 MiB in 16 shards (so values up to 4 MiB are cacheable), no TTLs.
    fn default() -> Self {
        CacheOptions { capacity_bytes: 64 << 20, shards: 16, ttl: None, error_ttl: None }
    }
}

impl CacheOptions {
    /// The values a cache actually uses: shards a power of two in
    /// 1..=1024, capacity rounded down to a multiple of the shard count
    /// (what the shards can hold together), a zero `error_ttl` unset.
    fn normalised(self) -> Self {
        let shards = self.shards.clamp(1, MAX_SHARDS).next_power_of_two();
        CacheOptions {
            capacity_bytes: self.capacity_bytes / shards * shards,
            shards,
            ttl: self.ttl,
            error_ttl: self.error_ttl.filter(|t| !t.is_zero()),
        }
    }
}

/// How [`Cache::get_or_render_traced`] obtained its value; e.g. for an
/// `X-Cache` response header or a log field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CacheSource {
    /// Found in the cache.
    Hit,
    /// Rendered by this call.
    Rendered,
    /// Rendered by another caller that was already rendering the same key;
    /// this call waited for it.
    Deduped,
}

impl CacheSource {
    /// Lowercase name: `hit`, `rendered`, `deduped`.
    pub const fn as_str(self) -> &'static str {
        match self {
            CacheSource::Hit => "hit",
            CacheSource::Rendered => "rendered",
            CacheSource::Deduped => "deduped",
        }
    }
}

/// What a render produced, as handed to every caller waiting for it.
type Outcome = Result<Thumbnail, Error>;

/// What a key maps to: a value, or a remembered render error (`error_ttl`).
/// The error is boxed so that a slot is no bigger than a `Thumbnail` and an
/// entry's lookup fields fit one cache line (checked below).
enum Slot {
    Value(Thumbnail),
    Error(Box<Error>),
}

const _: () = assert!(size_of::<s3fifo::Hot<Slot>>() == 128);

/// One shard. Aligned to 128 bytes (two cache lines, for adjacent-line
/// prefetch) so that neighbouring shards' locks and counters never share
/// a line. The counters sit beside the lock, outside it, as atomics (hits
/// and misses are counted per thread instead, see `stats.rs`).
#[repr(align(128))]
struct Shard {
    state: RwLock<ShardState>,
    counters: Counters,
}

/// Everything a shard's lock guards.
struct ShardState {
    map: S3Fifo<Slot>,
    flights: Flights<Outcome>,
}

impl ShardState {
    /// Inserts into the map and counts what happened.
    fn store(
        &mut self,
        counters: &Counters,
        hash: u64,
        key: Key,
        slot: Slot,
        charge: usize,
        expires: Option<Instant>,
    ) -> bool {
        let inserted = self.map.insert(hash, key, slot, charge, expires);
        add(&counters.evictions, inserted.evicted);
        add(&counters.oversize_rejects, u64::from(!inserted.stored));
        inserted.stored
    }
}

/// A thread-safe cache of thumbnails; see the [module docs](self).
///
/// Shared by reference (or in an `Arc`) between threads: every method takes
/// `&self`.
///
/// ```
/// use thumbnail::{Cache, CacheOptions, CacheSource, Format, Thumbnail};
///
/// let cache = Cache::new(CacheOptions { capacity_bytes: 1 << 20, ..Default::default() });
/// let render = || Ok(Thumbnail::new(vec![0xff, 0xd8], Format::Jpeg, 1, 1));
/// let (first, how) = cache.get_or_render_traced("img/1.jpg|w=100", render)?;
/// assert_eq!(how, CacheSource::Rendered);
/// let again = cache.get("img/1.jpg|w=100").expect("cached");
/// assert_eq!(again.data(), first.data());
/// assert_eq!(cache.stats().hits, 1);
/// # Ok::<(), thumbnail::Error>(())
/// ```
pub struct Cache {
    shards: Box<[Shard]>,
    lookups: Lookups,
    mask: u64,
    hasher: foldhash::fast::RandomState,
    options: CacheOptions,
}

// The cache is shared across nginx thread-pool threads and Go goroutines.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Cache>();
};

impl Cache {
    /// Bytes charged per entry on top of its key and data lengths: the slab
    /// slot (the key itself if short, else a handle to it; the value's
    /// handle, hash, frequency, queue links, charge, expiry), its share of
    /// the ghost table (two hashes), plus 64 for what the slot does not
    /// show: the hash-table slot and its slack, the `Arc` header in front of
    /// the data, and allocator rounding of the key and data. Making it
    /// explicit keeps `bytes` close to real memory for small thumbnails.
    pub const ENTRY_OVERHEAD: usize = 64 + s3fifo::slot_bytes::<Slot>();

    /// A cache with `options` normalised (see [`Cache::options`]). Never
    /// fails: odd values are rounded rather than rejected.
    pub fn new(options: CacheOptions) -> Cache {
        let options = options.normalised();
        let per_shard = options.capacity_bytes / options.shards;
        let shards = (0..options.shards)
            .map(|_| Shard {
                state: RwLock::new(ShardState { map: S3Fifo::new(per_shard), flights: Flights::new() }),
                counters: Counters::default(),
            })
            .collect();
        Cache {
            shards,
            lookups: Lookups::new(),
            mask: options.shards as u64 - 1,
            hasher: foldhash::fast::RandomState::default(),
            options,
        }
    }

    /// The fresh value for `key`, if cached. A remembered error is not a
    /// value: it counts as a miss here.
    pub fn get(&self, key: &str) -> Option<Thumbnail> {
        let (hash, shard) = self.locate(key);
        let st = shard.state.read();
        let (found, expired) = match st.map.get(hash, key, Instant::now) {
            Lookup::Hit(Slot::Value(v)) => (Some(v.clone()), false),
            Lookup::Hit(Slot::Error(_)) | Lookup::Miss => (None, false),
            Lookup::Expired => (None, true),
        };
        drop(st);
        if found.is_some() {
            self.lookups.hit();
        } else {
            self.lookups.miss();
        }
        if expired {
            self.remove_expired(shard, hash, key);
        }
        found
    }

    /// Removes `key` if it is (still) expired, under the write lock; the
    /// read-locked lookup that found it expired could not.
    #[cold]
    fn remove_expired(&self, shard: &Shard, hash: u64, key: &str) {
        if shard.state.write().map.remove_expired(hash, key, Instant::now) {
            inc(&shard.counters.expirations);
        }
    }

    /// Stores `value` under `key`, replacing any previous value, evicting
    /// other entries as needed (which ones, the eviction policy decides:
    /// see the module docs). Returns false (and counts an
    /// `oversize_rejects`) if the value's charge exceeds one shard's budget;
    /// any previous value for `key` is then removed too, so the cache never
    /// serves a value older than the latest insert.
    pub fn insert(&self, key: &str, value: Thumbnail) -> bool {
        let (hash, shard) = self.locate(key);
        let charge = Self::charge(key, value.data().len());
        let expires = self.options.ttl.and_then(|ttl| Instant::now().checked_add(ttl));
        let key = Key::new(key);
        shard.state.write().store(&shard.counters, hash, key, Slot::Value(value), charge, expires)
    }

    /// The cached value for `key`, or the result of `render`, which runs
    /// only if no other caller is already rendering `key`; if one is, this
    /// call waits for that render and returns its result (value or error).
    ///
    /// A successful result is cached; an error is not (unless `error_ttl`
    /// is set, see [`CacheOptions::error_ttl`]). `render` must not ask for
    /// its own key (that returns an Internal error) nor for a key whose
    /// render asks for this one (that would deadlock).
    ///
    /// # Errors
    ///
    /// The error `render` returned, to this caller and to every caller that
    /// waited for it; or, with `error_ttl`, a remembered error (a hit, also
    /// counted in `error_hits`). A panic in `render` is caught and becomes
    /// an [`ErrorKind::Internal`](crate::ErrorKind) error `render panicked:
    /// <message>` for all of them; the key is then free to render again.
    pub fn get_or_render<F>(&self, key: &str, render: F) -> Result<Thumbnail, Error>
    where
        F: FnOnce() -> Result<Thumbnail, Error>,
    {
        self.get_or_render_traced(key, render).map(|(value, _)| value)
    }

    /// [`Cache::get_or_render`], also telling where the value came from.
    ///
    /// # Errors
    ///
    /// As [`Cache::get_or_render`].
    pub fn get_or_render_traced<F>(&self, key: &str, render: F) -> Result<(Thumbnail, CacheSource), Error>
    where
        F: FnOnce() -> Result<Thumbnail, Error>,
    {
        self.get_or_render_counted(key, render, Some(&self.lookups))
    }

    /// [`Cache::get_or_render_traced`] for a caller whose [`Cache::get`]
    /// on `key` has just missed (and counted the miss), and who fetched the
    /// source since: the lookup is not counted a second time, so a miss
    /// through a loader counts one get and one miss, as it does through
    /// `get_or_render`. Loads, renders and waits are counted as usual. If
    /// another caller stored `key` meanwhile, that value is returned
    /// ([`CacheSource::Hit`]) and nothing more is counted; a remembered
    /// error (which `get` counted as a miss) is returned without counting
    /// an `error_hits`, so `error_hits <= hits` still holds.
    ///
    /// # Errors
    ///
    /// As [`Cache::get_or_render`].
    pub fn get_or_render_after_miss<F>(&self, key: &str, render: F) -> Result<(Thumbnail, CacheSource), Error>
    where
        F: FnOnce() -> Result<Thumbnail, Error>,
    {
        self.get_or_render_counted(key, render, None)
    }

    /// The body of both: `lookups` is where the lookup is counted, `None`
    /// when the caller's `get` already counted it.
    fn get_or_render_counted<F>(
        &self,
        key: &str,
        render: F,
        lookups: Option<&Lookups>,
    ) -> Result<(Thumbnail, CacheSource), Error>
    where
        F: FnOnce() -> Result<Thumbnail, Error>,
    {
        let (hash, shard) = self.locate(key);
        let c = &shard.counters;
        // Hits need only the read lock.
        if let Some(found) = hit(shard.state.read().map.get(hash, key, Instant::now), c, lookups) {
            return found;
        }
        // Not there, or expired: look again under the write lock (another
        // caller may have stored it meanwhile), then join or start a render.
        let mut st = shard.state.write();
        match st.map.get_mut(hash, key, Instant::now) {
            Lookup::Expired => inc(&c.expirations),
            lookup => {
                if let Some(found) = hit(lookup, c, lookups) {
                    return found;
                }
            }
        }
        if let Some(lookups) = lookups {
            lookups.miss();
        }
        inc(&c.loads);
        if let Some(flight) = st.flights.find(hash, key) {
            if flight.leader() == thread::current().id() {
                inc(&c.local_load_errors);
                drop(st);
                return Err(Error::internal(format!("render of cache key {key:?} asked for the same key")));
            }
            inc(&c.loads_deduped);
            drop(st);
            return flight.wait().map(|v| (v, CacheSource::Deduped));
        }
        let flight = st.flights.start(hash, key);
        drop(st);

        let leader = Leader { cache: self, shard, hash, key, flight, done: false };
        let result = match panic::catch_unwind(AssertUnwindSafe(render)) {
            Ok(result) => result,
            Err(payload) => {
                let err = Error::internal(format!("render panicked{}", panic_message(&*payload)));
                // A payload whose destructor panics must not escape either.
                let _ = panic::catch_unwind(AssertUnwindSafe(move || drop(payload)));
                Err(err)
            }
        };
        leader.finish(&result);
        result.map(|v| (v, CacheSource::Rendered))
    }

    /// Removes `key`'s value (or remembered error); returns whether there
    /// was one. A render of `key` in progress is detached: its waiters
    /// still get its result, but the result is not cached (it may predate
    /// whatever made the caller remove the key), and the next caller
    /// renders afresh.
    pub fn remove(&self, key: &str) -> bool {
        let (hash, shard) = self.locate(key);
        let mut st = shard.state.write();
        st.flights.remove(hash, key);
        st.map.remove(hash, key).is_some()
    }

    /// Removes every entry and detaches every render in progress (as
    /// [`Cache::remove`] does for one key). Counters are kept.
    pub fn clear(&self) {
        for shard in &self.shards {
            let mut st = shard.state.write();
            st.map.clear();
            st.flights.clear();
        }
    }

    /// A snapshot of the counters and gauges; see [`CacheStats`] for what
    /// each means and the invariants between them. Takes each shard's read
    /// lock briefly, one at a time.
    pub fn stats(&self) -> CacheStats {
        let mut stats = CacheStats {
            capacity_bytes: self.options.capacity_bytes as u64,
            shards: self.shards.len() as u64,
            ..CacheStats::default()
        };
        for shard in &self.shards {
            let st = shard.state.read();
            stats.bytes += st.map.bytes() as u64;
            stats.items += st.map.len() as u64;
            drop(st);
            shard.counters.add_to(&mut stats);
        }
        self.lookups.add_to(&mut stats);
        stats
    }

    /// The options in force, normalised: `shards` a power of two in
    /// 1..=1024, `capacity_bytes` rounded down to a multiple of `shards`,
    /// a zero `error_ttl` replaced by `None`.
    pub fn options(&self) -> &CacheOptions {
        &self.options
    }

    /// What an entry is charged against the budget.
    fn charge(key: &str, data_len: usize) -> usize {
        key.len().saturating_add(data_len).saturating_add(Self::ENTRY_OVERHEAD)
    }

    fn locate(&self, key: &str) -> (u64, &Shard) {
        let hash = self.hasher.hash_one(key);
        // The high half picks the shard; the table inside uses the low bits
        // and the top 7, so the two choices stay independent.
        let shard = &self.shards[((hash >> 32) & self.mask) as usize];
        (hash, shard)
    }

    /// Ends a render: detaches its flight, caches the result if the flight
    /// was still current, then hands the result to the waiters, if any.
    /// Caching before waking means a waiter that asks again right away
    /// finds the value.
    fn settle(&self, shard: &Shard, hash: u64, key: &str, flight: &Arc<Flight<Outcome>>, result: &Outcome) {
        let (slot, charge, ttl) = match result {
            Ok(v) => (Some(Slot::Value(v.clone())), Self::charge(key, v.data().len()), self.options.ttl),
            Err(e) => {
                let remembered = self.options.error_ttl.map(|_| Slot::Error(Box::new(e.clone())));
                (remembered, Self::charge(key, e.message().len()), self.options.error_ttl)
            }
        };
        let expires = ttl.and_then(|ttl| Instant::now().checked_add(ttl));
        let mut st = shard.state.write();
        if result.is_ok() {
            inc(&shard.counters.local_loads);
        } else {
            inc(&shard.counters.local_load_errors);
        }
        if let Some(owned_key) = st.flights.finish(hash, key, flight)
            && let Some(slot) = slot
        {
            st.store(&shard.counters, hash, owned_key, slot, charge, expires);
        }
        // Waiters clone the flight's `Arc` under this lock, and only while
        // it is registered; it no longer is. So with the lock held, a count
        // of one (ours) means no caller waits for this result, nor can.
        let waited_for = Arc::strong_count(flight) > 1;
        drop(st);
        if waited_for {
            flight.complete(result.clone());
        }
    }
}

impl Default for Cache {
    /// `Cache::new(CacheOptions::default())`.
    fn default() -> Self {
        Cache::new(CacheOptions::default())
    }
}

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache").field("options", &self.options).field("stats", &self.stats()).finish()
    }
}

/// The caller leading a render. Dropping it unfinished (only if something
/// outside `render` unwinds) still settles the flight with an error, so no
/// waiter is left blocked.
struct Leader<'a> {
    cache: &'a Cache,
    shard: &'a Shard,
    hash: u64,
    key: &'a str,
    flight: Arc<Flight<Outcome>>,
    done: bool,
}

impl Leader<'_> {
    fn finish(mut self, result: &Outcome) {
        self.cache.settle(self.shard, self.hash, self.key, &self.flight, result);
        self.done = true;
    }
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        if !self.done {
            let abandoned = Err(Error::internal("render abandoned"));
            self.cache.settle(self.shard, self.hash, self.key, &self.flight, &abandoned);
        }
    }
}

/// What a lookup in `get_or_render` returns if it found the key: a value
/// or a remembered error, counted as a hit (in `lookups`, unless `None`:
/// then nothing is counted). `None` for a miss (expired included), counted
/// by the caller.
#[inline]
fn hit(
    lookup: Lookup<'_, Slot>,
    c: &Counters,
    lookups: Option<&Lookups>,
) -> Option<Result<(Thumbnail, CacheSource), Error>> {
    let found = match lookup {
        Lookup::Hit(Slot::Value(v)) => Ok((v.clone(), CacheSource::Hit)),
        Lookup::Hit(Slot::Error(e)) => {
            if lookups.is_some() {
                inc(&c.error_hits);
            }
            Err(Error::clone(e))
        }
        Lookup::Expired | Lookup::Miss => return None,
    };
    if let Some(lookups) = lookups {
        lookups.hit();
    }
    Some(found)
}

/// `": <message>"` for the usual `&str`/`String` panic payloads, else "".
fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        format!(": {s}")
    } else if let Some(s) = payload.downcast_ref::<String>() {
        format!(": {s}")
    } else {
        String::new()
    }
}
