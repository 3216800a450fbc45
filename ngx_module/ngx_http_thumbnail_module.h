
/*
 * ngx_http_thumbnail_module: thumbnails in the request path.
 *
 * Shared declarations of the module's files, one job each:
 *
 *   ngx_http_thumbnail_module.c   configuration only: directives, conf
 *                                 create/merge, postconfiguration, process
 *                                 init/exit
 *   ngx_http_thumbnail_request.c  request-time helpers: the request's
 *                                 context, spec -> canonical form and the
 *                                 allow-list, cache key and ETag, response
 *                                 headers and If-None-Match, HEAD fetched
 *                                 as GET, a failure's status, Retry-After
 *   ngx_http_thumbnail_cache.c    the per-worker cache and the pre-content
 *                                 phase handler: answers cache hits, waits
 *                                 for or starts a render; the
 *                                 thumbnail_cache directive
 *   ngx_http_thumbnail_flight.c   the in-worker single-flight table
 *   ngx_http_thumbnail_filter.c   header and body filter: holds the
 *                                 source's header back, buffers its body,
 *                                 sends the thumbnail or an error
 *   ngx_http_thumbnail_render.c   render admission (queue and heavy-source
 *                                 limits), the thread task that renders and
 *                                 its completion on the event loop
 *   ngx_http_thumbnail_stats.c    the counters, per-worker slots in shared
 *                                 memory, the `thumbnail_stats` JSON handler
 *   ngx_http_thumbnail_negotiate.c  the spec's `auto` format: Accept ->
 *                                 bucket in the spec (key, ETag), `Vary:
 *                                 Accept`, $thumbnail_format
 *   ngx_http_thumbnail_vars.c     $thumbnail_cache_status and
 *                                 $thumbnail_render_time
 *   ngx_http_thumbnail_options.c  location defaults a URL may override
 *                                 (thumbnail_quality)
 *   ngx_http_thumbnail_zone.c     the node-wide cache: finished thumbnails
 *                                 and their caching headers in a shared
 *                                 memory zone; this file has the directive,
 *                                 the zone and its reuse across reloads,
 *                                 the wake-up pipes between workers
 *   ngx_http_thumbnail_zone_store.c   the zone's entries: rbtree, pieces,
 *                                 LRU eviction, expiry, store, copy-out
 *   ngx_http_thumbnail_zone_flight.c  cross-worker single-flight: lookup,
 *                                 in-flight markers and their takeover,
 *                                 parked followers, the leader's result
 *   ngx_http_thumbnail_zone_serve.c   a zone hit's response and its caching
 *                                 headers, purge, the zone's stats
 *   ngx_http_thumbnail_admit.c    admission of a render before its source is
 *                                 read (queue, held output), the bytes of
 *                                 rendered thumbnails held for clients
 *   ngx_http_thumbnail_log.c      request data escaped for the error log
 *
 * The zone's files share ngx_http_thumbnail_zone.h, which only they
 * include; the rest of the module uses the zone API declared below.
 */


#ifndef _NGX_HTTP_THUMBNAIL_MODULE_H_INCLUDED_
#define _NGX_HTTP_THUMBNAIL_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <thumbnail.h>


#if !(NGX_THREADS)
#error ngx_http_thumbnail_module needs nginx built --with-threads
#endif


/* r->buffered bit while the source is buffered or rendered */
#define NGX_HTTP_THUMBNAIL_BUFFERED   0x08

#define NGX_HTTP_THUMBNAIL_ERR_LEN    256

/* blocks of this size and more are mmap()ed: ngx_http_thumbnail_admit.c */
#ifndef NGX_HTTP_THUMBNAIL_MMAP_THRESHOLD
#define NGX_HTTP_THUMBNAIL_MMAP_THRESHOLD  (1024 * 1024)
#endif


/* ctx->phase */
#define NGX_HTTP_THUMBNAIL_START      0   /* ctx made, source not seen yet */
#define NGX_HTTP_THUMBNAIL_READ       1   /* buffering the source body */
#define NGX_HTTP_THUMBNAIL_RENDERING  2   /* thread task posted */
#define NGX_HTTP_THUMBNAIL_RENDERED   3   /* result ready to send */
#define NGX_HTTP_THUMBNAIL_SENT       4   /* our response went down */
#define NGX_HTTP_THUMBNAIL_PASS       5   /* not ours: pass everything */


