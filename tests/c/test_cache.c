/*
 * test_cache.c: the cache handle: get/insert/remove/clear, get_or_render,
 * single-flight of get_or_load across threads (the loader runs once per
 * key), loader failures, negative caching, TTL, stats and their JSON.
 * Usage: test_cache CORPUS_DIR.
 */
#include "check.h"

#include <pthread.h>
#include <stdatomic.h>

static uint8_t *src;  /* a small JPEG, 227x149 */
static size_t src_len;

static thumbnail_cache_stats stats_of(const thumbnail_cache *cache) {
    thumbnail_cache_stats st;
    CHECK_STATUS(thumbnail_cache_get_stats(cache, &st), THUMBNAIL_STATUS_OK, NULL);
    return st;
}

static void check_invariants(const thumbnail_cache *cache) {
    thumbnail_cache_stats st = stats_of(cache);
    CHECK(st.gets == st.hits + st.misses);
    CHECK(st.loads == st.local_loads + st.local_load_errors + st.loads_deduped);
    CHECK(st.error_hits <= st.hits);
    CHECK(st.bytes <= st.capacity_bytes);
}

static void test_options(void) {
    thumbnail_cache_options o = thumbnail_cache_options_default();
    CHECK(o.capacity_bytes == 64u << 20 && o.shards == 16 && o.ttl_ms == 0 && o.error_ttl_ms == 0);
    thumbnail_cache *cache = NULL;
    char err[256];
    CHECK_STATUS(thumbnail_cache_new(NULL, &cache, err, sizeof err), THUMBNAIL_STATUS_OK, err);
    thumbnail_cache_stats st = stats_of(cache);
    CHECK(st.capacity_bytes == 64u << 20 && st.shards == 16 && st.items == 0 && st.gets == 0);
    thumbnail_cache_free(cache);

    o.shards = 0; /* rounded, not rejected */
    o.capacity_bytes = 1000;
    CHECK_STATUS(thumbnail_cache_new(&o, &cache, err, sizeof err), THUMBNAIL_STATUS_OK, err);
    st = stats_of(cache);
    CHECK(st.shards == 1 && st.capacity_bytes == 1000);
    thumbnail_cache_free(cache);
    CHECK_STATUS(thumbnail_cache_new(&o, NULL, err, sizeof err),
                 THUMBNAIL_STATUS_INVALID_ARGUMENT, err);
}

