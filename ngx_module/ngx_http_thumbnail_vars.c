
/*
 * ngx_http_thumbnail_module: variables for add_header and log_format.
 *
 *   $thumbnail_cache_status   how this request's thumbnail was obtained,
 *                             as $upstream_cache_status names it:
 *       HIT      answered from the cache (per-worker or zone)
 *       MISS     rendered by this request, then cached
 *       WAIT     answered with another request's render of the same key
 *                (in this worker, or in another through the zone)
 *       BYPASS   rendered by this request, no cache configured
 *     empty (logged as "-") when the request never reached the cache: not a
 *     thumbnail location, a method other than GET/HEAD, a bad spec, a
 *     request refused before it looked.
 *   $thumbnail_render_time    seconds this request's render took on the
 *                             pool thread, with milliseconds ("0.042");
 *                             empty ("-") when it rendered nothing.
 *
 * The states are set where they happen (the phase handler's hit, the
 * flight's lead and wait, the zone's hit and park, the thread task); this
 * file only reads them.
 */


#include "ngx_http_thumbnail_module.h"


static ngx_int_t ngx_http_thumbnail_cache_status_variable(
    ngx_http_request_t *r, ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_thumbnail_render_time_variable(
    ngx_http_request_t *r, ngx_http_variable_value_t *v, uintptr_t data);


static ngx_http_variable_t  ngx_http_thumbnail_vars[] = {

    { ngx_string("thumbnail_cache_status"), NULL,
      ngx_http_thumbnail_cache_status_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("thumbnail_render_time"), NULL,
      ngx_http_thumbnail_render_time_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_str_t  ngx_http_thumbnail_cache_status_names[] = {
    ngx_null_string,
    ngx_string("HIT"),
    ngx_string("MISS"),
    ngx_string("WAIT"),
    ngx_string("BYPASS")
};


ngx_int_t
ngx_http_thumbnail_add_variables(ngx_conf_t *cf)
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

    /* $thumbnail_format lives beside the negotiation that sets it */

    return ngx_http_thumbnail_negotiate_add_variables(cf);
}


/* the main request's context: a subrequest (SSI, auth) reports the main's */

static ngx_http_thumbnail_ctx_t *
ngx_http_thumbnail_vars_ctx(ngx_http_request_t *r)
{
    return ngx_http_get_module_ctx(r->main, ngx_http_thumbnail_module);
}


static ngx_int_t
ngx_http_thumbnail_cache_status_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_uint_t                       status;
    ngx_http_thumbnail_ctx_t        *ctx;
    ngx_http_thumbnail_main_conf_t  *mcf;

    ctx = ngx_http_thumbnail_vars_ctx(r);

    if (ctx == NULL || ctx->cache_status == NGX_HTTP_THUMBNAIL_CS_NONE) {
        v->not_found = 1;
        return NGX_OK;
    }

    status = ctx->cache_status;

    if (status == NGX_HTTP_THUMBNAIL_CS_MISS && ngx_http_thumbnail_cache == NULL) {
        mcf = ngx_http_get_module_main_conf(r, ngx_http_thumbnail_module);

        if (mcf->zone == NULL) {
            status = NGX_HTTP_THUMBNAIL_CS_BYPASS;
        }
    }

    v->len = ngx_http_thumbnail_cache_status_names[status].len;
    v->data = ngx_http_thumbnail_cache_status_names[status].data;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_thumbnail_render_time_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                    *p;
    ngx_msec_int_t             ms;
    ngx_http_thumbnail_ctx_t  *ctx;

    ctx = ngx_http_thumbnail_vars_ctx(r);

    if (ctx == NULL || !ctx->rendered) {
        v->not_found = 1;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, NGX_TIME_T_LEN + 4);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ms = (ngx_msec_int_t) ctx->render_ms;

    v->len = ngx_sprintf(p, "%T.%03M", (time_t) ms / 1000, ms % 1000) - p;
    v->data = p;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}
