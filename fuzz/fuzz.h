/*
 * fuzz.h: what the libFuzzer targets in fuzz/ share. Each target drives the
 * library only through include/thumbnail.h (the surface nginx, Lua, Go and
 * C hosts use) and abort()s on anything the header promises cannot happen:
 * an `internal` status (a caught panic or a library bug), a status a call
 * may not return, an error message that is not NUL-terminated, not UTF-8
 * or carries control characters (they reach logs), an output that breaks
 * the spec, or a cache answer that contradicts an earlier one. ASan finds
 * memory errors in the C code (libjpeg-turbo, libdeflate) and in what the
 * harness reads from the library's buffers; libFuzzer finds leaks,
 * timeouts and oversized allocations.
 *
 * The same files build without libFuzzer against the release library with
 * fuzz/replay.c (`make fuzz-regress`), which replays fuzz/regressions/.
 */
#ifndef THUMBNAIL_FUZZ_H
#define THUMBNAIL_FUZZ_H

#define _POSIX_C_SOURCE 200809L

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "thumbnail.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A finding: say what and where, then abort so libFuzzer saves the input. */
#define FZ_FAIL(...)                                                   \
    do {                                                               \
        fprintf(stderr, "\nFINDING %s:%d: ", __FILE__, __LINE__);      \
        fprintf(stderr, __VA_ARGS__);                                  \
        fputc('\n', stderr);                                           \
        abort();                                                       \
    } while (0)

#define FZ_CHECK(cond, ...)                                            \
    do {                                                               \
        if (!(cond)) {                                                 \
            fprintf(stderr, "\nFINDING %s:%d: check failed: %s\n  ",   \
                    __FILE__, __LINE__, #cond);                        \
            fprintf(stderr, __VA_ARGS__);                              \
            fputc('\n', stderr);                                       \
            abort();                                                   \
        }                                                              \
    } while (0)

/* Byte the error buffer is filled with before a call ("left untouched on
 * success" is checked against it). */
#define FZ_ERR_FILL 0x5a
#define FZ_ERR_LEN 512

/* Limits for the render targets: tight enough that every input renders in
 * milliseconds (bombs and big headers are refused from the header, short
 * animations only), loose enough that the corpus's small and medium
 * images decode. */
static inline thumbnail_limits fz_limits(void) {
    thumbnail_limits l = thumbnail_limits_default();
    l.max_source_bytes = 1u << 20;
    l.max_source_pixels = 1u << 20;
    l.max_output_width = 1024;
    l.max_output_height = 1024;
    l.max_output_bytes = 512u << 10;
    l.max_frames = 6;
    l.max_animation_pixels = 1u << 21;
    l.avif_speed = 10;
    return l;
}

/* The watermark overlays the render and cache targets pass to the _ex
 * calls: a 12x6 RGBA PNG, once with apply=always, once with apply=wm. */
static const uint8_t fz_overlay_png[] = {
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x06, 0x08, 0x06, 0x00, 0x00, 0x00, 0xf7, 0xee, 0x7f,
    0x81, 0x00, 0x00, 0x00, 0x8a, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x15, 0xce, 0x41, 0x11, 0x04,
    0x21, 0x0c, 0x05, 0x51, 0x44, 0x8c, 0x08, 0x44, 0x20, 0x22, 0x12, 0xe6, 0x80, 0x08, 0x44, 0x20,
    0x22, 0x22, 0x10, 0x11, 0x11, 0x78, 0xd9, 0x7d, 0x73, 0xe8, 0xea, 0xbe, 0xa4, 0xf2, 0x5b, 0x6b,
    0xf5, 0x3e, 0xad, 0x7e, 0x1d, 0x43, 0x07, 0x4f, 0x2c, 0xbd, 0x39, 0x71, 0x74, 0xf1, 0x45, 0x6b,
    0xbd, 0x7e, 0x0f, 0x7a, 0xaf, 0x77, 0x70, 0x60, 0xea, 0xc5, 0x1b, 0xa9, 0x0f, 0x17, 0xae, 0x6e,
    0x2d, 0x1c, 0x44, 0xbd, 0x9d, 0x07, 0x42, 0x4f, 0x5e, 0xd8, 0x3a, 0xf9, 0xa0, 0xf4, 0x8d, 0xef,
    0xc3, 0x32, 0x69, 0xf9, 0x80, 0xa1, 0x83, 0x27, 0x96, 0xde, 0x9c, 0x38, 0xba, 0xf8, 0xae, 0xef,
    0x20, 0x7d, 0x40, 0x4f, 0x93, 0x38, 0x30, 0xf5, 0xe2, 0x8d, 0xd4, 0x87, 0x0b, 0x37, 0xbf, 0x49,
    0xe5, 0xa0, 0x4c, 0xe2, 0x81, 0xd0, 0x93, 0x17, 0xb6, 0x4e, 0x3e, 0x28, 0x7d, 0xf9, 0x0f, 0x54,
    0x0b, 0xac, 0x21, 0x0b, 0x25, 0x33, 0xb6, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82};

static inline void fz_make_overlays(thumbnail_overlay *out[2]) {
    static const char *const options[2] = {"gravity=southeast margin=2 opacity=0.7 scale=0.3",
                                            "gravity=center,opacity=0.5,apply=wm"};
    for (int i = 0; i < 2; i++) {
        char err[FZ_ERR_LEN] = "";
        if (thumbnail_overlay_new(fz_overlay_png, sizeof fz_overlay_png, options[i], strlen(options[i]),
                                  &out[i], err, sizeof err) != THUMBNAIL_STATUS_OK) {
            fprintf(stderr, "fuzz: thumbnail_overlay_new: %s\n", err);
            abort();
        }
    }
}

/* Whether `s` (n bytes) is well-formed UTF-8 (no overlongs, surrogates or
 * code points past U+10FFFF). */
static inline bool fz_utf8(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len;
        unsigned min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            len = 2, min = 0x80, c &= 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3, min = 0x800, c &= 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4, min = 0x10000, c &= 0x07;
        } else {
            return false;
        }
        if (i + len > n) return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return false;
            c = (c << 6) | (s[i + k] & 0x3f);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) return false;
        i += len;
    }
    return true;
}

