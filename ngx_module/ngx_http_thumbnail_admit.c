
/*
 * ngx_http_thumbnail_module: admission of renders.
 *
 * A request that misses the cache and would lead a render is admitted by
 * the phase handler, before its source is read or proxied:
 * thumbnail_max_queue: at most N admitted renders per worker, counted in
 * the in_flight gauge from admission (while the source is fetched and
 * read, queued and rendered) until the render ends or the request gives
 * up. A burst of misses is refused at once with 503 instead of reading
 * every source first, so the sources a worker holds in memory are bounded
 * too (N x thumbnail_max_source_size).
 *
 * Heavy sources are admitted later, once their header is known
 * (ngx_http_thumbnail_render.c).
 */


#include "ngx_http_thumbnail_module.h"


ngx_int_t
ngx_http_thumbnail_admit(ngx_http_request_t *r, ngx_http_thumbnail_ctx_t *ctx,
    ngx_http_thumbnail_loc_conf_t *lcf)
{
    ngx_http_thumbnail_counters_t  *c;

    if (ctx->admitted) {
        return NGX_OK;
    }

    c = &ngx_http_thumbnail_counters;

    if (c->in_flight >= lcf->max_queue) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "thumbnail: %uL renders in progress "
                      "(thumbnail_max_queue %ui), refusing",
                      c->in_flight, lcf->max_queue);

        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    ctx->admitted = 1;
    ngx_http_thumbnail_stat_inc(in_flight);

    return NGX_OK;
}


/* the render ended, or the request stopped leading one */

void
ngx_http_thumbnail_admit_release(ngx_http_thumbnail_ctx_t *ctx)
{
    if (ctx->admitted) {
        ctx->admitted = 0;
        ngx_http_thumbnail_stat_dec(in_flight);
    }
}
