
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
 *
 *   thumbnail_cache_control VALUE | off;   http, server, location (off;
 *                          variables allowed)
 *
 * Cache-Control: VALUE on every thumbnail response whose source sent no
 * Cache-Control of its own (the source's wins). One rule in one place,
 * ngx_http_thumbnail_cache_control(), called from
 * ngx_http_thumbnail_set_headers_raw(), which every thumbnail response goes
 * through: a render, a per-worker cache hit, a zone hit, a request that
 * waited for another's render, and their 304s. The source's headers are
 * on the response by then (a render passes them on; a zone hit and a
 * waiter replay the ones captured from the source, which never include
 * this VALUE: it is added after the capture). An empty VALUE adds nothing.
 * nginx's `expires` runs later, in the headers filter, and overrides both.
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


char *
ngx_http_thumbnail_cache_control_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_thumbnail_loc_conf_t *lcf = conf;

    ngx_str_t                         *value;
    ngx_http_compile_complex_value_t   ccv;

    if (lcf->cache_control != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        lcf->cache_control = NULL;
        return NGX_CONF_OK;
    }

    if (value[1].len == 0) {
        return "has an empty value (use \"off\")";
    }

    lcf->cache_control = ngx_palloc(cf->pool,
                                    sizeof(ngx_http_complex_value_t));
    if (lcf->cache_control == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &value[1];
    ccv.complex_value = lcf->cache_control;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* a thumbnail response: thumbnail_cache_control, unless it has its own */

ngx_int_t
ngx_http_thumbnail_cache_control(ngx_http_request_t *r)
{
    ngx_str_t                       value;
    ngx_uint_t                      i;
    ngx_list_part_t                *part;
    ngx_table_elt_t                *h;
    ngx_http_thumbnail_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_thumbnail_module);

    if (lcf->cache_control == NULL) {
        return NGX_OK;
    }

    /* the source's (passed on by a render, replayed by a hit or waiter) */

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

        if (h[i].hash != 0
            && h[i].key.len == sizeof("Cache-Control") - 1
            && ngx_strncasecmp(h[i].key.data, (u_char *) "Cache-Control",
                               sizeof("Cache-Control") - 1)
               == 0)
        {
            return NGX_OK;
        }
    }

    if (ngx_http_complex_value(r, lcf->cache_control, &value) != NGX_OK) {
        return NGX_ERROR;
    }

    if (value.len == 0) {
        return NGX_OK;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->value = value;
    h->lowcase_key = NULL;

    return ngx_http_thumbnail_set_cache_control(r, h);
}


/*
 * h, pushed to headers_out, becomes a Cache-Control registered where
 * nginx's expires looks for it, so that it wins.
 */

ngx_int_t
ngx_http_thumbnail_set_cache_control(ngx_http_request_t *r,
    ngx_table_elt_t *h)
{
#if (nginx_version < 1023000)
    ngx_table_elt_t  **ph;
#endif

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

    return NGX_OK;
}
