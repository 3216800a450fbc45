
/*
 * ngx_http_thumbnail_module: location defaults a URL's spec may override.
 *
 *   thumbnail_quality N;   http, server, location (1..100; default: none,
 *                          the library's q80)
 *
 * The JPEG quality of thumbnails whose spec names none: with
 * `thumbnail_quality 85;`, /t/200x200/a.jpg renders as 200x200,q85 and
 * /t/200x200,q60/a.jpg as asked (writing `thumbnail_spec $spec,q85;`
 * instead makes a URL's own qN an error: quality given more than once).
 * Applied after the allow-list check, which sees the URL's spec; the cache
 * key and ETag hold the spec rendered.
 */


#include "ngx_http_thumbnail_module.h"


/* whether a canonical spec names a quality (an option "q" + digits) */

static ngx_uint_t
ngx_http_thumbnail_has_quality(ngx_str_t *spec)
{
    u_char  *p, *last;

    last = spec->data + spec->len;

    for (p = spec->data; p < last; p++) {
        if (*p == ',' && p + 2 < last && p[1] == 'q'
            && p[2] >= '0' && p[2] <= '9')
        {
            return 1;
        }
    }

    return 0;
}


/*
 * given: the spec as written (the URL's, before canonicalisation, which
 * drops a q80 as the default it is: "q80" in a URL still wins)
 */

ngx_int_t
ngx_http_thumbnail_apply_defaults(ngx_http_request_t *r,
    ngx_http_thumbnail_loc_conf_t *lcf, ngx_http_thumbnail_ctx_t *ctx,
    ngx_str_t *given)
{
    u_char     *p;
    u_char      err[NGX_HTTP_THUMBNAIL_ERR_LEN];
    ngx_int_t   rc;
    ngx_str_t   raw;

    if (lcf->quality == NGX_CONF_UNSET_UINT
        || ngx_http_thumbnail_has_quality(given))
    {
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, ctx->spec.len + sizeof(",q100") - 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    raw.data = p;
    raw.len = ngx_sprintf(p, "%V,q%ui", &ctx->spec, lcf->quality) - p;

    err[0] = '\0';

    /* canonical again: the quality goes to its place, q80 drops out */
    rc = ngx_http_thumbnail_canonical(r->pool, &raw, &ctx->spec, err,
                                      sizeof(err));
    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "thumbnail: thumbnail_quality on \"%V\": %s", &raw, err);
        return NGX_ERROR;
    }

    return NGX_OK;
}