/*
 * per-worker counters, then the gauges in_flight (renders admitted: source
 * being read, queued or rendering), waiting and heavy, then zone_waits
 * (requests that waited for another worker's render), held_refused and
 * the gauge output_held (bytes of rendered thumbnails held for clients)
 */
#define NGX_HTTP_THUMBNAIL_COUNTERS(X)                                       \
    X(requests)                                                             \
    X(cache_hits)                                                           \
    X(renders)                                                              \
    X(render_errors)                                                        \
    X(flight_waits)                                                         \
    X(not_modified)                                                         \
    X(status_400)                                                           \
    X(status_413)                                                           \
    X(status_415)                                                           \
    X(status_500)                                                           \
    X(status_503)                                                           \
    X(heavy_refused)                                                        \
    X(in_flight)                                                            \
    X(waiting)                                                              \
    X(heavy)                                                                \
    X(zone_waits)                                                           \
    X(held_refused)                                                         \
    X(output_held)

/* the fields of thumbnail_cache_stats, in declaration order */
#define NGX_HTTP_THUMBNAIL_CACHE_FIELDS(X)                                   \
    X(gets)                                                                 \
    X(hits)                                                                 \
    X(misses)                                                               \
    X(loads)                                                                \
    X(loads_deduped)                                                        \
    X(local_loads)                                                          \
    X(local_load_errors)                                                    \
    X(evictions)                                                            \
    X(expirations)                                                          \
    X(oversize_rejects)                                                     \
    X(error_hits)                                                           \
    X(bytes)                                                                \
    X(items)                                                                \
    X(capacity_bytes)                                                       \
    X(shards)


typedef struct {
#define NGX_HTTP_THUMBNAIL_FIELD(name)  uint64_t  name;
    NGX_HTTP_THUMBNAIL_COUNTERS(NGX_HTTP_THUMBNAIL_FIELD)
#undef NGX_HTTP_THUMBNAIL_FIELD
} ngx_http_thumbnail_counters_t;


/*
 * Every change of a counter goes through these: they mark the worker's
 * stats slot stale, and ngx_http_thumbnail_stats.c rewrites it from the
 * counters (before the next response header leaves this worker, at the
 * latest at the end of this event loop iteration).
 */
#define ngx_http_thumbnail_stat_inc(name)                                    \
    (ngx_http_thumbnail_counters.name++, ngx_http_thumbnail_stats_changed())
#define ngx_http_thumbnail_stat_dec(name)                                    \
    (ngx_http_thumbnail_counters.name--, ngx_http_thumbnail_stats_changed())


typedef struct {
    size_t                        cache_size;    /* 0: no cache */
    ngx_uint_t                    cache_shards;
    ngx_msec_t                    cache_ttl;
    ngx_flag_t                    cache_set;

    ngx_shm_zone_t               *stats_zone;

    ngx_shm_zone_t               *zone;          /* thumbnail_cache zone= */
    ngx_int_t                     render_nice;
} ngx_http_thumbnail_main_conf_t;


typedef struct {
    ngx_flag_t                    enable;

    ngx_http_complex_value_t     *spec;
    ngx_str_t                     spec_static;   /* canonical, if constant */
    ngx_array_t                  *allowed;       /* of canonical ngx_str_t */

    ngx_http_complex_value_t     *key;

    size_t                        max_source_size;
    ngx_uint_t                    max_pixels;
    ngx_uint_t                    max_output;
    ngx_uint_t                    max_queue;
    ngx_uint_t                    heavy_pixels;
    ngx_uint_t                    max_heavy;

    ngx_str_t                     thread_pool_name;
    ngx_thread_pool_t            *thread_pool;

    ngx_flag_t                    strict;        /* refuse damaged sources */
    ngx_flag_t                    avif;          /* thumbnail_avif */

    ngx_http_complex_value_t     *purge;         /* thumbnail_cache_purge */
    size_t                        max_output_held;
    size_t                        max_output_size; /* 0: none */
    ngx_flag_t                    max_output_size_auto; /* the cache's */

    /* signed URLs (ngx_http_thumbnail_sign.c) */
    ngx_array_t                  *sign_keys;     /* of ngx_str_t pairs */
    ngx_uint_t                    sign_size;
    ngx_http_complex_value_t     *signature;
    ngx_http_complex_value_t     *signed_path;   /* NULL: $uri */
    thumbnail_signer             *signer;

    /* thumbnail_watermark (ngx_http_thumbnail_watermark.c) */
    thumbnail_overlay            *overlay;       /* NULL: none */
    ngx_str_t                     overlay_id;    /* part of the cache key */

    ngx_uint_t                    quality;       /* thumbnail_quality */
} ngx_http_thumbnail_loc_conf_t;