static void test_basic(void) {
    thumbnail_cache *cache = NULL;
    char err[256];
    CHECK_STATUS(thumbnail_cache_new(NULL, &cache, err, sizeof err), THUMBNAIL_STATUS_OK, err);

    thumbnail_image *img = (thumbnail_image *)cache;
    CHECK_STATUS(thumbnail_cache_get(cache, S("k1"), &img), THUMBNAIL_STATUS_NOT_FOUND, NULL);
    CHECK(img == NULL);

    thumbnail_cache_source how = THUMBNAIL_CACHE_SOURCE_HIT;
    thumbnail_image *first = NULL;
    CHECK_STATUS(thumbnail_cache_get_or_render(cache, S("k1"), src, src_len, S("100x100"), NULL,
                                               &first, &how, err, sizeof err),
                 THUMBNAIL_STATUS_OK, err);
    CHECK(how == THUMBNAIL_CACHE_SOURCE_RENDERED);
    CHECK(thumbnail_image_width(first) == 100);
    CHECK(is_jpeg(thumbnail_image_data(first), thumbnail_image_len(first)));

    /* A hit shares the bytes: same pointer, no copy. */
    thumbnail_image *again = NULL;
    CHECK_STATUS(thumbnail_cache_get_or_render(cache, S("k1"), src, src_len, S("100x100"), NULL,
                                               &again, &how, err, sizeof err),
                 THUMBNAIL_STATUS_OK, err);
    CHECK(how == THUMBNAIL_CACHE_SOURCE_HIT);
    CHECK(thumbnail_image_data(again) == thumbnail_image_data(first));
    thumbnail_image_free(again);
    CHECK_STATUS(thumbnail_cache_get(cache, S("k1"), &again), THUMBNAIL_STATUS_OK, NULL);
    CHECK(thumbnail_image_data(again) == thumbnail_image_data(first));
    CHECK(thumbnail_image_len(again) == thumbnail_image_len(first));
    thumbnail_image_free(again);
    /* source_out may be NULL; the same key with a source of NULL bytes still hits. */
    CHECK_STATUS(thumbnail_cache_get_or_render(cache, S("k1"), NULL, 0, S("100x100"), NULL, &again,
                                               NULL, err, sizeof err),
                 THUMBNAIL_STATUS_OK, err);
    thumbnail_image_free(again);

    thumbnail_cache_stats st = stats_of(cache);
    CHECK(st.gets == 5 && st.hits == 3 && st.misses == 2 && st.loads == 1);
    CHECK(st.local_loads == 1 && st.items == 1 && st.bytes > thumbnail_image_len(first));

    /* An invalid spec fails even though the key is cached. */
    again = first;
    how = THUMBNAIL_CACHE_SOURCE_HIT;
    CHECK_STATUS(thumbnail_cache_get_or_render(cache, S("k1"), src, src_len, S("100x100,nope"),
                                               NULL, &again, &how, err, sizeof err),
                 THUMBNAIL_STATUS_INVALID_SPEC, err);
    CHECK(again == NULL && how == THUMBNAIL_CACHE_SOURCE_NONE);
    CHECK_CONTAINS(err, "unknown option 'nope'");
    /* A render error is returned and not cached. */
    CHECK_STATUS(thumbnail_cache_get_or_render(cache, S("bad"), src, 10, S("100x100"), NULL,
                                               &again, &how, err, sizeof err),
                 THUMBNAIL_STATUS_CORRUPT, err);
    CHECK(again == NULL && how == THUMBNAIL_CACHE_SOURCE_NONE);
    CHECK_STATUS(thumbnail_cache_get(cache, S("bad"), &again), THUMBNAIL_STATUS_NOT_FOUND, NULL);

    /* insert / remove. */
    CHECK_STATUS(thumbnail_cache_insert(cache, S("k2"), first), THUMBNAIL_STATUS_OK, NULL);
    CHECK_STATUS(thumbnail_cache_get(cache, S("k2"), &again), THUMBNAIL_STATUS_OK, NULL);
    CHECK(thumbnail_image_data(again) == thumbnail_image_data(first));
    thumbnail_image_free(again);
    CHECK_STATUS(thumbnail_cache_remove(cache, S("k2")), THUMBNAIL_STATUS_OK, NULL);
    CHECK_STATUS(thumbnail_cache_remove(cache, S("k2")), THUMBNAIL_STATUS_NOT_FOUND, NULL);
    CHECK_STATUS(thumbnail_cache_get(cache, S("k2"), &again), THUMBNAIL_STATUS_NOT_FOUND, NULL);
    CHECK(stats_of(cache).items == 1);

    /* Keys are exactly key_len bytes: "k1\0x" is another key. */
    CHECK_STATUS(thumbnail_cache_get(cache, "k1\0x", 4, &again), THUMBNAIL_STATUS_NOT_FOUND, NULL);
    CHECK_STATUS(thumbnail_cache_get(cache, "k1\0x", 2, &again), THUMBNAIL_STATUS_OK, NULL);
    thumbnail_image_free(again);
    /* Keys must be UTF-8. */
    CHECK_STATUS(thumbnail_cache_get(cache, S("\xc3\x28"), &again),
                 THUMBNAIL_STATUS_INVALID_ARGUMENT, NULL);
    CHECK_STATUS(thumbnail_cache_get_or_render(cache, S("\xff"), src, src_len, S("10x10"), NULL,
                                               &again, NULL, err, sizeof err),
                 THUMBNAIL_STATUS_INVALID_ARGUMENT, err);
    CHECK_CONTAINS(err, "UTF-8");

    /* clear: entries go, counters stay, handed-out images stay valid. */
    CHECK_STATUS(thumbnail_cache_clear(cache), THUMBNAIL_STATUS_OK, NULL);
    st = stats_of(cache);
    CHECK(st.items == 0 && st.bytes == 0 && st.gets > 0);
    CHECK_STATUS(thumbnail_cache_get(cache, S("k1"), &again), THUMBNAIL_STATUS_NOT_FOUND, NULL);
    check_invariants(cache);

    /* The image outlives the cache. */
    thumbnail_cache_free(cache);
    CHECK(is_jpeg(thumbnail_image_data(first), thumbnail_image_len(first)));
    thumbnail_image_free(first);
}

