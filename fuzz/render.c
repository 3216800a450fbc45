/*
 * render: thumbnail_render() with a spec chosen from the input. The first
 * 4 bytes choose the spec (fz_spec_from: box, fit, gravity, format,
 * quality, background, enlarge, progressive, noorient, option order); the
 * rest is the source image, so every decoder path is reachable (libjpeg-
 * turbo at each DCT scale and its DC-only progressive path, zune-jpeg for
 * CMYK and what libjpeg-turbo rejects, the libdeflate PNG fast path and the
 * png crate), then resize, orientation, composition and both encoders.
 *
 * Checked: the status is one render may return and agrees with
 * thumbnail_probe() of the same bytes (unsupported stays unsupported, a
 * header over the pixel limit is too-large); an OK image has the format
 * and size the spec asks for and probes back as such.
 */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const thumbnail_status allowed[] = {THUMBNAIL_STATUS_OK, THUMBNAIL_STATUS_UNSUPPORTED,
                                               THUMBNAIL_STATUS_CORRUPT, THUMBNAIL_STATUS_TOO_LARGE,
                                               THUMBNAIL_STATUS_INVALID_SPEC};
    if (size < 4) return -1; /* not worth keeping in the corpus */
    fz_spec spec;
    fz_spec_from(data, &spec);
    const uint8_t *src = data + 4;
    size_t src_len = size - 4;
    thumbnail_limits limits = fz_limits();

    thumbnail_info info;
    thumbnail_status probed = thumbnail_probe(src, src_len, &info, NULL, 0);
    FZ_CHECK(probed != THUMBNAIL_STATUS_INTERNAL, "probe: internal");

    thumbnail_image *img = (thumbnail_image *)(uintptr_t)1;
    char err[FZ_ERR_LEN];
    memset(err, FZ_ERR_FILL, sizeof err);
    thumbnail_status st = thumbnail_render(src, src_len, spec.text, spec.len, &limits, &img, err, sizeof err);
    fz_check_err(st, err, sizeof err);
    FZ_CHECK(fz_status_in(st, allowed, sizeof allowed / sizeof *allowed), "render %s returned %d %s: %s",
             spec.text, (int)st, thumbnail_status_name(st), err);
    FZ_CHECK((st == THUMBNAIL_STATUS_OK) == (img != NULL), "status %s with image %p",
             thumbnail_status_name(st), (void *)img);

    bool valid = fz_spec_valid(spec.text, spec.len);
    FZ_CHECK(valid == (st != THUMBNAIL_STATUS_INVALID_SPEC), "render says %s, spec_canonical says %s for %s",
             thumbnail_status_name(st), valid ? "valid" : "invalid", spec.text);

    if (valid) {
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
    }
    if (st == THUMBNAIL_STATUS_OK) {
        FZ_CHECK(probed == THUMBNAIL_STATUS_OK, "render OK of bytes probe calls %s",
                 thumbnail_status_name(probed));
        fz_check_image(img, &spec, info.format, &limits);
    }
    thumbnail_image_free(img);
    return 0;
}
