//! The cache handle: a shared, thread-safe cache of rendered thumbnails with
//! single-flight de-duplication of misses.

use std::ffi::{c_char, c_void};
use std::ptr;
use std::time::Duration;

use super::args::{self, Out};
use super::image::thumbnail_image;
use super::panic::{boundary, guard};
use super::render::{limits_from, thumbnail_limits};
use super::status::{Failure, thumbnail_status};
use crate::cache::{Cache, CacheOptions, CacheSource, CacheStats};
use crate::error::Error;
use crate::image::Thumbnail;

/// A cache of rendered thumbnails. Opaque.
///
/// Sharded, bounded by bytes, S3-FIFO eviction per shard (not LRU: new keys
/// enter a small FIFO queue and only keys hit while there reach the main
/// queue, so a burst of keys used once cannot flush the cache; eviction
/// order is not recency order), with single-flight: when several threads
/// miss on the same key at once, one renders and the others wait for its
/// result. Made by thumbnail_cache_new(),
/// freed by thumbnail_cache_free(). Every other function may be called on
/// the same cache from any number of threads at once.
pub struct thumbnail_cache {
    pub(crate) cache: Cache,
}

/// How a cache is sized (thumbnail_cache_new()). Get the defaults from
/// thumbnail_cache_options_default() and change fields as needed; passing
/// NULL means the defaults. A plain struct owned by the caller.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct thumbnail_cache_options {
    /// Total byte budget (default 64 MiB), split evenly across shards. Each
    /// entry is charged its key length + data length + a fixed overhead; a
    /// value larger than one shard's share is never cached. 0 caches nothing
    /// (single-flight still works).
    pub capacity_bytes: u64,
    /// Time to live of a value in milliseconds; 0 (the default) means values
    /// never expire.
    pub ttl_ms: u64,
    /// How long a failed render or load is remembered and returned to
    /// thumbnail_cache_get_or_render()/thumbnail_cache_get_or_load() callers
    /// without trying again, in milliseconds (negative caching); 0 (the
    /// default) means failures are not remembered.
    pub error_ttl_ms: u64,
    /// Number of independently locked shards (default 16); rounded up to a
    /// power of two and clamped to 1..=1024. More shards mean less lock
    /// contention but a smaller largest cacheable value.
    pub shards: u32,
}

impl thumbnail_cache_options {
    const DEFAULT: thumbnail_cache_options =
        thumbnail_cache_options { capacity_bytes: 64 << 20, ttl_ms: 0, error_ttl_ms: 0, shards: 16 };
}

/// How a thumbnail_cache_get_or_render()/thumbnail_cache_get_or_load() call
/// obtained its image, e.g. for an `X-Cache` header or a log field.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum thumbnail_cache_source {
    /// The call failed.
    None = 0,
    /// Found in the cache.
    Hit = 1,
    /// Rendered by this call (this call's loader ran).
    Rendered = 2,
    /// Rendered by another caller that was already rendering the same key;
    /// this call waited for it.
    Deduped = 3,
}

impl From<CacheSource> for thumbnail_cache_source {
    fn from(source: CacheSource) -> thumbnail_cache_source {
        match source {
            CacheSource::Hit => thumbnail_cache_source::Hit,
            CacheSource::Rendered => thumbnail_cache_source::Rendered,
            CacheSource::Deduped => thumbnail_cache_source::Deduped,
        }
    }
}

/// A snapshot of a cache's counters and gauges (thumbnail_cache_get_stats()),
/// named as in groupcache. Counters only grow; thumbnail_cache_clear() does
/// not reset them. When no call is in progress:
/// `gets == hits + misses`,
/// `loads == local_loads + local_load_errors + loads_deduped`,
/// `error_hits <= hits`, `bytes <= capacity_bytes`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct thumbnail_cache_stats {
    /// Lookups: calls to thumbnail_cache_get, _get_or_render, _get_or_load.
    pub gets: u64,
    /// Lookups answered from the cache (a value, or a remembered error).
    pub hits: u64,
    /// Lookups not answered from the cache (absent or expired).
    pub misses: u64,
    /// _get_or_render/_get_or_load misses: each rendered or waited.
    pub loads: u64,
    /// Loads satisfied by another caller's render of the same key.
    pub loads_deduped: u64,
    /// Renders (loads included) that succeeded.
    pub local_loads: u64,
    /// Renders (loads included) that failed.
    pub local_load_errors: u64,
    /// Entries evicted to stay within the byte budget.
    pub evictions: u64,
    /// Entries found past their time to live and dropped.
    pub expirations: u64,
    /// Values not cached because they exceed one shard's budget.
    pub oversize_rejects: u64,
    /// Hits that returned a remembered error; included in `hits`.
    pub error_hits: u64,
    /// Bytes charged for the entries held.
    pub bytes: u64,
    /// Entries held, remembered errors included.
    pub items: u64,
    /// The byte budget in force (rounded down to a multiple of `shards`).
    pub capacity_bytes: u64,
    /// The number of shards in force.
    pub shards: u64,
}

