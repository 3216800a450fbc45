//! Cache benchmark: hit ratio and throughput on a Zipf(1.0) trace over
//! 100_000 keys, ~10 KB thumbnails, a byte budget of ~10% of all values;
//! ours (S3-FIFO, read-locked hits) against quick_cache 0.7 and against an
//! exact LRU (`support/exact_lru.rs`, the cache's policy before S3-FIFO):
//! one global list for its hit ratio, 16 mutex-guarded shards for its
//! throughput.
//!
//! Run: `cargo bench --bench cache` (about two minutes). Hit ratios and an
//! interleaved throughput table are printed once, before the criterion
//! groups; `cargo bench --bench cache -- --list` stops after them, and
//! `CACHE_BENCH_ROUNDS=15` (default 5) steadies the table on a busy
//! machine.

#[path = "support/exact_lru.rs"]
#[allow(dead_code)]
mod exact_lru;

use std::hash::BuildHasher;
use std::hint::black_box;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main, measurement::WallTime};
use thumbnail::{Cache, CacheOptions, Format, Thumbnail};

const KEYS: usize = 100_000;
const TRACE: usize = 1_000_000;
/// Accesses replayed before hit ratios are counted.
const WARM_UP: usize = 200_000;
/// Distinct data buffers; values share them (a clone shares bytes), so the
/// bench needs megabytes, not the gigabyte 100_000 separate buffers would.
const POOL: usize = 64;

/// SplitMix64: tiny, deterministic, good enough for a workload generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Zipf(s) over ranks 0..n by inverse CDF: binary search of a uniform
/// sample in the cumulative weights 1/(rank+1)^s.
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Self {
        let mut total = 0.0;
        let mut cdf: Vec<f64> = (0..n)
            .map(|i| {
                total += 1.0 / ((i + 1) as f64).powf(s);
                total
            })
            .collect();
        for c in &mut cdf {
            *c /= total;
        }
        Zipf { cdf }
    }

    fn sample(&self, rng: &mut Rng) -> usize {
        let u = rng.unit();
        self.cdf.partition_point(|&c| c <= u).min(self.cdf.len() - 1)
    }
}

struct Workload {
    keys: Vec<String>,
    /// Index into `pool` for each key.
    value_of: Vec<u16>,
    pool: Vec<Thumbnail>,
    trace: Vec<u32>,
    budget: usize,
}

impl Workload {
    fn new() -> Self {
        let mut rng = Rng(0x5EED_CAFE_F00D_D00D);
        // Rank 0 is the most popular; names do not reveal rank order.
        let keys: Vec<String> =
            (0..KEYS).map(|i| format!("media/{:016x}.jpg|w=320,h=240,fit=cover", rng.next() ^ i as u64)).collect();
        let pool: Vec<Thumbnail> = (0..POOL)
            .map(|i| {
                let len = 8_000 + (rng.next() % 4_001) as usize; // 8..=12 KB
                Thumbnail::new(vec![i as u8; len], Format::Jpeg, 320, 240)
            })
            .collect();
        let value_of: Vec<u16> = (0..KEYS).map(|_| (rng.next() % POOL as u64) as u16).collect();
        let zipf = Zipf::new(KEYS, 1.0);
        let trace = (0..TRACE).map(|_| zipf.sample(&mut rng) as u32).collect();
        let total: usize = (0..KEYS).map(|k| charge(&keys[k], &pool[usize::from(value_of[k])])).sum();
        Workload { keys, value_of, pool, trace, budget: total / 10 }
    }

    fn key(&self, rank: u32) -> &str {
        &self.keys[rank as usize]
    }

    fn value(&self, rank: u32) -> Thumbnail {
        self.pool[usize::from(self.value_of[rank as usize])].clone()
    }

    fn ours(&self, shards: usize) -> Cache {
        Cache::new(CacheOptions { capacity_bytes: self.budget, shards, ..Default::default() })
    }

    fn quick(&self) -> QuickCache {
        let avg = self.budget / (KEYS / 10);
        QuickCache::with_weighter(self.budget / avg, self.budget as u64, Charge)
    }

