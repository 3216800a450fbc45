//! In-process cache of finished thumbnails: sharded, bounded by bytes, exact
//! LRU per shard, with single-flight de-duplication of misses.
//!
//! Keys are strings: the caller's source identity joined with the canonical
//! spec string. As in groupcache, a key has one value: the cache never
//! holds two versions of a key, and a render's result is the value for
//! every caller that asked while it ran.
//!
//! Layout: the key's hash (foldhash, seeded randomly per cache so colliding
//! request URLs cannot be precomputed) picks a shard; each shard is a
//! `parking_lot::Mutex` around an exact LRU list (`lru.rs`), the shard's
//! renders in flight (`flight.rs`) and its counters (`stats.rs`). A hit
//! takes one shard lock and clones the `Thumbnail`, which shares its bytes
//! (an `Arc` increment, no copy). Renders and waits happen with no shard
//! lock held. See [`CacheStats`] for what is counted and the invariants.

mod flight;
mod lru;
mod stats;

pub use stats::CacheStats;

use std::any::Any;
use std::fmt;
use std::hash::BuildHasher;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::error::Error;
use crate::image::Thumbnail;
use flight::{Flight, Flights};
use lru::{Lookup, Lru};
use stats::Counters;

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
enum Slot {
    Value(Thumbnail),
    Error(Error),
}

/// One shard. Aligned to 128 bytes (two cache lines, for adjacent-line
/// prefetch) so that neighbouring shards' locks and counters never share
/// a line.
#[repr(align(128))]
struct Shard {
    state: Mutex<ShardState>,
}

/// Everything a shard's lock guards.
struct ShardState {
    lru: Lru<Slot>,
    flights: Flights<Outcome>,
    counters: Counters,
}

