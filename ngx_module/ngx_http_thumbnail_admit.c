
/*
 * ngx_http_thumbnail_module: admission of renders, and the bytes of
 * rendered thumbnails a worker holds for its clients.
 *
 * A request that misses the cache and would lead a render is admitted by
 * the phase handler, before its source is read or proxied:
 *
 *   - thumbnail_max_queue: at most N admitted renders per worker, counted
 *     in the in_flight gauge from admission (while the source is fetched
 *     and read, queued and rendered) until the render ends or the request
 *     gives up. A burst of misses is refused at once with 503 instead of
 *     reading every source first, so the sources a worker holds in memory
 *     are bounded too (N x thumbnail_max_source_size);
 *   - thumbnail_max_output_held: no new render while the rendered
 *     thumbnails this worker still holds for clients (being sent, or
 *     waiting for a slow reader) reach the bound (0: no bound).
 *
 * Heavy sources are admitted later, once their header is known
 * (ngx_http_thumbnail_render.c).
 *
 * Held output: a render's image counts from the moment the render ends
 * until the last request using it ends (ngx_http_thumbnail_hold() and
 * _unhold()); a finished render that would take the count over the bound
 * is refused with 503 instead of being kept (with the per-worker cache
 * it is in the cache, if it fits there, so a retry is a hit). A zone hit
 * is a copy of the entry for its request and counts the same way
 * (ngx_http_thumbnail_zone_serve.c). Hits of the per-worker cache are not
 * counted: their bytes are the cache's, bounded by its size.
 */


#include "ngx_http_thumbnail_module.h"

#if (NGX_LINUX) && defined(__GLIBC__)
#include <malloc.h>
#endif


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

    if (lcf->max_output_held && c->output_held >= lcf->max_output_held) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "thumbnail: %uL bytes of thumbnails held for clients "
                      "(thumbnail_max_output_held %uz), refusing",
                      c->output_held, lcf->max_output_held);

        ngx_http_thumbnail_stat_inc(held_refused);

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


/*
 * A render's image of len bytes is to be kept for clients: counted, or
 * NGX_DECLINED if that would take the worker over thumbnail_max_output_held
 * (an image is always kept when nothing else is held, so that one larger
 * than the bound can still be served).
 */

ngx_int_t
ngx_http_thumbnail_hold(ngx_http_request_t *r,
    ngx_http_thumbnail_loc_conf_t *lcf, size_t len)
{
    ngx_http_thumbnail_counters_t  *c;

    c = &ngx_http_thumbnail_counters;

    if (lcf->max_output_held
        && c->output_held
        && c->output_held + len > lcf->max_output_held)
    {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "thumbnail: %uL bytes of thumbnails held for clients, "
                      "%uz more would pass thumbnail_max_output_held %uz, "
                      "refusing", c->output_held, len, lcf->max_output_held);

        ngx_http_thumbnail_stat_inc(held_refused);

        return NGX_DECLINED;
    }

    c->output_held += len;
    ngx_http_thumbnail_stats_changed();

    return NGX_OK;
}


void
ngx_http_thumbnail_unhold(size_t len)
{
    ngx_http_thumbnail_counters.output_held -= len;
    ngx_http_thumbnail_stats_changed();
}


/*
 * Big blocks straight from the kernel, and back to it when freed (glibc).
 * By default glibc raises its mmap threshold to the size of the largest
 * block freed so far (up to 32 MB): after the first render of a big
 * photo, sources, decoded pixels and outputs of megabytes come from the
 * pool threads' malloc arenas, which keep what is freed and fragment
 * around what slow clients still hold. A fixed threshold keeps the
 * worker's RSS near what it really holds (a burst of 16 slow readers of
 * 10.8 MB PNGs: 214 MB more RSS with the default, ~70 MB with this, held
 * output bounded to 64 MB), at the price of page faults when a render
 * touches its fresh big buffers.
 */

void
ngx_http_thumbnail_malloc_init(ngx_cycle_t *cycle)
{
#if (NGX_LINUX) && defined(__GLIBC__) && defined(M_MMAP_THRESHOLD)

    if (mallopt(M_MMAP_THRESHOLD, NGX_HTTP_THUMBNAIL_MMAP_THRESHOLD) != 1) {
        ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                      "thumbnail: mallopt(M_MMAP_THRESHOLD) failed");
    }

#endif
}