typedef struct ngx_http_thumbnail_flight_s  ngx_http_thumbnail_flight_t;

/*
 * One render of one key in progress in this worker: the first request to
 * miss (the leader) fetches the source and renders; requests for the same
 * key that arrive meanwhile wait on it and are answered with its result.
 * Reference counted: the table holds one reference while the render is in
 * progress, and every request that uses the flight holds one.
 */
struct ngx_http_thumbnail_flight_s {
    ngx_str_node_t                sn;          /* key; node in the table */
    ngx_uint_t                    refs;
    ngx_queue_t                   waiters;     /* of ctx->wait_link */
    ngx_http_request_t           *leader;
    thumbnail_image              *img;         /* result, owned */
    ngx_uint_t                    status;      /* 0 retry, 200, 4xx/5xx */
    time_t                        last_modified;
    unsigned                      in_table:1;
    unsigned                      done:1;

    u_char                       *cache_headers; /* the leader's caching
                                                    headers, for waiters */
    size_t                        cache_headers_len;
    size_t                        held;        /* img's bytes, counted in
                                                  output_held */
};


typedef struct {
    ngx_http_request_t           *request;
    ngx_uint_t                    phase;

    ngx_str_t                     spec;        /* canonical */
    ngx_str_t                     key;
    ngx_str_t                     etag;        /* quoted */
    ngx_table_elt_t              *if_none_match; /* the client's; the source
                                                    fetch does not see it */

    u_char                       *src;         /* buffered source body */
    u_char                       *src_last;
    u_char                       *src_end;

    ngx_http_thumbnail_flight_t  *flight;
    thumbnail_image              *img;         /* a cache hit's handle */
    time_t                        last_modified;
    ngx_uint_t                    status;      /* HTTP status of a failure */

    ngx_queue_t                   wait_link;
    ngx_event_t                   wake;

    ngx_str_t                     method_name; /* of a HEAD turned into GET */

    ngx_array_t                  *reads;       /* of ngx_http_thumbnail_read_t:
                                                  file parts of the source,
                                                  read on a pool thread */
    size_t                        held;        /* img's bytes, counted in
                                                  output_held */

    unsigned                      head:1;
    unsigned                      leader:1;
    unsigned                      waiting:1;
    unsigned                      woken:1;
    unsigned                      heavy:1;     /* in counters.heavy */

    ngx_str_t                     bucket;      /* `auto`: avif, webp, source */
    unsigned                      vary:1;      /* the format was negotiated */
    unsigned                      admitted:1;  /* in counters.in_flight */
    unsigned                      filter_flags:1; /* the two below saved */
    unsigned                      need_in_memory:1; /* r->main_filter_... */
    unsigned                      sendfile:1;  /* c->sendfile */

    /* the node-wide zone (ngx_http_thumbnail_zone_flight.c) */
    uint64_t                      zone_token;  /* our in-flight marker */
    ngx_event_t                   zone_timer;  /* a follower's next look */
    ngx_msec_t                    zone_delay;
    ngx_queue_t                   zone_link;   /* in the parked queue */
    unsigned                      zone_waiting:1;
    unsigned                      zone_waited:1;

    /* $thumbnail_cache_status, $thumbnail_render_time (_vars.c) */
    unsigned                      cache_status:3;  /* NGX_HTTP_THUMBNAIL_CS_* */
    unsigned                      rendered:1;
    ngx_msec_t                    render_ms;
} ngx_http_thumbnail_ctx_t;


