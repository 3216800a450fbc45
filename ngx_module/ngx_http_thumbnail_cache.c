
/*
 * ngx_http_thumbnail_module: the per-worker cache and the pre-content phase
 * handler that answers cache hits before the source is read or proxied.
 *
 * The phase handler runs in NGX_HTTP_PRECONTENT_PHASE, i.e. after the
 * access phase (allow/deny, auth_basic, auth_request still apply to cache
 * hits) and before try_files and the content handler (static, proxy_pass).
 *
 * For every request in a `thumbnail on` location it
 *   1. evaluates thumbnail_spec, canonicalises it, checks the allow-list
 *      (400 on failure), computes the cache key and the ETag
 *      (ngx_http_thumbnail_request.c);
 *   2. looks the key up in this worker's cache: on a hit it answers at once
 *      (200, 304 on If-None-Match, HEAD) and the filter never runs;
 *   3. on a miss, if this worker is already fetching and rendering the same
 *      key (a "flight", ngx_http_thumbnail_flight.c), parks the request
 *      until that render finishes and then answers with its result;
 *   4. otherwise admits the render (ngx_http_thumbnail_admit.c: 503 when
 *      the queue is full or too much output is held for clients, before the
 *      source is read), makes the request the flight's leader and lets it go
 *      on to the content handler; the filter (ngx_http_thumbnail_filter.c)
 *      renders the source body and finishes the flight.
 */


#include "ngx_http_thumbnail_module.h"


static ngx_int_t ngx_http_thumbnail_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_thumbnail_lookup(ngx_http_request_t *r,
    ngx_http_thumbnail_loc_conf_t *lcf, ngx_http_thumbnail_ctx_t *ctx);
static ngx_int_t ngx_http_thumbnail_woken(ngx_http_request_t *r,
    ngx_http_thumbnail_loc_conf_t *lcf, ngx_http_thumbnail_ctx_t *ctx);
static ngx_int_t ngx_http_thumbnail_serve(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx, thumbnail_image *img, time_t last_modified);
static ngx_int_t ngx_http_thumbnail_refuse(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx, ngx_uint_t status);
static ngx_int_t ngx_http_thumbnail_plain_source_request(
    ngx_http_request_t *r);
static ngx_uint_t ngx_http_thumbnail_drop_header(ngx_table_elt_t *h);


thumbnail_cache  *ngx_http_thumbnail_cache;


/*
 * thumbnail_cache size=SIZE [shards=N] [ttl=TIME]: the per-worker cache;
 * zone=NAME:SIZE and its parameters go to ngx_http_thumbnail_zone.c
 */

char *
ngx_http_thumbnail_cache_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_thumbnail_main_conf_t *mcf = conf;

    char        *rv;
    ssize_t      size;
    ngx_int_t    n;
    ngx_str_t   *value, s;
    ngx_msec_t   ttl;
    ngx_uint_t   i;

    if (mcf->cache_set || mcf->zone) {
        return "is duplicate";
    }

    /* zone= and its parameters: ngx_http_thumbnail_zone.c */
    rv = ngx_http_thumbnail_zone_directive(cf, mcf);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    value = cf->args->elts;
    size = NGX_ERROR;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_http_thumbnail_zone_arg(&value[i])) {
            continue;
        }

        if (ngx_strncmp(value[i].data, "size=", 5) == 0) {
            s.data = value[i].data + 5;
            s.len = value[i].len - 5;

            size = ngx_parse_size(&s);
            if (size == NGX_ERROR) {
                goto invalid;
            }

            mcf->cache_size = (size_t) size;
            continue;
        }

        if (ngx_strncmp(value[i].data, "shards=", 7) == 0) {
            n = ngx_atoi(value[i].data + 7, value[i].len - 7);
            if (n == NGX_ERROR || n < 1 || n > 1024) {
                goto invalid;
            }

            mcf->cache_shards = (ngx_uint_t) n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "ttl=", 4) == 0) {
            s.data = value[i].data + 4;
            s.len = value[i].len - 4;

            ttl = ngx_parse_time(&s, 0);
            if (ttl == (ngx_msec_t) NGX_ERROR) {
                goto invalid;
            }

            mcf->cache_ttl = ttl;
            continue;
        }

        goto invalid;
    }

    if (size == NGX_ERROR) {
        if (mcf->zone) {
            return NGX_CONF_OK;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"thumbnail_cache\" needs \"size=\" "
                           "or \"zone=\"");
        return NGX_CONF_ERROR;
    }

    mcf->cache_set = 1;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);

    return NGX_CONF_ERROR;
}


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
        if (ctx->zone_waiting) {
            /* the awaited render ended (ngx_http_thumbnail_zone_flight.c) */
            ngx_http_thumbnail_zone_cleanup(ctx);
            return ngx_http_thumbnail_lookup(r, lcf, ctx);
        }

        if (!ctx->waiting) {
            /* decided before (e.g. the phases run again) */
            return NGX_DECLINED;
        }

        if (!ctx->woken) {
            return NGX_AGAIN;
        }

        return ngx_http_thumbnail_woken(r, lcf, ctx);
    }

    /* signed URLs: 403 before any lookup or source read */
    rc = ngx_http_thumbnail_sign_check(r, lcf);
    if (rc != NGX_OK) {
        return rc;
    }

    if (lcf->purge) {
        /* thumbnail_cache_purge (ngx_http_thumbnail_zone_serve.c) */
        rc = ngx_http_thumbnail_zone_purge(r, lcf);
        if (rc != NGX_DECLINED) {
            return rc;
        }
    }

    ngx_http_thumbnail_restore_head(r);

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_thumbnail_create_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_thumbnail_prepare(r, ctx);

    if (rc != NGX_OK) {
        return ngx_http_thumbnail_refuse(r, ctx, rc);
    }

    return ngx_http_thumbnail_lookup(r, lcf, ctx);
}


