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
 * milliseconds (bombs and big headers are refused from the header), loose
 * enough that the corpus's small and medium images decode. */
static inline thumbnail_limits fz_limits(void) {
    thumbnail_limits l = thumbnail_limits_default();
    l.max_source_bytes = 1u << 20;
    l.max_source_pixels = 1u << 20;
    l.max_output_width = 1024;
    l.max_output_height = 1024;
    return l;
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
    /* probe-png-wide-rows: thumbnail_probe() of a PNG whose rows need more
     * than the png crate's 16 MiB working memory returns too-large, which
     * probe's contract does not have. */
    return st == THUMBNAIL_STATUS_TOO_LARGE && len >= 8 && memcmp(src, "\x89PNG", 4) == 0 &&
           strcmp(err, "too-large: PNG exceeds decoder memory limit") == 0;
}

/* A spec string built from 4 input bytes, so that a render target explores
 * every option without wasting inputs on the parser (the spec target does
 * that). Mostly valid; what the parser says about it is checked against
 * thumbnail_spec_canonical(). */
typedef struct {
    char text[160];
    size_t len;
    uint32_t w, h; /* 0: not given */
    int fit;       /* 0 inside, 1 cover, 2 contain, 3 fill */
    int format;    /* 0 the source's, else THUMBNAIL_FORMAT_* */
    bool enlarge;
} fz_spec;

static const char *const fz_fits[4] = {"inside", "cover", "contain", "fill"};
static const char *const fz_gravities[9] = {"center",    "north",     "south",
                                            "east",      "west",      "northeast",
                                            "northwest", "southeast", "southwest"};

static inline void fz_spec_from(const uint8_t p[4], fz_spec *s) {
    uint32_t w = p[0], h = p[1];
    uint8_t sel = p[2], flags = p[3];
    const char *opts[10];
    char q[8], bg[12];
    size_t n = 0;

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
    unsigned grav = (sel >> 2) & 15;
    if (grav < 9 && (s->fit == 1 || s->fit == 2)) opts[n++] = fz_gravities[grav];
    switch ((sel >> 6) & 3) {
    case 0: s->format = 0; break;
    case 1: s->format = THUMBNAIL_FORMAT_JPEG; opts[n++] = "jpeg"; break;
    case 2: s->format = THUMBNAIL_FORMAT_PNG; opts[n++] = "png"; break;
    default: s->format = THUMBNAIL_FORMAT_JPEG; opts[n++] = "jpg"; break;
    }
    s->enlarge = flags & 1;
    if (flags & 1) opts[n++] = "enlarge";
    if (flags & 2) opts[n++] = "progressive";
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

/* Checks an image handle against the spec it was rendered with: size
 * within the limits and the box, the requested format, and a header that
 * thumbnail_probe() reads back as the same format and size. */
static inline void fz_check_image(const thumbnail_image *img, const fz_spec *s,
                                  thumbnail_format source_format, const thumbnail_limits *l) {
    FZ_CHECK(img != NULL, "OK without an image");
    const uint8_t *data = thumbnail_image_data(img);
    size_t len = thumbnail_image_len(img);
    uint32_t w = thumbnail_image_width(img), h = thumbnail_image_height(img);
    thumbnail_format f = thumbnail_image_format(img);
    FZ_CHECK(data != NULL && len > 0, "empty image");
    FZ_CHECK(w >= 1 && h >= 1 && w <= l->max_output_width && h <= l->max_output_height,
             "output %ux%u for spec %s", w, h, s->text);
    int want = s->format ? s->format : (int)source_format;
    FZ_CHECK((int)f == want, "format %d, wanted %d (spec %s)", (int)f, want, s->text);
    const char *mt = thumbnail_image_media_type(img);
    FZ_CHECK(mt && strcmp(mt, f == THUMBNAIL_FORMAT_JPEG ? "image/jpeg" : "image/png") == 0,
             "media type %s for format %d", mt ? mt : "(null)", (int)f);
    if (s->fit >= 2) {
        FZ_CHECK(w == s->w && h == s->h, "%s gave %ux%u for %s", fz_fits[s->fit], w, h, s->text);
    } else {
        FZ_CHECK((!s->w || w <= s->w) && (!s->h || h <= s->h), "%ux%u outside the box of %s", w, h,
                 s->text);
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