/* Checks the error buffer after a call that returned `st`: untouched on
 * success; otherwise a NUL within err_len, well-formed UTF-8, no control
 * characters, and `name: ` of the status first (as much of it as fits). */
static inline void fz_check_err(thumbnail_status st, const char *err, size_t err_len) {
    if (err_len == 0) return;
    if (st == THUMBNAIL_STATUS_OK) {
        FZ_CHECK((unsigned char)err[0] == FZ_ERR_FILL, "success wrote the error buffer");
        return;
    }
    const char *nul = memchr(err, 0, err_len);
    FZ_CHECK(nul != NULL, "error message not NUL-terminated within %zu bytes", err_len);
    size_t n = (size_t)(nul - err);
    FZ_CHECK(fz_utf8((const unsigned char *)err, n), "error message is not UTF-8: %s", err);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)err[i];
        FZ_CHECK(c >= 0x20 && c != 0x7f, "control byte 0x%02x in error message: %s", c, err);
    }
    char want[64];
    int w = snprintf(want, sizeof want, "%s: ", thumbnail_status_name(st));
    size_t cmp = (size_t)w < n ? (size_t)w : n;
    FZ_CHECK(memcmp(err, want, cmp) == 0, "message does not start with '%s': %s", want, err);
    /* Truncation happens only when the message did not fit. */
    FZ_CHECK(n >= (size_t)w || n == err_len - 1, "message shorter than its status name: %s", err);
}

static inline bool fz_status_in(thumbnail_status st, const thumbnail_status *allowed, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (st == allowed[i]) return true;
    }
    return false;
}

/* Open findings, not fixed yet (fuzz/findings/, tests/fuzz_findings.rs):
 * the targets let exactly these pass so that a run keeps looking for
 * others. Each one is a bug; remove its case here when it is fixed. */
static inline bool fz_known(thumbnail_status st, const char *err, const uint8_t *src, size_t len) {
    /* None open. (probe-png-wide-rows, a too-large from thumbnail_probe()
     * for PNG rows over the png crate's working memory, is fixed:
     * fuzz/regressions/probe/png-wide-rows.) */
    (void)st, (void)err, (void)src, (void)len;
    return false;
}

