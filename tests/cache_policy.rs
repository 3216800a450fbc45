//! Single-threaded behaviour of the thumbnail cache through its public API:
//! eviction policy (S3-FIFO: scan resistance, hit ratio against an exact
//! LRU), byte accounting, oversize values, TTLs, remove/clear, stats.

mod common;

use std::thread;
use std::time::Duration;

use thumbnail::{Cache, CacheOptions, CacheSource, Error, ErrorKind, Format, Thumbnail};

const OVERHEAD: usize = Cache::ENTRY_OVERHEAD;
/// Short, but long enough that a loaded CI machine does not stall past it
/// between an insert and the get that expects a hit.
const TTL: Duration = Duration::from_millis(150);

fn thumb(len: usize, fill: u8) -> Thumbnail {
    Thumbnail::new(vec![fill; len], Format::Jpeg, 10, 10)
}

/// A one-shard cache: one policy instance over the whole budget.
fn one_shard(capacity_bytes: usize) -> Cache {
    Cache::new(CacheOptions { capacity_bytes, shards: 1, ..Default::default() })
}

fn charge(key: &str, len: usize) -> usize {
    key.len() + len + OVERHEAD
}

#[test]
fn overhead_is_documented_size() {
    // At least 64 plus the key and value handles a node holds; still small.
    const { assert!(OVERHEAD >= 64 + 32 && OVERHEAD <= 256) };
}

#[test]
fn a_hit_entry_outlives_never_hit_ones() {
    // Room for ten equal entries; none hit, so they leave oldest first,
    // except one that was hit once: it is kept (moved to the main queue).
    let cache = one_shard(10 * charge("k00", 100));
    for i in 0..10u8 {
        assert!(cache.insert(&format!("k{i:02}"), thumb(100, i)));
    }
    assert_eq!(cache.get("k00").map(|t| t.data()[0]), Some(0));
    assert!(cache.insert("k10", thumb(100, 10)));
    assert!(cache.get("k01").is_none(), "k01 was the oldest never-hit entry");
    assert!(cache.insert("k11", thumb(100, 11)));
    assert!(cache.get("k02").is_none(), "then k02");
    assert_eq!(cache.get("k00").map(|t| t.data()[0]), Some(0), "the hit one stays");
    for k in ["k03", "k09", "k10", "k11"] {
        assert!(cache.get(k).is_some(), "{k}");
    }
    let s = cache.stats();
    assert_eq!((s.evictions, s.items), (2, 10));
    common::check_cache_invariants(&s);
}

#[test]
fn a_scan_of_one_time_keys_does_not_flush_hit_entries() {
    // The key property of the policy, and where it differs from LRU: room
    // for 100 entries; 20 entries are hit twice, then 1_000 new keys (ten
    // times the cache) are each inserted once and never hit. An exact LRU
    // would hold only scan keys afterwards; here the scan evicts only scan
    // keys (and the entries never hit).
    let per = charge("scan-0000", 100);
    let cache = one_shard(100 * per);
    for i in 0..20 {
        assert!(cache.insert(&format!("hot-{i:04}"), thumb(100, 1)));
    }
    for i in 0..10 {
        assert!(cache.insert(&format!("cold-{i:03}"), thumb(100, 2)));
    }
    for _ in 0..2 {
        for i in 0..20 {
            assert!(cache.get(&format!("hot-{i:04}")).is_some());
        }
    }
    for i in 0..1_000 {
        assert!(cache.insert(&format!("scan-{i:04}"), thumb(100, 3)));
        let s = cache.stats();
        assert!(s.bytes <= s.capacity_bytes);
    }
    for i in 0..20 {
        assert_eq!(cache.get(&format!("hot-{i:04}")).map(|t| t.data()[0]), Some(1), "hot-{i}");
    }
    for i in 0..10 {
        assert!(cache.get(&format!("cold-{i:03}")).is_none(), "cold-{i} was never hit");
    }
    let s = cache.stats();
    assert_eq!(s.items, 100);
    assert_eq!(s.evictions, 1_030 - 100);
    common::check_cache_invariants(&s);
}