impl From<CacheStats> for thumbnail_cache_stats {
    fn from(s: CacheStats) -> thumbnail_cache_stats {
        thumbnail_cache_stats {
            gets: s.gets,
            hits: s.hits,
            misses: s.misses,
            loads: s.loads,
            loads_deduped: s.loads_deduped,
            local_loads: s.local_loads,
            local_load_errors: s.local_load_errors,
            evictions: s.evictions,
            expirations: s.expirations,
            oversize_rejects: s.oversize_rejects,
            error_hits: s.error_hits,
            bytes: s.bytes,
            items: s.items,
            capacity_bytes: s.capacity_bytes,
            shards: s.shards,
        }
    }
}

/// A source loader for thumbnail_cache_get_or_load(): fetches the encoded
/// source image (from disk, an upstream, a Go or Lua function...) only when
/// it must be rendered.
///
/// Called at most once per thumbnail_cache_get_or_load() call, on the
/// calling thread, and only by the single-flight leader: of all the threads
/// missing on a key at the same time, only one calls its loader; the others
/// wait and share the result.
///
/// On success the loader stores a pointer to the source bytes in `*src` and
/// their length in `*src_len`, and returns 0. The bytes must stay valid and
/// unchanged until the thumbnail_cache_get_or_load() call that called the
/// loader returns; the library never frees them, so the caller releases them
/// after that call returns (e.g. keeping what to release in `userdata`).
/// `*src` may be NULL only with `*src_len` 0 (an empty source, which fails
/// as THUMBNAIL_STATUS_UNSUPPORTED).
///
/// Any nonzero return value means the load failed: the call, and every call
/// waiting for it, returns THUMBNAIL_STATUS_LOAD_FAILED with a message
/// naming the value (so the value can carry a reason, e.g. an HTTP status).
///
/// The loader must return normally: no longjmp or exception may leave it.
/// It must not call thumbnail_cache_get_or_load()/_get_or_render() for the
/// same key on the same cache (that call fails with INTERNAL), nor for a key
/// whose loader waits for this one (that deadlocks).
pub type thumbnail_load_fn =
    Option<unsafe extern "C" fn(userdata: *mut c_void, src: *mut *const u8, src_len: *mut usize) -> i32>;

/// Returns the default cache options: 64 MiB in 16 shards, no time to live,
/// failures not remembered.
///
/// Thread safety: callable from any thread.
#[unsafe(no_mangle)]
pub extern "C" fn thumbnail_cache_options_default() -> thumbnail_cache_options {
    thumbnail_cache_options::DEFAULT
}

/// Makes a new, empty cache.
///
/// - `opts`: NULL for the defaults (thumbnail_cache_options_default());
///   odd values are rounded rather than rejected.
/// - `out`: required; receives the cache on success, NULL on error.
/// - `err`, `err_len`: may be NULL/0; receives `name: reason` on error.
///
/// Returns OK, INVALID_ARGUMENT or INTERNAL.
///
/// Ownership: the caller owns `*out` and frees it with
/// thumbnail_cache_free().
/// Thread safety: callable from any thread; the new cache may be shared by
/// any number of threads.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn thumbnail_cache_new(
    opts: *const thumbnail_cache_options,
    out: *mut *mut thumbnail_cache,
    err: *mut c_char,
    err_len: usize,
) -> thumbnail_status {
    boundary(err, err_len, || {
        // SAFETY (all blocks): the pointer contract documented above.
        let out = unsafe { args::out(out, ptr::null_mut(), "out")? };
        let o = unsafe { opts.as_ref() }.copied().unwrap_or(thumbnail_cache_options::DEFAULT);
        let millis = |ms: u64| (ms != 0).then(|| Duration::from_millis(ms));
        let cache = Cache::new(CacheOptions {
            capacity_bytes: usize::try_from(o.capacity_bytes).unwrap_or(usize::MAX),
            shards: usize::try_from(o.shards).unwrap_or(usize::MAX),
            ttl: millis(o.ttl_ms),
            error_ttl: millis(o.error_ttl_ms),
        });
        out.set(args::into_handle(thumbnail_cache { cache }));
        Ok(())
    })
}

