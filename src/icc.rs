//! Embedded colour profiles to sRGB, through moxcms (pure Rust, the engine
//! Chromium ships).
//!
//! A decoder hands over what it found ([`Found`]): the profile's bytes
//! (JPEG APP2 chunks reassembled with a cap, PNG iCCP inflated with a cap),
//! a profile made from PNG gAMA, a broken one, or none. [`Found::into_profile`]
//! turns it into a [`Profile`]: a transform looked up by the profile's hash
//! in a small bounded cache, built on a miss (a matrix/TRC one in well
//! under a millisecond, a CMYK LUT one in ~16 ms). A profile that is sRGB
//! in effect (its transform moves no probe colour by more than one level)
//! gives no `Profile`, so sRGB sources cost a hash and a lookup.
//!
//! RGB and gray profiles are applied after resizing, to the thumbnail
//! ([`apply`]): the transform then costs the thumbnail's pixels, not the
//! source's, which is what libvips's thumbnail does. CMYK ones are applied
//! at decode ([`cmyk_to_srgb`]), at the reduced DCT size, because the
//! pipeline resizes only gray, RGB and RGBA.
//!
//! Rendering intent: relative colorimetric (as libvips), which for
//! matrix/TRC profiles is the only one. A profile that does not parse,
//! does not match the pixels (an RGB profile on a gray JPEG) or cannot be
//! built never fails the image: it is treated as sRGB and reported as a
//! warning ([`render_with_warnings`](crate::render_with_warnings)). Output is
//! sRGB with no profile embedded.

use std::sync::{Arc, OnceLock};

use hashbrown::HashMap;
use moxcms::{ColorProfile, DataColorSpace, Layout as CmsLayout, RenderingIntent, ToneReprCurve, TransformOptions};
use parking_lot::Mutex;

use crate::pixels::{Layout, Pixels};

/// Profiles built and kept at once; past this the cache starts over (a
/// server sees a handful of distinct profiles: sRGB, Display P3, Adobe
/// RGB, a few CMYK ones).
const CACHE_ENTRIES: usize = 64;

/// What a decoder found about the source's colour space.
#[derive(Debug)]
pub(crate) enum Found {
    /// No colour information: sRGB.
    None,
    /// An embedded ICC profile.
    Bytes(Vec<u8>),
    /// PNG gAMA without iCCP or sRGB: a pure power law (the file's gamma,
    /// e.g. 1.0 for linear data) with sRGB primaries, as browsers read it.
    Gamma(f32),
    /// Colour information that cannot be used; the image is treated as sRGB.
    Broken(String),
}

/// A built transform to sRGB; the identity is never one.
#[derive(Clone)]
pub(crate) struct Profile(Arc<Transform>);

enum Transform {
    /// RGB in, sRGB out (RGB or RGBA layouts; alpha passes through).
    Rgb(Arc<moxcms::Transform8BitExecutor>, Arc<moxcms::Transform8BitExecutor>),
    /// One table for every colour channel: a gray profile (gray in, sRGB
    /// gray out) or a PNG gamma (same primaries as sRGB, so channels map
    /// independently).
    Table(Box<[u8; 256]>),
    /// CMYK (ink amounts, 0 = none) in, sRGB out.
    Cmyk(Arc<moxcms::Transform8BitExecutor>),
    /// sRGB in effect: nothing to do.
    Identity,
    /// Does not build; the reason is reported once per render.
    Unusable(String),
}

impl Profile {
    pub(crate) fn is_cmyk(&self) -> bool {
        matches!(*self.0, Transform::Cmyk(_))
    }
}

