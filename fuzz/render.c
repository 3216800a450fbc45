/*
 * render: thumbnail_render() or thumbnail_render_ex() with a spec chosen
 * from the input. The first FZ_SPEC_BYTES bytes choose the spec
 * (fz_spec_from: box, fit, gravity or attention/entropy/focus, format
 * including webp/avif/auto, quality, background, enlarge, progressive,
 * noorient, rotate/flip/flop, sharpen/blur, anim, wm, option order), the
 * strict limit, and whether a watermark overlay (made once, apply=always
 * or apply=wm) goes with the render; the rest is the source image, so
 * every decoder path is reachable (libjpeg-turbo at each DCT scale and its
 * DC-only progressive path, the libdeflate PNG fast path and the png
 * crate, the gif crate's frames, libwebp still and animated, moxcms for
 * ICC profiles), then resize, smart crop, filters, orientation,
 * composition, the watermark and the JPEG, PNG and WebP encoders (animated
 * WebP for `anim`).
 *
 * Checked: the status is one render may return and agrees with
 * thumbnail_probe() of the same bytes (unsupported stays unsupported, a
 * header over the pixel limit is too-large) and with
 * thumbnail_spec_canonical() (invalid-spec exactly for an invalid spec, or
 * `wm` without an overlay); an OK image has the format and size the spec
 * asks for and probes back as such (fz_check_image).
 */
#include "fuzz.h"

static thumbnail_overlay *overlays[2];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fz_make_overlays(overlays);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const thumbnail_status allowed[] = {THUMBNAIL_STATUS_OK, THUMBNAIL_STATUS_UNSUPPORTED,
                                               THUMBNAIL_STATUS_CORRUPT, THUMBNAIL_STATUS_TOO_LARGE,
                                               THUMBNAIL_STATUS_INVALID_SPEC};
    if (size < FZ_SPEC_BYTES) return -1; /* not worth keeping in the corpus */
    if (!overlays[0]) LLVMFuzzerInitialize(NULL, NULL);
    fz_spec spec;
    fz_spec_from(data, &spec);
    const uint8_t *src = data + FZ_SPEC_BYTES;
    size_t src_len = size - FZ_SPEC_BYTES;
    thumbnail_limits limits = fz_limits();
    limits.strict = spec.strict;

    thumbnail_info info;
    thumbnail_status probed = thumbnail_probe(src, src_len, &info, NULL, 0);
    FZ_CHECK(probed != THUMBNAIL_STATUS_INTERNAL, "probe: internal");

    thumbnail_image *img = (thumbnail_image *)(uintptr_t)1;
    char err[FZ_ERR_LEN];
    memset(err, FZ_ERR_FILL, sizeof err);
    thumbnail_status st;
    const thumbnail_overlay *overlay = NULL;
    if (spec.ex) {
        thumbnail_render_options opts = thumbnail_render_options_default();
        opts.limits = &limits;
        opts.overlay = overlay = overlays[spec.overlay];
        st = thumbnail_render_ex(src, src_len, spec.text, spec.len, &opts, &img, err, sizeof err);
    } else {
        st = thumbnail_render(src, src_len, spec.text, spec.len, &limits, &img, err, sizeof err);
    }
    fz_check_err(st, err, sizeof err);
    FZ_CHECK(fz_status_in(st, allowed, sizeof allowed / sizeof *allowed), "render %s returned %d %s: %s",
             spec.text, (int)st, thumbnail_status_name(st), err);
    FZ_CHECK((st == THUMBNAIL_STATUS_OK) == (img != NULL), "status %s with image %p",
             thumbnail_status_name(st), (void *)img);

    bool valid = fz_spec_valid(spec.text, spec.len);
    bool renders = valid && !(spec.wm && !overlay);
    FZ_CHECK(renders == (st != THUMBNAIL_STATUS_INVALID_SPEC),
             "render says %s, spec_canonical says %s for %s (overlay: %s)", thumbnail_status_name(st),
             valid ? "valid" : "invalid", spec.text, overlay ? "yes" : "none");

    if (renders) {
        if (probed == THUMBNAIL_STATUS_UNSUPPORTED) {
            FZ_CHECK(st == THUMBNAIL_STATUS_UNSUPPORTED, "probe unsupported, render %s: %s",
                     thumbnail_status_name(st), err);
        } else if (probed == THUMBNAIL_STATUS_CORRUPT) {
            FZ_CHECK(st == THUMBNAIL_STATUS_CORRUPT || st == THUMBNAIL_STATUS_TOO_LARGE,
                     "probe corrupt, render %s: %s", thumbnail_status_name(st), err);
        } else if ((uint64_t)info.width * info.height > limits.max_source_pixels) {
            FZ_CHECK(st == THUMBNAIL_STATUS_TOO_LARGE, "%ux%u over the pixel limit, render %s: %s",
                     info.width, info.height, thumbnail_status_name(st), err);
        }
        if (spec.fmt == FZ_FMT_GIVEN && spec.format == THUMBNAIL_FORMAT_AVIF && !thumbnail_avif_available())
            FZ_CHECK(st != THUMBNAIL_STATUS_OK, "AVIF output without the avif feature");
    }
    if (st == THUMBNAIL_STATUS_OK) {
        FZ_CHECK(probed == THUMBNAIL_STATUS_OK, "render OK of bytes probe calls %s",
                 thumbnail_status_name(probed));
        fz_check_image(img, &spec, &info, &limits);
    }
    thumbnail_image_free(img);
    return 0;
}
