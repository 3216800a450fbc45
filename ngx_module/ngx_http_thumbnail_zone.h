
/*
 * ngx_http_thumbnail_module: the node-wide cache zone's own declarations,
 * shared by its four files and included by them only (the rest of the
 * module sees the zone through ngx_http_thumbnail_module.h):
 *
 *   ngx_http_thumbnail_zone.c         the directive, the shared memory zone
 *                                     and its reuse across reloads, the
 *                                     wake-up pipes
 *   ngx_http_thumbnail_zone_store.c   the entries in shared memory: tree,
 *                                     pieces, eviction, expiry, store and
 *                                     copy-out
 *   ngx_http_thumbnail_zone_flight.c  cross-worker single-flight: lookup,
 *                                     in-flight markers, followers, the
 *                                     leader's result
 *   ngx_http_thumbnail_zone_serve.c   a hit's response and the caching
 *                                     headers, purge, the zone's stats
 */


#ifndef _NGX_HTTP_THUMBNAIL_ZONE_H_INCLUDED_
#define _NGX_HTTP_THUMBNAIL_ZONE_H_INCLUDED_


#include "ngx_http_thumbnail_module.h"


#define NGX_HTTP_THUMBNAIL_ZONE_READY      1
#define NGX_HTTP_THUMBNAIL_ZONE_RENDERING  2
#define NGX_HTTP_THUMBNAIL_ZONE_FAILED     3


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


/* ngx_http_thumbnail_zone.c */
ngx_http_thumbnail_zone_t *ngx_http_thumbnail_zone_get(void);
void ngx_http_thumbnail_zone_notify(ngx_http_thumbnail_zone_t *zone,
    uint64_t waiters);

/* ngx_http_thumbnail_zone_store.c */
void ngx_http_thumbnail_zone_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
ngx_http_thumbnail_zone_node_t *ngx_http_thumbnail_zone_find(
    ngx_http_thumbnail_zone_t *zone, ngx_str_t *key, uint32_t hash);
ngx_http_thumbnail_zone_node_t *ngx_http_thumbnail_zone_new_node(
    ngx_http_thumbnail_zone_t *zone, ngx_str_t *key, uint32_t hash,
    ngx_uint_t state, size_t value_len, size_t type_len, size_t etag_len,
    size_t hdrs_len);
void ngx_http_thumbnail_zone_free_node(ngx_http_thumbnail_zone_t *zone,
    ngx_http_thumbnail_zone_node_t *zn);
void ngx_http_thumbnail_zone_sweep(ngx_http_thumbnail_zone_t *zone,
    ngx_msec_t now);
ngx_uint_t ngx_http_thumbnail_zone_expired(ngx_http_thumbnail_zone_t *zone,
    ngx_http_thumbnail_zone_node_t *zn, ngx_msec_t now);
ngx_int_t ngx_http_thumbnail_zone_copy(ngx_pool_t *pool,
    ngx_http_thumbnail_zone_node_t *zn, ngx_http_thumbnail_zone_copy_t *cp);
void ngx_http_thumbnail_zone_store(ngx_http_thumbnail_zone_t *zone,
    ngx_http_thumbnail_ctx_t *ctx, ngx_uint_t status, thumbnail_image *img,
    time_t last_modified, u_char *hdrs, size_t hdrs_len);

/* ngx_http_thumbnail_zone_flight.c */
extern ngx_queue_t                       ngx_http_thumbnail_zone_parked;

void ngx_http_thumbnail_zone_release(ngx_http_thumbnail_zone_t *zone,
    ngx_http_thumbnail_ctx_t *ctx);

/* ngx_http_thumbnail_zone_serve.c */
extern ngx_http_thumbnail_zone_worker_t  ngx_http_thumbnail_zone_worker;

ngx_int_t ngx_http_thumbnail_zone_serve(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx, ngx_http_thumbnail_zone_copy_t *cp);
ngx_int_t ngx_http_thumbnail_zone_capture(ngx_http_request_t *r, u_char **out,
    size_t *out_len);
void ngx_http_thumbnail_zone_worker_changed(void);


#endif /* _NGX_HTTP_THUMBNAIL_ZONE_H_INCLUDED_ */
