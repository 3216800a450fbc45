
/*
 * ngx_http_thumbnail_module: the node-wide cache zone's cross-worker
 * single-flight.
 *
 * Cross-worker single-flight. A key being rendered has a node of its own in
 * the zone, an in-flight marker (owner pid, start time, a token), put there
 * by the request that leads, atomically with the lookup that missed. A
 * request of another worker that finds the marker is parked (as the
 * in-worker flight's waiters are) and sets its worker's bit in the marker.
 * When the marker goes (the render's result replaces it), the leader writes
 * a byte to a pipe of each worker whose bit is set; that worker looks at
 * its parked requests at once. So followers are woken within a scheduling
 * delay of the render's end, not after nginx's 500 ms cache-lock poll
 * (the pipes: ngx_http_thumbnail_zone.c).
 * A parked request also looks again on a timer, 1 ms doubling up to 8 ms:
 * the fallback when no byte comes (a leader of the previous cycle during a
 * reload, a 65th worker). nginx's clock is coarse (CLOCK_MONOTONIC_COARSE,
 * 4 ms steps at HZ=250), so such a look may come 4 ms late. Requests of
 * the owner's worker wait on the in-worker flight
 * (ngx_http_thumbnail_flight.c) as before.
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
 */


#include "ngx_http_thumbnail_zone.h"

#include <signal.h>


/* a follower's poll interval: from 1 ms, doubling, up to 8 ms */
#define NGX_HTTP_THUMBNAIL_ZONE_POLL_MIN   1
#define NGX_HTTP_THUMBNAIL_ZONE_POLL_MAX   8

/* markers older than this are checked for a live owner */
#define NGX_HTTP_THUMBNAIL_ZONE_PID_CHECK  50

/* longer keys bypass the zone (a node must stay a small allocation) */
#define NGX_HTTP_THUMBNAIL_ZONE_MAX_KEY    2048


static ngx_uint_t ngx_http_thumbnail_zone_stale(
    ngx_http_thumbnail_zone_t *zone, ngx_http_thumbnail_zone_node_t *zn,
    ngx_msec_t now);
static void ngx_http_thumbnail_zone_own(ngx_http_thumbnail_zone_t *zone,
    ngx_http_thumbnail_zone_node_t *zn, ngx_http_thumbnail_ctx_t *ctx,
    ngx_msec_t now);
static void ngx_http_thumbnail_zone_mark(ngx_http_thumbnail_zone_t *zone,
    ngx_http_thumbnail_ctx_t *ctx, uint32_t hash, ngx_msec_t now);
static void ngx_http_thumbnail_zone_park(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx);
static void ngx_http_thumbnail_zone_poll_handler(ngx_event_t *ev);
static ngx_uint_t ngx_http_thumbnail_zone_still_rendering(
    ngx_http_thumbnail_zone_t *zone, ngx_str_t *key);


/* this worker's parked requests (ctx->zone_link) */
ngx_queue_t                              ngx_http_thumbnail_zone_parked;


/* markers -------------------------------------------------------------- */


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


/* request time --------------------------------------------------------- */


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
            ctx->cache_status = NGX_HTTP_THUMBNAIL_CS_HIT;
            ngx_http_thumbnail_stat_inc(cache_hits);
        }

        ngx_http_thumbnail_zone_worker_changed();

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "thumbnail: zone hit \"%V\"",
                       ngx_http_thumbnail_esc(r->pool, ctx->key.data,
                                              ctx->key.len));

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
                      ngx_http_thumbnail_esc(r->pool, ctx->key.data,
                                             ctx->key.len),
                      dead, age);
    }

    if (!ctx->zone_waited) {
        ngx_http_thumbnail_zone_worker.misses++;
        ngx_http_thumbnail_zone_worker_changed();
    }

    return NGX_DECLINED;
}


/* followers ------------------------------------------------------------ */


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
        ctx->cache_status = NGX_HTTP_THUMBNAIL_CS_WAIT;
        ctx->zone_delay = NGX_HTTP_THUMBNAIL_ZONE_POLL_MIN;
        ngx_http_thumbnail_zone_worker.misses++;
        ngx_http_thumbnail_stat_inc(zone_waits);

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "thumbnail: waiting for another worker's render "
                       "of \"%V\"",
                       ngx_http_thumbnail_esc(r->pool, ctx->key.data,
                                              ctx->key.len));
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

void
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


/* the leader's result -------------------------------------------------- */


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