/// Frees a cache and every entry it holds. NULL is allowed and does nothing.
/// Images obtained from the cache stay valid (they share the bytes) until
/// freed with thumbnail_image_free().
///
/// Ownership: takes `cache`, which must come from thumbnail_cache_new() and
/// not have been freed before.
/// Thread safety: call once, when no other thread is using `cache` (in
/// particular, no call on it may be in progress).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn thumbnail_cache_free(cache: *mut thumbnail_cache) {
    // SAFETY: the documented contract.
    guard((), || unsafe { args::free_handle(cache) });
}

/// Looks up `key`. On a hit, `*out` receives a new image handle that shares
/// the cached bytes (no copy: the same data pointer as every other handle
/// for that value).
///
/// - `key`, `key_len`: the key, exactly `key_len` bytes of UTF-8 (any other
///   bytes are INVALID_ARGUMENT). Keys are the caller's choice, typically a
///   source identity joined with the canonical spec (thumbnail_spec_canonical()).
/// - `out`: required; receives the image on a hit, NULL otherwise.
///
/// Returns OK on a hit, NOT_FOUND on a miss (absent, expired, or a
/// remembered error), INVALID_ARGUMENT or INTERNAL.
///
/// Ownership: the caller owns `*out` and frees it with
/// thumbnail_image_free().
/// Thread safety: callable from any number of threads at once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn thumbnail_cache_get(
    cache: *const thumbnail_cache,
    key: *const c_char,
    key_len: usize,
    out: *mut *mut thumbnail_image,
) -> thumbnail_status {
    boundary(ptr::null_mut(), 0, || {
        // SAFETY (all blocks): the pointer contract documented above.
        let out = unsafe { args::out(out, ptr::null_mut(), "out")? };
        let cache = unsafe { args::handle(cache, "cache")? };
        let key = unsafe { args::key(key, key_len)? };
        let thumb = cache.cache.get(key).ok_or_else(|| Failure::new(thumbnail_status::NotFound, "no value"))?;
        out.set(thumbnail_image::into_raw(thumb));
        Ok(())
    })
}

/// Stores `img` under `key`, replacing any previous value; evicts other
/// entries as needed (S3-FIFO, see thumbnail_cache).
///
/// Returns OK if stored; TOO_LARGE if the value exceeds one shard's budget
/// (it is not stored, and any previous value for `key` is removed);
/// INVALID_ARGUMENT (NULL `cache` or `img`, key not UTF-8) or INTERNAL.
///
/// Ownership: borrows `img`: the cache shares its bytes (no copy), and the
/// caller still owns `img` and frees it with thumbnail_image_free() as usual.
/// Thread safety: callable from any number of threads at once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn thumbnail_cache_insert(
    cache: *const thumbnail_cache,
    key: *const c_char,
    key_len: usize,
    img: *const thumbnail_image,
) -> thumbnail_status {
    boundary(ptr::null_mut(), 0, || {
        // SAFETY (all blocks): the pointer contract documented above.
        let cache = unsafe { args::handle(cache, "cache")? };
        let img = unsafe { args::handle(img, "img")? };
        let key = unsafe { args::key(key, key_len)? };
        if cache.cache.insert(key, img.thumb.clone()) {
            Ok(())
        } else {
            Err(Failure::new(thumbnail_status::TooLarge, "value exceeds the cache's per-shard budget"))
        }
    })
}