static void test_null_arguments(void) {
    thumbnail_cache *cache = NULL;
    char err[256];
    CHECK_STATUS(thumbnail_cache_new(NULL, &cache, NULL, 0), THUMBNAIL_STATUS_OK, NULL);
    thumbnail_image *img = (thumbnail_image *)cache;
    thumbnail_cache_source how = THUMBNAIL_CACHE_SOURCE_HIT;

    CHECK_STATUS(thumbnail_cache_get(NULL, S("k"), &img), THUMBNAIL_STATUS_INVALID_ARGUMENT, NULL);
    CHECK(img == NULL);
    CHECK_STATUS(thumbnail_cache_get(cache, S("k"), NULL), THUMBNAIL_STATUS_INVALID_ARGUMENT, NULL);
    CHECK_STATUS(thumbnail_cache_get(cache, NULL, 1, &img), THUMBNAIL_STATUS_INVALID_ARGUMENT,
                 NULL);
    /* NULL key with length 0 is the empty key. */
    CHECK_STATUS(thumbnail_cache_get(cache, NULL, 0, &img), THUMBNAIL_STATUS_NOT_FOUND, NULL);
    img = (thumbnail_image *)cache;
    CHECK_STATUS(thumbnail_cache_get_or_render(NULL, S("k"), src, src_len, S("10x10"), NULL, &img,
                                               &how, err, sizeof err),
                 THUMBNAIL_STATUS_INVALID_ARGUMENT, err);
    CHECK(img == NULL && how == THUMBNAIL_CACHE_SOURCE_NONE);
    CHECK_CONTAINS(err, "cache is NULL");
    CHECK_STATUS(thumbnail_cache_get_or_render(cache, S("k"), NULL, 7, S("10x10"), NULL, &img,
                                               &how, err, sizeof err),
                 THUMBNAIL_STATUS_INVALID_ARGUMENT, err);
    CHECK_STATUS(thumbnail_cache_get_or_render(cache, S("k"), src, src_len, S("10x10"), NULL, NULL,
                                               &how, err, sizeof err),
                 THUMBNAIL_STATUS_INVALID_ARGUMENT, err);
    CHECK_STATUS(thumbnail_cache_get_or_load(cache, S("k"), NULL, NULL, S("10x10"), NULL, &img,
                                             &how, err, sizeof err),
                 THUMBNAIL_STATUS_INVALID_ARGUMENT, err);
    CHECK_CONTAINS(err, "load is NULL");
    CHECK_STATUS(thumbnail_cache_insert(cache, S("k"), NULL), THUMBNAIL_STATUS_INVALID_ARGUMENT,
                 NULL);
    CHECK_STATUS(thumbnail_cache_insert(NULL, S("k"), NULL), THUMBNAIL_STATUS_INVALID_ARGUMENT,
                 NULL);
    CHECK_STATUS(thumbnail_cache_remove(NULL, S("k")), THUMBNAIL_STATUS_INVALID_ARGUMENT, NULL);
    CHECK_STATUS(thumbnail_cache_clear(NULL), THUMBNAIL_STATUS_INVALID_ARGUMENT, NULL);
    thumbnail_cache_stats st;
    memset(&st, 0xAB, sizeof st);
    CHECK_STATUS(thumbnail_cache_get_stats(NULL, &st), THUMBNAIL_STATUS_INVALID_ARGUMENT, NULL);
    CHECK(st.gets == 0 && st.shards == 0);
    CHECK_STATUS(thumbnail_cache_get_stats(cache, NULL), THUMBNAIL_STATUS_INVALID_ARGUMENT, NULL);
    size_t written = 5;
    CHECK_STATUS(thumbnail_cache_stats_json(NULL, NULL, 0, &written),
                 THUMBNAIL_STATUS_INVALID_ARGUMENT, NULL);
    CHECK(written == 0);
    thumbnail_cache_free(cache);
}

