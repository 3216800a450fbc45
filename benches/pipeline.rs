//! Core pipeline benchmarks on ../shared/bench-images: decode, resize and
//! encode separately, and the whole render, to 200x200 and 800x800.
//!
//! Run: `cargo bench --bench pipeline` (`make bench`).

use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use thumbnail::{Format, Limits, Spec, stages};

#[path = "support/bench_images.rs"]
mod bench_images;
use bench_images::bench_image;

const IMAGES: [&str; 4] = ["big20mp.jpg", "prog18mp.jpg", "mid4mp.jpg", "alpha2mp.png"];
const BOXES: [u32; 2] = [200, 800];

fn fit(w: u32, h: u32, side: u32) -> (u32, u32) {
    if w >= h {
        (side, ((u64::from(h) * u64::from(side)) / u64::from(w)).max(1) as u32)
    } else {
        (((u64::from(w) * u64::from(side)) / u64::from(h)).max(1) as u32, side)
    }
}

fn benches(c: &mut Criterion) {
    for name in IMAGES {
        let bytes = bench_image(name);
        let format = if name.ends_with(".png") { Format::Png } else { Format::Jpeg };
        let mut group = c.benchmark_group(name);
        group.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
        group.bench_function("decode", |b| b.iter(|| stages::decode(&bytes).unwrap()));
        let decoded = stages::decode(&bytes).unwrap();
        for side in BOXES {
            let (w, h) = fit(decoded.width(), decoded.height(), side);
            // What render asks of the decoder: 2× headroom for Lanczos3.
            let min_scale = (2.0 * f64::from(side) / f64::from(decoded.width().max(decoded.height()))).min(1.0);
            group.bench_with_input(BenchmarkId::new("decode-reduced", side), &side, |b, _| {
                b.iter(|| stages::decode_reduced(&bytes, min_scale).unwrap());
            });
            group.bench_with_input(BenchmarkId::new("resize", side), &side, |b, _| {
                b.iter_batched(|| decoded.clone(), |d| stages::resize(d, w, h).unwrap(), BatchSize::LargeInput);
            });
            let small = stages::resize(decoded.clone(), w, h).unwrap();
            let spec = Spec::parse(&format!("{side}x{side}")).unwrap();
            group.bench_with_input(BenchmarkId::new("encode", side), &side, |b, _| {
                b.iter(|| stages::encode(&small, format, &spec).unwrap());
            });
            group.bench_with_input(BenchmarkId::new("render", side), &side, |b, _| {
                b.iter(|| thumbnail::render(&bytes, &spec, &Limits::default()).unwrap());
            });
        }
        group.finish();
    }
}

criterion_group!(pipeline, benches);
criterion_main!(pipeline);
