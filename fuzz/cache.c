/*
 * cache: thumbnail_cache_get_or_render() and _get_or_load() on two caches
 * that live for the whole run (so entries, evictions and remembered errors
 * carry over from input to input), with get, insert, remove, clear and the
 * stats around them.
 *
 * Input: FZ_SPEC_BYTES bytes choose the spec (fz_spec_from; with `wm` or
 * its _ex flag the _ex calls with a watermark overlay made once), 1 byte
 * the operations, the rest is the source image.
 *   ops & 7     key number (8 keys per cache, so entries are hit and replaced)
 *   ops & 8     a key of its own (a hash of the input): misses, evictions
 *   ops & 16    the second cache (small shards, errors remembered)
 *   ops & 32    _get_or_load instead of _get_or_render
 *   ops & 64    ... whose loader fails (with a code from the input)
 *   ops & 128   afterwards: insert under another key, then remove or clear
 *
 * Checked: statuses; a second call for the key gives the same status and
 * the same bytes (a hit, or a deterministic render); get agrees with it and
 * shares the bytes of a hit; images stay readable after the cache drops
 * them (ASan sees a use after free); the stats invariants of thumbnail.h.
 */
#include "fuzz.h"

static thumbnail_cache *caches[2];
static thumbnail_overlay *overlays[2];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    thumbnail_cache_options o = thumbnail_cache_options_default();
    o.capacity_bytes = 256 << 10;
    o.shards = 4;
    if (thumbnail_cache_new(&o, &caches[0], NULL, 0) != THUMBNAIL_STATUS_OK) abort();
    o.capacity_bytes = 64 << 10;
    o.shards = 8; /* 8 KiB a shard: many thumbnails are too large to keep */
    o.error_ttl_ms = 10ull * 365 * 24 * 3600 * 1000; /* never expires during a run */
    if (thumbnail_cache_new(&o, &caches[1], NULL, 0) != THUMBNAIL_STATUS_OK) abort();
    fz_make_overlays(overlays);
    return 0;
}

struct loader {
    const uint8_t *src;
    size_t len;
    int32_t fail; /* nonzero: return this */
    int calls;
};

static int32_t load(void *userdata, const uint8_t **src, size_t *src_len) {
    struct loader *l = userdata;
    l->calls++;
    if (l->fail) return l->fail;
    *src = l->src;
    *src_len = l->len;
    return 0;
}

static uint64_t fnv1a(const uint8_t *p, size_t n) {
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3u;
    return h;
}

struct call {
    thumbnail_status st;
    thumbnail_image *img;
    thumbnail_cache_source source;
    int loader_calls;
    char err[FZ_ERR_LEN];
};

static void call(thumbnail_cache *c, const char *key, uint8_t ops, const uint8_t *src, size_t src_len,
                 const fz_spec *spec, const thumbnail_limits *limits, struct call *r) {
    memset(r->err, FZ_ERR_FILL, sizeof r->err);
    r->img = (thumbnail_image *)(uintptr_t)1;
    r->source = (thumbnail_cache_source)99;
    /* `wm` always gets an overlay here: a missing one is the render
     * target's case (its invalid-spec would be remembered under keys other
     * specs share). */
    bool ex = spec->ex || spec->wm;
    thumbnail_render_options opts = thumbnail_render_options_default();
    opts.limits = limits;
    opts.overlay = overlays[spec->overlay];
    if (ops & 32) {
        struct loader l = {src, src_len, (ops & 64) ? (int32_t)(src_len % 1000) - 500 : 0, 0};
        if ((ops & 64) && l.fail == 0) l.fail = 404;
        if (ex)
            r->st = thumbnail_cache_get_or_load_ex(c, key, strlen(key), load, &l, spec->text, spec->len, &opts,
                                                   &r->img, &r->source, r->err, sizeof r->err);
        else
            r->st = thumbnail_cache_get_or_load(c, key, strlen(key), load, &l, spec->text, spec->len, limits,
                                                &r->img, &r->source, r->err, sizeof r->err);
        r->loader_calls = l.calls;
        FZ_CHECK(l.calls <= 1, "loader called %d times", l.calls);
    } else {
        if (ex)
            r->st = thumbnail_cache_get_or_render_ex(c, key, strlen(key), src, src_len, spec->text, spec->len,
                                                     &opts, &r->img, &r->source, r->err, sizeof r->err);
        else
            r->st = thumbnail_cache_get_or_render(c, key, strlen(key), src, src_len, spec->text, spec->len,
                                                  limits, &r->img, &r->source, r->err, sizeof r->err);
        r->loader_calls = 0;
    }
    fz_check_err(r->st, r->err, sizeof r->err);
    static const thumbnail_status allowed[] = {THUMBNAIL_STATUS_OK,        THUMBNAIL_STATUS_UNSUPPORTED,
                                               THUMBNAIL_STATUS_CORRUPT,   THUMBNAIL_STATUS_TOO_LARGE,
                                               THUMBNAIL_STATUS_LOAD_FAILED, THUMBNAIL_STATUS_INVALID_SPEC};
    FZ_CHECK(fz_status_in(r->st, allowed, sizeof allowed / sizeof *allowed), "%s: %d %s: %s", key,
             (int)r->st, thumbnail_status_name(r->st), r->err);
    FZ_CHECK((r->st == THUMBNAIL_STATUS_OK) == (r->img != NULL), "status %s with image %p",
             thumbnail_status_name(r->st), (void *)r->img);
    if (r->st == THUMBNAIL_STATUS_OK) {
        FZ_CHECK(r->source == THUMBNAIL_CACHE_SOURCE_HIT || r->source == THUMBNAIL_CACHE_SOURCE_RENDERED,
                 "source %d on one thread", (int)r->source);
    } else {
        FZ_CHECK(r->source == THUMBNAIL_CACHE_SOURCE_NONE, "source %d with %s", (int)r->source,
                 thumbnail_status_name(r->st));
    }
    /* The loader runs exactly when this call rendered (or failed afresh). */
    if ((ops & 32) && r->source == THUMBNAIL_CACHE_SOURCE_RENDERED)
        FZ_CHECK(r->loader_calls == 1, "rendered without calling the loader");
    if (r->source == THUMBNAIL_CACHE_SOURCE_HIT) FZ_CHECK(r->loader_calls == 0, "a hit called the loader");
    if (r->st == THUMBNAIL_STATUS_LOAD_FAILED && r->loader_calls == 1) FZ_CHECK(ops & 64, "load failed");
}