static void test_stats_json(void) {
    thumbnail_cache *cache = NULL;
    CHECK_STATUS(thumbnail_cache_new(NULL, &cache, NULL, 0), THUMBNAIL_STATUS_OK, NULL);
    thumbnail_image *img = NULL;
    CHECK_STATUS(thumbnail_cache_get(cache, S("x"), &img), THUMBNAIL_STATUS_NOT_FOUND, NULL);

    char json[1024];
    size_t written = 0;
    CHECK_STATUS(thumbnail_cache_stats_json(cache, json, sizeof json, &written),
                 THUMBNAIL_STATUS_OK, NULL);
    CHECK(written == strlen(json));
    CHECK(json[0] == '{' && json[written - 1] == '}');
    CHECK_CONTAINS(json, "\"gets\":1,");
    CHECK_CONTAINS(json, "\"misses\":1,");
    CHECK_CONTAINS(json, "\"shards\":16}");

    size_t need = written;
    memset(json, '#', sizeof json);
    CHECK_STATUS(thumbnail_cache_stats_json(cache, json, 8, &written),
                 THUMBNAIL_STATUS_BUFFER_TOO_SMALL, NULL);
    CHECK(written == need && json[0] == '\0' && json[1] == '#');
    CHECK_STATUS(thumbnail_cache_stats_json(cache, json, need, NULL),
                 THUMBNAIL_STATUS_BUFFER_TOO_SMALL, NULL);
    CHECK_STATUS(thumbnail_cache_stats_json(cache, json, need + 1, NULL), THUMBNAIL_STATUS_OK,
                 NULL);
    CHECK_STATUS(thumbnail_cache_stats_json(cache, NULL, 0, &written),
                 THUMBNAIL_STATUS_BUFFER_TOO_SMALL, NULL);
    CHECK(written == need);
    CHECK_STATUS(thumbnail_cache_stats_json(cache, NULL, 10, &written),
                 THUMBNAIL_STATUS_INVALID_ARGUMENT, NULL);
    thumbnail_cache_free(cache);
}

/* --- single-flight ------------------------------------------------------ */

struct loader {
    thumbnail_cache *cache;
    atomic_int calls;
    uint64_t loads_before; /* stats.loads when the threads started */
    uint64_t loads_expected; /* wait until this many more loads registered */
    int32_t fail_with;       /* nonzero: the loader's return value */
};

/* Holds the flight open until every thread has joined it (each joining
 * call counts one `loads` before it waits), then sleeps a little longer,
 * so the dedup counts are exact rather than timing-dependent. */
static int32_t slow_load(void *userdata, const uint8_t **out, size_t *out_len) {
    struct loader *l = userdata;
    atomic_fetch_add(&l->calls, 1);
    double deadline = now_seconds() + 20.0;
    while (stats_of(l->cache).loads - l->loads_before < l->loads_expected &&
           now_seconds() < deadline) {
        sleep_ms(1);
    }
    sleep_ms(50);
    if (l->fail_with != 0) {
        return l->fail_with;
    }
    *out = src;
    *out_len = src_len;
    return 0;
}

struct worker {
    pthread_t thread;
    pthread_barrier_t *start;
    struct loader *loader;
    const char *key;
    thumbnail_status status;
    thumbnail_image *img;
    thumbnail_cache_source how;
    char err[256];
};

static void *work(void *arg) {
    struct worker *w = arg;
    pthread_barrier_wait(w->start);
    w->status = thumbnail_cache_get_or_load(w->loader->cache, w->key, strlen(w->key), slow_load,
                                            w->loader, S("64x64"), NULL, &w->img, &w->how, w->err,
                                            sizeof w->err);
    return NULL;
}

enum { THREADS = 8 };

/* Runs THREADS get_or_load calls at once; thread i asks for keys[i % nkeys],
 * and thread j's loader is loaders[j % nkeys]. */
