
/*
 * ngx_http_thumbnail_module: the request's spec, cache key and ETag; the
 * per-worker cache; the pre-content phase handler that answers cache hits
 * before the source is read or proxied; and in-worker single-flight.
 *
 * The phase handler runs in NGX_HTTP_PRECONTENT_PHASE, i.e. after the
 * access phase (allow/deny, auth_basic, auth_request still apply to cache
 * hits) and before try_files and the content handler (static, proxy_pass).
 *
 * For every request in a `thumbnail on` location it
 *   1. evaluates thumbnail_spec, canonicalises it, checks the allow-list
 *      (400 on failure), computes the cache key and the ETag;
 *   2. looks the key up in this worker's cache: on a hit it answers at once
 *      (200, 304 on If-None-Match, HEAD) and the filter never runs;
 *   3. on a miss, if this worker is already fetching and rendering the same
 *      key (a "flight"), parks the request until that render finishes and
 *      then answers with its result;
 *   4. otherwise makes the request the flight's leader and lets it go on to
 *      the content handler; the filter (ngx_http_thumbnail_filter.c) renders
 *      the source body and finishes the flight.
 */


#include "ngx_http_thumbnail_module.h"


static ngx_int_t ngx_http_thumbnail_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_thumbnail_lookup(ngx_http_request_t *r,
    ngx_http_thumbnail_loc_conf_t *lcf, ngx_http_thumbnail_ctx_t *ctx);
static ngx_int_t ngx_http_thumbnail_woken(ngx_http_request_t *r,
    ngx_http_thumbnail_loc_conf_t *lcf, ngx_http_thumbnail_ctx_t *ctx);
static ngx_int_t ngx_http_thumbnail_serve(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx, thumbnail_image *img, time_t last_modified);
static void ngx_http_thumbnail_wake_handler(ngx_event_t *ev);
static void ngx_http_thumbnail_cleanup(void *data);
static ngx_http_thumbnail_flight_t *ngx_http_thumbnail_flight_create(
    ngx_str_t *key, ngx_uint_t in_table);
static void ngx_http_thumbnail_flight_release(ngx_http_thumbnail_flight_t *fl);
static ngx_int_t ngx_http_thumbnail_plain_source_request(
    ngx_http_request_t *r);


static ngx_rbtree_t       ngx_http_thumbnail_flights;
static ngx_rbtree_node_t  ngx_http_thumbnail_flights_sentinel;


ngx_int_t
ngx_http_thumbnail_cache_init_conf(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_thumbnail_handler;

    return NGX_OK;
}


ngx_int_t
ngx_http_thumbnail_cache_init_process(ngx_cycle_t *cycle)
{
    char                             err[NGX_HTTP_THUMBNAIL_ERR_LEN];
    thumbnail_status                 st;
    thumbnail_cache_options          opts;
    ngx_http_conf_ctx_t             *hctx;
    ngx_http_thumbnail_main_conf_t  *mcf;

    ngx_rbtree_init(&ngx_http_thumbnail_flights,
                    &ngx_http_thumbnail_flights_sentinel,
                    ngx_str_rbtree_insert_value);

    hctx = (ngx_http_conf_ctx_t *) cycle->conf_ctx[ngx_http_module.index];
    if (hctx == NULL) {
        return NGX_OK;
    }

    mcf = hctx->main_conf[ngx_http_thumbnail_module.ctx_index];

    if (!mcf->cache_set) {
        return NGX_OK;
    }

    opts = thumbnail_cache_options_default();
    opts.capacity_bytes = mcf->cache_size;
    opts.shards = (uint32_t) mcf->cache_shards;
    opts.ttl_ms = mcf->cache_ttl;

    err[0] = '\0';

    st = thumbnail_cache_new(&opts, &ngx_http_thumbnail_cache, err,
                             sizeof(err));
    if (st != THUMBNAIL_STATUS_OK) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "thumbnail: cannot create the cache: %s", err);
        return NGX_ERROR;
    }

    return NGX_OK;
}


