
/*
 * ngx_http_thumbnail_module: what the node-wide cache zone answers.
 *
 * A hit (ngx_http_thumbnail_zone_flight.c looks the key up and copies the
 * entry out) is answered with the entry's bytes, content type and ETag,
 * and the caching headers of the source response the render was made
 * from: captured from the leader's response when its render ends, kept
 * with the entry and with the in-worker flight, replayed on every
 * response made from them. Also here: thumbnail_cache_purge, and the
 * zone's figures for thumbnail_stats (per worker, and node-wide from the
 * counters in the zone).
 */


#include "ngx_http_thumbnail_zone.h"


/* the kinds of caching headers kept with an entry */
#define NGX_HTTP_THUMBNAIL_HDR_CACHE_CONTROL  1
#define NGX_HTTP_THUMBNAIL_HDR_EXPIRES        2


/* this worker's lookups, for its stats slot */
ngx_http_thumbnail_zone_worker_t         ngx_http_thumbnail_zone_worker;


/* hits ----------------------------------------------------------------- */


/*
 * Answers with a zone entry, as ngx_http_thumbnail_cache.c answers a hit.
 * The entry was copied out of the zone for this request: the copy counts
 * as output held for a client (ngx_http_thumbnail_admit.c), and past
 * thumbnail_max_output_held the hit is refused with 503 instead.
 */

ngx_int_t
ngx_http_thumbnail_zone_serve(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx, ngx_http_thumbnail_zone_copy_t *cp)
{
    ngx_int_t                       rc;
    ngx_buf_t                      *b;
    ngx_chain_t                     out;
    ngx_http_thumbnail_loc_conf_t  *lcf;

    if (!(r->method & NGX_HTTP_HEAD)) {
        lcf = ngx_http_get_module_loc_conf(r, ngx_http_thumbnail_module);

        if (ngx_http_thumbnail_hold(r, lcf, cp->value_len) != NGX_OK) {
            ngx_http_thumbnail_failed(ctx, NGX_HTTP_SERVICE_UNAVAILABLE);

            if (ngx_http_thumbnail_retry_after(r) != NGX_OK) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            return NGX_HTTP_SERVICE_UNAVAILABLE;
        }

        /* released by the request's cleanup */
        ctx->held = cp->value_len;
    }

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


/* caching headers ------------------------------------------------------ */


/*
 * The source response's Cache-Control and Expires lines, as records of
 * one byte (which header), two bytes of length (big-endian), the value.
 */

ngx_int_t
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


/* purge ---------------------------------------------------------------- */


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
                  "thumbnail: purge \"%V\": %s",
                  ngx_http_thumbnail_esc(r->pool, ctx->key.data, ctx->key.len),
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


/* stats ---------------------------------------------------------------- */


void
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
