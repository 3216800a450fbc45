//! The thumbnail cache under concurrent use: single-flight de-duplication,
//! errors and panics handed to every waiter, detached renders, and stats
//! invariants under mixed traffic. Every test runs under a time limit so a
//! hang fails instead of stalling the suite.

mod common;

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use thumbnail::{Cache, CacheOptions, CacheSource, CacheStats, Error, ErrorKind, Format, Thumbnail};

const LIMIT: Duration = Duration::from_secs(20);

/// Runs `f` on its own thread and fails if it takes longer than `limit`.
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(panic::catch_unwind(AssertUnwindSafe(f)));
    });
    match rx.recv_timeout(limit) {
        Ok(Ok(value)) => value,
        Ok(Err(payload)) => panic::resume_unwind(payload),
        Err(_) => panic!("test did not finish within {limit:?} (a waiter hung?)"),
    }
}

/// Polls until `cond` holds; panics after 5 s.
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(5), "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

/// The bytes every caller must see for `key`: derived from the key, with a
/// length that varies by key.
fn bytes_for(key: &str) -> Vec<u8> {
    let n = 50 + key.bytes().map(usize::from).sum::<usize>() % 200;
    key.bytes().cycle().take(n).collect()
}

fn thumb_for(key: &str) -> Thumbnail {
    Thumbnail::new(bytes_for(key), Format::Png, 4, 4)
}

#[test]
fn cache_is_send_and_sync() {
    fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<Cache>();
    send_sync::<CacheStats>();
}