/* A spec string built from FZ_SPEC_BYTES input bytes, so that a render
 * target explores every option without wasting inputs on the parser (the
 * spec target does that). Mostly valid; what the parser says about it is
 * checked against thumbnail_spec_canonical().
 *
 *   p[0], p[1]  box width, height (0: not given); focus X, Y; quality, bg
 *   p[2]        fit (& 3), gravity (>> 2 & 15, < 9), format (>> 6: source,
 *               jpeg, png, jpg)
 *   p[3]        1 enlarge, 2 progressive, 4 noorient, 8 q, 16 bg (32: RGB),
 *               64 options reversed, 128 big box (x 9)
 *   p[4]        rotate (& 3: none, 90, 180, 270), 4 flip, 8 flop,
 *               >> 4 & 3: sharpen[=N], blur=N, exp=; 64 the apply=wm
 *               overlay, 128 anim
 *   p[5]        & 3: cover's attention, entropy or focus=X,Y (instead of
 *               the gravity); >> 2 & 7: webp, auto, auto=webp, auto=avif,
 *               avif (else p[2]'s format); 32 wm; 64 thumbnail_render_ex
 *               with an overlay; 128 strict
 * Four zero bytes more keep a 4-byte prefix of before (the first 4 bytes
 * mean what they meant). */
#define FZ_SPEC_BYTES 6

enum { FZ_FMT_SOURCE, FZ_FMT_GIVEN, FZ_FMT_AUTO, FZ_FMT_AUTO_WEBP, FZ_FMT_AUTO_AVIF };

typedef struct {
    char text[224];
    size_t len;
    uint32_t w, h;   /* 0: not given */
    int fit;         /* 0 inside, 1 cover, 2 contain, 3 fill */
    int fmt;         /* FZ_FMT_* */
    int format;      /* FZ_FMT_GIVEN: THUMBNAIL_FORMAT_* */
    unsigned rotate; /* degrees */
    bool enlarge, noorient, anim, wm, strict;
    bool ex;     /* call the _ex function with overlays[overlay] */
    int overlay; /* 0 apply=always, 1 apply=wm */
} fz_spec;

static const char *const fz_fits[4] = {"inside", "cover", "contain", "fill"};
static const char *const fz_gravities[9] = {"center",    "north",     "south",
                                            "east",      "west",      "northeast",
                                            "northwest", "southeast", "southwest"};