static void run_threads(struct worker *w, struct loader *loaders, const char **keys, int nkeys) {
    pthread_barrier_t start;
    CHECK(pthread_barrier_init(&start, NULL, THREADS) == 0);
    for (int i = 0; i < THREADS; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].start = &start;
        w[i].loader = &loaders[i % nkeys];
        w[i].key = keys[i % nkeys];
        CHECK(pthread_create(&w[i].thread, NULL, work, &w[i]) == 0);
    }
    for (int i = 0; i < THREADS; i++) {
        CHECK(pthread_join(w[i].thread, NULL) == 0);
    }
    pthread_barrier_destroy(&start);
}

static void test_single_flight(void) {
    thumbnail_cache *cache = NULL;
    CHECK_STATUS(thumbnail_cache_new(NULL, &cache, NULL, 0), THUMBNAIL_STATUS_OK, NULL);
    const char *keys[2] = {"photo/a.jpg|64x64", "photo/b.jpg|64x64"};
    struct loader loaders[2];
    for (int k = 0; k < 2; k++) {
        loaders[k].cache = cache;
        atomic_init(&loaders[k].calls, 0);
        loaders[k].loads_before = 0;
        loaders[k].loads_expected = THREADS; /* both keys' threads */
        loaders[k].fail_with = 0;
    }
    struct worker w[THREADS];
    run_threads(w, loaders, keys, 2);

    for (int k = 0; k < 2; k++) {
        CHECK(atomic_load(&loaders[k].calls) == 1); /* once per key */
        int rendered = 0;
        const uint8_t *data = NULL;
        for (int i = k; i < THREADS; i += 2) {
            CHECK_STATUS(w[i].status, THUMBNAIL_STATUS_OK, w[i].err);
            CHECK(w[i].img != NULL && thumbnail_image_width(w[i].img) == 64);
            CHECK(w[i].how == THUMBNAIL_CACHE_SOURCE_RENDERED ||
                  w[i].how == THUMBNAIL_CACHE_SOURCE_DEDUPED);
            rendered += w[i].how == THUMBNAIL_CACHE_SOURCE_RENDERED;
            /* Every thread got the very same bytes. */
            if (data == NULL) {
                data = thumbnail_image_data(w[i].img);
            }
            CHECK(thumbnail_image_data(w[i].img) == data);
        }
        CHECK(rendered == 1);
        /* A later get is a hit on the same bytes. */
        thumbnail_image *hit = NULL;
        CHECK_STATUS(thumbnail_cache_get(cache, keys[k], strlen(keys[k]), &hit),
                     THUMBNAIL_STATUS_OK, NULL);
        CHECK(thumbnail_image_data(hit) == data);
        thumbnail_image_free(hit);
    }
    for (int i = 0; i < THREADS; i++) {
        thumbnail_image_free(w[i].img);
    }
    thumbnail_cache_stats st = stats_of(cache);
    CHECK(st.gets == THREADS + 2 && st.misses == THREADS && st.hits == 2);
    CHECK(st.loads == THREADS && st.loads_deduped == THREADS - 2 && st.local_loads == 2);
    CHECK(st.local_load_errors == 0 && st.items == 2);
    check_invariants(cache);
    thumbnail_cache_free(cache);
}

static void test_load_failure(void) {
    thumbnail_cache *cache = NULL;
    CHECK_STATUS(thumbnail_cache_new(NULL, &cache, NULL, 0), THUMBNAIL_STATUS_OK, NULL);
    const char *keys[1] = {"missing.jpg"};
    struct loader l = {.cache = cache, .loads_expected = THREADS, .fail_with = 404};
    atomic_init(&l.calls, 0);
    struct worker w[THREADS];
    run_threads(w, &l, keys, 1);
    CHECK(atomic_load(&l.calls) == 1);
    for (int i = 0; i < THREADS; i++) {
        CHECK_STATUS(w[i].status, THUMBNAIL_STATUS_LOAD_FAILED, w[i].err);
        CHECK(w[i].img == NULL && w[i].how == THUMBNAIL_CACHE_SOURCE_NONE);
        CHECK(strncmp(w[i].err, "load-failed: ", 13) == 0);
        CHECK_CONTAINS(w[i].err, "404");
    }
    thumbnail_cache_stats st = stats_of(cache);
    CHECK(st.local_load_errors == 1 && st.loads_deduped == THREADS - 1 && st.items == 0);
    check_invariants(cache);
    thumbnail_cache_free(cache);
}

