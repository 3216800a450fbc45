
/*
 * ngx_http_thumbnail_module: the render of a buffered source on a thread
 * pool.
 *
 * Admission first, on the event loop: at most thumbnail_max_queue renders
 * queued or running in this worker, and at most thumbnail_max_heavy heavy
 * ones (the source's header is probed); beyond either the request is
 * refused with 503. Then a task made by ngx_thread_task_alloc() runs
 * thumbnail_cache_get_or_render_after_miss() (thumbnail_render() without a
 * cache) on a pool thread, reading only the source and the key and spec,
 * writing only the task's context. Its completion handler, back on the event loop,
 * finishes the flight and resumes the request as
 * ngx_http_copy_thread_event_handler() does: the writer calls the body
 * filter, which sends the thumbnail (ngx_http_thumbnail_filter.c). A
 * render error is finalized with its status instead, so that error_page
 * applies.
 */


#include "ngx_http_thumbnail_module.h"


typedef struct {
    ngx_http_request_t           *request;
    ngx_http_thumbnail_ctx_t     *ctx;

    /* read by the pool thread */
    thumbnail_cache              *cache;
    const u_char                 *src;
    size_t                        src_len;
    ngx_str_t                     key;
    ngx_str_t                     spec;
    thumbnail_limits              limits;

    /* written by the pool thread */
    thumbnail_status              status;
    thumbnail_cache_source        source;
    thumbnail_image              *img;
    char                          err[NGX_HTTP_THUMBNAIL_ERR_LEN];
    ngx_msec_t                    elapsed;   /* $thumbnail_render_time */
} ngx_http_thumbnail_task_ctx_t;


static ngx_uint_t ngx_http_thumbnail_is_heavy(ngx_http_thumbnail_ctx_t *ctx,
    ngx_http_thumbnail_loc_conf_t *lcf, thumbnail_info *info);
static ngx_uint_t ngx_http_thumbnail_too_heavy(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx, ngx_http_thumbnail_loc_conf_t *lcf);
static thumbnail_limits ngx_http_thumbnail_limits(
    ngx_http_thumbnail_loc_conf_t *lcf);
static void ngx_http_thumbnail_render_thread(void *data, ngx_log_t *log);
static void ngx_http_thumbnail_render_done(ngx_event_t *ev);


/*
 * Posts the render of the buffered source to the thread pool; returns
 * NGX_OK or the HTTP status to fail with (503 when this worker's queue or
 * heavy-render limit is reached).
 */

ngx_int_t
ngx_http_thumbnail_render_post(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx)
{
    ngx_thread_task_t               *task;
    ngx_http_thumbnail_task_ctx_t   *t;
    ngx_http_thumbnail_loc_conf_t   *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_thumbnail_module);

    if (ngx_http_thumbnail_queue_full(r, lcf)
        || ngx_http_thumbnail_too_heavy(r, ctx, lcf))
    {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    task = ngx_thread_task_alloc(r->pool,
                                 sizeof(ngx_http_thumbnail_task_ctx_t));
    if (task == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    t = task->ctx;

    t->request = r;
    t->ctx = ctx;
    t->cache = ngx_http_thumbnail_cache;
    t->src = ctx->src;
    t->src_len = ctx->src_last - ctx->src;
    t->key = ctx->key;
    t->spec = ctx->spec;
    t->limits = ngx_http_thumbnail_limits(lcf);
    t->status = THUMBNAIL_STATUS_INTERNAL;
    t->source = THUMBNAIL_CACHE_SOURCE_NONE;
    t->img = NULL;
    t->err[0] = '\0';

    task->handler = ngx_http_thumbnail_render_thread;
    task->event.data = t;
    task->event.handler = ngx_http_thumbnail_render_done;

    if (ngx_thread_task_post(lcf->thread_pool, task) != NGX_OK) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "thumbnail: cannot queue the render in thread pool "
                      "\"%V\"", &lcf->thread_pool_name);

        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "thumbnail: render posted, %uz bytes, \"%V\"",
                   t->src_len, &ctx->key);

    r->main->blocked++;
    r->aio = 1;
    r->buffered |= NGX_HTTP_THUMBNAIL_BUFFERED;

    ctx->phase = NGX_HTTP_THUMBNAIL_RENDERING;

    ngx_http_thumbnail_stat_inc(in_flight);
    ngx_http_thumbnail_stat_inc(renders);

    if (ctx->heavy) {
        ngx_http_thumbnail_stat_inc(heavy);
    }

    return NGX_OK;
}