/// Splitmix64, for deterministic traces.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Hit ratio of an exact LRU of `capacity` entries on `trace` (a naive
/// model: most recent last).
fn lru_hit_ratio(trace: &[usize], capacity: usize) -> f64 {
    let mut list: Vec<usize> = Vec::with_capacity(capacity + 1);
    let mut hits = 0;
    for &k in trace {
        if let Some(p) = list.iter().position(|&x| x == k) {
            list.remove(p);
            hits += 1;
        } else if list.len() == capacity {
            list.remove(0);
        }
        list.push(k);
    }
    f64::from(hits) / trace.len() as f64
}

#[test]
fn hit_ratio_on_a_zipf_trace_is_at_least_an_exact_lrus() {
    // Issue 3's target, on a small scale: Zipf(1.0) over 5_000 keys, room
    // for 500 equal entries, 60_000 accesses (get, insert on a miss).
    const KEYS: usize = 5_000;
    const ROOM: usize = 500;
    let weights: Vec<f64> = (1..=KEYS).map(|r| 1.0 / r as f64).collect();
    let total: f64 = weights.iter().sum();
    let mut cdf = Vec::with_capacity(KEYS);
    let mut acc = 0.0;
    for w in &weights {
        acc += w / total;
        cdf.push(acc);
    }
    let mut rng = 42;
    let trace: Vec<usize> = (0..60_000)
        .map(|_| {
            let u = (splitmix(&mut rng) >> 11) as f64 / (1u64 << 53) as f64;
            cdf.partition_point(|&c| c <= u).min(KEYS - 1)
        })
        .collect();
    let lru = lru_hit_ratio(&trace, ROOM);
    for shards in [1, 4] {
        let per = charge("key-0000", 100);
        let cache = Cache::new(CacheOptions { capacity_bytes: ROOM * per, shards, ..Default::default() });
        let mut hits = 0;
        for &k in &trace {
            let key = format!("key-{k:04}");
            if cache.get(&key).is_some() {
                hits += 1;
            } else {
                cache.insert(&key, thumb(100, 0));
            }
        }
        let ours = hits as f64 / trace.len() as f64;
        eprintln!("shards {shards}: ours {ours:.4}, exact LRU {lru:.4}");
        assert!(ours >= lru, "shards {shards}: hit ratio {ours:.4} below exact LRU's {lru:.4}");
        let s = cache.stats();
        assert_eq!(s.hits, hits);
        common::check_cache_invariants(&s);
    }
}

#[test]
fn bytes_are_exact_and_never_exceed_the_budget() {
    let capacity = 10_000;
    let cache = one_shard(capacity);
    let mut expected_evictions = 0;
    // Nothing is hit, so entries leave in insertion order.
    let mut held: Vec<(String, usize)> = Vec::new(); // most recent last
    for i in 0..200usize {
        let key = format!("key-{i}");
        let len = (i * 37) % 2_000;
        assert!(cache.insert(&key, thumb(len, i as u8)));
        held.push((key.clone(), charge(&key, len)));
        while held.iter().map(|h| h.1).sum::<usize>() > capacity {
            held.remove(0);
            expected_evictions += 1;
        }
        let s = cache.stats();
        assert!(s.bytes <= capacity as u64);
        assert_eq!(s.bytes as usize, held.iter().map(|h| h.1).sum::<usize>(), "after {key}");
        assert_eq!(s.items as usize, held.len());
        assert_eq!(s.evictions, expected_evictions);
    }
}

