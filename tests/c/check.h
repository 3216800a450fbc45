/*
 * check.h: the tiny assertion helpers shared by the C API tests.
 * A failed check prints file:line and what failed, then exits with status 1.
 * Include it first: it selects POSIX before any system header.
 */
#ifndef THUMBNAIL_TEST_CHECK_H
#define THUMBNAIL_TEST_CHECK_H

#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "thumbnail.h"

#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            exit(1);                                                                \
        }                                                                           \
    } while (0)

/* Checks that `expr` returns status `want`; on failure prints both statuses
 * and the error buffer `err` (pass NULL when the call has none). */
#define CHECK_STATUS(expr, want, err)                                                     \
    do {                                                                                  \
        thumbnail_status got_ = (expr);                                                   \
        thumbnail_status want_ = (want);                                                  \
        if (got_ != want_) {                                                              \
            const char *msg_ = (err);                                                     \
            fprintf(stderr, "%s:%d: %s\n  returned %d (%s), want %d (%s)%s%s\n", __FILE__, \
                    __LINE__, #expr, (int)got_, thumbnail_status_name(got_), (int)want_,   \
                    thumbnail_status_name(want_), msg_ ? "\n  err: " : "", msg_ ? msg_ : ""); \
            exit(1);                                                                      \
        }                                                                                 \
    } while (0)

/* Checks that the NUL-terminated `haystack` contains `needle`. */
#define CHECK_CONTAINS(haystack, needle)                                               \
    do {                                                                               \
        const char *h_ = (haystack);                                                   \
        if (strstr(h_, (needle)) == NULL) {                                            \
            fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__, \
                    h_, (needle));                                                     \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

/* A string literal as the (ptr, len) pair the API takes for text. */
#define S(literal) (literal), (sizeof(literal) - 1)

/* The corpus folder: argv[1], else $THUMBNAIL_CORPUS. */
static inline const char *corpus_dir(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : getenv("THUMBNAIL_CORPUS");
    if (dir == NULL || dir[0] == '\0') {
        fprintf(stderr, "usage: %s CORPUS_DIR (or set THUMBNAIL_CORPUS)\n", argv[0]);
        exit(2);
    }
    return dir;
}

/* Reads a whole file into malloc'd memory (free it); exits on error. */
static inline uint8_t *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        exit(2);
    }
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    CHECK(buf != NULL);
    for (;;) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) {
            break;
        }
        cap *= 2;
        buf = realloc(buf, cap);
        CHECK(buf != NULL);
    }
    CHECK(!ferror(f));
    fclose(f);
    *len = n;
    return buf;
}

/* Reads `rel` (a path inside the corpus) into malloc'd memory. */
static inline uint8_t *read_corpus(const char *corpus, const char *rel, size_t *len) {
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/%s", corpus, rel);
    CHECK(n > 0 && (size_t)n < sizeof path);
    return read_file(path, len);
}

static inline double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0) {
    }
}

static inline int is_jpeg(const uint8_t *p, size_t n) {
    return n >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF;
}

static inline int is_png(const uint8_t *p, size_t n) {
    return n >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0;
}

#endif /* THUMBNAIL_TEST_CHECK_H */