/* the render queue bound: thumbnail_max_queue renders queued or running */

ngx_uint_t
ngx_http_thumbnail_queue_full(ngx_http_request_t *r,
    ngx_http_thumbnail_loc_conf_t *lcf)
{
    if (ngx_http_thumbnail_counters.in_flight < lcf->max_queue) {
        return 0;
    }

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "thumbnail: %uL renders in progress "
                  "(thumbnail_max_queue %ui), refusing",
                  ngx_http_thumbnail_counters.in_flight, lcf->max_queue);

    return 1;
}


/*
 * Heavy-render admission. A progressive JPEG of more than a tenth of
 * thumbnail_heavy_pixels (every scan is decoded whatever the output size,
 * ~700 ms for 18 MP: about ten times a baseline JPEG decoded at reduced
 * size) or any source of more than thumbnail_heavy_pixels holds a pool
 * thread for long; at most thumbnail_max_heavy of them may be queued or
 * running in this worker, so that the other threads stay free for ordinary
 * thumbnails. The probe reads only the header, cheap enough for the event
 * loop. A source it cannot read is not heavy: its render fails quickly and
 * reports why.
 */

static ngx_uint_t
ngx_http_thumbnail_is_heavy(ngx_http_thumbnail_ctx_t *ctx,
    ngx_http_thumbnail_loc_conf_t *lcf, thumbnail_info *info)
{
    uint64_t          pixels;
    thumbnail_status  st;

    st = thumbnail_probe(ctx->src, ctx->src_last - ctx->src, info, NULL, 0);

    if (st != THUMBNAIL_STATUS_OK) {
        return 0;
    }

    pixels = (uint64_t) info->width * info->height;

    return pixels > lcf->heavy_pixels
           || (info->progressive && pixels > lcf->heavy_pixels / 10);
}


static ngx_uint_t
ngx_http_thumbnail_too_heavy(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx, ngx_http_thumbnail_loc_conf_t *lcf)
{
    thumbnail_info  info;

    ctx->heavy = ngx_http_thumbnail_is_heavy(ctx, lcf, &info);

    if (!ctx->heavy
        || ngx_http_thumbnail_counters.heavy < lcf->max_heavy)
    {
        return 0;
    }

    ctx->heavy = 0;
    ngx_http_thumbnail_stat_inc(heavy_refused);

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "thumbnail: heavy source (%uDx%uD%s), %uL heavy renders "
                  "in progress (thumbnail_max_heavy %ui), refusing",
                  info.width, info.height,
                  info.progressive ? " progressive JPEG" : "",
                  ngx_http_thumbnail_counters.heavy, lcf->max_heavy);

    return 1;
}


/* the location's limits, as the library takes them */

static thumbnail_limits
ngx_http_thumbnail_limits(ngx_http_thumbnail_loc_conf_t *lcf)
{
    thumbnail_limits  limits;

    limits = thumbnail_limits_default();

    limits.max_source_bytes = lcf->max_source_size;
    limits.max_source_pixels = lcf->max_pixels;
    limits.max_output_width = (uint32_t) lcf->max_output;
    limits.max_output_height = (uint32_t) lcf->max_output;

    return limits;
}


/* runs on a pool thread: touches only the task context and the source */

