
/*
 * ngx_http_thumbnail_module: the node-wide cache zone.
 *
 *   thumbnail_cache zone=NAME:SIZE [inactive=TIME] [ttl=TIME]
 *                   [max_item=SIZE] [lock_age=TIME];
 *   thumbnail_cache_purge CONDITION;
 *
 * Finished thumbnails live in one shared memory zone that every worker of
 * the node reads and writes (the model is lua-nginx-module's shdict: an
 * rbtree and an LRU queue in an ngx_slab_pool_t, under the pool's mutex).
 * An entry holds the thumbnail's bytes, its content type, its ETag and the
 * caching headers of the source response the render was made from
 * (Last-Modified, Cache-Control, Expires), so that a hit is answered with
 * the same caching headers as the miss was.
 *
 * Cross-worker single-flight. A key being rendered has a node of its own in
 * the zone, an in-flight marker (owner pid, start time, a token), put there
 * by the request that leads, atomically with the lookup that missed. A
 * request of another worker that finds the marker is parked (as the
 * in-worker flight's waiters are) and sets its worker's bit in the marker.
 * When the marker goes (the render's result replaces it), the leader writes
 * a byte to a pipe of each worker whose bit is set; that worker looks at
 * its parked requests at once. So followers are woken within a scheduling
 * delay of the render's end, not after nginx's 500 ms cache-lock poll. The
 * pipes (one per worker slot) are made by the master before it forks.
 * A parked request also looks again on a timer, 1 ms doubling up to 8 ms:
 * the fallback when no byte comes (a leader of the previous cycle during a
 * reload, a 65th worker). nginx's clock is coarse (CLOCK_MONOTONIC_COARSE,
 * 4 ms steps at HZ=250), so such a look may come 4 ms late. Requests of the owner's worker
 * wait on the in-worker flight (ngx_http_thumbnail_flight.c) as before.
 * The leader's render, or its failure, replaces the marker
 * (ngx_http_thumbnail_zone_finish(), from the flight's end): a thumbnail,
 * an error (400/413/415, kept for a second so followers get the same
 * status) or nothing (the source was not 200: followers look again and
 * one of them leads).
 *
 * A marker whose owner died (SIGKILL, crash mid-render) or that is older
 * than lock_age= is stale: the next request to look at it takes it over and
 * renders. An owner is checked for life (kill(pid, 0)) once its marker is
 * older than 50 ms, so a dead worker's key is free again within a follower's
 * poll interval; lock_age= (default 10 s) bounds a live leader that hangs
 * (a slow origin).
 *
 * Memory. A thumbnail is stored in pieces of at most one page, never as
 * one run of pages: nginx's slab allocator needs a contiguous free run for
 * a multi-page allocation, and a zone churned by entries of varying sizes
 * would refuse large entries with plenty of memory free. With pieces, any
 * freed page serves any entry, so when an allocation fails, evicting from
 * the LRU tail and retrying always ends: in success, or with an empty LRU
 * (the entry is then served but not stored). The pieces are whole pages,
 * then what is left in 1024, 512 and 256-byte slab chunks (which fill
 * their pages exactly), then the rest (rounded up to a power of two, less
 * than 128 bytes lost). Overhead per entry: that rounding, and the node
 * (about 100 bytes, the key, the content type, ETag and caching headers,
 * 8 bytes per piece, rounded up to a power of two).
 *
 * Reload: the zone is looked up by name and size; with both unchanged the
 * new cycle takes the old cycle's data (as limit_req does), so its entries
 * survive `nginx -s reload`.
 */


#include "ngx_http_thumbnail_module.h"

#include <ngx_channel.h>
#include <signal.h>


#define NGX_HTTP_THUMBNAIL_ZONE_READY      1
#define NGX_HTTP_THUMBNAIL_ZONE_RENDERING  2
#define NGX_HTTP_THUMBNAIL_ZONE_FAILED     3

/* a follower's poll interval: from 1 ms, doubling, up to 8 ms */
#define NGX_HTTP_THUMBNAIL_ZONE_POLL_MIN   1
#define NGX_HTTP_THUMBNAIL_ZONE_POLL_MAX   8

/* markers older than this are checked for a live owner */
#define NGX_HTTP_THUMBNAIL_ZONE_PID_CHECK  50

/* how long a render error is kept for the followers */
#define NGX_HTTP_THUMBNAIL_ZONE_ERROR_TTL  1000

/* expired entries looked at (from the LRU tail) per store */
#define NGX_HTTP_THUMBNAIL_ZONE_SWEEP      8

/* longer keys bypass the zone (a node must stay a small allocation) */
#define NGX_HTTP_THUMBNAIL_ZONE_MAX_KEY    2048

/* caching headers kept with an entry */
#define NGX_HTTP_THUMBNAIL_HDR_CACHE_CONTROL  1
#define NGX_HTTP_THUMBNAIL_HDR_EXPIRES        2
#define NGX_HTTP_THUMBNAIL_MAX_HEADERS        1024


/* node-wide counters, in the zone */
#define NGX_HTTP_THUMBNAIL_ZONE_COUNTERS(X)                                  \
    X(bytes)                                                                \
    X(items)                                                                \
    X(errors)                                                               \
    X(markers)                                                              \
    X(stores)                                                               \
    X(evictions)                                                            \
    X(expirations)                                                          \
    X(oversize_rejects)                                                     \
    X(store_failures)                                                       \
    X(marker_takeovers)                                                     \
    X(purges)


typedef struct {
#define NGX_HTTP_THUMBNAIL_ZONE_FIELD(name)  uint64_t  name;
    NGX_HTTP_THUMBNAIL_ZONE_COUNTERS(NGX_HTTP_THUMBNAIL_ZONE_FIELD)
#undef NGX_HTTP_THUMBNAIL_ZONE_FIELD
} ngx_http_thumbnail_zone_counters_t;


typedef struct {
    ngx_rbtree_t                        rbtree;
    ngx_rbtree_node_t                   sentinel;
    ngx_queue_t                         lru;      /* READY and FAILED */
    ngx_queue_t                         markers;  /* RENDERING, newest first */
    uint64_t                            token;
    ngx_http_thumbnail_zone_counters_t  c;
} ngx_http_thumbnail_zone_sh_t;


/*
 * One entry; it starts at the color field of its ngx_rbtree_node_t (as
 * lua-nginx-module's shdict nodes do), whose key is the crc32 of the cache
 * key. data[] holds the page pointers, then the key, the content type
 * (NUL-terminated), the ETag and the caching headers.
 */
typedef struct {
    u_char                              color;
    u_char                              state;
    u_char                              purged;   /* RENDERING: don't store */
    u_char                              unused;
    uint32_t                            key_len;
    ngx_queue_t                         queue;
    ngx_msec_t                          accessed; /* RENDERING: started */
    ngx_msec_t                          expires;  /* 0: no ttl */
    uint64_t                            token;    /* RENDERING */
    uint64_t                            waiters;  /* RENDERING: a bit per
                                                     worker with followers */
    ngx_pid_t                           pid;      /* RENDERING: the owner */
    uint32_t                            value_len;
    time_t                              last_modified;
    uint16_t                            status;   /* FAILED */
    uint16_t                            type_len;
    uint16_t                            etag_len;
    uint16_t                            hdrs_len;
    uint32_t                            npieces;
    uintptr_t                           data[1];
} ngx_http_thumbnail_zone_node_t;


typedef struct {
    ngx_http_thumbnail_zone_sh_t       *sh;
    ngx_slab_pool_t                    *shpool;
    ngx_str_t                           name;
    size_t                              size;
    size_t                              max_item;
    ngx_msec_t                          inactive;
    ngx_msec_t                          ttl;
    ngx_msec_t                          lock_age;

    ngx_fd_t                           *wake;     /* a pipe per worker slot:
                                                     read, write, read... */
    ngx_uint_t                          nwake;
} ngx_http_thumbnail_zone_t;


/* per-worker counters, reported with the groupcache names */
typedef struct {
    uint64_t                            gets;
    uint64_t                            hits;
    uint64_t                            misses;
    uint64_t                            loads_deduped;
    uint64_t                            local_loads;
    uint64_t                            local_load_errors;
    uint64_t                            error_hits;
} ngx_http_thumbnail_zone_worker_t;


/* what a lookup copies out of a READY entry (into the request's pool) */
typedef struct {
    u_char                             *value;
    size_t                              value_len;
    u_char                             *type;     /* NUL-terminated */
    ngx_str_t                           etag;
    u_char                             *hdrs;
    size_t                              hdrs_len;
    time_t                              last_modified;
} ngx_http_thumbnail_zone_copy_t;