    fn exact(&self, shards: usize) -> ExactLru {
        ExactLru::new(self.budget, shards)
    }
}

/// The baseline: an exact LRU per shard behind a `parking_lot::Mutex`,
/// charged like ours. With one shard it is a plain global LRU.
struct ExactLru {
    shards: Vec<Mutex<exact_lru::Lru<Thumbnail>>>,
    hasher: foldhash::fast::RandomState,
}

impl ExactLru {
    fn new(budget: usize, shards: usize) -> Self {
        let shards = (0..shards).map(|_| Mutex::new(exact_lru::Lru::new(budget / shards))).collect();
        ExactLru { shards, hasher: foldhash::fast::RandomState::default() }
    }

    fn shard(&self, key: &str) -> (u64, &Mutex<exact_lru::Lru<Thumbnail>>) {
        let hash = self.hasher.hash_one(key);
        (hash, &self.shards[(hash >> 32) as usize % self.shards.len()])
    }

    fn get(&self, key: &str) -> Option<Thumbnail> {
        let (hash, shard) = self.shard(key);
        match shard.lock().get(hash, key, Instant::now) {
            exact_lru::Lookup::Hit(v) => Some(v.clone()),
            _ => None,
        }
    }

    fn insert(&self, key: &str, value: Thumbnail) {
        let (hash, shard) = self.shard(key);
        let charge = charge(key, &value);
        shard.lock().insert(hash, key, value, charge, None);
    }

    /// Get, else render (outside the lock) and insert; no single-flight.
    fn get_or_render(&self, key: &str, render: impl FnOnce() -> Thumbnail) -> Thumbnail {
        if let Some(v) = self.get(key) {
            return v;
        }
        let v = render();
        self.insert(key, v.clone());
        v
    }
}

/// The same charge as ours: key + data + per-entry overhead.
fn charge(key: &str, value: &Thumbnail) -> usize {
    key.len() + value.data().len() + Cache::ENTRY_OVERHEAD
}

#[derive(Clone)]
struct Charge;

impl quick_cache::Weighter<String, Thumbnail> for Charge {
    fn weight(&self, key: &String, value: &Thumbnail) -> u64 {
        charge(key, value) as u64
    }
}

type QuickCache = quick_cache::sync::Cache<String, Thumbnail, Charge>;

/// Replays the trace (get, insert on miss); returns the hit ratio after
/// warm-up.
fn hit_ratio(w: &Workload, mut get_or_insert: impl FnMut(&str, u32) -> bool) -> f64 {
    let mut hits = 0;
    for (i, &rank) in w.trace.iter().enumerate() {
        let hit = get_or_insert(w.key(rank), rank);
        if i >= WARM_UP && hit {
            hits += 1;
        }
    }
    f64::from(hits) / (w.trace.len() - WARM_UP) as f64
}

fn print_hit_ratios(w: &Workload) {
    let ours = w.ours(16);
    let ours_ratio = hit_ratio(w, |k, r| {
        ours.get(k).is_some() || {
            ours.insert(k, w.value(r));
            false
        }
    });
    let ours_one = w.ours(1);
    let ours_one_ratio = hit_ratio(w, |k, r| {
        ours_one.get(k).is_some() || {
            ours_one.insert(k, w.value(r));
            false
        }
    });
    let exact = w.exact(1);
    let exact_ratio = hit_ratio(w, |k, r| {
        exact.get(k).is_some() || {
            exact.insert(k, w.value(r));
            false
        }
    });
    let exact16 = w.exact(16);
    let exact16_ratio = hit_ratio(w, |k, r| {
        exact16.get(k).is_some() || {
            exact16.insert(k, w.value(r));
            false
        }
    });
    let quick = w.quick();
    let quick_ratio = hit_ratio(w, |k, r| {
        quick.get(k).is_some() || {
            quick.insert(k.to_owned(), w.value(r));
            false
        }
    });
    let s = ours.stats();
    println!(
        "cache hit ratio, Zipf(1.0) over {KEYS} keys, {TRACE} accesses ({WARM_UP} warm-up), \
         budget {} MiB (~10% of values), entries held by ours: {}",
        w.budget >> 20,
        s.items
    );
    println!("  thumbnail::Cache (S3-FIFO, 16 shards)  {:.4}", ours_ratio);
    println!("  thumbnail::Cache (S3-FIFO, 1 shard)    {:.4}", ours_one_ratio);
    println!("  exact LRU (1 list)                     {:.4}", exact_ratio);
    println!("  exact LRU (16 shards)                  {:.4}", exact16_ratio);
    println!("  quick_cache::sync::Cache               {:.4}", quick_ratio);
}