static int32_t null_load(void *userdata, const uint8_t **out, size_t *out_len) {
    atomic_fetch_add((atomic_int *)userdata, 1);
    *out = NULL;
    *out_len = 5;
    return 0;
}

static int32_t empty_load(void *userdata, const uint8_t **out, size_t *out_len) {
    (void)userdata;
    *out = NULL;
    *out_len = 0;
    return 0;
}

static int32_t failing_load(void *userdata, const uint8_t **out, size_t *out_len) {
    (void)out;
    (void)out_len;
    atomic_fetch_add((atomic_int *)userdata, 1);
    return -1;
}

/* A loader that asks the cache for its own key: the inner call fails
 * (it would wait for itself), so the loader reports a failure. */
static int32_t reentrant_load(void *userdata, const uint8_t **out, size_t *out_len) {
    (void)out;
    (void)out_len;
    thumbnail_image *img = NULL;
    char err[256];
    thumbnail_status s = thumbnail_cache_get_or_load(userdata, S("self"), reentrant_load, userdata,
                                                     S("10x10"), NULL, &img, NULL, err, sizeof err);
    CHECK_STATUS(s, THUMBNAIL_STATUS_INTERNAL, err);
    CHECK(img == NULL);
    CHECK_CONTAINS(err, "asked for the same key");
    return 7;
}

static void test_negative_caching(void) {
    thumbnail_cache_options o = thumbnail_cache_options_default();
    o.error_ttl_ms = 60000;
    thumbnail_cache *cache = NULL;
    char err[256];
    CHECK_STATUS(thumbnail_cache_new(&o, &cache, err, sizeof err), THUMBNAIL_STATUS_OK, err);
    atomic_int calls;
    atomic_init(&calls, 0);
    thumbnail_image *img = NULL;
    for (int i = 0; i < 3; i++) {
        CHECK_STATUS(thumbnail_cache_get_or_load(cache, S("gone"), failing_load, &calls,
                                                 S("10x10"), NULL, &img, NULL, err, sizeof err),
                     THUMBNAIL_STATUS_LOAD_FAILED, err);
        CHECK(img == NULL);
        CHECK_CONTAINS(err, "load-failed: source loader returned -1");
    }
    CHECK(atomic_load(&calls) == 1); /* remembered */
    thumbnail_cache_stats st = stats_of(cache);
    CHECK(st.error_hits == 2 && st.items == 1);
    /* A remembered error is no value for get. */
    CHECK_STATUS(thumbnail_cache_get(cache, S("gone"), &img), THUMBNAIL_STATUS_NOT_FOUND, NULL);
    /* remove forgets it. */
    CHECK_STATUS(thumbnail_cache_remove(cache, S("gone")), THUMBNAIL_STATUS_OK, NULL);
    CHECK_STATUS(thumbnail_cache_get_or_load(cache, S("gone"), failing_load, &calls, S("10x10"),
                                             NULL, &img, NULL, err, sizeof err),
                 THUMBNAIL_STATUS_LOAD_FAILED, err);
    CHECK(atomic_load(&calls) == 2);

    /* A loader that breaks the contract is a load failure, not a crash. */
    atomic_int nulls;
    atomic_init(&nulls, 0);
    CHECK_STATUS(thumbnail_cache_get_or_load(cache, S("null"), null_load, &nulls, S("10x10"),
                                             NULL, &img, NULL, err, sizeof err),
                 THUMBNAIL_STATUS_LOAD_FAILED, err);
    CHECK_CONTAINS(err, "NULL");
    CHECK_STATUS(thumbnail_cache_get_or_load(cache, S("self"), reentrant_load, cache, S("10x10"),
                                             NULL, &img, NULL, err, sizeof err),
                 THUMBNAIL_STATUS_LOAD_FAILED, err);
    CHECK_CONTAINS(err, "returned 7");
    /* An empty source is the usual empty-input error. */
    CHECK_STATUS(thumbnail_cache_get_or_load(cache, S("empty"), empty_load, NULL, S("10x10"), NULL,
                                             &img, NULL, err, sizeof err),
                 THUMBNAIL_STATUS_UNSUPPORTED, err);
    check_invariants(cache);
    thumbnail_cache_free(cache);
}