#[test]
fn single_flight_renders_each_key_once() {
    within(LIMIT, || {
        const THREADS: usize = 8;
        const KEYS: usize = 16;
        let cache = Cache::new(CacheOptions { capacity_bytes: 1 << 20, shards: 4, ..Default::default() });
        let renders: Vec<AtomicUsize> = (0..KEYS).map(|_| AtomicUsize::new(0)).collect();
        let keys: Vec<String> = (0..KEYS).map(|i| format!("src/{i}.jpg|w=64")).collect();
        let barrier = Barrier::new(THREADS);
        let sources: Vec<Vec<CacheSource>> = thread::scope(|s| {
            let handles: Vec<_> = (0..THREADS)
                .map(|t| {
                    let (cache, renders, keys, barrier) = (&cache, &renders, &keys, &barrier);
                    s.spawn(move || {
                        barrier.wait();
                        let mut sources = Vec::new();
                        // Each thread walks the keys from a different start,
                        // so threads collide on keys at different times.
                        for j in 0..KEYS {
                            let k = (t * 3 + j) % KEYS;
                            let key = &keys[k];
                            let (value, how) = cache
                                .get_or_render_traced(key, || {
                                    renders[k].fetch_add(1, Ordering::SeqCst);
                                    thread::sleep(Duration::from_millis(10));
                                    Ok(thumb_for(key))
                                })
                                .expect("render succeeds");
                            assert_eq!(value.data(), &bytes_for(key)[..], "{key}");
                            sources.push(how);
                        }
                        sources
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("worker panicked")).collect()
        });
        for (k, n) in renders.iter().enumerate() {
            assert_eq!(n.load(Ordering::SeqCst), 1, "key {k} rendered once");
        }
        let all: Vec<CacheSource> = sources.into_iter().flatten().collect();
        let count = |want| all.iter().filter(|&&s| s == want).count() as u64;
        let s = cache.stats();
        common::check_cache_invariants(&s);
        assert_eq!(s.gets, (THREADS * KEYS) as u64);
        assert_eq!(s.local_loads, KEYS as u64);
        assert_eq!(s.local_load_errors, 0);
        assert_eq!(s.misses, s.loads, "only get_or_render was used");
        assert_eq!((count(CacheSource::Rendered), count(CacheSource::Hit)), (s.local_loads, s.hits));
        assert_eq!(count(CacheSource::Deduped), s.loads_deduped);
        assert!(s.loads_deduped > 0, "threads started together must have collided: {s:?}");
        assert_eq!((s.items, s.evictions), (KEYS as u64, 0));
    });
}

/// Starts `n` callers of `get_or_render(key)`; the one that renders first
/// waits until all `n` are in (the others are then blocked on its flight)
/// and then runs `outcome`. Returns every caller's result and how many
/// renders ran.
fn all_wait_for_one(
    cache: &Arc<Cache>,
    key: &'static str,
    n: usize,
    outcome: fn() -> Result<Thumbnail, Error>,
) -> (Vec<Result<Thumbnail, Error>>, usize) {
    let renders = Arc::new(AtomicUsize::new(0));
    let loads_before = cache.stats().loads;
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let (cache, renders) = (Arc::clone(cache), Arc::clone(&renders));
            thread::spawn(move || {
                cache.get_or_render(key, || {
                    renders.fetch_add(1, Ordering::SeqCst);
                    wait_until("all callers", || cache.stats().loads - loads_before == n as u64);
                    outcome()
                })
            })
        })
        .collect();
    let results = handles.into_iter().map(|h| h.join().expect("caller thread panicked")).collect();
    (results, renders.load(Ordering::SeqCst))
}

#[test]
fn errors_reach_every_waiter_and_are_not_cached() {
    within(LIMIT, || {
        let cache = Arc::new(Cache::new(CacheOptions::default()));
        let (results, renders) =
            all_wait_for_one(&cache, "bad", 8, || Err(Error::new(ErrorKind::Corrupt, "bad bytes")));
        assert_eq!(renders, 1);
        for r in &results {
            let e = r.as_ref().expect_err("every caller gets the error");
            assert_eq!((e.kind(), e.message()), (ErrorKind::Corrupt, "bad bytes"));
        }
        let s = cache.stats();
        common::check_cache_invariants(&s);
        assert_eq!((s.local_load_errors, s.loads_deduped, s.items), (1, 7, 0));
        // Not cached: the next caller renders, and this time succeeds.
        let (v, how) = cache.get_or_render_traced("bad", || Ok(thumb_for("bad"))).expect("ok");
        assert_eq!((v.data(), how), (&bytes_for("bad")[..], CacheSource::Rendered));
        assert_eq!(cache.get("bad"), Some(v));
    });
}

#[test]
fn a_panicking_render_fails_every_waiter_then_recovers() {
    within(LIMIT, || {
        let cache = Arc::new(Cache::new(CacheOptions::default()));
        let (results, renders) = all_wait_for_one(&cache, "boom", 6, || panic!("decoder {} exploded", 7));
        assert_eq!(renders, 1);
        for r in &results {
            let e = r.as_ref().expect_err("every caller gets the panic as an error");
            assert_eq!(e.kind(), ErrorKind::Internal);
            assert_eq!(e.message(), "render panicked: decoder 7 exploded");
        }
        let s = cache.stats();
        common::check_cache_invariants(&s);
        assert_eq!((s.local_load_errors, s.loads_deduped), (1, 5));

        let (_, renders) = all_wait_for_one(&cache, "static", 3, || panic!("static message"));
        assert_eq!(renders, 1);
        let e = cache.get_or_render("any", || panic::panic_any(42u8)).expect_err("panicked");
        assert_eq!(e.message(), "render panicked");

        // The key is not stuck: the next caller renders and caches.
        let v = cache.get_or_render("boom", || Ok(thumb_for("boom"))).expect("renders again");
        assert_eq!(v.data(), &bytes_for("boom")[..]);
        assert!(cache.get("boom").is_some());
        common::check_cache_invariants(&cache.stats());
    });
}

/// A render in progress when its key is removed (or the cache cleared)
/// still answers its waiters, but a new caller does not wait for it, and
/// its result is not cached.
fn detached_render(detach: fn(&Cache)) {
    let cache = Arc::new(Cache::new(CacheOptions::default()));
    let (release, released) = mpsc::channel::<()>();
    let old = Thumbnail::new(vec![1; 10], Format::Jpeg, 1, 1);
    let new = Thumbnail::new(vec![2; 10], Format::Jpeg, 1, 1);

    let leader = {
        let (cache, old) = (Arc::clone(&cache), old.clone());
        thread::spawn(move || {
            cache.get_or_render_traced("k", move || {
                released.recv_timeout(Duration::from_secs(5)).expect("released");
                Ok(old)
            })
        })
    };
    wait_until("leader", || cache.stats().loads == 1);
    let waiter = {
        let cache = Arc::clone(&cache);
        thread::spawn(move || cache.get_or_render_traced("k", || panic!("waiter must not render")))
    };
    wait_until("waiter", || cache.stats().loads == 2);

    detach(&cache);
    let (v, how) = cache.get_or_render_traced("k", || Ok(new.clone())).expect("fresh render");
    assert_eq!((v, how), (new.clone(), CacheSource::Rendered), "did not wait for the old render");

    release.send(()).expect("leader is waiting");
    let got_leader = leader.join().expect("leader thread").expect("ok");
    let got_waiter = waiter.join().expect("waiter thread").expect("ok");
    assert_eq!(got_leader, (old.clone(), CacheSource::Rendered));
    assert_eq!(got_waiter, (old, CacheSource::Deduped));
    assert_eq!(cache.get("k"), Some(new), "the detached render's result was not cached");
    let s = cache.stats();
    common::check_cache_invariants(&s);
    assert_eq!((s.local_loads, s.loads_deduped), (2, 1));
}

#[test]
fn remove_detaches_a_render_in_progress() {
    within(LIMIT, || {
        detached_render(|c| {
            c.remove("k");
        });
    });
}

#[test]
fn clear_detaches_renders_in_progress() {
    within(LIMIT, || detached_render(Cache::clear));
}

#[test]
fn a_render_asking_for_its_own_key_fails_instead_of_hanging() {
    within(LIMIT, || {
        let cache = Cache::new(CacheOptions::default());
        let e = cache
            .get_or_render("k", || cache.get_or_render("k", || Ok(thumb_for("k"))))
            .expect_err("recursion refused");
        assert_eq!(e.kind(), ErrorKind::Internal);
        let s = cache.stats();
        common::check_cache_invariants(&s);
        assert_eq!((s.loads, s.local_load_errors), (2, 2));
        // Other keys from inside a render are fine.
        let v = cache
            .get_or_render("outer", || cache.get_or_render("inner", || Ok(thumb_for("inner"))))
            .expect("nested render of another key");
        assert_eq!(v.data(), &bytes_for("inner")[..]);
    });
}

/// Many threads, few keys, a budget smaller than the key set: values stay
/// correct per key, and the counters add up exactly.
fn mixed_traffic(options: CacheOptions, failing: fn(usize) -> bool) {
    const THREADS: usize = 8;
    const OPS: usize = 3_000;
    const KEYS: usize = 64;
    let cache = Cache::new(options);
    let keys: Vec<String> = (0..KEYS).map(|i| format!("k{i}")).collect();
    // (gets issued, plain-get misses, get_or_render errors seen)
    let totals: Vec<(u64, u64)> = thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (cache, keys) = (&cache, &keys);
                s.spawn(move || {
                    let mut x = 0x2545_F491_4F6C_DD1D_u64 ^ (t as u64 + 1).wrapping_mul(0x9E37_79B9);
                    let (mut gets, mut get_misses) = (0, 0);
                    for _ in 0..OPS {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        let k = (x % KEYS as u64) as usize;
                        let key = &keys[k];
                        match (x >> 32) % 16 {
                            0 => {
                                cache.insert(key, thumb_for(key));
                            }
                            1 => {
                                cache.remove(key);
                            }
                            2..=5 => {
                                gets += 1;
                                match cache.get(key) {
                                    Some(v) => assert_eq!(v.data(), &bytes_for(key)[..]),
                                    None => get_misses += 1,
                                }
                            }
                            _ => {
                                gets += 1;
                                let r = cache.get_or_render(key, || {
                                    if failing(k) {
                                        Err(Error::new(ErrorKind::Corrupt, key.clone()))
                                    } else {
                                        Ok(thumb_for(key))
                                    }
                                });
                                match r {
                                    Ok(v) => assert_eq!(v.data(), &bytes_for(key)[..]),
                                    Err(e) => {
                                        assert!(failing(k), "{key}: {e}");
                                        assert_eq!(e.message(), key);
                                    }
                                }
                            }
                        }
                    }
                    (gets, get_misses)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("worker panicked")).collect()
    });
    let gets: u64 = totals.iter().map(|t| t.0).sum();
    let get_misses: u64 = totals.iter().map(|t| t.1).sum();
    let s = cache.stats();
    common::check_cache_invariants(&s);
    assert_eq!(s.gets, gets);
    assert_eq!(s.misses, s.loads + get_misses, "{s:?}");
    assert!(s.evictions > 0, "the budget is meant to be too small: {s:?}");
    assert!(s.hits > 0 && s.loads_deduped + s.local_loads > 0, "{s:?}");
}

#[test]
fn mixed_traffic_keeps_values_and_invariants() {
    within(LIMIT, || {
        // Room for about a third of the keys (values average ~150 bytes).
        let per_entry = Cache::ENTRY_OVERHEAD + 150;
        let options = CacheOptions { capacity_bytes: 20 * per_entry, shards: 2, ..Default::default() };
        mixed_traffic(options, |_| false);
    });
}

#[test]
fn mixed_traffic_with_ttls_and_errors() {
    within(LIMIT, || {
        let per_entry = Cache::ENTRY_OVERHEAD + 150;
        let options = CacheOptions {
            capacity_bytes: 24 * per_entry,
            shards: 4,
            ttl: Some(Duration::from_millis(2)),
            error_ttl: Some(Duration::from_millis(1)),
        };
        mixed_traffic(options, |k| k % 7 == 0);
    });
}