/// Times `iters` calls of `op` per thread over the whole trace; wall time.
fn run_threads<F>(w: &Workload, threads: usize, iters: u64, op: F) -> Duration
where
    F: Fn(&str, u32) + Sync,
{
    run_trace(w, &w.trace, threads, iters, op)
}

/// Times `iters` calls of `op` per thread over `trace` (ranks), each
/// thread starting at its own offset, spread apart; wall time.
fn run_trace<F>(w: &Workload, trace: &[u32], threads: usize, iters: u64, op: F) -> Duration
where
    F: Fn(&str, u32) + Sync,
{
    let one = |t: usize| {
        let mut pos = t * trace.len() / threads;
        for _ in 0..iters {
            let rank = trace[pos];
            op(w.key(rank), rank);
            pos += 1;
            if pos == trace.len() {
                pos = 0;
            }
        }
    };
    if threads == 1 {
        let t0 = Instant::now();
        one(0);
        return t0.elapsed();
    }
    thread::scope(|s| {
        let t0 = Instant::now();
        let handles: Vec<_> = (0..threads).map(|t| s.spawn(move || one(t))).collect();
        for h in handles {
            let _ = h.join();
        }
        t0.elapsed()
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// The trace's accesses that `is_hit` says are hits, in order: a Zipf
/// trace over the resident keys, for timing hits alone.
fn hits_only(w: &Workload, is_hit: impl Fn(&str) -> bool) -> Vec<u32> {
    w.trace.iter().copied().filter(|&rank| is_hit(w.key(rank))).collect()
}

/// Ours, quick_cache and the sharded exact LRU timed alternately, round
/// after round, and the median of each printed as a Markdown table. On a
/// shared or noisy machine, alternating keeps all under the same
/// conditions, which criterion's one-after-the-other groups cannot.
///
/// Rows: `get` replays the trace on warm caches without inserting (so
/// misses, ~1 in 4, are included and the resident set stays fixed); `get
/// (hits)` replays, for each cache, only the accesses it hits; and
/// `get_or_render` replays the trace rendering misses (a clone of a
/// prebuilt value) and inserting them, evicting as it goes.
fn print_interleaved(w: &Workload, ours: &Cache, quick: &QuickCache, exact: &ExactLru) {
    // More rounds steady the medians on a busy machine.
    let rounds: usize = std::env::var("CACHE_BENCH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(5);
    const OPS: u64 = 1_000_000;
    let hits_ours = hits_only(w, |k| ours.get(k).is_some());
    let hits_quick = hits_only(w, |k| quick.get(k).is_some());
    let hits_exact = hits_only(w, |k| exact.get(k).is_some());
    println!("interleaved medians of {rounds} rounds, {OPS} ops per thread per round, M ops/s:");
    println!("| operation | threads | thumbnail::Cache | quick_cache | ratio | exact LRU, 16 x Mutex |");
    println!("|---|---|---|---|---|---|");
    for op in ["get", "get (hits)", "get_or_render"] {
        for threads in [1, 2] {
            let (mut a, mut b, mut c, mut r) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for _ in 0..rounds {
                let (t_ours, t_quick, t_exact) = match op {
                    "get" => (
                        run_threads(w, threads, OPS, |k, _| {
                            black_box(ours.get(k));
                        }),
                        run_threads(w, threads, OPS, |k, _| {
                            black_box(quick.get(k));
                        }),
                        run_threads(w, threads, OPS, |k, _| {
                            black_box(exact.get(k));
                        }),
                    ),
                    "get (hits)" => (
                        run_trace(w, &hits_ours, threads, OPS, |k, _| {
                            black_box(ours.get(k));
                        }),
                        run_trace(w, &hits_quick, threads, OPS, |k, _| {
                            black_box(quick.get(k));
                        }),
                        run_trace(w, &hits_exact, threads, OPS, |k, _| {
                            black_box(exact.get(k));
                        }),
                    ),
                    _ => (
                        run_threads(w, threads, OPS, |k, rank| {
                            let _ = black_box(ours.get_or_render(k, || Ok(w.value(rank))));
                        }),
                        run_threads(w, threads, OPS, |k, rank| {
                            let _ = black_box(quick.get_or_insert_with(k, || Ok::<_, ()>(w.value(rank))));
                        }),
                        run_threads(w, threads, OPS, |k, rank| {
                            black_box(exact.get_or_render(k, || w.value(rank)));
                        }),
                    ),
                };
                let rate = |d: Duration| (OPS * threads as u64) as f64 / d.as_secs_f64() / 1e6;
                a.push(rate(t_ours));
                b.push(rate(t_quick));
                c.push(rate(t_exact));
                r.push(rate(t_ours) / rate(t_quick));
            }
            println!(
                "| {op} | {threads} | {:.2} | {:.2} | {:.2} | {:.2} |",
                median(a),
                median(b),
                median(r),
                median(c)
            );
        }
    }
}

fn configure<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    g
}

fn benches(c: &mut Criterion) {
    let w = Arc::new(Workload::new());
    print_hit_ratios(&w);

    // Warm the caches on the whole trace, then time `get` only (misses are
    // not inserted, so the resident set stays fixed while timing).
    let ours = w.ours(16);
    let quick = w.quick();
    let exact = w.exact(16);
    for &rank in &w.trace {
        let _ = ours.get_or_render(w.key(rank), || Ok(w.value(rank)));
        let _ = quick.get_or_insert_with(w.key(rank), || Ok::<_, ()>(w.value(rank)));
        exact.get_or_render(w.key(rank), || w.value(rank));
    }
    print_interleaved(&w, &ours, &quick, &exact);
    drop(exact);
    for threads in [1, 2] {
        let mut g = configure(c, &format!("get/{threads}-thread"));
        g.throughput(Throughput::Elements(threads as u64));
        g.bench_function("thumbnail", |b| {
            b.iter_custom(|iters| {
                run_threads(&w, threads, iters, |k, _| {
                    black_box(ours.get(k));
                })
            });
        });
        g.bench_function("quick_cache", |b| {
            b.iter_custom(|iters| {
                run_threads(&w, threads, iters, |k, _| {
                    black_box(quick.get(k));
                })
            });
        });
        g.finish();
    }

    // get_or_render on the trace: misses "render" by cloning a prebuilt
    // value and insert, evicting as they go.
    for threads in [1, 2] {
        let mut g = configure(c, &format!("get_or_render/{threads}-thread"));
        g.throughput(Throughput::Elements(threads as u64));
        g.bench_function("thumbnail", |b| {
            b.iter_custom(|iters| {
                run_threads(&w, threads, iters, |k, rank| {
                    let _ = black_box(ours.get_or_render(k, || Ok(w.value(rank))));
                })
            });
        });
        g.bench_function("quick_cache", |b| {
            b.iter_custom(|iters| {
                run_threads(&w, threads, iters, |k, rank| {
                    let _ = black_box(quick.get_or_insert_with(k, || Ok::<_, ()>(w.value(rank))));
                })
            });
        });
        g.finish();
    }
    let s = ours.stats();
    println!("thumbnail::Cache stats after the run: {}", s.to_json());
}

criterion_group!(cache, benches);
criterion_main!(cache);