static void test_capacity_and_ttl(void) {
    thumbnail_image *img = NULL;
    char err[256];
    CHECK_STATUS(thumbnail_render(src, src_len, S("100x100"), NULL, &img, err, sizeof err),
                 THUMBNAIL_STATUS_OK, err);

    thumbnail_cache_options o = thumbnail_cache_options_default();
    o.capacity_bytes = 1024;
    o.shards = 1;
    thumbnail_cache *small = NULL;
    CHECK_STATUS(thumbnail_cache_new(&o, &small, err, sizeof err), THUMBNAIL_STATUS_OK, err);
    CHECK(thumbnail_image_len(img) > 1024);
    CHECK_STATUS(thumbnail_cache_insert(small, S("big"), img), THUMBNAIL_STATUS_TOO_LARGE, NULL);
    CHECK(stats_of(small).oversize_rejects == 1 && stats_of(small).items == 0);
    thumbnail_cache_free(small);

    o = thumbnail_cache_options_default();
    o.ttl_ms = 30;
    thumbnail_cache *ttl = NULL;
    CHECK_STATUS(thumbnail_cache_new(&o, &ttl, err, sizeof err), THUMBNAIL_STATUS_OK, err);
    CHECK_STATUS(thumbnail_cache_insert(ttl, S("k"), img), THUMBNAIL_STATUS_OK, NULL);
    thumbnail_image_free(img);
    sleep_ms(80);
    CHECK_STATUS(thumbnail_cache_get(ttl, S("k"), &img), THUMBNAIL_STATUS_NOT_FOUND, NULL);
    CHECK(stats_of(ttl).expirations == 1);
    thumbnail_cache_free(ttl);
}

/* issue 18: get, then (after fetching the source) render: one lookup. */
static void test_after_miss(void) {
    thumbnail_cache *cache = NULL;
    char err[256];
    CHECK_STATUS(thumbnail_cache_new(NULL, &cache, err, sizeof err), THUMBNAIL_STATUS_OK, err);
    thumbnail_image *img = NULL;
    CHECK_STATUS(thumbnail_cache_get(cache, S("m"), &img), THUMBNAIL_STATUS_NOT_FOUND, NULL);
    thumbnail_cache_source how = THUMBNAIL_CACHE_SOURCE_NONE;
    CHECK_STATUS(thumbnail_cache_get_or_render_after_miss(cache, S("m"), src, src_len, S("50x50"),
                                                          NULL, &img, &how, err, sizeof err),
                 THUMBNAIL_STATUS_OK, err);
    CHECK(how == THUMBNAIL_CACHE_SOURCE_RENDERED && thumbnail_image_width(img) == 50);
    thumbnail_image_free(img);
    thumbnail_cache_stats st = stats_of(cache);
    CHECK(st.gets == 1 && st.misses == 1 && st.hits == 0 && st.loads == 1 && st.local_loads == 1);
    /* the spec is still checked first; NULL arguments are refused */
    CHECK_STATUS(thumbnail_cache_get_or_render_after_miss(cache, S("m"), src, src_len, S("50x50,x"),
                                                          NULL, &img, &how, err, sizeof err),
                 THUMBNAIL_STATUS_INVALID_SPEC, err);
    CHECK(img == NULL && how == THUMBNAIL_CACHE_SOURCE_NONE);
    CHECK_STATUS(thumbnail_cache_get_or_render_after_miss(NULL, S("m"), src, src_len, S("50x50"),
                                                          NULL, &img, &how, err, sizeof err),
                 THUMBNAIL_STATUS_INVALID_ARGUMENT, err);
    check_invariants(cache);
    thumbnail_cache_free(cache);
}

int main(int argc, char **argv) {
    const char *corpus = corpus_dir(argc, argv);
    src = read_corpus(corpus, "conformance/jpeg/libjpeg-turbo/testorig.jpg", &src_len);
    test_options();
    test_basic();
    test_null_arguments();
    test_stats_json();
    test_single_flight();
    test_load_failure();
    test_negative_caching();
    test_capacity_and_ttl();
    test_after_miss();
    free(src);
    printf("test_cache: ok\n");
    return 0;
}
