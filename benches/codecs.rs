//! The codec measurements behind the choices in benches/README.md →
//! Routes taken: libjpeg-turbo at every M/8 scale against zune-jpeg's full
//! decode, libjpeg-turbo's JPEG encoder against jpeg-encoder, and the png
//! crate against this library's PNG decode (libdeflate fast path).
//!
//! Run: `cargo bench --bench codecs`.

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use thumbnail::stages;
use turbojpeg::{Compressor, Decompressor, Image, PixelFormat, ScalingFactor, Subsamp};

#[path = "support/bench_images.rs"]
mod bench_images;
use bench_images::bench_image;

const JPEGS: [&str; 2] = ["mid4mp.jpg", "big20mp.jpg"];

/// RGB pixels of `jpeg` at `m`/8 of its size, by libjpeg-turbo.
fn turbo_decode(jpeg: &[u8], m: usize) -> (usize, usize, Vec<u8>) {
    let factor = ScalingFactor::new(m, 8);
    let mut decompressor = Decompressor::new().unwrap();
    let header = decompressor.read_header(jpeg).unwrap();
    decompressor.set_scaling_factor(factor).unwrap();
    let (w, h) = (factor.scale(header.width), factor.scale(header.height));
    let mut data = vec![0u8; w * h * 3];
    let image = Image { pixels: data.as_mut_slice(), width: w, pitch: w * 3, height: h, format: PixelFormat::RGB };
    decompressor.decompress(jpeg, image).unwrap();
    (w, h, data)
}

fn jpeg_decode(c: &mut Criterion) {
    for name in JPEGS {
        let bytes = bench_image(name);
        let mut group = c.benchmark_group(format!("jpeg-decode/{name}"));
        group.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
        for m in 1..=8 {
            group.bench_with_input(BenchmarkId::new("libjpeg-turbo-eighths", m), &m, |b, &m| {
                b.iter(|| turbo_decode(&bytes, m));
            });
        }
        group.bench_function("zune-jpeg-full", |b| {
            b.iter(|| zune_jpeg::JpegDecoder::new(zune_core::bytestream::ZCursor::new(&bytes[..])).decode().unwrap());
        });
        group.finish();
    }
}

fn jpeg_encode(c: &mut Criterion) {
    for name in JPEGS {
        // A thumbnail-sized photo: the source at 1/4.
        let (w, h, rgb) = turbo_decode(&bench_image(name), 2);
        let mut group = c.benchmark_group(format!("jpeg-encode/{w}x{h}"));
        group.sample_size(20).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(2));
        group.bench_function("libjpeg-turbo", |b| {
            b.iter(|| {
                let mut compressor = Compressor::new().unwrap();
                compressor.set_quality(80).unwrap();
                compressor.set_subsamp(Subsamp::Sub2x2).unwrap();
                let image =
                    Image { pixels: rgb.as_slice(), width: w, pitch: w * 3, height: h, format: PixelFormat::RGB };
                compressor.compress_to_vec(image).unwrap()
            });
        });
        group.bench_function("jpeg-encoder", |b| {
            b.iter(|| {
                let mut out = Vec::new();
                let mut encoder = jpeg_encoder::Encoder::new(&mut out, 80);
                encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
                encoder.encode(&rgb, w as u16, h as u16, jpeg_encoder::ColorType::Rgb).unwrap();
                out
            });
        });
        group.finish();
    }
}

fn png_decode(c: &mut Criterion) {
    let bytes = bench_image("alpha2mp.png");
    let mut group = c.benchmark_group("png-decode/alpha2mp.png");
    group.sample_size(20).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    group.bench_function("png-crate", |b| {
        b.iter(|| {
            let mut reader = png::Decoder::new(std::io::Cursor::new(&bytes[..])).read_info().unwrap();
            let mut buf = vec![0u8; reader.output_buffer_size().unwrap()];
            reader.next_frame(&mut buf).unwrap();
            buf
        });
    });
    group.bench_function("thumbnail", |b| b.iter(|| stages::decode(&bytes).unwrap()));
    group.finish();
}

criterion_group!(codecs, jpeg_decode, jpeg_encode, png_decode);
criterion_main!(codecs);