static bool same_bytes(const thumbnail_image *a, const thumbnail_image *b) {
    size_t n = thumbnail_image_len(a);
    return n == thumbnail_image_len(b) && memcmp(thumbnail_image_data(a), thumbnail_image_data(b), n) == 0 &&
           thumbnail_image_width(a) == thumbnail_image_width(b) &&
           thumbnail_image_height(a) == thumbnail_image_height(b) &&
           thumbnail_image_format(a) == thumbnail_image_format(b);
}

static void check_stats(thumbnail_cache *c) {
    thumbnail_cache_stats s;
    FZ_CHECK(thumbnail_cache_get_stats(c, &s) == THUMBNAIL_STATUS_OK, "get_stats");
    FZ_CHECK(s.gets == s.hits + s.misses, "gets %llu != hits %llu + misses %llu", (unsigned long long)s.gets,
             (unsigned long long)s.hits, (unsigned long long)s.misses);
    FZ_CHECK(s.loads == s.local_loads + s.local_load_errors + s.loads_deduped,
             "loads %llu != local_loads %llu + local_load_errors %llu + loads_deduped %llu",
             (unsigned long long)s.loads, (unsigned long long)s.local_loads,
             (unsigned long long)s.local_load_errors, (unsigned long long)s.loads_deduped);
    FZ_CHECK(s.error_hits <= s.hits, "error_hits > hits");
    FZ_CHECK(s.bytes <= s.capacity_bytes, "bytes %llu over capacity %llu", (unsigned long long)s.bytes,
             (unsigned long long)s.capacity_bytes);
    FZ_CHECK((s.items == 0) == (s.bytes == 0), "items %llu, bytes %llu", (unsigned long long)s.items,
             (unsigned long long)s.bytes);
    char json[1024];
    size_t written = 0;
    FZ_CHECK(thumbnail_cache_stats_json(c, json, sizeof json, &written) == THUMBNAIL_STATUS_OK &&
                 written == strlen(json) && json[0] == '{' && json[written - 1] == '}',
             "stats_json");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < FZ_SPEC_BYTES + 1) return -1;
    if (!caches[0]) LLVMFuzzerInitialize(NULL, NULL);
    fz_spec spec;
    fz_spec_from(data, &spec);
    uint8_t ops = data[FZ_SPEC_BYTES];
    const uint8_t *src = data + FZ_SPEC_BYTES + 1;
    size_t src_len = size - FZ_SPEC_BYTES - 1;
    thumbnail_limits limits = fz_limits();
    limits.strict = spec.strict;
    thumbnail_cache *c = caches[(ops >> 4) & 1];
    bool valid = fz_spec_valid(spec.text, spec.len);

    char key[256], key2[264];
    if (ops & 8) snprintf(key, sizeof key, "u/%016llx|%s", (unsigned long long)fnv1a(data, size), spec.text);
    else snprintf(key, sizeof key, "k/%u", ops & 7);
    snprintf(key2, sizeof key2, "%s+copy", key);

    struct call a, b;
    call(c, key, ops, src, src_len, &spec, &limits, &a);
    /* The spec is parsed before the lookup: an invalid one never hits. */
    FZ_CHECK(valid == (a.st != THUMBNAIL_STATUS_INVALID_SPEC), "%s for the %s spec %s",
             thumbnail_status_name(a.st), valid ? "valid" : "invalid", spec.text);
    if (a.st == THUMBNAIL_STATUS_OK && a.source == THUMBNAIL_CACHE_SOURCE_RENDERED) {
        thumbnail_info info;
        FZ_CHECK(thumbnail_probe(src, src_len, &info, NULL, 0) == THUMBNAIL_STATUS_OK,
                 "rendered a source that does not probe");
        fz_check_image(a.img, &spec, &info, &limits);
    }

    /* The same call again: the cached value or error, or the same render. */
    call(c, key, ops, src, src_len, &spec, &limits, &b);
    FZ_CHECK(a.st == b.st, "first call %s (%s), second %s (%s)", thumbnail_status_name(a.st), a.err,
             thumbnail_status_name(b.st), b.err);
    if (a.st == THUMBNAIL_STATUS_OK) FZ_CHECK(same_bytes(a.img, b.img), "a second call gave other bytes");

    /* get agrees, and a hit shares the cached bytes. */
    thumbnail_image *g = (thumbnail_image *)(uintptr_t)1;
    thumbnail_status gs = thumbnail_cache_get(c, key, strlen(key), &g);
    FZ_CHECK(gs == THUMBNAIL_STATUS_OK || gs == THUMBNAIL_STATUS_NOT_FOUND, "get: %s", thumbnail_status_name(gs));
    FZ_CHECK((gs == THUMBNAIL_STATUS_OK) == (g != NULL), "get %s with %p", thumbnail_status_name(gs), (void *)g);
    if (gs == THUMBNAIL_STATUS_OK && b.st == THUMBNAIL_STATUS_INVALID_SPEC) {
        /* The spec is refused before the lookup: what the key holds is
         * another input's. */
    } else if (gs == THUMBNAIL_STATUS_OK) {
        FZ_CHECK(b.st == THUMBNAIL_STATUS_OK, "get hits where get_or_render failed with %s",
                 thumbnail_status_name(b.st));
        FZ_CHECK(same_bytes(g, b.img), "get gave other bytes than get_or_render");
        if (b.source == THUMBNAIL_CACHE_SOURCE_HIT)
            FZ_CHECK(thumbnail_image_data(g) == thumbnail_image_data(b.img), "a hit copied the bytes");
    } else if (b.st == THUMBNAIL_STATUS_OK) {
        /* Not kept: only when too large for a shard. */
        FZ_CHECK(b.source == THUMBNAIL_CACHE_SOURCE_RENDERED, "a hit, then get misses");
    }

    if (ops & 128) {
        if (a.st == THUMBNAIL_STATUS_OK) {
            thumbnail_status is = thumbnail_cache_insert(c, key2, strlen(key2), a.img);
            FZ_CHECK(is == THUMBNAIL_STATUS_OK || is == THUMBNAIL_STATUS_TOO_LARGE, "insert: %s",
                     thumbnail_status_name(is));
            thumbnail_image *h = NULL;
            thumbnail_status hs = thumbnail_cache_get(c, key2, strlen(key2), &h);
            FZ_CHECK(hs == (is == THUMBNAIL_STATUS_OK ? THUMBNAIL_STATUS_OK : THUMBNAIL_STATUS_NOT_FOUND),
                     "insert %s, then get %s", thumbnail_status_name(is), thumbnail_status_name(hs));
            if (h) FZ_CHECK(thumbnail_image_data(h) == thumbnail_image_data(a.img), "insert copied the bytes");
            thumbnail_image_free(h);
        }
        if (data[3] & 1) {
            FZ_CHECK(thumbnail_cache_clear(c) == THUMBNAIL_STATUS_OK, "clear");
        } else {
            thumbnail_status rs = thumbnail_cache_remove(c, key, strlen(key));
            FZ_CHECK(rs == THUMBNAIL_STATUS_OK || rs == THUMBNAIL_STATUS_NOT_FOUND, "remove: %s",
                     thumbnail_status_name(rs));
            thumbnail_cache_remove(c, key2, strlen(key2));
        }
        thumbnail_image *m = (thumbnail_image *)(uintptr_t)1;
        FZ_CHECK(thumbnail_cache_get(c, key, strlen(key), &m) == THUMBNAIL_STATUS_NOT_FOUND && m == NULL,
                 "get after remove/clear");
    }

    /* Handles outlive what the cache did with their bytes. */
    if (a.st == THUMBNAIL_STATUS_OK) {
        FZ_CHECK(same_bytes(a.img, b.img), "bytes changed under a handle");
        if (g) FZ_CHECK(same_bytes(g, a.img), "bytes changed under a handle");
    }
    thumbnail_image_free(g);
    thumbnail_image_free(a.img);
    thumbnail_image_free(b.img);
    check_stats(c);
    return 0;
}