static inline void fz_spec_from(const uint8_t p[FZ_SPEC_BYTES], fz_spec *s) {
    uint32_t w = p[0], h = p[1];
    uint8_t sel = p[2], flags = p[3], ops = p[4], more = p[5];
    const char *opts[20];
    char q[8], bg[12], focus[24], filter[16], rotate[16];
    size_t n = 0;

    memset(s, 0, sizeof *s);
    if (flags & 0x80) { /* big boxes: past the output limit, or enlarging */
        w *= 9;
        h *= 9;
    }
    if (w == 0 && h == 0) w = 64;
    s->fit = sel & 3;
    if (s->fit >= 2 && (w == 0 || h == 0)) { /* contain and fill need both sides */
        if (w == 0) w = h;
        else h = w;
    }
    s->w = w;
    s->h = h;
    if (s->fit != 0 || (sel & 0x30) == 0x30) opts[n++] = fz_fits[s->fit]; /* sometimes an explicit inside */
    unsigned grav = (sel >> 2) & 15, smart = more & 3;
    if (s->fit == 1 && smart) {
        if (smart == 1) opts[n++] = "attention";
        else if (smart == 2) opts[n++] = "entropy";
        else {
            unsigned fx = p[0] * 1000u / 255u, fy = p[1] * 1000u / 255u;
            snprintf(focus, sizeof focus, "focus=%u.%03u,%u.%03u", fx / 1000, fx % 1000, fy / 1000, fy % 1000);
            opts[n++] = focus;
        }
    } else if (grav < 9 && (s->fit == 1 || s->fit == 2)) {
        opts[n++] = fz_gravities[grav];
    }
    s->fmt = FZ_FMT_GIVEN;
    switch ((more >> 2) & 7) {
    case 1: s->format = THUMBNAIL_FORMAT_WEBP; opts[n++] = "webp"; break;
    case 2: s->fmt = FZ_FMT_AUTO; opts[n++] = "auto"; break;
    case 3: s->fmt = FZ_FMT_AUTO_WEBP; opts[n++] = "auto=webp"; break;
    case 4: s->fmt = FZ_FMT_AUTO_AVIF; opts[n++] = "auto=avif"; break;
    case 5: s->format = THUMBNAIL_FORMAT_AVIF; opts[n++] = "avif"; break;
    default:
        switch ((sel >> 6) & 3) {
        case 0: s->fmt = FZ_FMT_SOURCE; break;
        case 1: s->format = THUMBNAIL_FORMAT_JPEG; opts[n++] = "jpeg"; break;
        case 2: s->format = THUMBNAIL_FORMAT_PNG; opts[n++] = "png"; break;
        default: s->format = THUMBNAIL_FORMAT_JPEG; opts[n++] = "jpg"; break;
        }
    }
    s->enlarge = flags & 1;
    if (flags & 1) opts[n++] = "enlarge";
    if (flags & 2) opts[n++] = "progressive";
    s->noorient = flags & 4;
    if (flags & 4) opts[n++] = "noorient";
    if (flags & 8) {
        snprintf(q, sizeof q, "q%u", 1u + (unsigned)(p[0] ^ (p[1] * 3u)) % 100u);
        opts[n++] = q;
    }
    if (flags & 16) {
        if (flags & 32) snprintf(bg, sizeof bg, "bg=%03x", (unsigned)((p[1] << 4) | p[2]) & 0xfff);
        else snprintf(bg, sizeof bg, "bg=%02x%02x%02x", p[0], p[1], p[2]);
        opts[n++] = bg;
    }
    s->rotate = (ops & 3) * 90u;
    if (s->rotate) {
        snprintf(rotate, sizeof rotate, "rotate=%u", s->rotate);
        opts[n++] = rotate;
    }
    if (ops & 4) opts[n++] = "flip";
    if (ops & 8) opts[n++] = "flop";
    switch ((ops >> 4) & 3) {
    case 1: /* bare sharpen is level 2 */
        if (p[1] & 1) opts[n++] = "sharpen";
        else {
            snprintf(filter, sizeof filter, "sharpen=%u", 1u + p[1] % 5u);
            opts[n++] = filter;
        }
        break;
    case 2: /* sigma in output pixels: small for big boxes, to stay fast */
        snprintf(filter, sizeof filter, "blur=%u", 1u + (unsigned)(p[0] ^ p[2]) % ((flags & 0x80) ? 4u : 50u));
        opts[n++] = filter;
        break;
    case 3: /* signed-URL expiry: rendering ignores it */
        snprintf(filter, sizeof filter, "exp=%u", 1700000000u + ((unsigned)p[0] << 8 | p[1]));
        opts[n++] = filter;
        break;
    }
    s->overlay = (ops >> 6) & 1;
    s->anim = ops & 0x80;
    if (s->anim) opts[n++] = "anim";
    s->wm = more & 0x20;
    if (s->wm) opts[n++] = "wm";
    s->ex = more & 0x40;
    s->strict = more & 0x80;

    int len = 0;
    if (w) len += snprintf(s->text + len, sizeof s->text - len, "%u", w);
    len += snprintf(s->text + len, sizeof s->text - len, "x");
    if (h) len += snprintf(s->text + len, sizeof s->text - len, "%u", h);
    for (size_t i = 0; i < n; i++) { /* options in order, or reversed */
        const char *o = (flags & 64) ? opts[n - 1 - i] : opts[i];
        len += snprintf(s->text + len, sizeof s->text - len, ",%s", o);
    }
    s->len = (size_t)len;
}