/* a part of the source in a file, to read into ctx->src at pos */
typedef struct {
    ngx_fd_t                      fd;
    ngx_str_t                    *name;
    off_t                         offset;
    size_t                        pos;
    size_t                        size;
} ngx_http_thumbnail_read_t;
/* ctx->cache_status: what $thumbnail_cache_status says */
#define NGX_HTTP_THUMBNAIL_CS_NONE    0   /* never reached the cache */
#define NGX_HTTP_THUMBNAIL_CS_HIT     1
#define NGX_HTTP_THUMBNAIL_CS_MISS    2   /* rendered it (BYPASS: no cache) */
#define NGX_HTTP_THUMBNAIL_CS_WAIT    3   /* had another request's render */
#define NGX_HTTP_THUMBNAIL_CS_BYPASS  4

/* ngx_http_thumbnail_options.c */
ngx_int_t ngx_http_thumbnail_apply_defaults(ngx_http_request_t *r,
    ngx_http_thumbnail_loc_conf_t *lcf, ngx_http_thumbnail_ctx_t *ctx,
    ngx_str_t *given);

/* ngx_http_thumbnail_vars.c */
ngx_int_t ngx_http_thumbnail_add_variables(ngx_conf_t *cf);


/* ngx_http_thumbnail_module.c */
extern ngx_module_t                    ngx_http_thumbnail_module;

/* ngx_http_thumbnail_request.c */
ngx_http_thumbnail_ctx_t *ngx_http_thumbnail_create_ctx(ngx_http_request_t *r);
ngx_int_t ngx_http_thumbnail_canonical(ngx_pool_t *pool, ngx_str_t *spec,
    ngx_str_t *out, u_char *err, size_t err_len);
ngx_int_t ngx_http_thumbnail_spec_allowed(ngx_http_thumbnail_loc_conf_t *conf,
    ngx_str_t *spec);
ngx_int_t ngx_http_thumbnail_prepare(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx);
ngx_int_t ngx_http_thumbnail_set_headers(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx, thumbnail_image *img,
    time_t last_modified);
ngx_int_t ngx_http_thumbnail_set_headers_raw(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx, const char *type, size_t len,
    time_t last_modified);
ngx_int_t ngx_http_thumbnail_set_etag(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx);
ngx_buf_t *ngx_http_thumbnail_image_buf(ngx_pool_t *pool,
    thumbnail_image *img);
void ngx_http_thumbnail_head_as_get(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx);
void ngx_http_thumbnail_restore_method(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx);
void ngx_http_thumbnail_restore_head(ngx_http_request_t *r);
void ngx_http_thumbnail_failed(ngx_http_thumbnail_ctx_t *ctx,
    ngx_uint_t status);
ngx_int_t ngx_http_thumbnail_retry_after(ngx_http_request_t *r);

/* ngx_http_thumbnail_cache.c */
extern thumbnail_cache                *ngx_http_thumbnail_cache;

char *ngx_http_thumbnail_cache_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_thumbnail_cache_init_conf(ngx_conf_t *cf);
ngx_int_t ngx_http_thumbnail_cache_init_process(ngx_cycle_t *cycle);
void ngx_http_thumbnail_cache_exit_process(ngx_cycle_t *cycle);

/* ngx_http_thumbnail_flight.c */
void ngx_http_thumbnail_flight_init(void);
ngx_http_thumbnail_flight_t *ngx_http_thumbnail_flight_find(ngx_str_t *key);
void ngx_http_thumbnail_flight_wait(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx, ngx_http_thumbnail_flight_t *fl);
ngx_int_t ngx_http_thumbnail_flight_lead(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx, ngx_uint_t in_table);
void ngx_http_thumbnail_flight_finish(ngx_http_thumbnail_flight_t *fl,
    ngx_uint_t status, thumbnail_image *img, time_t last_modified);
void ngx_http_thumbnail_flight_unwait(ngx_http_thumbnail_ctx_t *ctx);
void ngx_http_thumbnail_flight_leave(ngx_http_thumbnail_ctx_t *ctx);

/* ngx_http_thumbnail_filter.c */
ngx_int_t ngx_http_thumbnail_filter_init(ngx_conf_t *cf);
void ngx_http_thumbnail_filter_reset(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx);
void ngx_http_thumbnail_free_source(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx);

/* ngx_http_thumbnail_render.c */
ngx_int_t ngx_http_thumbnail_render_post(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx);

/* ngx_http_thumbnail_stats.c */
extern ngx_http_thumbnail_counters_t   ngx_http_thumbnail_counters;

ngx_int_t ngx_http_thumbnail_stats_init_conf(ngx_conf_t *cf,
    ngx_http_thumbnail_main_conf_t *mcf);
