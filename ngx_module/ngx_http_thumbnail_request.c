
/*
 * ngx_http_thumbnail_module: request-time helpers shared by the phase
 * handler, the filter and the render.
 *
 *   - the request's context, and its pool cleanup;
 *   - the spec: thumbnail_spec evaluated and canonicalised, checked
 *     against thumbnail_allowed_specs (both also at configuration time);
 *   - the cache key and the ETag derived from it;
 *   - the headers and body of a thumbnail response, If-None-Match;
 *   - HEAD fetched as GET and restored;
 *   - a failure: its status counted and handed to waiters; Retry-After.
 */


#include <ngx_md5.h>

#include "ngx_http_thumbnail_module.h"


static void ngx_http_thumbnail_cleanup(void *data);
static size_t ngx_http_thumbnail_escape(u_char *dst, ngx_str_t *src);
static ngx_int_t ngx_http_thumbnail_make_key(ngx_http_request_t *r,
    ngx_http_thumbnail_loc_conf_t *lcf, ngx_http_thumbnail_ctx_t *ctx);
static ngx_int_t ngx_http_thumbnail_if_none_match(ngx_table_elt_t *inm,
    ngx_str_t *etag);


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

    ngx_http_set_ctx(r, ctx, ngx_http_thumbnail_module);

    ngx_http_thumbnail_stat_inc(requests);

    return ctx;
}


/*
 * The request ends: it stops waiting, leaves its flight and its place in
 * the render queue, frees its image and its source.
 */

static void
ngx_http_thumbnail_cleanup(void *data)
{
    ngx_http_thumbnail_ctx_t *ctx = data;

    ngx_http_thumbnail_flight_unwait(ctx);
    ngx_http_thumbnail_flight_leave(ctx);
    ngx_http_thumbnail_zone_cleanup(ctx);
    ngx_http_thumbnail_admit_release(ctx);

    if (ctx->img) {
        thumbnail_image_free(ctx->img);
        ctx->img = NULL;
    }

    if (ctx->held) {
        ngx_http_thumbnail_unhold(ctx->held);
        ctx->held = 0;
    }

    ngx_http_thumbnail_free_source(ctx->request, ctx);
}


ngx_int_t
ngx_http_thumbnail_canonical(ngx_pool_t *pool, ngx_str_t *spec, ngx_str_t *out,
    u_char *err, size_t err_len)
{
    u_char            *p;
    size_t             written;
    thumbnail_status   st;

    /*
     * A canonical spec can be longer than its text ("jpg" becomes "jpeg",
     * "bg=222" becomes "bg=222222"), never longer than
     * THUMBNAIL_SPEC_CANONICAL_MAX with its NUL: one call, no retry.
     */

    p = ngx_pnalloc(pool, THUMBNAIL_SPEC_CANONICAL_MAX);
    if (p == NULL) {
        return NGX_ERROR;
    }

    written = 0;

    st = thumbnail_spec_canonical((const char *) spec->data, spec->len,
                                  (char *) p, THUMBNAIL_SPEC_CANONICAL_MAX,
                                  &written, (char *) err, err_len);

    if (st == THUMBNAIL_STATUS_OK) {
        out->data = p;
        out->len = written;
        return NGX_OK;
    }

    if (err_len && st == THUMBNAIL_STATUS_BUFFER_TOO_SMALL) {
        ngx_cpystrn(err, (u_char *) "internal: canonical spec too long",
                    err_len);
    }

    return NGX_DECLINED;
}


/* the allow-list, at configuration time and per request */