#[test]
fn replacing_a_key_fixes_accounting() {
    let cache = one_shard(1 << 20);
    cache.insert("k", thumb(1_000, 1));
    cache.insert("other", thumb(10, 9));
    assert_eq!(cache.stats().bytes as usize, charge("k", 1_000) + charge("other", 10));
    cache.insert("k", thumb(300, 2));
    let s = cache.stats();
    assert_eq!(s.bytes as usize, charge("k", 300) + charge("other", 10));
    assert_eq!(s.items, 2);
    let got = cache.get("k").expect("replaced value");
    assert_eq!((got.data().len(), got.data()[0]), (300, 2));
}

#[test]
fn oversize_values_are_rejected_and_counted() {
    let cache = one_shard(1_000);
    let max = 1_000 - charge("k", 0);
    assert!(cache.insert("k", thumb(max, 1)), "exactly the budget fits");
    assert_eq!(cache.stats().bytes, 1_000);
    assert!(!cache.insert("k", thumb(max + 1, 2)));
    assert!(cache.get("k").is_none(), "the stale value is gone too");
    let s = cache.stats();
    assert_eq!((s.oversize_rejects, s.items, s.bytes), (1, 0, 0));

    // Rendered oversize values are returned but not cached.
    let v = cache.get_or_render("big", || Ok(thumb(5_000, 3))).expect("rendered");
    assert_eq!(v.data().len(), 5_000);
    assert!(cache.get("big").is_none());
    assert_eq!(cache.stats().oversize_rejects, 2);
}

#[test]
fn each_shard_holds_an_even_share() {
    // Four shards of 1_000 bytes: a value that fits the total but not one
    // shard is oversize.
    let cache = Cache::new(CacheOptions { capacity_bytes: 4_000, shards: 4, ..Default::default() });
    assert!(!cache.insert("k", thumb(1_500, 1)));
    assert!(cache.insert("k", thumb(1_000 - charge("k", 0), 1)));
    for i in 0..100 {
        cache.insert(&format!("key{i}"), thumb(200, 1));
        assert!(cache.stats().bytes <= 4_000);
    }
}

#[test]
fn options_are_normalised() {
    let cases = [(0, 1), (1, 1), (3, 4), (16, 16), (17, 32), (5_000, 1_024), (usize::MAX, 1_024)];
    for (asked, got) in cases {
        let cache = Cache::new(CacheOptions { shards: asked, ..Default::default() });
        assert_eq!(cache.options().shards, got, "shards {asked}");
        assert_eq!(cache.stats().shards, got as u64);
    }
    let cache = Cache::new(CacheOptions { capacity_bytes: 100, shards: 16, ..Default::default() });
    assert_eq!(cache.options().capacity_bytes, 96);
    assert_eq!(cache.stats().capacity_bytes, 96);
    let cache = Cache::new(CacheOptions { error_ttl: Some(Duration::ZERO), ..Default::default() });
    assert_eq!(cache.options().error_ttl, None);
    let d = CacheOptions::default();
    assert_eq!((d.capacity_bytes, d.shards, d.ttl, d.error_ttl), (64 << 20, 16, None, None));
    assert_eq!(Cache::default().options(), &d);
}

#[test]
fn zero_capacity_caches_nothing_but_still_renders() {
    let cache = one_shard(0);
    assert!(!cache.insert("k", thumb(0, 0)), "even an empty value has a charge");
    let (v, how) = cache.get_or_render_traced("k", || Ok(thumb(10, 7))).expect("rendered");
    assert_eq!((v.data()[0], how), (7, CacheSource::Rendered));
    let (_, how) = cache.get_or_render_traced("k", || Ok(thumb(10, 7))).expect("rendered");
    assert_eq!(how, CacheSource::Rendered);
    let s = cache.stats();
    assert_eq!((s.oversize_rejects, s.items, s.bytes, s.local_loads), (3, 0, 0, 2));
    common::check_cache_invariants(&s);
}