/* The format the sniffer gives the first bytes (UNKNOWN: none it reads). */
static inline thumbnail_format fz_sniff(const uint8_t *d, size_t n) {
    if (n >= 3 && memcmp(d, "\xff\xd8\xff", 3) == 0) return THUMBNAIL_FORMAT_JPEG;
    if (n >= 8 && memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0) return THUMBNAIL_FORMAT_PNG;
    if (n >= 6 && (memcmp(d, "GIF87a", 6) == 0 || memcmp(d, "GIF89a", 6) == 0)) return THUMBNAIL_FORMAT_GIF;
    if (n >= 12 && memcmp(d, "RIFF", 4) == 0 && memcmp(d + 8, "WEBP", 4) == 0) return THUMBNAIL_FORMAT_WEBP;
    return THUMBNAIL_FORMAT_UNKNOWN;
}

static inline const char *fz_media_type(thumbnail_format f) {
    switch (f) {
    case THUMBNAIL_FORMAT_JPEG: return "image/jpeg";
    case THUMBNAIL_FORMAT_PNG: return "image/png";
    case THUMBNAIL_FORMAT_WEBP: return "image/webp";
    case THUMBNAIL_FORMAT_GIF: return "image/gif";
    case THUMBNAIL_FORMAT_AVIF: return "image/avif";
    default: return NULL;
    }
}

#define FZ_BIT(f) (1u << (unsigned)(f))

/* The formats an OK render of `src` (probed) as `s` may have, as a mask of
 * FZ_BIT(THUMBNAIL_FORMAT_*); src/pipeline.rs output_format(). `pixels`:
 * the output's, which decides between AVIF and WebP for auto=avif. */
static inline unsigned fz_formats(const fz_spec *s, const thumbnail_info *src, uint64_t pixels,
                                  const thumbnail_limits *l) {
    switch (s->fmt) {
    case FZ_FMT_GIVEN: return FZ_BIT(s->format);
    case FZ_FMT_AUTO: /* negotiated nothing: JPEG or PNG */
        if (src->format == THUMBNAIL_FORMAT_JPEG) return FZ_BIT(THUMBNAIL_FORMAT_JPEG);
        if (src->format == THUMBNAIL_FORMAT_WEBP && !src->has_alpha) return FZ_BIT(THUMBNAIL_FORMAT_JPEG);
        return FZ_BIT(THUMBNAIL_FORMAT_PNG);
    case FZ_FMT_AUTO_WEBP: return FZ_BIT(THUMBNAIL_FORMAT_WEBP);
    case FZ_FMT_AUTO_AVIF:
        /* AVIF for stills of at most avif_max_pixels, with the feature;
         * whether the source is animated, the header does not say */
        if (!thumbnail_avif_available()) return FZ_BIT(THUMBNAIL_FORMAT_WEBP);
        if (pixels > l->avif_max_pixels) return FZ_BIT(THUMBNAIL_FORMAT_WEBP);
        return FZ_BIT(THUMBNAIL_FORMAT_AVIF) | (s->anim ? FZ_BIT(THUMBNAIL_FORMAT_WEBP) : 0);
    default: /* the source's; GIF becomes PNG, or WebP when animated with anim */
        if (src->format == THUMBNAIL_FORMAT_GIF)
            return FZ_BIT(THUMBNAIL_FORMAT_PNG) | (s->anim ? FZ_BIT(THUMBNAIL_FORMAT_WEBP) : 0);
        return FZ_BIT(src->format);
    }
}

/* Whether thumbnail_spec_canonical() accepts the spec; aborts if it
 * returns anything but OK or INVALID_SPEC. */
static inline bool fz_spec_valid(const char *spec, size_t len) {
    char out[THUMBNAIL_SPEC_CANONICAL_MAX];
    size_t written = 0;
    thumbnail_status st = thumbnail_spec_canonical(spec, len, out, sizeof out, &written, NULL, 0);
    FZ_CHECK(st == THUMBNAIL_STATUS_OK || st == THUMBNAIL_STATUS_INVALID_SPEC,
             "spec_canonical returned %s", thumbnail_status_name(st));
    return st == THUMBNAIL_STATUS_OK;
}

/* Checks an image handle against the spec it was rendered with and the
 * probe of its source: the format src/pipeline.rs output_format() gives;
 * size within the limits and the box; for contain and fill exactly the
 * box; for inside the source's displayed size when it fits and nothing is
 * enlarged, else a given side of the box exactly; for cover never more
 * than the source without enlarge, the given sides with it. Displayed
 * size: the stored one, swapped once for an EXIF orientation 5..8 (unless
 * noorient) and once more for rotate=90/270 (src/geometry.rs plans in the
 * frame after both; flip and flop swap nothing). The header probes back
 * as the same format and size (AVIF is not read: its box only). */