/// Returns the cached image for `key`, or renders `src` with `spec` and
/// `limits` (as thumbnail_render() does), caches the result and returns it.
/// Single-flight: if another thread is already rendering `key`, this call
/// waits for that render and returns its result (image or error) instead of
/// rendering again. Errors are not cached unless `error_ttl_ms` is set.
///
/// The source bytes are given up front; when fetching them is costly, use
/// thumbnail_cache_get_or_load() to fetch them only on a miss.
///
/// - `key`, `key_len`: as for thumbnail_cache_get(). The caller must make
///   the key identify both the source and the spec.
/// - `src`, `src_len`, `spec`, `spec_len`, `limits`: as for
///   thumbnail_render(); the spec is validated before the cache is
///   consulted, so an invalid spec is INVALID_SPEC even on a hit.
/// - `out`: required; receives the image on success, NULL on error.
/// - `source_out`: may be NULL; receives how the image was obtained
///   (THUMBNAIL_CACHE_SOURCE_NONE on error).
/// - `err`, `err_len`: may be NULL/0; receives `name: reason` on error.
///
/// Returns OK or any error of thumbnail_render().
///
/// Ownership: the caller owns `*out` (which shares the cached bytes) and
/// frees it with thumbnail_image_free(). All buffers belong to the caller
/// and are only read during the call.
/// Thread safety: callable from any number of threads at once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn thumbnail_cache_get_or_render(
    cache: *const thumbnail_cache,
    key: *const c_char,
    key_len: usize,
    src: *const u8,
    src_len: usize,
    spec: *const c_char,
    spec_len: usize,
    limits: *const thumbnail_limits,
    out: *mut *mut thumbnail_image,
    source_out: *mut thumbnail_cache_source,
    err: *mut c_char,
    err_len: usize,
) -> thumbnail_status {
    boundary(err, err_len, || {
        // SAFETY (all blocks): the pointer contract documented above.
        let out = unsafe { args::out(out, ptr::null_mut(), "out")? };
        let source_out = unsafe { args::optional_out(source_out, thumbnail_cache_source::None) };
        let cache = unsafe { args::handle(cache, "cache")? };
        let key = unsafe { args::key(key, key_len)? };
        let src = unsafe { args::bytes(src, src_len, "src")? };
        let spec = unsafe { args::spec(spec, spec_len)? };
        let limits = unsafe { limits_from(limits) };
        get_or_render_into(cache, key, false, || crate::render(src, &spec, &limits), out, source_out)
    })
}

/// Like thumbnail_cache_get_or_render(), but the source bytes come from
/// `load`, which is called only on a miss and only by the single-flight
/// leader (see thumbnail_load_fn): when many threads miss on one key at
/// once, the source is fetched and rendered once.
///
/// - `load`: required; `userdata` is passed to it unchanged (may be NULL).
/// - other arguments as for thumbnail_cache_get_or_render().
///
/// Returns OK; LOAD_FAILED if the loader (this call's or, for a waiting
/// call, the leader's) failed; or any error of thumbnail_render().
///
/// Ownership: as for thumbnail_cache_get_or_render(); the loaded bytes stay
/// the caller's (see thumbnail_load_fn).
/// Thread safety: callable from any number of threads at once; the loader
/// runs on the calling thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn thumbnail_cache_get_or_load(
    cache: *const thumbnail_cache,
    key: *const c_char,
    key_len: usize,
    load: thumbnail_load_fn,
    userdata: *mut c_void,
    spec: *const c_char,
    spec_len: usize,
    limits: *const thumbnail_limits,
    out: *mut *mut thumbnail_image,
    source_out: *mut thumbnail_cache_source,
    err: *mut c_char,
    err_len: usize,
) -> thumbnail_status {
    boundary(err, err_len, || {
        // SAFETY (all blocks): the pointer contract documented above and on
        // thumbnail_load_fn.
        let out = unsafe { args::out(out, ptr::null_mut(), "out")? };
        let source_out = unsafe { args::optional_out(source_out, thumbnail_cache_source::None) };
        let cache = unsafe { args::handle(cache, "cache")? };
        let key = unsafe { args::key(key, key_len)? };
        let load = load.ok_or_else(|| Failure::invalid_argument("load is NULL"))?;
        let spec = unsafe { args::spec(spec, spec_len)? };
        let limits = unsafe { limits_from(limits) };
        // SAFETY: the contract of thumbnail_load_fn.
        let render = || crate::render(unsafe { load_source(load, userdata) }?, &spec, &limits);
        get_or_render_into(cache, key, false, render, out, source_out)
    })
}

/// Removes `key`'s value (or remembered error). A render of `key` in
/// progress is detached: its waiters still get its result, but the result is
/// not cached, and the next caller renders afresh.
///
/// Returns OK if there was a value, NOT_FOUND if not, INVALID_ARGUMENT or
/// INTERNAL.
///
/// Ownership: images already handed out stay valid.
/// Thread safety: callable from any number of threads at once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn thumbnail_cache_remove(
    cache: *const thumbnail_cache,
    key: *const c_char,
    key_len: usize,
) -> thumbnail_status {
    boundary(ptr::null_mut(), 0, || {
        // SAFETY (all blocks): the pointer contract documented above.
        let cache = unsafe { args::handle(cache, "cache")? };
        let key = unsafe { args::key(key, key_len)? };
        if cache.cache.remove(key) { Ok(()) } else { Err(Failure::new(thumbnail_status::NotFound, "no value")) }
    })
}