static ngx_int_t
ngx_http_thumbnail_lookup(ngx_http_request_t *r,
    ngx_http_thumbnail_loc_conf_t *lcf, ngx_http_thumbnail_ctx_t *ctx)
{
    ngx_int_t                     rc;
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
            ctx->cache_status = NGX_HTTP_THUMBNAIL_CS_HIT;
            ngx_http_thumbnail_stat_inc(cache_hits);

            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "thumbnail: cache hit \"%V\"",
                           ngx_http_thumbnail_esc(r->pool, ctx->key.data,
                                                  ctx->key.len));

            return ngx_http_thumbnail_serve(r, ctx, img, -1);
        }

        if (st != THUMBNAIL_STATUS_NOT_FOUND) {
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "thumbnail: cache lookup failed: %s",
                          thumbnail_status_name(st));
        }
    }

    /* the node-wide zone: a hit, another worker's render to wait for */
    rc = ngx_http_thumbnail_zone_lookup(r, ctx);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    fl = ngx_http_thumbnail_flight_find(&ctx->key);

    if (fl && fl->leader != r) {
        ngx_http_thumbnail_flight_wait(r, ctx, fl);
        return NGX_AGAIN;
    }

    rc = ngx_http_thumbnail_admit(r, ctx, lcf);

    if (rc != NGX_OK) {
        /* refused before the source is read */
        return ngx_http_thumbnail_refuse(r, ctx, rc);
    }

    /* lead: fetch the source and render (the filter does it) */

    if (ngx_http_thumbnail_flight_lead(r, ctx, fl == NULL) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_thumbnail_head_as_get(r, ctx);

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
 * own ETag instead (ctx->if_none_match), on a cache hit or after the
 * render. If-Modified-Since goes too, even alone: answered by the source
 * (its date is the thumbnail's Last-Modified) it made a 304 for a source
 * that cannot render (corrupt, a bomb, not an image) and kept thumbnails
 * of an older library version in caches; only the ETag names the library
 * version. Accept-Encoding goes too: the renderer needs the identity
 * encoding (gzip_static, a compressing origin).
 */

static ngx_uint_t
ngx_http_thumbnail_drop_header(ngx_table_elt_t *h)
{
    ngx_str_t         *name;
    static ngx_str_t   names[] = {
        ngx_string("Range"),
        ngx_string("If-Range"),
        ngx_string("If-Match"),
        ngx_string("If-Unmodified-Since"),
        ngx_string("If-None-Match"),
        ngx_string("If-Modified-Since"),
        ngx_string("Accept-Encoding"),
        ngx_null_string
    };

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
    ngx_uint_t        i;
    ngx_list_t        old;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *copy;

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

        if (ngx_http_thumbnail_drop_header(&h[i])) {
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
    r->headers_in.if_modified_since = NULL;

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

    ngx_http_thumbnail_flight_unwait(ctx);

    if (fl->status == NGX_HTTP_OK && fl->img) {
        /* the leader's caching headers (ngx_http_thumbnail_zone_serve.c) */
        if (ngx_http_thumbnail_zone_replay(r, fl->cache_headers,
                                           fl->cache_headers_len)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        /* the flight's reference is dropped by the pool cleanup */
        return ngx_http_thumbnail_serve(r, ctx, fl->img, fl->last_modified);
    }

    if (fl->status != 0) {
        /* the leader's error */
        return ngx_http_thumbnail_refuse(r, ctx, fl->status);
    }

    /* the leader gave up (source not 200, client gone...): try again */

    ngx_http_thumbnail_flight_leave(ctx);

    return ngx_http_thumbnail_lookup(r, lcf, ctx);
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


/*
 * Answers with an error status of ours from the phase handler (a bad spec,
 * a full queue, the leader's error): the status to return, and
 * Retry-After on a 503.
 */

static ngx_int_t
ngx_http_thumbnail_refuse(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx, ngx_uint_t status)
{
    ngx_http_thumbnail_failed(ctx, status);

    if (status == NGX_HTTP_SERVICE_UNAVAILABLE
        && ngx_http_thumbnail_retry_after(r) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return status;
}