static ngx_int_t ngx_http_thumbnail_zone_init(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_http_thumbnail_zone_t *ngx_http_thumbnail_zone_get(void);
static void ngx_http_thumbnail_zone_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_http_thumbnail_zone_node_t *ngx_http_thumbnail_zone_find(
    ngx_http_thumbnail_zone_t *zone, ngx_str_t *key, uint32_t hash);
static ngx_http_thumbnail_zone_node_t *ngx_http_thumbnail_zone_new_node(
    ngx_http_thumbnail_zone_t *zone, ngx_str_t *key, uint32_t hash,
    ngx_uint_t state, size_t value_len, size_t type_len, size_t etag_len,
    size_t hdrs_len);
static void *ngx_http_thumbnail_zone_alloc(ngx_http_thumbnail_zone_t *zone,
    size_t size);
static ngx_int_t ngx_http_thumbnail_zone_evict(
    ngx_http_thumbnail_zone_t *zone);
static void ngx_http_thumbnail_zone_free_node(ngx_http_thumbnail_zone_t *zone,
    ngx_http_thumbnail_zone_node_t *zn);
static void ngx_http_thumbnail_zone_sweep(ngx_http_thumbnail_zone_t *zone,
    ngx_msec_t now);
static ngx_uint_t ngx_http_thumbnail_zone_expired(
    ngx_http_thumbnail_zone_t *zone, ngx_http_thumbnail_zone_node_t *zn,
    ngx_msec_t now);
static ngx_uint_t ngx_http_thumbnail_zone_stale(
    ngx_http_thumbnail_zone_t *zone, ngx_http_thumbnail_zone_node_t *zn,
    ngx_msec_t now);
static void ngx_http_thumbnail_zone_own(ngx_http_thumbnail_zone_t *zone,
    ngx_http_thumbnail_zone_node_t *zn, ngx_http_thumbnail_ctx_t *ctx,
    ngx_msec_t now);
static void ngx_http_thumbnail_zone_mark(ngx_http_thumbnail_zone_t *zone,
    ngx_http_thumbnail_ctx_t *ctx, uint32_t hash, ngx_msec_t now);
static ngx_int_t ngx_http_thumbnail_zone_copy(ngx_pool_t *pool,
    ngx_http_thumbnail_zone_node_t *zn, ngx_http_thumbnail_zone_copy_t *cp);
static void ngx_http_thumbnail_zone_store(ngx_http_thumbnail_zone_t *zone,
    ngx_http_thumbnail_ctx_t *ctx, ngx_uint_t status, thumbnail_image *img,
    time_t last_modified, u_char *hdrs, size_t hdrs_len);
static void ngx_http_thumbnail_zone_release(ngx_http_thumbnail_zone_t *zone,
    ngx_http_thumbnail_ctx_t *ctx);
static ngx_int_t ngx_http_thumbnail_zone_serve(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx, ngx_http_thumbnail_zone_copy_t *cp);
static void ngx_http_thumbnail_zone_park(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx);
static void ngx_http_thumbnail_zone_poll_handler(ngx_event_t *ev);
static ngx_uint_t ngx_http_thumbnail_zone_still_rendering(
    ngx_http_thumbnail_zone_t *zone, ngx_str_t *key);
static ngx_int_t ngx_http_thumbnail_zone_capture(ngx_http_request_t *r,
    u_char **out, size_t *out_len);
static void ngx_http_thumbnail_zone_worker_changed(void);
static void ngx_http_thumbnail_zone_close_pipes(void *data);
static void ngx_http_thumbnail_zone_notify(ngx_http_thumbnail_zone_t *zone,
    uint64_t waiters);
static void ngx_http_thumbnail_zone_wake_handler(ngx_event_t *ev);


static ngx_http_thumbnail_zone_worker_t  ngx_http_thumbnail_zone_worker;

/* this worker's parked requests (ctx->zone_link) */
static ngx_queue_t                       ngx_http_thumbnail_zone_parked;


#define ngx_http_thumbnail_zone_rbnode(zn)                                   \
    ((ngx_rbtree_node_t *) ((u_char *) (zn)                                  \
                            - offsetof(ngx_rbtree_node_t, color)))

#define ngx_http_thumbnail_zone_pieces(zn)  ((u_char **) (zn)->data)

#define ngx_http_thumbnail_zone_key(zn)                                      \
    ((u_char *) &(zn)->data[(zn)->npieces])

#define ngx_http_thumbnail_zone_type(zn)                                     \
    (ngx_http_thumbnail_zone_key(zn) + (zn)->key_len)

#define ngx_http_thumbnail_zone_etag(zn)                                     \
    (ngx_http_thumbnail_zone_type(zn) + (zn)->type_len + 1)

#define ngx_http_thumbnail_zone_hdrs(zn)                                     \
    (ngx_http_thumbnail_zone_etag(zn) + (zn)->etag_len)


/* the size of the next piece of a value of which `left` bytes remain */

static ngx_inline size_t
ngx_http_thumbnail_zone_piece(size_t left)
{
    if (left >= ngx_pagesize) {
        return ngx_pagesize;
    }

    if (left >= 1024) {
        return 1024;
    }

    if (left >= 512) {
        return 512;
    }

    if (left >= 256) {
        return 256;
    }

    return left;
}


static size_t
ngx_http_thumbnail_zone_npieces(size_t len)
{
    size_t  n;

    for (n = 0; len; n++) {
        len -= ngx_http_thumbnail_zone_piece(len);
    }

    return n;
}


/* configuration ------------------------------------------------------- */


/* the arguments of thumbnail_cache that belong to the zone */

ngx_uint_t
ngx_http_thumbnail_zone_arg(ngx_str_t *arg)
{
    static ngx_str_t  names[] = {
        ngx_string("zone="),
        ngx_string("inactive="),
        ngx_string("max_item="),
        ngx_string("lock_age="),
        ngx_null_string
    };

    ngx_str_t  *n;

    for (n = names; n->len; n++) {
        if (arg->len >= n->len && ngx_strncmp(arg->data, n->data, n->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/*
 * thumbnail_cache zone=NAME:SIZE [inactive=TIME] [ttl=TIME] [max_item=SIZE]
 *                 [lock_age=TIME]: makes the zone (the rest of the
 * directive's arguments are the per-worker cache's, parsed by
 * ngx_http_thumbnail_module.c, which skips the ones above)
 */

char *
ngx_http_thumbnail_zone_directive(ngx_conf_t *cf,
    ngx_http_thumbnail_main_conf_t *mcf)
{
    u_char                     *p;
    ssize_t                     size, max_item;
    ngx_str_t                  *value, name, s;
    ngx_msec_t                  inactive, ttl, lock_age;
    ngx_uint_t                  i, has_zone_arg, has_size;
    ngx_shm_zone_t             *shm_zone;
    ngx_http_thumbnail_zone_t  *zone;

    value = cf->args->elts;

    name.len = 0;
    size = 0;
    max_item = NGX_CONF_UNSET;
    inactive = 0;
    ttl = 0;
    lock_age = 10000;
    has_zone_arg = 0;
    has_size = 0;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "size=", 5) == 0
            || ngx_strncmp(value[i].data, "shards=", 7) == 0)
        {
            has_size = 1;
            continue;
        }

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {

            name.data = value[i].data + 5;

            p = (u_char *) ngx_strchr(name.data, ':');

            if (p == NULL) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid zone size \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            name.len = p - name.data;

            s.data = p + 1;
            s.len = value[i].data + value[i].len - s.data;

            size = ngx_parse_size(&s);

            if (size == NGX_ERROR) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid zone size \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            if (size < (ssize_t) (8 * ngx_pagesize)) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "zone \"%V\" is too small", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "inactive=", 9) == 0) {
            s.data = value[i].data + 9;
            s.len = value[i].len - 9;

            inactive = ngx_parse_time(&s, 0);
            if (inactive == (ngx_msec_t) NGX_ERROR) {
                goto invalid;
            }

            has_zone_arg = 1;
            continue;
        }

        if (ngx_strncmp(value[i].data, "lock_age=", 9) == 0) {
            s.data = value[i].data + 9;
            s.len = value[i].len - 9;

            lock_age = ngx_parse_time(&s, 0);
            if (lock_age == (ngx_msec_t) NGX_ERROR || lock_age == 0) {
                goto invalid;
            }

            has_zone_arg = 1;
            continue;
        }

        if (ngx_strncmp(value[i].data, "max_item=", 9) == 0) {
            s.data = value[i].data + 9;
            s.len = value[i].len - 9;

            max_item = ngx_parse_size(&s);
            if (max_item == NGX_ERROR) {
                goto invalid;
            }

            has_zone_arg = 1;
            continue;
        }

        if (ngx_strncmp(value[i].data, "ttl=", 4) == 0) {
            /* shared with the per-worker cache */
            s.data = value[i].data + 4;
            s.len = value[i].len - 4;

            ttl = ngx_parse_time(&s, 0);
            if (ttl == (ngx_msec_t) NGX_ERROR) {
                goto invalid;
            }

            continue;
        }
    }

    if (name.len == 0) {
        if (has_zone_arg) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "inactive=, max_item= and lock_age= "
                               "need zone=");
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    if (has_size) {
        /*
         * The per-worker cache in front of the zone was measured (make
         * bench-zone: no faster on the hit path) and has defects of its
         * own: its hits lack the caching headers, it holds only what its
         * worker rendered, a purge clears only one worker's copy.
         */
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"size=\" and \"shards=\" (a per-worker cache) "
                           "cannot be combined with \"zone=\"");
        return NGX_CONF_ERROR;
    }

    if (name.len == sizeof("thumbnail_stats") - 1
        && ngx_strncmp(name.data, "thumbnail_stats", name.len) == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone name \"thumbnail_stats\" is reserved");
        return NGX_CONF_ERROR;
    }

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_http_thumbnail_zone_t));
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    zone->name = name;
    zone->size = size;
    zone->inactive = inactive;
    zone->ttl = ttl;
    zone->lock_age = lock_age;
    zone->max_item = (max_item == NGX_CONF_UNSET) ? (size_t) size / 8
                                                  : (size_t) max_item;

    shm_zone = ngx_shared_memory_add(cf, &name, size,
                                     &ngx_http_thumbnail_module);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate zone \"%V\"", &name);
        return NGX_CONF_ERROR;
    }

    shm_zone->init = ngx_http_thumbnail_zone_init;
    shm_zone->data = zone;

    mcf->zone = shm_zone;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);

    return NGX_CONF_ERROR;
}