#[test]
fn ttl_expires_entries() {
    let cache = Cache::new(CacheOptions { capacity_bytes: 1 << 20, shards: 1, ttl: Some(TTL), ..Default::default() });
    cache.insert("a", thumb(10, 1));
    assert!(cache.get("a").is_some());
    let (_, how) = cache.get_or_render_traced("b", || Ok(thumb(10, 2))).expect("rendered");
    assert_eq!(how, CacheSource::Rendered);
    thread::sleep(TTL + TTL / 2);
    assert!(cache.get("a").is_none(), "expired");
    let (_, how) = cache.get_or_render_traced("b", || Ok(thumb(10, 3))).expect("rendered");
    assert_eq!(how, CacheSource::Rendered, "expired, so rendered again");
    assert_eq!(cache.get("b").map(|t| t.data()[0]), Some(3), "fresh again");
    let s = cache.stats();
    assert_eq!((s.expirations, s.evictions, s.items), (2, 0, 1));
    assert_eq!(s.bytes as usize, charge("b", 10));
    common::check_cache_invariants(&s);
}

#[test]
fn errors_are_not_cached_without_error_ttl() {
    let cache = one_shard(1 << 20);
    let mut renders = 0;
    for _ in 0..2 {
        let err = cache
            .get_or_render("bad", || {
                renders += 1;
                Err(Error::new(ErrorKind::Corrupt, "truncated"))
            })
            .expect_err("render fails");
        assert_eq!((err.kind(), err.message()), (ErrorKind::Corrupt, "truncated"));
    }
    assert_eq!(renders, 2);
    let s = cache.stats();
    assert_eq!((s.local_load_errors, s.items, s.hits), (2, 0, 0));
    common::check_cache_invariants(&s);
}

#[test]
fn error_ttl_remembers_errors_as_hits() {
    let cache =
        Cache::new(CacheOptions { capacity_bytes: 1 << 20, shards: 1, error_ttl: Some(TTL), ..Default::default() });
    let renders = std::cell::Cell::new(0);
    let render = || {
        renders.set(renders.get() + 1);
        Err(Error::new(ErrorKind::Unsupported, "not an image"))
    };
    for _ in 0..3 {
        let err = cache.get_or_render("bad", render).expect_err("remembered");
        assert_eq!(err.kind(), ErrorKind::Unsupported);
    }
    assert_eq!(renders.get(), 1);
    assert!(cache.get("bad").is_none(), "an error is not a value");
    let s = cache.stats();
    assert_eq!((s.gets, s.hits, s.error_hits, s.misses, s.loads), (4, 2, 2, 2, 1));
    assert_eq!((s.items, s.bytes as usize), (1, charge("bad", "not an image".len())));
    common::check_cache_invariants(&s);

    thread::sleep(TTL + TTL / 2);
    cache.get_or_render("bad", render).expect_err("rendered again");
    assert_eq!(renders.get(), 2);
    assert_eq!(cache.stats().expirations, 1);
    // A success replaces the remembered error.
    cache.insert("bad", thumb(5, 5));
    assert_eq!(cache.get_or_render("bad", || unreachable!()).map(|t| t.data()[0]), Ok(5));
}

#[test]
fn remove_and_clear() {
    let cache = Cache::new(CacheOptions { capacity_bytes: 1 << 20, shards: 4, ..Default::default() });
    for i in 0..20 {
        cache.insert(&format!("k{i}"), thumb(100, i));
    }
    assert_eq!(cache.stats().items, 20);
    assert!(cache.remove("k3"));
    assert!(!cache.remove("k3"));
    assert!(!cache.remove("absent"));
    assert!(cache.get("k3").is_none());
    let s = cache.stats();
    let want: usize = (0..20).filter(|&i| i != 3).map(|i| charge(&format!("k{i}"), 100)).sum();
    assert_eq!((s.items, s.bytes as usize), (19, want));
    cache.clear();
    let s = cache.stats();
    assert_eq!((s.items, s.bytes, s.evictions), (0, 0, 0));
    assert!(cache.get("k1").is_none());
    assert_eq!((s.gets, s.misses), (1, 1), "counters survive clear");
    cache.insert("k1", thumb(1, 1));
    assert!(cache.get("k1").is_some());
}