static inline void fz_check_image(const thumbnail_image *img, const fz_spec *s, const thumbnail_info *src,
                                  const thumbnail_limits *l) {
    FZ_CHECK(img != NULL, "OK without an image");
    const uint8_t *data = thumbnail_image_data(img);
    size_t len = thumbnail_image_len(img);
    uint32_t w = thumbnail_image_width(img), h = thumbnail_image_height(img);
    thumbnail_format f = thumbnail_image_format(img);
    FZ_CHECK(data != NULL && len > 0, "empty image");
    FZ_CHECK(!l->max_output_bytes || len <= l->max_output_bytes, "%zu bytes over max_output_bytes %llu", len,
             (unsigned long long)l->max_output_bytes);
    FZ_CHECK(w >= 1 && h >= 1 && w <= l->max_output_width && h <= l->max_output_height,
             "output %ux%u for spec %s", w, h, s->text);
    unsigned want = fz_formats(s, src, (uint64_t)w * h, l);
    FZ_CHECK(f >= 0 && f < 32 && (want & FZ_BIT(f)), "format %d, wanted mask 0x%x (spec %s, source format %d)",
             (int)f, want, s->text, (int)src->format);
    const char *mt = thumbnail_image_media_type(img);
    const char *want_mt = fz_media_type(f);
    FZ_CHECK(mt && want_mt && strcmp(mt, want_mt) == 0, "media type %s for format %d", mt ? mt : "(null)",
             (int)f);

    uint32_t sw = src->width, sh = src->height;
    bool swap = (!s->noorient && src->orientation >= 5) != (s->rotate == 90 || s->rotate == 270);
    if (swap) {
        uint32_t t = sw;
        sw = sh;
        sh = t;
    }
    FZ_CHECK((!s->w || w <= s->w) && (!s->h || h <= s->h), "%ux%u outside the box of %s", w, h, s->text);
    if (s->fit >= 2) {
        FZ_CHECK(w == s->w && h == s->h, "%s gave %ux%u for %s", fz_fits[s->fit], w, h, s->text);
    } else if (s->fit == 0) {
        bool fits = (!s->w || sw <= s->w) && (!s->h || sh <= s->h);
        if (fits && !s->enlarge)
            FZ_CHECK(w == sw && h == sh, "%s of a %ux%u (displayed) source gave %ux%u", s->text, sw, sh, w, h);
        else
            FZ_CHECK((s->w && w == s->w) || (s->h && h == s->h), "%s of a %ux%u (displayed) source gave %ux%u",
                     s->text, sw, sh, w, h);
    } else if (s->enlarge) {
        FZ_CHECK((!s->w || w == s->w) && (!s->h || h == s->h), "%s of a %ux%u (displayed) source gave %ux%u",
                 s->text, sw, sh, w, h);
    } else {
        FZ_CHECK(w <= sw && h <= sh, "%s of a %ux%u (displayed) source gave %ux%u", s->text, sw, sh, w, h);
    }

    if (f == THUMBNAIL_FORMAT_AVIF) {
        FZ_CHECK(len >= 12 && memcmp(data + 4, "ftyp", 4) == 0, "AVIF output without ftyp");
        return;
    }
    thumbnail_info info;
    char err[FZ_ERR_LEN];
    thumbnail_status st = thumbnail_probe(data, len, &info, err, sizeof err);
    FZ_CHECK(st == THUMBNAIL_STATUS_OK, "the output does not probe: %s", err);
    FZ_CHECK(info.format == f && info.width == w && info.height == h && info.orientation == 1,
             "output probes as format %d %ux%u orientation %u, handle says %d %ux%u", (int)info.format,
             info.width, info.height, info.orientation, (int)f, w, h);
    FZ_CHECK(!(f == THUMBNAIL_FORMAT_JPEG && info.has_alpha), "JPEG output with alpha");
}

#endif