ngx_int_t
ngx_http_thumbnail_spec_allowed(ngx_http_thumbnail_loc_conf_t *conf,
    ngx_str_t *spec)
{
    ngx_str_t   *s;
    ngx_uint_t   i;

    if (conf->allowed == NULL) {
        return 1;
    }

    s = conf->allowed->elts;

    for (i = 0; i < conf->allowed->nelts; i++) {
        if (s[i].len == spec->len
            && ngx_strncmp(s[i].data, spec->data, spec->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/* spec, allow-list, key, ETag; returns NGX_OK or an HTTP status */

ngx_int_t
ngx_http_thumbnail_prepare(ngx_http_request_t *r, ngx_http_thumbnail_ctx_t *ctx)
{
    u_char                          err[NGX_HTTP_THUMBNAIL_ERR_LEN];
    ngx_int_t                       rc;
    ngx_str_t                       raw;
    ngx_http_thumbnail_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_thumbnail_module);

    ctx->if_none_match = r->headers_in.if_none_match;

    /*
     * If-Modified-Since never makes a 304 of a thumbnail: nginx's
     * not_modified filter would compare it with the Last-Modified of a
     * render, a zone hit or a flight's result, which is the source's and
     * names no library version (only the ETag does)
     */
    r->headers_in.if_modified_since = NULL;

    if (lcf->spec == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (lcf->spec_static.data) {
        ctx->spec = lcf->spec_static;
        raw = lcf->spec_static;

    } else {
        if (ngx_http_complex_value(r, lcf->spec, &raw) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        err[0] = '\0';

        rc = ngx_http_thumbnail_canonical(r->pool, &raw, &ctx->spec, err,
                                          sizeof(err));
        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (rc == NGX_DECLINED) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "thumbnail: bad spec \"%V\": %V",
                          ngx_http_thumbnail_esc(r->pool, raw.data, raw.len),
                          ngx_http_thumbnail_esc_cstr(r->pool,
                                                      (char *) err));
            return NGX_HTTP_BAD_REQUEST;
        }
    }

    if (!ngx_http_thumbnail_spec_allowed(lcf, &ctx->spec)) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "thumbnail: spec \"%V\" is not in "
                      "thumbnail_allowed_specs",
                      ngx_http_thumbnail_esc(r->pool, ctx->spec.data,
                                             ctx->spec.len));
        return NGX_HTTP_BAD_REQUEST;
    }

    if (ngx_http_thumbnail_apply_defaults(r, lcf, ctx, &raw) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* `auto`: the bucket goes into the spec, hence the key and ETag */
    rc = ngx_http_thumbnail_negotiate(r, lcf, ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_thumbnail_make_key(r, lcf, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_OK;
}


/*
 * key  = escape(thumbnail_cache_key ["#wm=" overlay id]) "|" canonical spec
 * ETag = "t-" hex(md5(key "|" library version))
 *
 * The default key is "$host$uri", plus "?$args" in a location with its own
 * content handler (proxy_pass, fastcgi_pass...): an origin may serve other
 * images for other arguments (/img?id=1, /img?id=2), a static file never.
 *
 * Escaping '%' and every byte >= 0x80 as %XX keeps the key valid UTF-8 (the
 * cache requires it; $uri is decoded and may hold any byte) and one-to-one.
 * The spec never contains '|', so the spec is everything after the last '|'.
 */

static size_t
ngx_http_thumbnail_escape(u_char *dst, ngx_str_t *src)
{
    u_char         c, *p;
    size_t         i, n;
    static u_char  hex[] = "0123456789ABCDEF";

    n = 0;
    p = dst;

    for (i = 0; i < src->len; i++) {
        c = src->data[i];

        if (c >= 0x80 || c == '%' || c < 0x20) {
            if (dst) {
                *p++ = '%';
                *p++ = hex[c >> 4];
                *p++ = hex[c & 0xf];
            }

            n += 3;

        } else {
            if (dst) {
                *p++ = c;
            }

            n++;
        }
    }

    return n;
}


static ngx_int_t
ngx_http_thumbnail_make_key(ngx_http_request_t *r,
    ngx_http_thumbnail_loc_conf_t *lcf, ngx_http_thumbnail_ctx_t *ctx)
{
    u_char                    *p, digest[16];
    size_t                     len;
    ngx_str_t                  base[6], ver;
    ngx_uint_t                 i, n;
    ngx_md5_t                  md5;
    ngx_http_core_srv_conf_t  *cscf;
    ngx_http_core_loc_conf_t  *clcf;
    static ngx_str_t           question = ngx_string("?");

    if (lcf->key) {
        if (ngx_http_complex_value(r, lcf->key, &base[0]) != NGX_OK) {
            return NGX_ERROR;
        }

        n = 1;

    } else {
        base[0] = r->headers_in.server;

        if (base[0].len == 0) {
            cscf = ngx_http_get_module_srv_conf(r, ngx_http_core_module);
            base[0] = cscf->server_name;
        }

        base[1] = r->uri;
        n = 2;

        clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

        if (clcf->handler && r->args.len) {
            base[2] = question;
            base[3] = r->args;
            n = 4;
        }
    }

    if (lcf->overlay) {
        /* thumbnail_watermark: another logo or options, another key */
        base[n].data = (u_char *) "#wm=";
        base[n].len = sizeof("#wm=") - 1;
        base[n + 1] = lcf->overlay_id;
        n += 2;
    }

    len = 1 + ctx->spec.len;

    for (i = 0; i < n; i++) {
        len += ngx_http_thumbnail_escape(NULL, &base[i]);
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ctx->key.data = p;
    ctx->key.len = len;

    for (i = 0; i < n; i++) {
        p += ngx_http_thumbnail_escape(p, &base[i]);
    }

    *p++ = '|';
    ngx_memcpy(p, ctx->spec.data, ctx->spec.len);

    ver.data = (u_char *) thumbnail_version();
    ver.len = ngx_strlen(ver.data);

    ngx_md5_init(&md5);
    ngx_md5_update(&md5, ctx->key.data, ctx->key.len);
    ngx_md5_update(&md5, "|", 1);
    ngx_md5_update(&md5, ver.data, ver.len);
    ngx_md5_final(digest, &md5);

    p = ngx_pnalloc(r->pool, sizeof("\"t-\"") - 1 + 32);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ctx->etag.data = p;

    p = ngx_cpymem(p, "\"t-", 3);
    p = ngx_hex_dump(p, digest, 16);
    *p++ = '"';

    ctx->etag.len = p - ctx->etag.data;

    return NGX_OK;
}


/*
 * Sets the headers of a thumbnail response: 200 (or 304 if If-None-Match
 * matches the ETag), Content-Type, Content-Length, ETag; no ranges.
 * last_modified: -1 none, -2 keep the source's, else the time to send.
 */

ngx_int_t
ngx_http_thumbnail_set_headers(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx, thumbnail_image *img, time_t last_modified)
{
    const char  *type;

    type = thumbnail_image_media_type(img);
    if (type == NULL) {
        return NGX_ERROR;
    }

    return ngx_http_thumbnail_set_headers_raw(r, ctx, type,
                                              thumbnail_image_len(img),
                                              last_modified);
}


/* the same for a thumbnail of `len` bytes of media type `type` */

ngx_int_t
ngx_http_thumbnail_set_headers_raw(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx, const char *type, size_t len,
    time_t last_modified)
{
    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.status_line.len = 0;

    r->headers_out.content_type.data = (u_char *) type;
    r->headers_out.content_type.len = ngx_strlen(type);
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.charset.len = 0;

    ngx_http_clear_content_length(r);
    r->headers_out.content_length_n = len;

    if (r->headers_out.content_encoding) {
        r->headers_out.content_encoding->hash = 0;
        r->headers_out.content_encoding = NULL;
    }

    if (last_modified != -2) {
        ngx_http_clear_last_modified(r);
        r->headers_out.last_modified_time = last_modified;
    }

    if (ngx_http_thumbnail_set_etag(r, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_thumbnail_add_vary(r, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_clear_accept_ranges(r);

    if (ngx_http_thumbnail_if_none_match(ctx->if_none_match, &ctx->etag)) {
        r->headers_out.status = NGX_HTTP_NOT_MODIFIED;
        r->headers_out.content_type.len = 0;
        ngx_http_clear_content_length(r);
        ngx_http_thumbnail_stat_inc(not_modified);
    }

    return NGX_OK;
}


/* the thumbnail's ETag in place of the source's */

ngx_int_t
ngx_http_thumbnail_set_etag(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx)
{
    ngx_table_elt_t  *h;

    ngx_http_clear_etag(r);

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "ETag");
    h->value = ctx->etag;
    h->lowcase_key = NULL;
    r->headers_out.etag = h;

    return NGX_OK;
}


/* the body of a thumbnail response: the image's own bytes, not copied */

ngx_buf_t *
ngx_http_thumbnail_image_buf(ngx_pool_t *pool, thumbnail_image *img)
{
    ngx_buf_t  *b;

    b = ngx_calloc_buf(pool);
    if (b == NULL) {
        return NULL;
    }

    b->pos = (u_char *) thumbnail_image_data(img);
    b->last = b->pos + thumbnail_image_len(img);
    b->memory = 1;
    b->last_buf = 1;
    b->last_in_chain = 1;

    return b;
}


/* If-None-Match: "*" or a list of entity tags, compared weakly */

static ngx_int_t
ngx_http_thumbnail_if_none_match(ngx_table_elt_t *inm, ngx_str_t *etag)
{
    u_char  *p, *end;

    if (inm == NULL) {
        return 0;
    }

    p = inm->value.data;
    end = p + inm->value.len;

    while (p < end) {

        while (p < end && (*p == ' ' || *p == '\t' || *p == ',')) {
            p++;
        }

        if (p == end) {
            break;
        }

        if (*p == '*') {
            return 1;
        }

        if (end - p > 2 && p[0] == 'W' && p[1] == '/') {
            p += 2;
        }

        if ((size_t) (end - p) >= etag->len
            && ngx_strncmp(p, etag->data, etag->len) == 0)
        {
            return 1;
        }

        /* skip this tag: to its closing quote, then to the next comma */

        if (*p == '"') {
            p++;

            while (p < end && *p != '"') {
                p++;
            }

            if (p < end) {
                p++;
            }
        }

        while (p < end && *p != ',') {
            p++;
        }
    }

    return 0;
}


/* a HEAD that renders fetches the source with GET; HEAD is restored later */

void
ngx_http_thumbnail_head_as_get(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx)
{
    if (r->method == NGX_HTTP_HEAD) {
        ctx->head = 1;
        ctx->method_name = r->method_name;
        r->method = NGX_HTTP_GET;
        r->method_name = ngx_http_core_get_method;
    }
}


/* before our response (the thumbnail or an error) goes out */

void
ngx_http_thumbnail_restore_method(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx)
{
    if (ctx->head) {
        ctx->head = 0;
        r->method = NGX_HTTP_HEAD;
        r->method_name = ctx->method_name;
    }
}


/*
 * A HEAD turned into GET by a leader whose context was then dropped by an
 * internal redirect (try_files, error_page): recognised by the method name
 * we set, restored so that the reply has no body.
 */

void
ngx_http_thumbnail_restore_head(ngx_http_request_t *r)
{
    static ngx_str_t  head = ngx_string("HEAD");

    if (r->method == NGX_HTTP_GET
        && r->method_name.data == ngx_http_core_get_method.data
        && r->request_line.len > 5
        && ngx_strncmp(r->request_line.data, "HEAD ", 5) == 0)
    {
        r->method = NGX_HTTP_HEAD;
        r->method_name = head;
    }
}


/*
 * The request fails with a status of ours (400, 413, 415, 500, 503): the
 * filter lets the error response through, the status is counted, and a
 * leader hands it to the requests waiting for its render.
 */

void
ngx_http_thumbnail_failed(ngx_http_thumbnail_ctx_t *ctx, ngx_uint_t status)
{
    ctx->phase = NGX_HTTP_THUMBNAIL_PASS;
    ctx->status = status;

    if (ctx->flight && ctx->leader) {
        ngx_http_thumbnail_flight_finish(ctx->flight, status, NULL, -1);
    }

    ngx_http_thumbnail_admit_release(ctx);

    ngx_http_thumbnail_count_status(status);
}


/* a 503 of ours is brief by design: say when to come back */

ngx_int_t
ngx_http_thumbnail_retry_after(ngx_http_request_t *r)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Retry-After");
    ngx_str_set(&h->value, "1");
    h->lowcase_key = NULL;

    return NGX_OK;
}
