
/*
 * ngx_http_thumbnail_module: in-worker single-flight.
 *
 * One fetch and render per key in this worker at a time. The first request
 * to miss the cache (the leader) fetches the source and renders (the filter
 * does it); requests for the same key that arrive meanwhile wait on the
 * leader's flight, parked until ngx_http_thumbnail_flight_finish() wakes
 * them with its result: an image, an error status, or none (the leader
 * gave up: they look again, and one of them leads).
 *
 * The table of flights in progress is an rbtree keyed by the cache key.
 * A flight is reference counted: the table holds one reference while the
 * render is in progress, and every request that uses the flight holds one
 * until ngx_http_thumbnail_flight_leave() (at the latest in the request's
 * pool cleanup).
 */


#include "ngx_http_thumbnail_module.h"


static ngx_http_thumbnail_flight_t *ngx_http_thumbnail_flight_create(
    ngx_str_t *key, ngx_uint_t in_table);
static void ngx_http_thumbnail_flight_release(ngx_http_thumbnail_flight_t *fl);
static void ngx_http_thumbnail_flight_wake_handler(ngx_event_t *ev);


static ngx_rbtree_t       ngx_http_thumbnail_flights;
static ngx_rbtree_node_t  ngx_http_thumbnail_flights_sentinel;


void
ngx_http_thumbnail_flight_init(void)
{
    ngx_rbtree_init(&ngx_http_thumbnail_flights,
                    &ngx_http_thumbnail_flights_sentinel,
                    ngx_str_rbtree_insert_value);
}


ngx_http_thumbnail_flight_t *
ngx_http_thumbnail_flight_find(ngx_str_t *key)
{
    uint32_t  hash;

    hash = ngx_crc32_long(key->data, key->len);

    return (ngx_http_thumbnail_flight_t *)
               ngx_str_rbtree_lookup(&ngx_http_thumbnail_flights, key, hash);
}


/* the same key is being fetched and rendered: r waits for it */

void
ngx_http_thumbnail_flight_wait(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx, ngx_http_thumbnail_flight_t *fl)
{
    fl->refs++;
    ctx->flight = fl;
    ctx->waiting = 1;
    ctx->woken = 0;
    ctx->cache_status = NGX_HTTP_THUMBNAIL_CS_WAIT;
    ngx_queue_insert_tail(&fl->waiters, &ctx->wait_link);

    ctx->wake.handler = ngx_http_thumbnail_flight_wake_handler;
    ctx->wake.data = r;
    ctx->wake.log = r->connection->log;

    ngx_http_thumbnail_stat_inc(flight_waits);
    ngx_http_thumbnail_stat_inc(waiting);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "thumbnail: waiting for the render of \"%V\"",
                   ngx_http_thumbnail_esc(r->pool, ctx->key.data,
                                          ctx->key.len));

    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_request_empty_handler;
}


/*
 * r leads: it fetches the source and renders. The flight goes into the
 * table unless the table already holds one for the key (one r itself
 * leads, seen again after its phases ran again).
 */

ngx_int_t
ngx_http_thumbnail_flight_lead(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx, ngx_uint_t in_table)
{
    ngx_http_thumbnail_flight_t  *fl;

    fl = ngx_http_thumbnail_flight_create(&ctx->key, in_table);
    if (fl == NULL) {
        return NGX_ERROR;
    }

    fl->leader = r;
    fl->refs++;
    ctx->flight = fl;
    ctx->leader = 1;
    ctx->cache_status = NGX_HTTP_THUMBNAIL_CS_MISS;

    return NGX_OK;
}