static void
ngx_http_thumbnail_render_thread(void *data, ngx_log_t *log)
{
    ngx_http_thumbnail_task_ctx_t *t = data;

    struct timespec  start, end;

    (void) clock_gettime(CLOCK_MONOTONIC, &start);

    if (t->cache) {
        /* the phase handler's thumbnail_cache_get counted this miss */
        t->status = thumbnail_cache_get_or_render_after_miss(t->cache,
                        (const char *) t->key.data, t->key.len,
                        t->src, t->src_len,
                        (const char *) t->spec.data, t->spec.len,
                        &t->limits, &t->img, &t->source,
                        t->err, sizeof(t->err));

    } else {
        t->status = thumbnail_render(t->src, t->src_len,
                        (const char *) t->spec.data, t->spec.len,
                        &t->limits, &t->img, t->err, sizeof(t->err));
    }

    (void) clock_gettime(CLOCK_MONOTONIC, &end);

    t->elapsed = (ngx_msec_t) ((end.tv_sec - start.tv_sec) * 1000
                               + (end.tv_nsec - start.tv_nsec) / 1000000);
}


/* back on the event loop */

static void
ngx_http_thumbnail_render_done(ngx_event_t *ev)
{
    ngx_uint_t                      status, level;
    ngx_connection_t               *c;
    ngx_http_request_t             *r;
    ngx_http_thumbnail_ctx_t       *ctx;
    ngx_http_thumbnail_task_ctx_t  *t;

    t = ev->data;
    r = t->request;
    ctx = t->ctx;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    r->main->blocked--;
    r->aio = 0;

    ngx_http_thumbnail_stat_dec(in_flight);

    if (ctx->heavy) {
        ctx->heavy = 0;
        ngx_http_thumbnail_stat_dec(heavy);
    }

    ngx_http_thumbnail_free_source(r, ctx);

    ctx->rendered = 1;
    ctx->render_ms = t->elapsed;

    if (t->status == THUMBNAIL_STATUS_OK) {
        status = NGX_HTTP_OK;

        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, c->log, 0,
                       "thumbnail: rendered %uDx%uD (cache source %d)",
                       thumbnail_image_width(t->img),
                       thumbnail_image_height(t->img), (int) t->source);

        ctx->phase = NGX_HTTP_THUMBNAIL_RENDERED;

        if (ctx->flight && ctx->leader && !ctx->flight->done) {
            /* the flight owns the image from now on */
            ngx_http_thumbnail_flight_finish(ctx->flight, NGX_HTTP_OK, t->img,
                                             ctx->last_modified);
        } else {
            ctx->img = t->img;
        }

    } else {
        status = thumbnail_status_http(t->status);

        switch (status) {
        case NGX_HTTP_REQUEST_ENTITY_TOO_LARGE:
            level = NGX_LOG_WARN;
            break;
        case NGX_HTTP_INTERNAL_SERVER_ERROR:
            level = NGX_LOG_ERR;
            break;
        default:
            level = NGX_LOG_INFO;
        }

        ngx_log_error(level, c->log, 0, "thumbnail: cannot render \"%V\": %s",
                      &ctx->key, t->err);

        ngx_http_thumbnail_stat_inc(render_errors);
        ngx_http_thumbnail_failed(ctx, status);
    }

    if (status == NGX_HTTP_OK || c->error || r->done) {

        /* as ngx_http_copy_thread_event_handler() does */

        if (r->done) {
            c->write->handler(c->write);

        } else {
            r->write_event_handler(r);
            ngx_http_run_posted_requests(c);
        }

        return;
    }

    /*
     * A render error: the source's header was held back and its body is
     * consumed, so the request can still be finalized with the error status
     * (and an error_page), keeping the connection alive. The request sits in
     * ngx_http_writer waiting for us; finalizing takes its place.
     */

    ngx_http_thumbnail_filter_reset(r, ctx);
    ngx_http_finalize_request(r, status);
    ngx_http_run_posted_requests(c);
}