static ngx_int_t
ngx_http_thumbnail_zone_init(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_thumbnail_zone_t  *ozone = data;

    size_t                      len;
    ngx_http_thumbnail_zone_t  *zone;

    zone = shm_zone->data;

    if (ozone) {
        /* a reload, same name and size: keep the entries */
        zone->sh = ozone->sh;
        zone->shpool = ozone->shpool;
        return NGX_OK;
    }

    zone->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        zone->sh = zone->shpool->data;
        return NGX_OK;
    }

    zone->sh = ngx_slab_calloc(zone->shpool,
                               sizeof(ngx_http_thumbnail_zone_sh_t));
    if (zone->sh == NULL) {
        return NGX_ERROR;
    }

    zone->shpool->data = zone->sh;

    ngx_rbtree_init(&zone->sh->rbtree, &zone->sh->sentinel,
                    ngx_http_thumbnail_zone_insert_value);
    ngx_queue_init(&zone->sh->lru);
    ngx_queue_init(&zone->sh->markers);

    len = sizeof(" in thumbnail zone \"\"") + shm_zone->shm.name.len;

    zone->shpool->log_ctx = ngx_slab_alloc(zone->shpool, len);
    if (zone->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(zone->shpool->log_ctx, " in thumbnail zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* a full zone is normal: it evicts */
    zone->shpool->log_nomem = 0;

    return NGX_OK;
}


/* thumbnail_cache_purge needs the zone */

char *
ngx_http_thumbnail_zone_check_purge(ngx_conf_t *cf,
    ngx_http_thumbnail_loc_conf_t *lcf)
{
    ngx_http_thumbnail_main_conf_t  *mcf;

    if (lcf->purge == NULL) {
        return NGX_CONF_OK;
    }

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_thumbnail_module);

    if (mcf->zone == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"thumbnail_cache_purge\" needs "
                           "\"thumbnail_cache zone=...\"");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * In the master, for each configuration, before the workers are forked: a
 * pipe per worker slot, through which a leader wakes the followers of
 * another worker (closed with the cycle).
 */

ngx_int_t
ngx_http_thumbnail_zone_init_module(ngx_cycle_t *cycle)
{
    ngx_fd_t                         fds[2];
    ngx_uint_t                       i, n;
    ngx_core_conf_t                 *ccf;
    ngx_pool_cleanup_t              *cln;
    ngx_http_thumbnail_zone_t       *zone;
    ngx_http_thumbnail_main_conf_t  *mcf;

    if (cycle->conf_ctx[ngx_http_module.index] == NULL) {
        return NGX_OK;
    }

    mcf = ngx_http_cycle_get_module_main_conf(cycle,
                                              ngx_http_thumbnail_module);

    if (mcf == NULL || mcf->zone == NULL) {
        return NGX_OK;
    }

    zone = mcf->zone->data;

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    n = (ccf->worker_processes > 0) ? (ngx_uint_t) ccf->worker_processes : 1;
    n = ngx_min(n, 64);

    zone->wake = ngx_palloc(cycle->pool, 2 * n * sizeof(ngx_fd_t));
    if (zone->wake == NULL) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(cycle->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_thumbnail_zone_close_pipes;
    cln->data = zone;

    for (i = 0; i < n; i++) {

        if (pipe(fds) == -1) {
            ngx_log_error(NGX_LOG_ALERT, cycle->log, ngx_errno,
                          "thumbnail: pipe() failed");
            return NGX_ERROR;
        }

        zone->wake[2 * i] = fds[0];
        zone->wake[2 * i + 1] = fds[1];
        zone->nwake = i + 1;

        if (ngx_nonblocking(fds[0]) == -1
            || ngx_nonblocking(fds[1]) == -1
            || fcntl(fds[0], F_SETFD, FD_CLOEXEC) == -1
            || fcntl(fds[1], F_SETFD, FD_CLOEXEC) == -1)
        {
            ngx_log_error(NGX_LOG_ALERT, cycle->log, ngx_errno,
                          "thumbnail: cannot set up the wake-up pipe");
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static void
ngx_http_thumbnail_zone_close_pipes(void *data)
{
    ngx_http_thumbnail_zone_t *zone = data;

    ngx_uint_t  i;

    for (i = 0; i < 2 * zone->nwake; i++) {
        (void) close(zone->wake[i]);
    }

    zone->nwake = 0;
}


/* in a worker: listen on its own pipe */

ngx_int_t
ngx_http_thumbnail_zone_init_process(ngx_cycle_t *cycle)
{
    ngx_http_thumbnail_zone_t  *zone;

    ngx_queue_init(&ngx_http_thumbnail_zone_parked);

    zone = ngx_http_thumbnail_zone_get();

    if (zone == NULL || ngx_worker >= zone->nwake) {
        return NGX_OK;
    }

    if (ngx_add_channel_event(cycle, zone->wake[2 * ngx_worker],
                              NGX_READ_EVENT,
                              ngx_http_thumbnail_zone_wake_handler)
        == NGX_ERROR)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the zone of this worker's configuration, or NULL */

static ngx_http_thumbnail_zone_t *
ngx_http_thumbnail_zone_get(void)
{
    ngx_http_thumbnail_main_conf_t  *mcf;

    if (ngx_cycle->conf_ctx == NULL
        || ngx_cycle->conf_ctx[ngx_http_module.index] == NULL)
    {
        return NULL;
    }

    mcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                              ngx_http_thumbnail_module);

    if (mcf == NULL || mcf->zone == NULL) {
        return NULL;
    }

    return mcf->zone->data;
}


ngx_uint_t
ngx_http_thumbnail_zone_enabled(void)
{
    return ngx_http_thumbnail_zone_get() != NULL;
}


/* the tree and the nodes ------------------------------------------------ */


static void
ngx_http_thumbnail_zone_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t               **p;
    ngx_http_thumbnail_zone_node_t   *zn, *znt;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else { /* node->key == temp->key */

            zn = (ngx_http_thumbnail_zone_node_t *) &node->color;
            znt = (ngx_http_thumbnail_zone_node_t *) &temp->color;

            p = (ngx_memn2cmp(ngx_http_thumbnail_zone_key(zn),
                              ngx_http_thumbnail_zone_key(znt),
                              zn->key_len, znt->key_len) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


static ngx_http_thumbnail_zone_node_t *
ngx_http_thumbnail_zone_find(ngx_http_thumbnail_zone_t *zone, ngx_str_t *key,
    uint32_t hash)
{
    ngx_int_t                        rc;
    ngx_rbtree_node_t               *node, *sentinel;
    ngx_http_thumbnail_zone_node_t  *zn;

    node = zone->sh->rbtree.root;
    sentinel = zone->sh->rbtree.sentinel;

    while (node != sentinel) {

        if (hash < node->key) {
            node = node->left;
            continue;
        }

        if (hash > node->key) {
            node = node->right;
            continue;
        }

        zn = (ngx_http_thumbnail_zone_node_t *) &node->color;

        rc = ngx_memn2cmp(key->data, ngx_http_thumbnail_zone_key(zn),
                          key->len, zn->key_len);

        if (rc == 0) {
            return zn;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


/*
 * A node with room for the key and the strings, and the pieces of a value
 * of value_len bytes (allocated, not filled); NULL when even an empty LRU
 * leaves no room. Not yet in the tree or a queue.
 */

static ngx_http_thumbnail_zone_node_t *
ngx_http_thumbnail_zone_new_node(ngx_http_thumbnail_zone_t *zone,
    ngx_str_t *key, uint32_t hash, ngx_uint_t state, size_t value_len,
    size_t type_len, size_t etag_len, size_t hdrs_len)
{
    size_t                           n, npieces, left, piece;
    u_char                         **pieces;
    ngx_rbtree_node_t               *node;
    ngx_http_thumbnail_zone_node_t  *zn;

    npieces = ngx_http_thumbnail_zone_npieces(value_len);

    n = offsetof(ngx_rbtree_node_t, color)
        + offsetof(ngx_http_thumbnail_zone_node_t, data)
        + npieces * sizeof(uintptr_t)
        + key->len + type_len + 1 + etag_len + hdrs_len;

    node = ngx_http_thumbnail_zone_alloc(zone, n);
    if (node == NULL) {
        return NULL;
    }

    node->key = hash;

    zn = (ngx_http_thumbnail_zone_node_t *) &node->color;

    zn->state = (u_char) state;
    zn->purged = 0;
    zn->key_len = (uint32_t) key->len;
    zn->accessed = 0;
    zn->expires = 0;
    zn->token = 0;
    zn->pid = 0;
    zn->value_len = (uint32_t) value_len;
    zn->last_modified = -1;
    zn->status = 0;
    zn->type_len = (uint16_t) type_len;
    zn->etag_len = (uint16_t) etag_len;
    zn->hdrs_len = (uint16_t) hdrs_len;
    zn->npieces = (uint32_t) npieces;

    ngx_memcpy(ngx_http_thumbnail_zone_key(zn), key->data, key->len);
    ngx_http_thumbnail_zone_type(zn)[type_len] = '\0';

    pieces = ngx_http_thumbnail_zone_pieces(zn);
    left = value_len;

    for (n = 0; n < npieces; n++) {
        piece = ngx_http_thumbnail_zone_piece(left);
        left -= piece;

        pieces[n] = ngx_http_thumbnail_zone_alloc(zone, piece);

        if (pieces[n] == NULL) {
            while (n--) {
                ngx_slab_free_locked(zone->shpool, pieces[n]);
            }

            ngx_slab_free_locked(zone->shpool, node);
            return NULL;
        }
    }

    return zn;
}


/* slab allocation; a full zone evicts from the LRU tail and tries again */

static void *
ngx_http_thumbnail_zone_alloc(ngx_http_thumbnail_zone_t *zone, size_t size)
{
    void  *p;

    for ( ;; ) {
        p = ngx_slab_alloc_locked(zone->shpool, size);

        if (p) {
            return p;
        }

        if (ngx_http_thumbnail_zone_evict(zone) != NGX_OK) {
            return NULL;
        }
    }
}


static ngx_int_t
ngx_http_thumbnail_zone_evict(ngx_http_thumbnail_zone_t *zone)
{
    ngx_queue_t                     *q;
    ngx_http_thumbnail_zone_node_t  *zn;

    if (ngx_queue_empty(&zone->sh->lru)) {
        return NGX_DECLINED;
    }

    q = ngx_queue_last(&zone->sh->lru);
    zn = ngx_queue_data(q, ngx_http_thumbnail_zone_node_t, queue);

    if (zn->state == NGX_HTTP_THUMBNAIL_ZONE_READY) {
        zone->sh->c.evictions++;
    }

    ngx_http_thumbnail_zone_free_node(zone, zn);

    return NGX_OK;
}


/* out of the tree and its queue, pieces and node freed, counters kept */

static void
ngx_http_thumbnail_zone_free_node(ngx_http_thumbnail_zone_t *zone,
    ngx_http_thumbnail_zone_node_t *zn)
{
    ngx_uint_t    i;
    u_char      **pieces;

    ngx_rbtree_delete(&zone->sh->rbtree, ngx_http_thumbnail_zone_rbnode(zn));
    ngx_queue_remove(&zn->queue);

    switch (zn->state) {

    case NGX_HTTP_THUMBNAIL_ZONE_READY:
        zone->sh->c.items--;
        zone->sh->c.bytes -= zn->value_len;
        break;

    case NGX_HTTP_THUMBNAIL_ZONE_FAILED:
        zone->sh->c.errors--;
        break;

    default: /* RENDERING */
        zone->sh->c.markers--;
        break;
    }

    pieces = ngx_http_thumbnail_zone_pieces(zn);

    for (i = 0; i < zn->npieces; i++) {
        ngx_slab_free_locked(zone->shpool, pieces[i]);
    }

    ngx_slab_free_locked(zone->shpool, ngx_http_thumbnail_zone_rbnode(zn));
}


static ngx_uint_t
ngx_http_thumbnail_zone_expired(ngx_http_thumbnail_zone_t *zone,
    ngx_http_thumbnail_zone_node_t *zn, ngx_msec_t now)
{
    if (zn->state == NGX_HTTP_THUMBNAIL_ZONE_RENDERING) {
        return 0;
    }

    if (zn->expires && (ngx_msec_int_t) (now - zn->expires) >= 0) {
        return 1;
    }

    return zone->inactive
           && (ngx_msec_int_t) (now - zn->accessed) >= (ngx_msec_int_t)
                                                        zone->inactive;
}


/* a marker nobody will finish: its owner is dead, or it is too old */

static ngx_uint_t
ngx_http_thumbnail_zone_stale(ngx_http_thumbnail_zone_t *zone,
    ngx_http_thumbnail_zone_node_t *zn, ngx_msec_t now)
{
    ngx_msec_int_t  age;

    age = (ngx_msec_int_t) (now - zn->accessed);

    if (age >= (ngx_msec_int_t) zone->lock_age) {
        return 1;
    }

    if (age < NGX_HTTP_THUMBNAIL_ZONE_PID_CHECK || zn->pid == ngx_pid) {
        return 0;
    }

    return kill(zn->pid, 0) == -1 && ngx_errno == NGX_ESRCH;
}


/*
 * Expired entries at the LRU tail (least recently used first, so with
 * inactive= the first one that is not expired ends the walk) and stale
 * markers at the markers' tail (oldest first).
 */

static void
ngx_http_thumbnail_zone_sweep(ngx_http_thumbnail_zone_t *zone, ngx_msec_t now)
{
    ngx_uint_t                       n;
    ngx_queue_t                     *q;
    ngx_http_thumbnail_zone_node_t  *zn;

    for (n = 0; n < NGX_HTTP_THUMBNAIL_ZONE_SWEEP; n++) {

        if (ngx_queue_empty(&zone->sh->lru)) {
            break;
        }

        q = ngx_queue_last(&zone->sh->lru);
        zn = ngx_queue_data(q, ngx_http_thumbnail_zone_node_t, queue);

        if (!ngx_http_thumbnail_zone_expired(zone, zn, now)) {
            break;
        }

        if (zn->state == NGX_HTTP_THUMBNAIL_ZONE_READY) {
            zone->sh->c.expirations++;
        }

        ngx_http_thumbnail_zone_free_node(zone, zn);
    }

    for (n = 0; n < NGX_HTTP_THUMBNAIL_ZONE_SWEEP; n++) {

        if (ngx_queue_empty(&zone->sh->markers)) {
            break;
        }

        q = ngx_queue_last(&zone->sh->markers);
        zn = ngx_queue_data(q, ngx_http_thumbnail_zone_node_t, queue);

        if ((ngx_msec_int_t) (now - zn->accessed)
            < (ngx_msec_int_t) zone->lock_age)
        {
            break;
        }

        ngx_http_thumbnail_zone_free_node(zone, zn);
    }
}


/* the marker zn becomes the request's: it leads */

static void
ngx_http_thumbnail_zone_own(ngx_http_thumbnail_zone_t *zone,
    ngx_http_thumbnail_zone_node_t *zn, ngx_http_thumbnail_ctx_t *ctx,
    ngx_msec_t now)
{
    zn->pid = ngx_pid;
    zn->token = ++zone->sh->token;
    zn->accessed = now;
    zn->purged = 0;

    ngx_queue_remove(&zn->queue);
    ngx_queue_insert_head(&zone->sh->markers, &zn->queue);

    ctx->zone_token = zn->token;
}


/* a new marker for the request's key (none if the zone has no room) */

static void
ngx_http_thumbnail_zone_mark(ngx_http_thumbnail_zone_t *zone,
    ngx_http_thumbnail_ctx_t *ctx, uint32_t hash, ngx_msec_t now)
{
    ngx_http_thumbnail_zone_node_t  *zn;

    ngx_http_thumbnail_zone_sweep(zone, now);

    zn = ngx_http_thumbnail_zone_new_node(zone, &ctx->key, hash,
                                          NGX_HTTP_THUMBNAIL_ZONE_RENDERING,
                                          0, 0, 0, 0);
    if (zn == NULL) {
        return;
    }

    ngx_rbtree_insert(&zone->sh->rbtree, ngx_http_thumbnail_zone_rbnode(zn));
    ngx_queue_insert_head(&zone->sh->markers, &zn->queue);
    zone->sh->c.markers++;

    ngx_http_thumbnail_zone_own(zone, zn, ctx, now);
}


/* request time ------------------------------------------------------------ */


/*
 * The phase handler's look at the zone, after the per-worker cache (if
 * any) missed. Returns
 *   NGX_DONE       answered from the zone;
 *   NGX_AGAIN      parked: another worker renders the key;
 *   an HTTP status the render of the key failed with, a moment ago;
 *   NGX_DECLINED   go on as without a zone: wait for this worker's flight
 *                  of the key, or lead (holding the key's marker, if the
 *                  zone had room for one).
 */

ngx_int_t
ngx_http_thumbnail_zone_lookup(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx)
{
    uint32_t                         hash;
    ngx_int_t                        rc;
    ngx_pid_t                        dead;
    ngx_msec_t                       now, age;
    ngx_uint_t                       status;
    ngx_http_thumbnail_zone_t       *zone;
    ngx_http_thumbnail_zone_node_t  *zn;
    ngx_http_thumbnail_zone_copy_t   cp;

    zone = ngx_http_thumbnail_zone_get();

    if (zone == NULL || ctx->key.len > NGX_HTTP_THUMBNAIL_ZONE_MAX_KEY) {
        return NGX_DECLINED;
    }

    if (!ctx->zone_waited) {
        ngx_http_thumbnail_zone_worker.gets++;
        ngx_http_thumbnail_zone_worker_changed();
    }

    hash = ngx_crc32_long(ctx->key.data, ctx->key.len);
    now = ngx_current_msec;
    status = 0;
    dead = 0;
    age = 0;

    ngx_shmtx_lock(&zone->shpool->mutex);

    zn = ngx_http_thumbnail_zone_find(zone, &ctx->key, hash);

    if (zn && ngx_http_thumbnail_zone_expired(zone, zn, now)) {
        if (zn->state == NGX_HTTP_THUMBNAIL_ZONE_READY) {
            zone->sh->c.expirations++;
        }

        ngx_http_thumbnail_zone_free_node(zone, zn);
        zn = NULL;
    }

    if (zn == NULL) {
        if (ngx_http_thumbnail_flight_find(&ctx->key) == NULL) {
            ngx_http_thumbnail_zone_mark(zone, ctx, hash, now);
        }

        goto lead;
    }

    switch (zn->state) {

    case NGX_HTTP_THUMBNAIL_ZONE_READY:

        ngx_queue_remove(&zn->queue);
        ngx_queue_insert_head(&zone->sh->lru, &zn->queue);
        zn->accessed = now;

        rc = ngx_http_thumbnail_zone_copy(r->pool, zn, &cp);

        ngx_shmtx_unlock(&zone->shpool->mutex);

        if (rc != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (ctx->zone_waited) {
            ngx_http_thumbnail_zone_worker.loads_deduped++;

        } else {
            ngx_http_thumbnail_zone_worker.hits++;
            ngx_http_thumbnail_stat_inc(cache_hits);
        }

        ngx_http_thumbnail_zone_worker_changed();

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "thumbnail: zone hit \"%V\"", &ctx->key);

        return ngx_http_thumbnail_zone_serve(r, ctx, &cp);

    case NGX_HTTP_THUMBNAIL_ZONE_FAILED:

        status = zn->status;

        ngx_shmtx_unlock(&zone->shpool->mutex);

        if (ctx->zone_waited) {
            ngx_http_thumbnail_zone_worker.loads_deduped++;

        } else {
            /* as the library counts them: an error hit is a hit */
            ngx_http_thumbnail_zone_worker.hits++;
            ngx_http_thumbnail_zone_worker.error_hits++;
        }

        ngx_http_thumbnail_zone_worker_changed();

        ngx_http_thumbnail_failed(ctx, status);

        return status;

    default: /* RENDERING */

        if (zn->pid == ngx_pid) {
            if (ngx_http_thumbnail_flight_find(&ctx->key) == NULL) {
                /* left by a request of this worker that is gone */
                zone->sh->c.marker_takeovers++;
                ngx_http_thumbnail_zone_own(zone, zn, ctx, now);
            }

            /* else: this worker renders it, the flight's waiters wait */

            goto lead;
        }

        if (ngx_http_thumbnail_zone_stale(zone, zn, now)) {
            dead = zn->pid;                 /* logged after the unlock */
            age = now - zn->accessed;

            zone->sh->c.marker_takeovers++;
            ngx_http_thumbnail_zone_own(zone, zn, ctx, now);
            goto lead;
        }

        if (ngx_worker < 64) {
            /* wake us when the marker goes */
            zn->waiters |= (uint64_t) 1 << ngx_worker;
        }

        ngx_shmtx_unlock(&zone->shpool->mutex);

        ngx_http_thumbnail_zone_park(r, ctx);

        return NGX_AGAIN;
    }

lead:

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (dead) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "thumbnail: the render of \"%V\" by process %P "
                      "started %M ms ago is taken over",
                      &ctx->key, dead, age);
    }

    if (!ctx->zone_waited) {
        ngx_http_thumbnail_zone_worker.misses++;
        ngx_http_thumbnail_zone_worker_changed();
    }

    return NGX_DECLINED;
}


/* a READY entry into the request's pool: one allocation, under the lock */

static ngx_int_t
ngx_http_thumbnail_zone_copy(ngx_pool_t *pool,
    ngx_http_thumbnail_zone_node_t *zn, ngx_http_thumbnail_zone_copy_t *cp)
{
    u_char      *p, **pieces;
    size_t       left, n;
    ngx_uint_t   i;

    p = ngx_pnalloc(pool, zn->value_len + zn->type_len + 1 + zn->etag_len
                          + zn->hdrs_len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    cp->value = p;
    cp->value_len = zn->value_len;

    pieces = ngx_http_thumbnail_zone_pieces(zn);
    left = zn->value_len;

    for (i = 0; i < zn->npieces; i++) {
        n = ngx_http_thumbnail_zone_piece(left);
        p = ngx_cpymem(p, pieces[i], n);
        left -= n;
    }

    cp->type = p;
    p = ngx_cpymem(p, ngx_http_thumbnail_zone_type(zn), zn->type_len + 1);

    cp->etag.data = p;
    cp->etag.len = zn->etag_len;
    p = ngx_cpymem(p, ngx_http_thumbnail_zone_etag(zn), zn->etag_len);

    cp->hdrs = p;
    cp->hdrs_len = zn->hdrs_len;
    ngx_memcpy(p, ngx_http_thumbnail_zone_hdrs(zn), zn->hdrs_len);

    cp->last_modified = zn->last_modified;

    return NGX_OK;
}


/* answers with a zone entry, as ngx_http_thumbnail_cache.c answers a hit */

static ngx_int_t
ngx_http_thumbnail_zone_serve(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx, ngx_http_thumbnail_zone_copy_t *cp)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    /* the filter passes our own response through */
    ctx->phase = NGX_HTTP_THUMBNAIL_PASS;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (cp->etag.len) {
        ctx->etag = cp->etag;
    }

    if (ngx_http_thumbnail_zone_replay(r, cp->hdrs, cp->hdrs_len) != NGX_OK
        || ngx_http_thumbnail_set_headers_raw(r, ctx, (const char *) cp->type,
                                              cp->value_len,
                                              cp->last_modified)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (r->headers_out.status == NGX_HTTP_NOT_MODIFIED) {
        ngx_http_finalize_request(r, ngx_http_send_header(r));
        return NGX_DONE;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        ngx_http_finalize_request(r, rc);
        return NGX_DONE;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        ngx_http_finalize_request(r, NGX_ERROR);
        return NGX_DONE;
    }

    b->pos = cp->value;
    b->last = cp->value + cp->value_len;
    b->memory = 1;
    b->last_buf = 1;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    ngx_http_finalize_request(r, ngx_http_output_filter(r, &out));

    return NGX_DONE;
}


/* followers ----------------------------------------------------------- */


/*
 * Another worker renders the key: the request waits, parked as the
 * in-worker flight's waiters are (the client is watched for going away),
 * and looks at the zone again on a timer.
 */

static void
ngx_http_thumbnail_zone_park(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx)
{
    if (!ctx->zone_waited) {
        ctx->zone_waited = 1;
        ctx->zone_delay = NGX_HTTP_THUMBNAIL_ZONE_POLL_MIN;
        ngx_http_thumbnail_zone_worker.misses++;
        ngx_http_thumbnail_stat_inc(zone_waits);

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "thumbnail: waiting for another worker's render "
                       "of \"%V\"", &ctx->key);
    }

    ctx->zone_waiting = 1;
    ngx_http_thumbnail_stat_inc(waiting);

    if (ngx_queue_prev(&ngx_http_thumbnail_zone_parked) == NULL) {
        /* not a worker (e.g. single process without init_process yet) */
        ngx_queue_init(&ngx_http_thumbnail_zone_parked);
    }

    ngx_queue_insert_tail(&ngx_http_thumbnail_zone_parked, &ctx->zone_link);

    ctx->zone_timer.handler = ngx_http_thumbnail_zone_poll_handler;
    ctx->zone_timer.data = r;
    ctx->zone_timer.log = r->connection->log;

    ngx_add_timer(&ctx->zone_timer, ctx->zone_delay);

    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_request_empty_handler;
}


static void
ngx_http_thumbnail_zone_poll_handler(ngx_event_t *ev)
{
    ngx_connection_t           *c;
    ngx_http_request_t         *r;
    ngx_http_thumbnail_ctx_t   *ctx;
    ngx_http_thumbnail_zone_t  *zone;

    r = ev->data;
    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_http_thumbnail_module);

    ngx_http_set_log_request(c->log, r);

    zone = ngx_http_thumbnail_zone_get();

    if (zone && ctx
        && ngx_http_thumbnail_zone_still_rendering(zone, &ctx->key))
    {
        ctx->zone_delay = ngx_min(ctx->zone_delay * 2,
                                  NGX_HTTP_THUMBNAIL_ZONE_POLL_MAX);
        ngx_add_timer(ev, ctx->zone_delay);
        return;
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "thumbnail: another worker's render ended");

    /* the phase handler sees zone_waiting and looks again */

    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_core_run_phases;

    ngx_http_core_run_phases(r);
    ngx_http_run_posted_requests(c);
}


/* the key has a live marker of another worker: keep waiting */

static ngx_uint_t
ngx_http_thumbnail_zone_still_rendering(ngx_http_thumbnail_zone_t *zone,
    ngx_str_t *key)
{
    uint32_t                         hash;
    ngx_uint_t                       wait;
    ngx_http_thumbnail_zone_node_t  *zn;

    hash = ngx_crc32_long(key->data, key->len);

    ngx_shmtx_lock(&zone->shpool->mutex);

    zn = ngx_http_thumbnail_zone_find(zone, key, hash);

    wait = zn
           && zn->state == NGX_HTTP_THUMBNAIL_ZONE_RENDERING
           && zn->pid != ngx_pid
           && !ngx_http_thumbnail_zone_stale(zone, zn, ngx_current_msec);

    if (wait && ngx_worker < 64) {
        zn->waiters |= (uint64_t) 1 << ngx_worker;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return wait;
}


/*
 * The request stops waiting (woken, or it ends) or ends: no timer, no
 * marker left behind.
 */

void
ngx_http_thumbnail_zone_cleanup(ngx_http_thumbnail_ctx_t *ctx)
{
    ngx_http_thumbnail_zone_t  *zone;

    if (ctx->zone_timer.timer_set) {
        ngx_del_timer(&ctx->zone_timer);
    }

    if (ctx->zone_timer.posted) {
        ngx_delete_posted_event(&ctx->zone_timer);
    }

    if (ctx->zone_waiting) {
        ctx->zone_waiting = 0;
        ngx_queue_remove(&ctx->zone_link);
        ngx_http_thumbnail_stat_dec(waiting);
    }

    if (ctx->zone_token) {
        zone = ngx_http_thumbnail_zone_get();

        if (zone) {
            ngx_http_thumbnail_zone_release(zone, ctx);
        }

        ctx->zone_token = 0;
    }
}


/* the request's marker goes (its render ended without a thumbnail) */

static void
ngx_http_thumbnail_zone_release(ngx_http_thumbnail_zone_t *zone,
    ngx_http_thumbnail_ctx_t *ctx)
{
    uint32_t                         hash;
    uint64_t                         waiters;
    ngx_http_thumbnail_zone_node_t  *zn;

    hash = ngx_crc32_long(ctx->key.data, ctx->key.len);
    waiters = 0;

    ngx_shmtx_lock(&zone->shpool->mutex);

    zn = ngx_http_thumbnail_zone_find(zone, &ctx->key, hash);

    if (zn
        && zn->state == NGX_HTTP_THUMBNAIL_ZONE_RENDERING
        && zn->token == ctx->zone_token)
    {
        waiters = zn->waiters;
        ngx_http_thumbnail_zone_free_node(zone, zn);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    ctx->zone_token = 0;

    /* the followers look again: one of them leads */
    ngx_http_thumbnail_zone_notify(zone, waiters);
}


/* the leader's result ------------------------------------------------- */


/*
 * Called by ngx_http_thumbnail_flight_finish() before it wakes the flight's
 * waiters: the render's result replaces the leader's marker (a thumbnail,
 * a render error, or nothing), and the caching headers of the source go
 * into the flight for its waiters.
 */

void
ngx_http_thumbnail_zone_finish(ngx_http_thumbnail_flight_t *fl,
    ngx_uint_t status, thumbnail_image *img, time_t last_modified)
{
    u_char                     *hdrs;
    size_t                      hdrs_len;
    ngx_http_request_t         *r;
    ngx_http_thumbnail_ctx_t   *ctx;
    ngx_http_thumbnail_zone_t  *zone;

    r = fl->leader;

    if (r == NULL) {
        return;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_thumbnail_module);

    if (ctx == NULL || ctx->flight != fl) {
        /*
         * e.g. the leader was redirected (try_files, error_page): its
         * marker, if any, goes with its request (the pool cleanup)
         */
        return;
    }

    hdrs = NULL;
    hdrs_len = 0;

    if (status == NGX_HTTP_OK && img) {
        if (ngx_http_thumbnail_zone_capture(r, &hdrs, &hdrs_len) != NGX_OK) {
            hdrs_len = 0;
        }

        if (hdrs_len) {
            fl->cache_headers = ngx_alloc(hdrs_len, r->connection->log);

            if (fl->cache_headers) {
                ngx_memcpy(fl->cache_headers, hdrs, hdrs_len);
                fl->cache_headers_len = hdrs_len;
            }
        }

        ngx_http_thumbnail_zone_worker.local_loads++;
        ngx_http_thumbnail_zone_worker_changed();

    } else if (status != 0) {
        ngx_http_thumbnail_zone_worker.local_load_errors++;
        ngx_http_thumbnail_zone_worker_changed();
    }

    zone = ngx_http_thumbnail_zone_get();

    if (zone == NULL || ctx->key.len > NGX_HTTP_THUMBNAIL_ZONE_MAX_KEY) {
        return;
    }

    ngx_http_thumbnail_zone_store(zone, ctx, status, img, last_modified,
                                  hdrs, hdrs_len);
}


static void
ngx_http_thumbnail_zone_store(ngx_http_thumbnail_zone_t *zone,
    ngx_http_thumbnail_ctx_t *ctx, ngx_uint_t status, thumbnail_image *img,
    time_t last_modified, u_char *hdrs, size_t hdrs_len)
{
    size_t                           len, left, n, i;
    uint32_t                         hash;
    ngx_msec_t                       now;
    const char                      *type;
    uint64_t                         waiters;
    const u_char                    *data;
    ngx_uint_t                       state, ours, purged;
    u_char                         **pieces;
    ngx_http_thumbnail_zone_node_t  *zn;

    type = NULL;
    data = NULL;
    len = 0;

    if (status == NGX_HTTP_OK && img) {
        type = thumbnail_image_media_type(img);
        data = thumbnail_image_data(img);
        len = thumbnail_image_len(img);
        state = NGX_HTTP_THUMBNAIL_ZONE_READY;

    } else if (status == NGX_HTTP_BAD_REQUEST
               || status == NGX_HTTP_REQUEST_ENTITY_TOO_LARGE
               || status == NGX_HTTP_UNSUPPORTED_MEDIA_TYPE)
    {
        /* the same source and spec fail the same way: tell the followers */
        state = NGX_HTTP_THUMBNAIL_ZONE_FAILED;

    } else {
        /* no result (source not 200, 500, 503): followers look again */
        ngx_http_thumbnail_zone_release(zone, ctx);
        return;
    }

    if (type == NULL) {
        type = "";
    }

    hash = ngx_crc32_long(ctx->key.data, ctx->key.len);
    now = ngx_current_msec;

    ngx_shmtx_lock(&zone->shpool->mutex);

    zn = ngx_http_thumbnail_zone_find(zone, &ctx->key, hash);

    ours = (zn && zn->state == NGX_HTTP_THUMBNAIL_ZONE_RENDERING
            && zn->token == ctx->zone_token);
    purged = ours && zn->purged;
    waiters = 0;

    ctx->zone_token = 0;

    if (zn && (ours || state == NGX_HTTP_THUMBNAIL_ZONE_READY)) {
        /*
         * our marker, or anything a thumbnail replaces (a marker of a
         * worker that took ours over, an older entry); an error replaces
         * only our marker
         */
        if (zn->state == NGX_HTTP_THUMBNAIL_ZONE_RENDERING) {
            waiters = zn->waiters;
        }

        ngx_http_thumbnail_zone_free_node(zone, zn);
        zn = NULL;

    } else if (zn) {
        goto done;
    }

    if (purged) {
        /* purged while it rendered: the render may predate the purge */
        goto done;
    }

    if (len > zone->max_item) {
        zone->sh->c.oversize_rejects++;
        goto done;
    }

    if (hdrs_len > NGX_HTTP_THUMBNAIL_MAX_HEADERS) {
        hdrs_len = 0;
    }

    ngx_http_thumbnail_zone_sweep(zone, now);

    zn = ngx_http_thumbnail_zone_new_node(zone, &ctx->key, hash, state, len,
                                          ngx_strlen(type), ctx->etag.len,
                                          hdrs_len);
    if (zn == NULL) {
        zone->sh->c.store_failures++;
        goto done;
    }

    zn->accessed = now;
    zn->last_modified = last_modified;

    ngx_memcpy(ngx_http_thumbnail_zone_type(zn), type, zn->type_len);
    ngx_memcpy(ngx_http_thumbnail_zone_etag(zn), ctx->etag.data,
               ctx->etag.len);

    if (hdrs_len) {
        ngx_memcpy(ngx_http_thumbnail_zone_hdrs(zn), hdrs, hdrs_len);
    }

    if (state == NGX_HTTP_THUMBNAIL_ZONE_READY) {
        pieces = ngx_http_thumbnail_zone_pieces(zn);
        left = len;

        for (i = 0; i < zn->npieces; i++) {
            n = ngx_http_thumbnail_zone_piece(left);
            ngx_memcpy(pieces[i], data + (len - left), n);
            left -= n;
        }

        if (zone->ttl) {
            zn->expires = now + zone->ttl;

            if (zn->expires == 0) {
                zn->expires = 1;
            }
        }

        zone->sh->c.items++;
        zone->sh->c.bytes += len;
        zone->sh->c.stores++;

    } else {
        zn->status = (uint16_t) status;
        zn->expires = now + NGX_HTTP_THUMBNAIL_ZONE_ERROR_TTL;

        if (zn->expires == 0) {
            zn->expires = 1;
        }

        zone->sh->c.errors++;
    }

    ngx_rbtree_insert(&zone->sh->rbtree, ngx_http_thumbnail_zone_rbnode(zn));
    ngx_queue_insert_head(&zone->sh->lru, &zn->queue);

done:

    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_http_thumbnail_zone_notify(zone, waiters);
}


/* a byte into the pipe of each worker with followers of a marker gone */

static void
ngx_http_thumbnail_zone_notify(ngx_http_thumbnail_zone_t *zone,
    uint64_t waiters)
{
    ssize_t     n;
    ngx_uint_t  i;

    for (i = 0; waiters && i < zone->nwake; i++, waiters >>= 1) {

        if (!(waiters & 1)) {
            continue;
        }

        if (i == ngx_worker) {
            /* followers here too (a marker taken over): no syscall */
            ngx_http_thumbnail_zone_wake_handler(NULL);
            continue;
        }

        /* a full pipe already holds a wake-up: EAGAIN is fine */
        n = write(zone->wake[2 * i + 1], "w", 1);
        (void) n;
    }
}


/*
 * A byte came (or a marker of this worker went): every parked request of
 * this worker looks at the zone now, instead of at its next timer.
 */

static void
ngx_http_thumbnail_zone_wake_handler(ngx_event_t *ev)
{
    u_char                     buf[64];
    ngx_queue_t               *q;
    ngx_connection_t          *c;
    ngx_http_thumbnail_ctx_t  *ctx;

    if (ev) {
        c = ev->data;

        while (read(c->fd, buf, sizeof(buf)) > 0) {
            /* drain: the channel event is edge-triggered */
        }
    }

    if (ngx_queue_prev(&ngx_http_thumbnail_zone_parked) == NULL) {
        return;
    }

    for (q = ngx_queue_head(&ngx_http_thumbnail_zone_parked);
         q != ngx_queue_sentinel(&ngx_http_thumbnail_zone_parked);
         q = ngx_queue_next(q))
    {
        ctx = ngx_queue_data(q, ngx_http_thumbnail_ctx_t, zone_link);

        if (ctx->zone_timer.timer_set) {
            ngx_del_timer(&ctx->zone_timer);
        }

        if (!ctx->zone_timer.posted) {
            ngx_post_event(&ctx->zone_timer, &ngx_posted_events);
        }
    }
}


/* caching headers ------------------------------------------------------ */


/*
 * The source response's Cache-Control and Expires lines, as records of
 * one byte (which header), two bytes of length (big-endian), the value.
 */

static ngx_int_t
ngx_http_thumbnail_zone_capture(ngx_http_request_t *r, u_char **out,
    size_t *out_len)
{
    u_char           *p;
    size_t            len;
    ngx_uint_t        i, pass, kind;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    len = 0;
    p = NULL;

    for (pass = 0; pass < 2; pass++) {

        part = &r->headers_out.headers.part;
        h = part->elts;

        for (i = 0; /* void */; i++) {

            if (i >= part->nelts) {
                if (part->next == NULL) {
                    break;
                }

                part = part->next;
                h = part->elts;
                i = 0;
            }

            if (h[i].hash == 0 || h[i].value.len > 0xffff) {
                continue;
            }

            if (h[i].key.len == sizeof("Cache-Control") - 1
                && ngx_strncasecmp(h[i].key.data, (u_char *) "Cache-Control",
                                   h[i].key.len) == 0)
            {
                kind = NGX_HTTP_THUMBNAIL_HDR_CACHE_CONTROL;

            } else if (h[i].key.len == sizeof("Expires") - 1
                       && ngx_strncasecmp(h[i].key.data, (u_char *) "Expires",
                                          h[i].key.len) == 0)
            {
                kind = NGX_HTTP_THUMBNAIL_HDR_EXPIRES;

            } else {
                continue;
            }

            if (pass == 0) {
                len += 3 + h[i].value.len;
                continue;
            }

            *p++ = (u_char) kind;
            *p++ = (u_char) (h[i].value.len >> 8);
            *p++ = (u_char) (h[i].value.len & 0xff);
            p = ngx_cpymem(p, h[i].value.data, h[i].value.len);
        }

        if (pass == 0) {
            if (len == 0) {
                break;
            }

            p = ngx_pnalloc(r->pool, len);
            if (p == NULL) {
                return NGX_ERROR;
            }

            *out = p;
        }
    }

    *out_len = len;

    return NGX_OK;
}


/* the caching headers of a capture, on the request's response */

ngx_int_t
ngx_http_thumbnail_zone_replay(ngx_http_request_t *r, u_char *p, size_t len)
{
    u_char           *end, *v;
    size_t            vlen;
    ngx_uint_t        kind;
    ngx_table_elt_t  *h;
#if (nginx_version < 1023000)
    ngx_table_elt_t **ph;
#endif

    end = p + len;

    while (end - p >= 3) {
        kind = p[0];
        vlen = ((size_t) p[1] << 8) | p[2];
        p += 3;

        if ((size_t) (end - p) < vlen) {
            break;
        }

        v = ngx_pnalloc(r->pool, vlen);
        if (v == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(v, p, vlen);
        p += vlen;

        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        h->hash = 1;
        h->value.data = v;
        h->value.len = vlen;
        h->lowcase_key = NULL;
#if (nginx_version >= 1023000)
        h->next = NULL;
#endif

        if (kind == NGX_HTTP_THUMBNAIL_HDR_EXPIRES) {
            ngx_str_set(&h->key, "Expires");
            r->headers_out.expires = h;
            continue;
        }

        ngx_str_set(&h->key, "Cache-Control");

#if (nginx_version >= 1023000)
        h->next = r->headers_out.cache_control;
        r->headers_out.cache_control = h;
#else
        if (r->headers_out.cache_control.elts == NULL
            && ngx_array_init(&r->headers_out.cache_control, r->pool, 1,
                              sizeof(ngx_table_elt_t *))
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        ph = ngx_array_push(&r->headers_out.cache_control);
        if (ph == NULL) {
            return NGX_ERROR;
        }

        *ph = h;
#endif
    }

    return NGX_OK;
}


/* purge --------------------------------------------------------------- */


/*
 * thumbnail_cache_purge CONDITION: in a thumbnail location, a request whose
 * CONDITION is neither empty nor "0" (e.g. $request_method = PURGE through
 * a map) removes the entry of the key a GET of the same URI would use, and
 * is answered 200 "purged" or 404 "not cached". An entry being rendered is
 * marked so that the render is not stored. NGX_DECLINED: not a purge.
 */

ngx_int_t
ngx_http_thumbnail_zone_purge(ngx_http_request_t *r,
    ngx_http_thumbnail_loc_conf_t *lcf)
{
    uint32_t                         hash;
    ngx_int_t                        rc;
    ngx_str_t                        cond, msg;
    ngx_buf_t                       *b;
    ngx_uint_t                       found;
    ngx_chain_t                      out;
    ngx_http_thumbnail_ctx_t        *ctx;
    ngx_http_thumbnail_zone_t       *zone;
    ngx_http_thumbnail_zone_node_t  *zn;

    if (ngx_http_complex_value(r, lcf->purge, &cond) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (cond.len == 0 || (cond.len == 1 && cond.data[0] == '0')) {
        return NGX_DECLINED;
    }

    zone = ngx_http_thumbnail_zone_get();
    if (zone == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    ctx = ngx_http_thumbnail_create_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->phase = NGX_HTTP_THUMBNAIL_PASS;

    rc = ngx_http_thumbnail_prepare(r, ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    found = 0;
    hash = ngx_crc32_long(ctx->key.data, ctx->key.len);

    ngx_shmtx_lock(&zone->shpool->mutex);

    zn = ngx_http_thumbnail_zone_find(zone, &ctx->key, hash);

    if (zn && zn->state == NGX_HTTP_THUMBNAIL_ZONE_RENDERING) {
        zn->purged = 1;
        found = 1;

    } else if (zn) {
        found = (zn->state == NGX_HTTP_THUMBNAIL_ZONE_READY);
        ngx_http_thumbnail_zone_free_node(zone, zn);
    }

    if (found) {
        zone->sh->c.purges++;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "thumbnail: purge \"%V\": %s", &ctx->key,
                  found ? "purged" : "not cached");

    if (found) {
        ngx_str_set(&msg, "purged\n");
        r->headers_out.status = NGX_HTTP_OK;

    } else {
        ngx_str_set(&msg, "not cached\n");
        r->headers_out.status = NGX_HTTP_NOT_FOUND;
    }

    r->headers_out.content_length_n = msg.len;
    ngx_str_set(&r->headers_out.content_type, "text/plain");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        ngx_http_finalize_request(r, rc);
        return NGX_DONE;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        ngx_http_finalize_request(r, NGX_ERROR);
        return NGX_DONE;
    }

    b->pos = msg.data;
    b->last = msg.data + msg.len;
    b->memory = 1;
    b->last_buf = 1;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    ngx_http_finalize_request(r, ngx_http_output_filter(r, &out));

    return NGX_DONE;
}


/* stats --------------------------------------------------------------- */


static void
ngx_http_thumbnail_zone_worker_changed(void)
{
    ngx_http_thumbnail_stats_changed();
}


/*
 * This worker's lookups, with the groupcache names, for its stats slot
 * (when there is no per-worker cache, whose own stats are used instead).
 * The zone-wide figures (bytes, items, evictions...) are not per worker:
 * ngx_http_thumbnail_zone_stats_json() puts them in the totals.
 */

void
ngx_http_thumbnail_zone_worker_stats(thumbnail_cache_stats *cs)
{
    ngx_http_thumbnail_zone_worker_t  *w;

    if (ngx_http_thumbnail_zone_get() == NULL) {
        return;
    }

    w = &ngx_http_thumbnail_zone_worker;

    cs->gets = w->gets;
    cs->hits = w->hits;
    cs->misses = w->misses;
    cs->local_loads = w->local_loads;
    cs->local_load_errors = w->local_load_errors;
    cs->loads_deduped = w->loads_deduped;
    cs->loads = w->local_loads + w->local_load_errors + w->loads_deduped;
    cs->error_hits = w->error_hits;
}


size_t
ngx_http_thumbnail_zone_stats_len(void)
{
    ngx_http_thumbnail_zone_t  *zone;

    zone = ngx_http_thumbnail_zone_get();

    if (zone == NULL) {
        return 0;
    }

    return sizeof(",\"zone\":{\"name\":\"\",\"size\":,\"used_bytes\":,"
                  "\"max_item\":,\"inactive_ms\":,\"ttl_ms\":,"
                  "\"lock_age_ms\":}")
           + zone->name.len + 6 * NGX_INT64_LEN
           + 16 * (24 + NGX_INT64_LEN);
}


/*
 * The zone's figures: into the totals with the groupcache names when the
 * zone is the only cache (bytes, items, capacity_bytes, evictions,
 * expirations, oversize_rejects are node-wide, not sums), and as an object
 * of its own, "zone":{...}, written at p (which must have
 * ngx_http_thumbnail_zone_stats_len() bytes). totals NULL: only the object.
 */

u_char *
ngx_http_thumbnail_zone_stats_json(u_char *p, thumbnail_cache_stats *totals)
{
    size_t                              used;
    ngx_http_thumbnail_zone_t          *zone;
    ngx_http_thumbnail_zone_counters_t  c;

    zone = ngx_http_thumbnail_zone_get();

    if (zone == NULL) {
        return p;
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    c = zone->sh->c;
    used = (size_t) (zone->shpool->end - zone->shpool->start)
           - zone->shpool->pfree * ngx_pagesize;

    ngx_shmtx_unlock(&zone->shpool->mutex);

    if (totals) {
        totals->bytes = c.bytes;
        totals->items = c.items;
        totals->capacity_bytes = zone->size;
        totals->evictions = c.evictions;
        totals->expirations = c.expirations;
        totals->oversize_rejects = c.oversize_rejects;
        return p;
    }

    p = ngx_sprintf(p, ",\"zone\":{\"name\":\"%V\",\"size\":%uz,"
                    "\"used_bytes\":%uz,\"max_item\":%uz,"
                    "\"inactive_ms\":%M,\"ttl_ms\":%M,\"lock_age_ms\":%M",
                    &zone->name, zone->size, used, zone->max_item,
                    zone->inactive, zone->ttl, zone->lock_age);

#define NGX_HTTP_THUMBNAIL_ZONE_JSON(name)                                   \
    p = ngx_sprintf(p, ",\"" #name "\":%uL", c.name);

    NGX_HTTP_THUMBNAIL_ZONE_COUNTERS(NGX_HTTP_THUMBNAIL_ZONE_JSON)

#undef NGX_HTTP_THUMBNAIL_ZONE_JSON

    *p++ = '}';

    return p;
}