impl Found {
    /// The transform for this colour information, from the cache or built;
    /// `None` for sRGB, and for anything unusable (with a warning).
    pub(crate) fn into_profile(self, warnings: &mut Vec<String>) -> Option<Profile> {
        let transform = match self {
            Found::None => return None,
            Found::Broken(why) => {
                warnings.push(format!("{why}; treated as sRGB"));
                return None;
            }
            Found::Bytes(bytes) => cached(Key::Icc(profile_hash(&bytes)), || build_from_icc(&bytes)),
            Found::Gamma(gamma) => cached(Key::Gamma(gamma.to_bits()), || build_from_gamma(gamma)),
        };
        match &*transform {
            Transform::Identity => None,
            Transform::Unusable(why) => {
                warnings.push(format!("ICC profile unusable ({why}); treated as sRGB"));
                None
            }
            _ => Some(Profile(transform)),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    Icc(u64),
    Gamma(u32),
}

/// A 64-bit hash of a profile under a per-process random seed, so that a
/// file cannot be crafted to collide with a common profile and have its
/// transform cached in that profile's place.
fn profile_hash(bytes: &[u8]) -> u64 {
    static SEED: OnceLock<foldhash::quality::RandomState> = OnceLock::new();
    std::hash::BuildHasher::hash_one(SEED.get_or_init(Default::default), bytes)
}

fn cached(key: Key, build: impl FnOnce() -> Transform) -> Arc<Transform> {
    type Map = HashMap<Key, Arc<Transform>, foldhash::fast::FixedState>;
    static CACHE: OnceLock<Mutex<Map>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(Map::default()));
    if let Some(t) = cache.lock().get(&key) {
        return Arc::clone(t);
    }
    // Built outside the lock: two renders of a new profile may both build it.
    let built = Arc::new(build());
    let mut map = cache.lock();
    if map.len() >= CACHE_ENTRIES {
        map.clear();
    }
    Arc::clone(map.entry(key).or_insert(built))
}

fn options() -> TransformOptions {
    TransformOptions { rendering_intent: RenderingIntent::RelativeColorimetric, ..TransformOptions::default() }
}

/// sRGB's transfer function, for a gray destination.
fn srgb_gray() -> ColorProfile {
    let mut gray = ColorProfile::new_gray_with_gamma(2.2);
    gray.gray_trc = Some(ToneReprCurve::Parametric(vec![2.4, 1. / 1.055, 0.055 / 1.055, 1. / 12.92, 0.04045]));
    gray
}

fn build_from_icc(bytes: &[u8]) -> Transform {
    match ColorProfile::new_from_slice(bytes) {
        Ok(profile) => build(&profile),
        Err(e) => Transform::Unusable(format!("{e:?}")),
    }
}

/// gAMA stores the encoding exponent (0.45455 for the usual 1/2.2): a
/// sample v decodes to linear (v/255)^(1/gamma), which sRGB's curve then
/// encodes. Within 2% of 1/2.2 it is taken as sRGB, as libvips and
/// ImageMagick take it (those files mean sRGB; the curves differ by at
/// most a few levels in the shadows).
fn build_from_gamma(gamma: f32) -> Transform {
    if !(gamma.is_finite() && (0.01..=100.0).contains(&gamma)) {
        return Transform::Unusable(format!("gAMA {gamma}"));
    }
    if (gamma * 2.2 - 1.0).abs() < 0.02 {
        return Transform::Identity;
    }
    let decode = 1.0 / f64::from(gamma);
    let mut table = Box::new([0u8; 256]);
    for (v, out) in table.iter_mut().enumerate() {
        let linear = (v as f64 / 255.0).powf(decode);
        let encoded = if linear <= 0.003_130_8 { 12.92 * linear } else { 1.055 * linear.powf(1.0 / 2.4) - 0.055 };
        *out = (encoded * 255.0).round().clamp(0.0, 255.0) as u8;
    }
    table_or_identity(table)
}

fn table_or_identity(table: Box<[u8; 256]>) -> Transform {
    let identity = table.iter().enumerate().all(|(i, &v)| (i as i32 - i32::from(v)).abs() <= 1);
    if identity { Transform::Identity } else { Transform::Table(table) }
}

fn build(profile: &ColorProfile) -> Transform {
    let srgb = ColorProfile::new_srgb();
    let result = match profile.color_space {
        DataColorSpace::Rgb => {
            profile.create_transform_8bit(CmsLayout::Rgb, &srgb, CmsLayout::Rgb, options()).and_then(|rgb| {
                let rgba = profile.create_transform_8bit(CmsLayout::Rgba, &srgb, CmsLayout::Rgba, options())?;
                Ok(if moves_nothing_rgb(&*rgb) { Transform::Identity } else { Transform::Rgb(rgb, rgba) })
            })
        }
        DataColorSpace::Gray => {
            profile.create_transform_8bit(CmsLayout::Gray, &srgb_gray(), CmsLayout::Gray, options()).and_then(|t| {
                let ramp: Vec<u8> = (0..=255).collect();
                let mut table = Box::new([0u8; 256]);
                t.transform(&ramp, &mut table[..])?;
                Ok(table_or_identity(table))
            })
        }
        DataColorSpace::Cmyk => {
            profile.create_transform_8bit(CmsLayout::Rgba, &srgb, CmsLayout::Rgb, options()).map(Transform::Cmyk)
        }
        other => return Transform::Unusable(format!("{other:?} data")),
    };
    result.unwrap_or_else(|e| Transform::Unusable(format!("{e:?}")))
}

/// Whether an RGB transform leaves every probe colour (a 16-step cube) within
/// one level: an sRGB profile, or one close enough not to matter.
fn moves_nothing_rgb(t: &dyn moxcms::TransformExecutor<u8>) -> bool {
    let mut probe = Vec::with_capacity(16 * 16 * 16 * 3);
    for r in 0..16u8 {
        for g in 0..16u8 {
            for b in 0..16u8 {
                probe.extend([r * 17, g * 17, b * 17]);
            }
        }
    }
    let mut out = vec![0u8; probe.len()];
    t.transform(&probe, &mut out).is_ok() && probe.iter().zip(&out).all(|(&a, &b)| a.abs_diff(b) <= 1)
}

/// Converts `pixels` (a thumbnail) to sRGB in place. A profile that does
/// not fit the layout (a table fits any; an RGB profile on gray pixels
/// does not) leaves the pixels and
/// returns a warning.
pub(crate) fn apply(profile: &Profile, pixels: &mut Pixels) -> Option<String> {
    match (&*profile.0, pixels.layout) {
        (Transform::Table(table), layout) => {
            let channels = layout.channels();
            let colour = if layout == Layout::Rgba { 3 } else { channels };
            for px in pixels.data.chunks_exact_mut(channels) {
                px[..colour].iter_mut().for_each(|v| *v = table[usize::from(*v)]);
            }
            None
        }
        (Transform::Rgb(rgb, rgba), Layout::Rgb | Layout::Rgba) => {
            let t = if pixels.layout == Layout::Rgb { rgb } else { rgba };
            let mut out = vec![0u8; pixels.data.len()];
            match t.transform(&pixels.data, &mut out) {
                Ok(()) => {
                    pixels.data = out;
                    None
                }
                Err(e) => Some(format!("ICC transform failed ({e:?}); treated as sRGB")),
            }
        }
        (Transform::Rgb(..), Layout::Gray) => Some("RGB ICC profile on a gray image; treated as sRGB".into()),
        _ => Some("ICC profile does not fit the image; treated as sRGB".into()),
    }
}

/// CMYK samples in the inverted (Adobe) convention, 255 = no ink, through a
/// CMYK profile to sRGB; `None` (with a warning) when the profile is not a
/// CMYK one or the transform fails, and the caller uses the naive formula.
pub(crate) fn cmyk_to_srgb(profile: &Profile, inverted_cmyk: &[u8], warnings: &mut Vec<String>) -> Option<Vec<u8>> {
    let Transform::Cmyk(t) = &*profile.0 else { return None };
    let ink: Vec<u8> = inverted_cmyk.iter().map(|&v| 255 - v).collect();
    let mut rgb = vec![0u8; ink.len() / 4 * 3];
    match t.transform(&ink, &mut rgb) {
        Ok(()) => Some(rgb),
        Err(e) => {
            warnings.push(format!("CMYK ICC transform failed ({e:?}); naive conversion used"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srgb_is_the_identity_and_p3_is_not() {
        let srgb = ColorProfile::new_srgb().encode().unwrap();
        assert!(Found::Bytes(srgb).into_profile(&mut Vec::new()).is_none());
        let p3 = ColorProfile::new_display_p3().encode().unwrap();
        let profile = Found::Bytes(p3).into_profile(&mut Vec::new()).expect("P3 is not sRGB");
        // P3's pure red lies outside sRGB: it clips to sRGB red.
        let mut px = Pixels::new(1, 1, Layout::Rgb, vec![255, 0, 0]);
        assert_eq!(apply(&profile, &mut px), None);
        assert!(px.data[0] == 255 && px.data[1] < 8 && px.data[2] < 8, "{:?}", px.data);
        // A mid P3 green is a more saturated sRGB green.
        let mut px = Pixels::new(1, 1, Layout::Rgb, vec![60, 160, 60]);
        apply(&profile, &mut px);
        assert!(px.data[1] > 160 && px.data[0] < 60, "{:?}", px.data);
    }

    #[test]
    fn a_broken_profile_is_srgb_with_a_warning() {
        let mut warnings = Vec::new();
        assert!(Found::Bytes(b"not a profile at all".to_vec()).into_profile(&mut warnings).is_none());
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        let mut truncated = ColorProfile::new_display_p3().encode().unwrap();
        truncated.truncate(200);
        assert!(Found::Bytes(truncated).into_profile(&mut warnings).is_none());
        assert_eq!(warnings.len(), 2, "{warnings:?}");
    }

    #[test]
    fn linear_gamma_brightens_mid_gray() {
        let profile = Found::Gamma(1.0).into_profile(&mut Vec::new()).expect("linear is not sRGB");
        let mut px = Pixels::new(1, 1, Layout::Gray, vec![50]);
        apply(&profile, &mut px);
        // linear 50/255 is sRGB ~124
        assert!((120..=128).contains(&px.data[0]), "{:?}", px.data);
        assert!(Found::Gamma(0.45455).into_profile(&mut Vec::new()).is_none());
    }
}
