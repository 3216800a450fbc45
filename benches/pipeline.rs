//! Core pipeline benchmarks on ../shared/bench-images: decode, resize and
//! encode separately, and the whole render, to 200x200 and 800x800; and
//! issue 19's operations (group `ops`): each alone on a 400x300 thumbnail,
//! and big20mp.jpg -> 400x300 rendered with and without each.
//!
//! Run: `cargo bench --bench pipeline` (`make bench`); the operations
//! alone: `cargo bench --bench pipeline -- ops/`.

use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use thumbnail::{Format, Gravity, Limits, Overlay, RenderOptions, Spec, stages};

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

/// A 100x40 logo: opaque on the left, half transparent on the right.
fn logo() -> Vec<u8> {
    let mut data = Vec::new();
    for _ in 0..40 {
        for x in 0..100 {
            data.extend_from_slice(if x < 50 { &[200, 30, 30, 255] } else { &[255, 255, 255, 128] });
        }
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, 100, 40);
    encoder.set_color(png::ColorType::Rgba);
    encoder.write_header().unwrap().write_image_data(&data).unwrap();
    out
}

fn ops(c: &mut Criterion) {
    let bytes = bench_image("big20mp.jpg");
    // apply=wm: only the `wm` render below is watermarked.
    let overlay = Overlay::new(&logo(), "gravity=southeast margin=8 opacity=0.6 scale=0.2 apply=wm").unwrap();
    let mut group = c.benchmark_group("ops");
    group.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
    let decoded = stages::decode_reduced(&bytes, 0.25).unwrap();
    // What the smart crop reads for a 400x300 cover: the box step's result,
    // about 2x the cover size (800 wide for big20mp's 3:2).
    let reduced = stages::resize(decoded.clone(), 800, 533).unwrap();
    let small = stages::resize(decoded.clone(), 400, 267).unwrap();
    // A 4:3 crop of the 3:2 image: full height, 711 of 800 columns.
    let fraction = (533.0 * 4.0 / 3.0 / 800.0, 1.0);
    // And what render gives it for big20mp -> 400x300,cover: the 1/4 decode
    // itself (1368x912; the crop is under 4x the box, so no box step).
    let decoded_fraction = (f64::from(decoded.height()) * 4.0 / 3.0 / f64::from(decoded.width()), 1.0);
    for (name, gravity) in [("attention", Gravity::Attention), ("entropy", Gravity::Entropy)] {
        group.bench_function(format!("{name}-crop-400x300"), |b| {
            b.iter(|| stages::smart_crop(&reduced, gravity, fraction, (400, 300)).unwrap());
        });
        group.bench_function(format!("{name}-crop-big20mp-decoded"), |b| {
            b.iter(|| stages::smart_crop(&decoded, gravity, decoded_fraction, (400, 300)).unwrap());
        });
    }
    group.bench_function("sharpen-400x267", |b| {
        b.iter_batched(|| small.clone(), |s| stages::sharpen(s, 2).unwrap(), BatchSize::SmallInput);
    });
    group.bench_function("blur4-400x267", |b| {
        b.iter_batched(|| small.clone(), |s| stages::blur(s, 4).unwrap(), BatchSize::SmallInput);
    });
    group.bench_function("watermark-400x267", |b| {
        b.iter_batched(|| small.clone(), |s| stages::watermark(s, &overlay).unwrap(), BatchSize::SmallInput);
    });
    // The 10% bar: whole renders of big20mp.jpg -> 400x300.
    let options = RenderOptions::default().overlay(Some(&overlay));
    for spec in [
        "400x300",
        "400x300,sharpen",
        "400x300,wm",
        "400x300,rotate=90",
        "400x300,cover",
        "400x300,cover,attention",
        "400x300,cover,entropy",
    ] {
        let parsed = Spec::parse(spec).unwrap();
        group.bench_function(format!("big20mp-{spec}"), |b| {
            b.iter(|| thumbnail::render_with(&bytes, &parsed, &Limits::default(), &options).unwrap());
        });
    }
    group.finish();
}

criterion_group!(pipeline, benches, ops);
criterion_main!(pipeline);