ngx_int_t ngx_http_thumbnail_stats_init_process(ngx_cycle_t *cycle);
void ngx_http_thumbnail_count_status(ngx_uint_t status);
void ngx_http_thumbnail_stats_changed(void);
void ngx_http_thumbnail_stats_flush(void);
char *ngx_http_thumbnail_stats_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* ngx_http_thumbnail_negotiate.c */
ngx_int_t ngx_http_thumbnail_negotiate_add_variables(ngx_conf_t *cf);
ngx_int_t ngx_http_thumbnail_negotiate(ngx_http_request_t *r,
    ngx_http_thumbnail_loc_conf_t *lcf, ngx_http_thumbnail_ctx_t *ctx);
ngx_int_t ngx_http_thumbnail_add_vary(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx);

/* ngx_http_thumbnail_zone.c, _zone_store.c, _zone_flight.c, _zone_serve.c */
char *ngx_http_thumbnail_zone_directive(ngx_conf_t *cf,
    ngx_http_thumbnail_main_conf_t *mcf);
ngx_int_t ngx_http_thumbnail_zone_init_module(ngx_cycle_t *cycle);
ngx_int_t ngx_http_thumbnail_zone_init_process(ngx_cycle_t *cycle);
ngx_uint_t ngx_http_thumbnail_zone_arg(ngx_str_t *arg);
char *ngx_http_thumbnail_zone_check_purge(ngx_conf_t *cf,
    ngx_http_thumbnail_loc_conf_t *lcf);
ngx_int_t ngx_http_thumbnail_zone_purge(ngx_http_request_t *r,
    ngx_http_thumbnail_loc_conf_t *lcf);
ngx_int_t ngx_http_thumbnail_zone_lookup(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx);
void ngx_http_thumbnail_zone_finish(ngx_http_thumbnail_flight_t *fl,
    ngx_uint_t status, thumbnail_image *img, time_t last_modified);
ngx_int_t ngx_http_thumbnail_zone_replay(ngx_http_request_t *r,
    u_char *p, size_t len);
void ngx_http_thumbnail_zone_cleanup(ngx_http_thumbnail_ctx_t *ctx);
ngx_uint_t ngx_http_thumbnail_zone_enabled(void);
size_t ngx_http_thumbnail_zone_max_item(void);
void ngx_http_thumbnail_zone_worker_stats(thumbnail_cache_stats *cs);
u_char *ngx_http_thumbnail_zone_stats_json(u_char *p,
    thumbnail_cache_stats *totals);
size_t ngx_http_thumbnail_zone_stats_len(void);

/* ngx_http_thumbnail_admit.c */
ngx_int_t ngx_http_thumbnail_admit(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx, ngx_http_thumbnail_loc_conf_t *lcf);
void ngx_http_thumbnail_admit_release(ngx_http_thumbnail_ctx_t *ctx);
ngx_int_t ngx_http_thumbnail_hold(ngx_http_request_t *r,
    ngx_http_thumbnail_loc_conf_t *lcf, size_t len);
void ngx_http_thumbnail_unhold(size_t len);
void ngx_http_thumbnail_malloc_init(ngx_cycle_t *cycle);

/* ngx_http_thumbnail_log.c: every request-derived value in a log line */
ngx_str_t *ngx_http_thumbnail_esc(ngx_pool_t *pool, u_char *data, size_t len);
ngx_str_t *ngx_http_thumbnail_esc_cstr(ngx_pool_t *pool, const char *s);


/* ngx_http_thumbnail_sign.c */
char *ngx_http_thumbnail_sign_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_thumbnail_signature(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_thumbnail_sign_merge(ngx_conf_t *cf,
    ngx_http_thumbnail_loc_conf_t *prev, ngx_http_thumbnail_loc_conf_t *conf);
ngx_int_t ngx_http_thumbnail_sign_check(ngx_http_request_t *r,
    ngx_http_thumbnail_loc_conf_t *lcf);

/* ngx_http_thumbnail_watermark.c */
char *ngx_http_thumbnail_watermark(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
void ngx_http_thumbnail_watermark_merge(ngx_http_thumbnail_loc_conf_t *prev,
    ngx_http_thumbnail_loc_conf_t *conf);


#endif /* _NGX_HTTP_THUMBNAIL_MODULE_H_INCLUDED_ */
