/*
 * spec: thumbnail_spec_canonical() on the input as spec text (any bytes:
 * specs arrive from URLs). Seeds and fuzz/spec.dict give the grammar.
 *
 * Checked: OK or INVALID_SPEC only; the canonical string fits in
 * THUMBNAIL_SPEC_CANONICAL_MAX, is what `written` says, is itself valid and
 * its own canonical form; the length query and a buffer one byte short give
 * BUFFER_TOO_SMALL with the same length; error messages in buffers of every
 * size are NUL-terminated, UTF-8, free of control characters (the input is
 * quoted into them, and they reach logs).
 */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *spec = (const char *)data;
    char out[THUMBNAIL_SPEC_CANONICAL_MAX + 16];
    char err[FZ_ERR_LEN];
    size_t written = 12345;

    memset(out, 0x7e, sizeof out);
    memset(err, FZ_ERR_FILL, sizeof err);
    thumbnail_status st = thumbnail_spec_canonical(spec, size, out, sizeof out, &written, err, sizeof err);
    fz_check_err(st, err, sizeof err);
    FZ_CHECK(st == THUMBNAIL_STATUS_OK || st == THUMBNAIL_STATUS_INVALID_SPEC, "returned %d %s: %s", (int)st,
             thumbnail_status_name(st), err);

    /* The error message again, in a small buffer (size from the input). */
    size_t small = size ? 1 + data[size - 1] % 40 : 1;
    char serr[48];
    memset(serr, FZ_ERR_FILL, sizeof serr);
    thumbnail_status st2 = thumbnail_spec_canonical(spec, size, NULL, 0, NULL, serr, small);
    if (st == THUMBNAIL_STATUS_OK) {
        FZ_CHECK(st2 == THUMBNAIL_STATUS_BUFFER_TOO_SMALL, "length query: %s", thumbnail_status_name(st2));
    } else {
        FZ_CHECK(st2 == st, "second parse: %s", thumbnail_status_name(st2));
        fz_check_err(st2, serr, small);
        FZ_CHECK(strncmp(serr, err, strlen(serr)) == 0, "short message '%s' is not a prefix of '%s'", serr, err);
        FZ_CHECK(written == 0, "written %zu on an invalid spec", written);
        FZ_CHECK((unsigned char)out[0] == 0x7e, "out written on an invalid spec");
        return 0;
    }

    FZ_CHECK(written < THUMBNAIL_SPEC_CANONICAL_MAX, "canonical of %zu bytes", written);
    FZ_CHECK(strlen(out) == written, "written %zu, strlen %zu", written, strlen(out));
    for (size_t i = 0; i < written; i++) {
        unsigned char c = (unsigned char)out[i];
        FZ_CHECK(c > 0x20 && c < 0x7f && c != '/' && c != '?' && c != '%',
                 "byte 0x%02x in canonical '%s'", c, out);
    }
    /* Idempotent: the canonical string is valid and canonical. */
    char again[THUMBNAIL_SPEC_CANONICAL_MAX];
    size_t written2 = 0;
    thumbnail_status st3 = thumbnail_spec_canonical(out, written, again, sizeof again, &written2, err, sizeof err);
    FZ_CHECK(st3 == THUMBNAIL_STATUS_OK, "canonical '%s' is not valid: %s", out, err);
    FZ_CHECK(written2 == written && memcmp(again, out, written + 1) == 0, "canonical '%s' becomes '%s'", out,
             again);

    /* One byte short: BUFFER_TOO_SMALL, an empty string, the same length. */
    char shortbuf[THUMBNAIL_SPEC_CANONICAL_MAX];
    memset(shortbuf, 0x7e, sizeof shortbuf);
    size_t written3 = 0;
    thumbnail_status st4 = thumbnail_spec_canonical(spec, size, shortbuf, written, &written3, NULL, 0);
    FZ_CHECK(st4 == THUMBNAIL_STATUS_BUFFER_TOO_SMALL && written3 == written &&
                 (written == 0 || shortbuf[0] == '\0') && (unsigned char)shortbuf[written] == 0x7e,
             "a buffer of %zu: %s, written %zu", written, thumbnail_status_name(st4), written3);
    return 0;
}