#[test]
fn hits_share_the_stored_bytes() {
    let cache = one_shard(1 << 20);
    let value = thumb(1_000, 1);
    cache.insert("k", value.clone());
    let hit = cache.get("k").expect("hit");
    assert!(std::sync::Arc::ptr_eq(&hit.shared_data(), &value.shared_data()), "no copy");
    assert_eq!(hit, value);
}

#[test]
fn traced_sources_and_stats_json() {
    let cache = one_shard(1 << 20);
    let (_, how) = cache.get_or_render_traced("k", || Ok(thumb(3, 1))).expect("ok");
    assert_eq!(how, CacheSource::Rendered);
    let (_, how) = cache.get_or_render_traced("k", || unreachable!()).expect("ok");
    assert_eq!(how, CacheSource::Hit);
    assert_eq!(CacheSource::Deduped.as_str(), "deduped");
    assert!(cache.get("nope").is_none());
    let s = cache.stats();
    common::check_cache_invariants(&s);
    assert_eq!((s.gets, s.hits, s.misses, s.loads, s.local_loads), (3, 1, 2, 1, 1));
    let json = s.to_json();
    let want = format!(
        "{{\"gets\":3,\"hits\":1,\"misses\":2,\"loads\":1,\"loads_deduped\":0,\"local_loads\":1,\
         \"local_load_errors\":0,\"evictions\":0,\"expirations\":0,\"oversize_rejects\":0,\
         \"error_hits\":0,\"bytes\":{},\"items\":1,\"capacity_bytes\":{},\"shards\":1}}",
        charge("k", 3),
        1 << 20
    );
    assert_eq!(json, want);
    assert!(format!("{cache:?}").contains("capacity_bytes"));
}

/// issue 18: a miss through a loader is one lookup. A host that asks `get`
/// first, fetches the source on a miss and then renders (Lua's
/// `get_or_render` with a loader, nginx's phase handler then its pool
/// thread) used to count gets and misses twice: get, then get_or_render.
#[test]
fn a_miss_through_a_loader_counts_one_lookup() {
    let cache = Cache::new(CacheOptions {
        capacity_bytes: 1 << 20,
        shards: 1,
        error_ttl: Some(TTL * 20),
        ..Default::default()
    });
    assert!(cache.get("k").is_none());
    let (_, how) = cache.get_or_render_after_miss("k", || Ok(thumb(3, 1))).expect("rendered");
    assert_eq!(how, CacheSource::Rendered);
    let s = cache.stats();
    assert_eq!((s.gets, s.hits, s.misses, s.loads, s.local_loads), (1, 0, 1, 1, 1));
    common::check_cache_invariants(&s);

    // Stored by someone else between the get and the render: a hit, counted
    // by nobody a second time, and the render does not run.
    assert!(cache.get("k2").is_none());
    cache.insert("k2", thumb(4, 2));
    let (v, how) = cache.get_or_render_after_miss("k2", || unreachable!()).expect("hit");
    assert_eq!((how, v.data()[0]), (CacheSource::Hit, 2));

    // A remembered error: get counts a miss; the render is not retried and
    // no error_hits is counted beside no hit.
    assert!(cache.get("bad").is_none());
    let err = || Err(Error::new(ErrorKind::Corrupt, "bad"));
    cache.get_or_render_after_miss("bad", err).expect_err("failed");
    assert!(cache.get("bad").is_none());
    cache.get_or_render_after_miss("bad", || unreachable!()).expect_err("remembered");
    let s = cache.stats();
    assert_eq!((s.gets, s.hits, s.misses, s.error_hits, s.loads), (4, 0, 4, 0, 2));
    common::check_cache_invariants(&s);
}