static ngx_http_thumbnail_flight_t *
ngx_http_thumbnail_flight_create(ngx_str_t *key, ngx_uint_t in_table)
{
    ngx_http_thumbnail_flight_t  *fl;

    fl = ngx_alloc(sizeof(ngx_http_thumbnail_flight_t) + key->len,
                   ngx_cycle->log);
    if (fl == NULL) {
        return NULL;
    }

    ngx_memzero(fl, sizeof(ngx_http_thumbnail_flight_t));

    fl->sn.str.data = (u_char *) (fl + 1);
    fl->sn.str.len = key->len;
    ngx_memcpy(fl->sn.str.data, key->data, key->len);

    ngx_queue_init(&fl->waiters);
    fl->last_modified = -1;

    if (in_table) {
        fl->sn.node.key = ngx_crc32_long(key->data, key->len);
        ngx_rbtree_insert(&ngx_http_thumbnail_flights, &fl->sn.node);
        fl->in_table = 1;
        fl->refs = 1;
    }

    return fl;
}


/*
 * The leader's render finished (or it gave up, status 0): take the result
 * out of the table so new requests go to the cache, and wake the waiters.
 */

void
ngx_http_thumbnail_flight_finish(ngx_http_thumbnail_flight_t *fl,
    ngx_uint_t status, thumbnail_image *img, time_t last_modified)
{
    ngx_queue_t               *q;
    ngx_http_thumbnail_ctx_t  *ctx;

    if (fl->done) {
        if (img) {
            thumbnail_image_free(img);
        }

        return;
    }

    /* the zone takes the result (ngx_http_thumbnail_zone_flight.c) */
    ngx_http_thumbnail_zone_finish(fl, status, img, last_modified);

    fl->done = 1;
    fl->status = status;
    fl->img = img;
    fl->last_modified = last_modified;
    fl->leader = NULL;

    while (!ngx_queue_empty(&fl->waiters)) {
        q = ngx_queue_head(&fl->waiters);
        ngx_queue_remove(q);

        ctx = ngx_queue_data(q, ngx_http_thumbnail_ctx_t, wait_link);
        ctx->woken = 1;

        ngx_post_event(&ctx->wake, &ngx_posted_events);
    }

    if (fl->in_table) {
        fl->in_table = 0;
        ngx_rbtree_delete(&ngx_http_thumbnail_flights, &fl->sn.node);
        ngx_http_thumbnail_flight_release(fl);
    }
}


static void
ngx_http_thumbnail_flight_release(ngx_http_thumbnail_flight_t *fl)
{
    if (--fl->refs) {
        return;
    }

    if (fl->in_table) {
        ngx_rbtree_delete(&ngx_http_thumbnail_flights, &fl->sn.node);
    }

    thumbnail_image_free(fl->img);

    if (fl->cache_headers) {
        ngx_free(fl->cache_headers);
    }

    if (fl->held) {
        ngx_http_thumbnail_unhold(fl->held);
    }

    ngx_free(fl);
}


static void
ngx_http_thumbnail_flight_wake_handler(ngx_event_t *ev)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ev->data;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, c->log, 0, "thumbnail: woken");

    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_core_run_phases;

    ngx_http_core_run_phases(r);
    ngx_http_run_posted_requests(c);
}


/* a waiter stops waiting: woken, or its request ends first */

void
ngx_http_thumbnail_flight_unwait(ngx_http_thumbnail_ctx_t *ctx)
{
    if (ctx->waiting) {
        if (!ctx->woken) {
            ngx_queue_remove(&ctx->wait_link);
        }

        ctx->waiting = 0;
        ctx->woken = 0;
        ngx_http_thumbnail_stat_dec(waiting);
    }

    if (ctx->wake.posted) {
        ngx_delete_posted_event(&ctx->wake);
    }
}


/* the request is done with its flight */

void
ngx_http_thumbnail_flight_leave(ngx_http_thumbnail_ctx_t *ctx)
{
    ngx_http_thumbnail_flight_t  *fl;

    fl = ctx->flight;

    if (fl == NULL) {
        return;
    }

    ctx->flight = NULL;

    if (ctx->leader && !fl->done) {
        /* the leader ends without a result: let a waiter retry */
        ngx_http_thumbnail_flight_finish(fl, 0, NULL, -1);
    }

    ngx_http_thumbnail_flight_release(fl);
}