/// Removes every entry and detaches every render in progress (as
/// thumbnail_cache_remove() does for one key). Counters are kept.
///
/// Returns OK, INVALID_ARGUMENT (NULL `cache`) or INTERNAL.
///
/// Ownership: images already handed out stay valid.
/// Thread safety: callable from any number of threads at once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn thumbnail_cache_clear(cache: *const thumbnail_cache) -> thumbnail_status {
    boundary(ptr::null_mut(), 0, || {
        // SAFETY: the pointer contract documented above.
        unsafe { args::handle(cache, "cache")? }.cache.clear();
        Ok(())
    })
}

/// Fills `*out` with a snapshot of the cache's counters and gauges (see
/// thumbnail_cache_stats for the invariants).
///
/// Returns OK, INVALID_ARGUMENT (NULL `cache` or `out`; `*out` is zeroed if
/// `out` is not NULL) or INTERNAL.
///
/// Ownership: `out` belongs to the caller.
/// Thread safety: callable from any number of threads at once; takes each
/// shard's lock briefly, one at a time.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn thumbnail_cache_get_stats(
    cache: *const thumbnail_cache,
    out: *mut thumbnail_cache_stats,
) -> thumbnail_status {
    boundary(ptr::null_mut(), 0, || {
        // SAFETY (all blocks): the pointer contract documented above.
        let out = unsafe { args::out(out, thumbnail_cache_stats::default(), "out")? };
        let cache = unsafe { args::handle(cache, "cache")? };
        out.set(cache.cache.stats().into());
        Ok(())
    })
}

/// Writes the cache's counters and gauges as one line of JSON, e.g. for a
/// status endpoint: `{"gets":10,"hits":7,...,"shards":16}` with every field
/// of thumbnail_cache_stats in declaration order, NUL-terminated.
///
/// - `out`, `out_len`: the caller's buffer; 1024 bytes always suffice. May
///   be NULL with `out_len` 0 to ask for the length only.
/// - `written`: may be NULL; receives the JSON's length without its NUL,
///   whether or not it fit.
///
/// Returns OK; BUFFER_TOO_SMALL if `out_len` is not at least `*written + 1`
/// (then `out` holds an empty string if `out_len > 0`); INVALID_ARGUMENT
/// (NULL `cache`, or `out` NULL with a nonzero length) or INTERNAL.
///
/// Ownership: all buffers belong to the caller.
/// Thread safety: callable from any number of threads at once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn thumbnail_cache_stats_json(
    cache: *const thumbnail_cache,
    out: *mut c_char,
    out_len: usize,
    written: *mut usize,
) -> thumbnail_status {
    boundary(ptr::null_mut(), 0, || {
        // SAFETY (all blocks): the pointer contract documented above.
        let written = unsafe { args::optional_out(written, 0) };
        let cache = unsafe { args::handle(cache, "cache")? };
        let json = cache.cache.stats().to_json();
        unsafe { args::write_text(&json, out, out_len, written, "stats JSON") }
    })
}

/// The body every get-or-render call shares once its arguments are checked:
/// one lookup through the single-flight, `render` on a miss, the outputs
/// set. `counted`: the caller's own thumbnail_cache_get() of `key` already
/// counted this lookup and its miss.
pub(crate) fn get_or_render_into(
    cache: &thumbnail_cache,
    key: &str,
    counted: bool,
    render: impl FnOnce() -> Result<Thumbnail, Error>,
    out: Out<*mut thumbnail_image>,
    source_out: Option<Out<thumbnail_cache_source>>,
) -> Result<(), Failure> {
    let (thumb, how) = if counted {
        cache.cache.get_or_render_after_miss(key, render)?
    } else {
        cache.cache.get_or_render_traced(key, render)?
    };
    out.set(thumbnail_image::into_raw(thumb));
    if let Some(source_out) = source_out {
        source_out.set(how.into());
    }
    Ok(())
}

/// Calls a caller's loader and returns the bytes it loaded; its failure is
/// `load-failed`.
///
/// # Safety
/// The contract of thumbnail_load_fn.
pub(crate) unsafe fn load_source<'a>(
    load: unsafe extern "C" fn(*mut c_void, *mut *const u8, *mut usize) -> i32,
    userdata: *mut c_void,
) -> Result<&'a [u8], Error> {
    let mut src: *const u8 = ptr::null();
    let mut src_len: usize = 0;
    // SAFETY: promised by the caller.
    let rc = unsafe { load(userdata, &mut src, &mut src_len) };
    if rc != 0 {
        return Err(Error::load_failed(format!("source loader returned {rc}")));
    }
    // SAFETY: the loader promised src_len readable bytes at src.
    unsafe { args::bytes(src, src_len, "loaded source") }.map_err(|f| Error::load_failed(f.message))
}