impl ShardState {
    /// Inserts into the list and counts what happened.
    fn store<K>(
        &mut self,
        hash: u64,
        key: K,
        slot: Slot,
        charge: usize,
        expires: Option<Instant>,
    ) -> bool
    where
        K: AsRef<str> + Into<Box<str>>,
    {
        let inserted = self.lru.insert(hash, key, slot, charge, expires);
        self.counters.evictions += inserted.evicted;
        self.counters.oversize_rejects += u64::from(!inserted.stored);
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
    /// node (links, key and value handles, hash, charge, expiry) plus 64 for
    /// what the node does not show: the hash-table slot and its slack, the
    /// `Arc` header in front of the data, and allocator rounding of the key
    /// and data. Making it explicit keeps `bytes` close to real memory for
    /// small thumbnails.
    pub const ENTRY_OVERHEAD: usize = 64 + std::mem::size_of::<lru::Node<Slot>>();

    /// A cache with `options` normalised (see [`Cache::options`]). Never
    /// fails: odd values are rounded rather than rejected.
    pub fn new(options: CacheOptions) -> Cache {
        let options = options.normalised();
        let per_shard = options.capacity_bytes / options.shards;
        let shards = (0..options.shards)
            .map(|_| Shard {
                state: Mutex::new(ShardState {
                    lru: Lru::new(per_shard),
                    flights: Flights::new(),
                    counters: Counters::default(),
                }),
            })
            .collect();
        Cache {
            shards,
            mask: options.shards as u64 - 1,
            hasher: foldhash::fast::RandomState::default(),
            options,
        }
    }

    /// The fresh value for `key`, if cached. A remembered error is not a
    /// value: it counts as a miss here.
    pub fn get(&self, key: &str) -> Option<Thumbnail> {
        let (hash, shard) = self.locate(key);
        let mut guard = shard.state.lock();
        let st = &mut *guard;
        let found = match st.lru.get(hash, key, Instant::now) {
            Lookup::Hit(Slot::Value(v)) => Some(v.clone()),
            Lookup::Hit(Slot::Error(_)) | Lookup::Miss => None,
            Lookup::Expired => {
                st.counters.expirations += 1;
                None
            }
        };
        let c = &mut st.counters;
        c.gets += 1;
        if found.is_some() {
            c.hits += 1;
        } else {
            c.misses += 1;
        }
        drop(guard);
        found
    }

    /// Stores `value` under `key`, replacing any previous value, evicting
    /// least recently used entries as needed. Returns false (and counts an
    /// `oversize_rejects`) if the value's charge exceeds one shard's budget;
    /// any previous value for `key` is then removed too, so the cache never
    /// serves a value older than the latest insert.
    pub fn insert(&self, key: &str, value: Thumbnail) -> bool {
        let (hash, shard) = self.locate(key);
        let charge = Self::charge(key, value.data().len());
        let expires = self.options.ttl.and_then(|ttl| Instant::now().checked_add(ttl));
        shard.state.lock().store(hash, key, Slot::Value(value), charge, expires)
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
    pub fn get_or_render_traced<F>(
        &self,
        key: &str,
        render: F,
    ) -> Result<(Thumbnail, CacheSource), Error>
    where
        F: FnOnce() -> Result<Thumbnail, Error>,
    {
        let (hash, shard) = self.locate(key);
        let mut guard = shard.state.lock();
        let st = &mut *guard;
        st.counters.gets += 1;
        match st.lru.get(hash, key, Instant::now) {
            Lookup::Hit(Slot::Value(v)) => {
                let v = v.clone();
                st.counters.hits += 1;
                return Ok((v, CacheSource::Hit));
            }
            Lookup::Hit(Slot::Error(e)) => {
                let e = e.clone();
                st.counters.hits += 1;
                st.counters.error_hits += 1;
                return Err(e);
            }
            Lookup::Expired => st.counters.expirations += 1,
            Lookup::Miss => {}
        }
        st.counters.misses += 1;
        st.counters.loads += 1;
        if let Some(flight) = st.flights.find(hash, key) {
            if flight.leader() == thread::current().id() {
                st.counters.local_load_errors += 1;
                drop(guard);
                return Err(Error::internal(format!(
                    "render of cache key {key:?} asked for the same key"
                )));
            }
            st.counters.loads_deduped += 1;
            drop(guard);
            return flight.wait().map(|v| (v, CacheSource::Deduped));
        }
        let flight = st.flights.start(hash, key);
        drop(guard);

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
        let mut st = shard.state.lock();
        st.flights.remove(hash, key);
        st.lru.remove(hash, key).is_some()
    }

    /// Removes every entry and detaches every render in progress (as
    /// [`Cache::remove`] does for one key). Counters are kept.
    pub fn clear(&self) {
        for shard in &self.shards {
            let mut st = shard.state.lock();
            st.lru.clear();
            st.flights.clear();
        }
    }

    /// A snapshot of the counters and gauges; see [`CacheStats`] for what
    /// each means and the invariants between them. Takes each shard's lock
    /// briefly, one at a time.
    pub fn stats(&self) -> CacheStats {
        let mut stats = CacheStats {
            capacity_bytes: self.options.capacity_bytes as u64,
            shards: self.shards.len() as u64,
            ..CacheStats::default()
        };
        for shard in &self.shards {
            let st = shard.state.lock();
            stats.bytes += st.lru.bytes() as u64;
            stats.items += st.lru.len() as u64;
            st.counters.add_to(&mut stats);
        }
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
    /// was still current, then wakes the waiters. Caching before waking
    /// means a waiter that asks again right away finds the value.
    fn settle(
        &self,
        shard: &Shard,
        hash: u64,
        key: &str,
        flight: &Arc<Flight<Outcome>>,
        result: &Outcome,
    ) {
        let (slot, charge, ttl) = match result {
            Ok(v) => {
                (Some(Slot::Value(v.clone())), Self::charge(key, v.data().len()), self.options.ttl)
            }
            Err(e) => {
                let remembered = self.options.error_ttl.map(|_| Slot::Error(e.clone()));
                (remembered, Self::charge(key, e.message().len()), self.options.error_ttl)
            }
        };
        let expires = ttl.and_then(|ttl| Instant::now().checked_add(ttl));
        let mut st = shard.state.lock();
        if result.is_ok() {
            st.counters.local_loads += 1;
        } else {
            st.counters.local_load_errors += 1;
        }
        if let Some(owned_key) = st.flights.finish(hash, key, flight) {
            if let Some(slot) = slot {
                st.store(hash, owned_key, slot, charge, expires);
            }
        }
        drop(st);
        flight.complete(result.clone());
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
        f.debug_struct("Cache")
            .field("options", &self.options)
            .field("stats", &self.stats())
            .finish()
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