void
ngx_http_thumbnail_cache_exit_process(ngx_cycle_t *cycle)
{
    /*
     * The thread pools are destroyed (their threads joined) before this
     * module's exit_process runs, so no render can still use the cache.
     * Should one still be counted in flight, leak the cache rather than
     * risk a use after free: the process is exiting anyway.
     */

    if (ngx_http_thumbnail_cache && ngx_http_thumbnail_counters.in_flight == 0)
    {
        thumbnail_cache_free(ngx_http_thumbnail_cache);
    }

    ngx_http_thumbnail_cache = NULL;
}


ngx_http_thumbnail_ctx_t *
ngx_http_thumbnail_create_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t        *cln;
    ngx_http_thumbnail_ctx_t  *ctx;

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_thumbnail_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_thumbnail_cleanup;
    cln->data = ctx;

    ctx->request = r;
    ctx->last_modified = -1;

    ctx->wake.handler = ngx_http_thumbnail_wake_handler;
    ctx->wake.data = r;
    ctx->wake.log = r->connection->log;

    ngx_http_set_ctx(r, ctx, ngx_http_thumbnail_module);

    return ctx;
}


static ngx_int_t
ngx_http_thumbnail_handler(ngx_http_request_t *r)
{
    ngx_int_t                       rc;
    ngx_http_thumbnail_ctx_t       *ctx;
    ngx_http_thumbnail_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_thumbnail_module);

    if (!lcf->enable || r != r->main) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_thumbnail_module);

    if (ctx) {
        if (!ctx->waiting) {
            /* decided before (e.g. the phases run again) */
            return NGX_DECLINED;
        }

        if (!ctx->woken) {
            return NGX_AGAIN;
        }

        return ngx_http_thumbnail_woken(r, lcf, ctx);
    }

    ngx_http_thumbnail_restore_head(r);

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_thumbnail_create_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_thumbnail_counters.requests++;

    rc = ngx_http_thumbnail_prepare(r, ctx);

    if (rc != NGX_OK) {
        ctx->phase = NGX_HTTP_THUMBNAIL_PASS;
        ngx_http_thumbnail_count_status(rc);
        ngx_http_thumbnail_stats_update();
        return rc;
    }

    return ngx_http_thumbnail_lookup(r, lcf, ctx);
}


