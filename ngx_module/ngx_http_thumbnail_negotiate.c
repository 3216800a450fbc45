
/*
 * ngx_http_thumbnail_negotiate.c: the spec's `auto` format.
 *
 *   - ngx_http_thumbnail_negotiate(): after the allow-list (which compares
 *     the spec as written, `...,auto`) and before the cache key, the
 *     request's Accept header resolves `auto` through the library
 *     (thumbnail_spec_negotiate): the canonical spec becomes `...,auto=avif`
 *     (only with `thumbnail_avif on`), `...,auto=webp` or stays `...,auto`
 *     (JPEG/PNG). The key and the ETag are made from that spec, so each
 *     bucket is its own cache entry and its own ETag (304s per bucket),
 *     and the raw header never reaches a key.
 *   - ngx_http_thumbnail_add_vary(): `Vary: Accept` on every response whose
 *     format was negotiated (200 and 304, hits and renders, the JPEG/PNG
 *     fallback too); none when the spec names its format.
 *   - $thumbnail_format: the bucket (`avif`, `webp`, `source`), empty when
 *     the spec does not negotiate; for logs and proxy_cache_key.
 */


#include "ngx_http_thumbnail_module.h"


static ngx_int_t ngx_http_thumbnail_format_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_thumbnail_accept(ngx_http_request_t *r,
    ngx_str_t *accept);


static ngx_http_variable_t  ngx_http_thumbnail_vars[] = {

    { ngx_string("thumbnail_format"), NULL,
      ngx_http_thumbnail_format_variable, 0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_http_thumbnail_negotiate_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_thumbnail_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


/* resolves `auto`; returns NGX_OK or an HTTP status */

ngx_int_t
ngx_http_thumbnail_negotiate(ngx_http_request_t *r,
    ngx_http_thumbnail_loc_conf_t *lcf, ngx_http_thumbnail_ctx_t *ctx)
{
    bool              varies;
    char              err[NGX_HTTP_THUMBNAIL_ERR_LEN];
    size_t            written;
    u_char            buf[THUMBNAIL_SPEC_CANONICAL_MAX];
    ngx_str_t         accept;
    thumbnail_status  st;

    if (ngx_strlcasestrn(ctx->spec.data, ctx->spec.data + ctx->spec.len,
                         (u_char *) ",auto", 5 - 1)
        == NULL)
    {
        return NGX_OK;   /* the spec names its format (or keeps the source's) */
    }

    if (ngx_http_thumbnail_accept(r, &accept) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    err[0] = '\0';
    varies = false;

    st = thumbnail_spec_negotiate((const char *) ctx->spec.data, ctx->spec.len,
                                  (const char *) accept.data, accept.len,
                                  lcf->avif ? true : false,
                                  (char *) buf, sizeof(buf), &written,
                                  &varies, err, sizeof(err));
    if (st != THUMBNAIL_STATUS_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "thumbnail: cannot negotiate \"%V\": %s",
                      &ctx->spec, err);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (!varies) {
        return NGX_OK;
    }

    ctx->vary = 1;

    ctx->spec.data = ngx_pnalloc(r->pool, written);
    if (ctx->spec.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(ctx->spec.data, buf, written);
    ctx->spec.len = written;

    if (ngx_strlcasestrn(buf, buf + written, (u_char *) "auto=avif", 9 - 1)) {
        ngx_str_set(&ctx->bucket, "avif");

    } else if (ngx_strlcasestrn(buf, buf + written, (u_char *) "auto=webp",
                                9 - 1))
    {
        ngx_str_set(&ctx->bucket, "webp");

    } else {
        ngx_str_set(&ctx->bucket, "source");
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "thumbnail: negotiated \"%V\" (%V)", &ctx->spec,
                   &ctx->bucket);

    return NGX_OK;
}


/* every Accept header line, joined with ", " (most clients send one) */

static ngx_int_t
ngx_http_thumbnail_accept(ngx_http_request_t *r, ngx_str_t *accept)
{
    u_char           *p;
    size_t            len;
    ngx_uint_t        i, n;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *first;

    ngx_str_null(accept);

    len = 0;
    n = 0;
    first = NULL;

    for (part = &r->headers_in.headers.part; part; part = part->next) {
        h = part->elts;
        for (i = 0; i < part->nelts; i++) {
            if (h[i].key.len == 6
                && ngx_strncasecmp(h[i].key.data, (u_char *) "Accept", 6) == 0)
            {
                len += h[i].value.len + 2;
                n++;
                if (first == NULL) {
                    first = &h[i];
                }
            }
        }
    }

    if (n == 0) {
        return NGX_OK;
    }

    if (n == 1) {
        *accept = first->value;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    accept->data = p;

    for (part = &r->headers_in.headers.part; part; part = part->next) {
        h = part->elts;
        for (i = 0; i < part->nelts; i++) {
            if (h[i].key.len == 6
                && ngx_strncasecmp(h[i].key.data, (u_char *) "Accept", 6) == 0)
            {
                if (p != accept->data) {
                    *p++ = ',';
                    *p++ = ' ';
                }
                p = ngx_cpymem(p, h[i].value.data, h[i].value.len);
            }
        }
    }

    accept->len = p - accept->data;

    return NGX_OK;
}


/* `Vary: Accept` on a response whose format was negotiated */

ngx_int_t
ngx_http_thumbnail_add_vary(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx)
{
    ngx_table_elt_t  *h;

    if (!ctx->vary) {
        return NGX_OK;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Vary");
    ngx_str_set(&h->value, "Accept");
    h->lowcase_key = NULL;

    return NGX_OK;
}


static ngx_int_t
ngx_http_thumbnail_format_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_thumbnail_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_thumbnail_module);

    if (ctx == NULL || !ctx->vary) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = ctx->bucket.len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = ctx->bucket.data;

    return NGX_OK;
}