static ngx_int_t
ngx_http_thumbnail_lookup(ngx_http_request_t *r,
    ngx_http_thumbnail_loc_conf_t *lcf, ngx_http_thumbnail_ctx_t *ctx)
{
    uint32_t                      hash;
    thumbnail_status              st;
    thumbnail_image              *img;
    ngx_http_thumbnail_flight_t  *fl;

    if (ngx_http_thumbnail_cache) {
        img = NULL;

        st = thumbnail_cache_get(ngx_http_thumbnail_cache,
                                 (const char *) ctx->key.data, ctx->key.len,
                                 &img);

        if (st == THUMBNAIL_STATUS_OK) {
            ctx->img = img;
            ngx_http_thumbnail_counters.cache_hits++;
            ngx_http_thumbnail_stats_update();

            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "thumbnail: cache hit \"%V\"", &ctx->key);

            return ngx_http_thumbnail_serve(r, ctx, img, -1);
        }

        if (st != THUMBNAIL_STATUS_NOT_FOUND) {
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "thumbnail: cache lookup failed: %s",
                          thumbnail_status_name(st));
        }
    }

    hash = ngx_crc32_long(ctx->key.data, ctx->key.len);

    fl = (ngx_http_thumbnail_flight_t *)
             ngx_str_rbtree_lookup(&ngx_http_thumbnail_flights, &ctx->key,
                                   hash);

    if (fl && fl->leader != r) {

        /* the same key is being fetched and rendered: wait for it */

        fl->refs++;
        ctx->flight = fl;
        ctx->waiting = 1;
        ctx->woken = 0;
        ngx_queue_insert_tail(&fl->waiters, &ctx->wait_link);

        ngx_http_thumbnail_counters.flight_waits++;
        ngx_http_thumbnail_counters.waiting++;
        ngx_http_thumbnail_stats_update();

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "thumbnail: waiting for the render of \"%V\"",
                       &ctx->key);

        r->read_event_handler = ngx_http_test_reading;
        r->write_event_handler = ngx_http_request_empty_handler;

        return NGX_AGAIN;
    }

    if (ngx_http_thumbnail_queue_full(r, lcf)) {
        /* refused before the source is read */
        ctx->phase = NGX_HTTP_THUMBNAIL_PASS;
        ngx_http_thumbnail_count_status(NGX_HTTP_SERVICE_UNAVAILABLE);
        ngx_http_thumbnail_stats_update();

        if (ngx_http_thumbnail_retry_after(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    /* lead: fetch the source and render (the filter does it) */

    fl = ngx_http_thumbnail_flight_create(&ctx->key, fl == NULL);
    if (fl == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    fl->leader = r;
    fl->refs++;
    ctx->flight = fl;
    ctx->leader = 1;

    if (r->method == NGX_HTTP_HEAD) {
        /* fetch the source with GET; HEAD is restored before replying */
        ctx->head = 1;
        ctx->method_name = r->method_name;
        r->method = NGX_HTTP_GET;
        r->method_name = ngx_http_core_get_method;
    }

    if (ngx_http_thumbnail_plain_source_request(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_DECLINED;
}


/*
 * The leader must get the whole, current source with status 200. The
 * client's Range, If-Range and conditional headers are about the thumbnail,
 * not the source: left in, the static module's filters or an origin would
 * answer 206 (a slice of the source passed on as if it were the thumbnail),
 * 412, or 304 against the source's ETag. They are dropped from the request
 * (the list an upstream copies, and the parsed fields the static filters
 * read), as proxy_cache drops them; If-None-Match is checked against our
 * own ETag instead (ctx->if_none_match). If-Modified-Since is kept when it
 * is the only validator: the thumbnail's Last-Modified is the source's.
 * Accept-Encoding goes too: the renderer needs the identity encoding
 * (gzip_static, a compressing origin).
 */

static ngx_uint_t
ngx_http_thumbnail_drop_header(ngx_table_elt_t *h, ngx_uint_t drop_ims)
{
    ngx_str_t         *name;
    static ngx_str_t   ims = ngx_string("If-Modified-Since");
    static ngx_str_t   names[] = {
        ngx_string("Range"),
        ngx_string("If-Range"),
        ngx_string("If-Match"),
        ngx_string("If-Unmodified-Since"),
        ngx_string("If-None-Match"),
        ngx_string("Accept-Encoding"),
        ngx_null_string
    };

    if (drop_ims
        && h->key.len == ims.len
        && ngx_strncasecmp(h->key.data, ims.data, ims.len) == 0)
    {
        return 1;
    }

    for (name = names; name->len; name++) {
        if (h->key.len == name->len
            && ngx_strncasecmp(h->key.data, name->data, name->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


static ngx_int_t
ngx_http_thumbnail_plain_source_request(ngx_http_request_t *r)
{
    ngx_uint_t        i, drop_ims;
    ngx_list_t        old;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *copy;

    drop_ims = (r->headers_in.if_none_match != NULL);

    /* rebuild the list without them (a list cannot drop elements) */

    old = r->headers_in.headers;

    if (ngx_list_init(&r->headers_in.headers, r->pool, 20,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    part = &old.part;
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

        if (ngx_http_thumbnail_drop_header(&h[i], drop_ims)) {
            continue;
        }

        copy = ngx_list_push(&r->headers_in.headers);
        if (copy == NULL) {
            return NGX_ERROR;
        }

        *copy = h[i];
    }

    r->headers_in.range = NULL;
    r->headers_in.if_range = NULL;
    r->headers_in.if_match = NULL;
    r->headers_in.if_unmodified_since = NULL;
    r->headers_in.if_none_match = NULL;

    if (drop_ims) {
        r->headers_in.if_modified_since = NULL;
    }

#if (NGX_HTTP_GZIP || NGX_HTTP_HEADERS)
    r->headers_in.accept_encoding = NULL;
#endif

    return NGX_OK;
}


static ngx_int_t
ngx_http_thumbnail_woken(ngx_http_request_t *r,
    ngx_http_thumbnail_loc_conf_t *lcf, ngx_http_thumbnail_ctx_t *ctx)
{
    ngx_http_thumbnail_flight_t  *fl;

    fl = ctx->flight;

    ctx->waiting = 0;
    ctx->woken = 0;
    ngx_http_thumbnail_counters.waiting--;

    if (fl->status == NGX_HTTP_OK && fl->img) {
        /* the flight's reference is dropped by the pool cleanup */
        return ngx_http_thumbnail_serve(r, ctx, fl->img, fl->last_modified);
    }

    if (fl->status != 0) {
        ctx->phase = NGX_HTTP_THUMBNAIL_PASS;
        ngx_http_thumbnail_count_status(fl->status);
        ngx_http_thumbnail_stats_update();

        if (fl->status == NGX_HTTP_SERVICE_UNAVAILABLE
            && ngx_http_thumbnail_retry_after(r) != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return fl->status;
    }

    /* the leader gave up (source not 200, client gone...): try again */

    ctx->flight = NULL;
    ngx_http_thumbnail_flight_release(fl);

    return ngx_http_thumbnail_lookup(r, lcf, ctx);
}


static void
ngx_http_thumbnail_wake_handler(ngx_event_t *ev)
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


/* answers with an image already rendered: a cache hit or a flight's result */

static ngx_int_t
ngx_http_thumbnail_serve(ngx_http_request_t *r, ngx_http_thumbnail_ctx_t *ctx,
    thumbnail_image *img, time_t last_modified)
{
    ngx_int_t     rc;
    ngx_chain_t   out;

    /* the filter passes our own response through */
    ctx->phase = NGX_HTTP_THUMBNAIL_PASS;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_thumbnail_set_headers(r, ctx, img, last_modified) != NGX_OK) {
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

    out.buf = ngx_http_thumbnail_image_buf(r->pool, img);
    if (out.buf == NULL) {
        ngx_http_finalize_request(r, NGX_ERROR);
        return NGX_DONE;
    }

    out.next = NULL;

    ngx_http_finalize_request(r, ngx_http_output_filter(r, &out));

    return NGX_DONE;
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
    ngx_free(fl);
}


static void
ngx_http_thumbnail_cleanup(void *data)
{
    ngx_http_thumbnail_ctx_t *ctx = data;

    ngx_http_thumbnail_flight_t  *fl;

    if (ctx->waiting) {
        if (!ctx->woken) {
            ngx_queue_remove(&ctx->wait_link);
        }

        ctx->waiting = 0;
        ngx_http_thumbnail_counters.waiting--;
    }

    if (ctx->wake.posted) {
        ngx_delete_posted_event(&ctx->wake);
    }

    fl = ctx->flight;

    if (fl) {
        ctx->flight = NULL;

        if (ctx->leader && !fl->done) {
            /* the leader ends without a result: let a waiter retry */
            ngx_http_thumbnail_flight_finish(fl, 0, NULL, -1);
        }

        ngx_http_thumbnail_flight_release(fl);
    }

    if (ctx->img) {
        thumbnail_image_free(ctx->img);
        ctx->img = NULL;
    }

    ngx_http_thumbnail_stats_update();
}
