
/*
 * ngx_http_thumbnail_module: the render of a source on a thread pool.
 *
 * The render was admitted before its source was read (thumbnail_max_queue
 * and thumbnail_max_output_held, ngx_http_thumbnail_admit.c). Once the
 * source is complete, a task made by ngx_thread_task_alloc() runs on a pool
 * thread in up to two stages:
 *
 *   READ    only if parts of the source are in files (a static file, a
 *           proxied response spooled to a temp file): pread() them into the
 *           source buffer, the first 256 KB first, and probe the header
 *           there. Nothing of the source is read on the event loop.
 *   RENDER  thumbnail_cache_get_or_render_after_miss() (the phase
 *           handler's lookup counted the miss; thumbnail_render() without a
 *           cache), then free the source.
 *
 * In between, on the event loop: heavy-source admission from the header
 * (at most thumbnail_max_heavy heavy renders per worker; probed on the loop
 * when the source is all in memory, header only), else 503. The pool
 * thread reads only the task's source, parts, key and spec and writes only
 * the task context. Its completion handler, back on the event loop,
 * finishes the flight, counts the image as held for clients (503 past
 * thumbnail_max_output_held) and resumes the request as
 * ngx_http_copy_thread_event_handler() does: the writer calls the body
 * filter, which sends the thumbnail (ngx_http_thumbnail_filter.c). A
 * render error is finalized with its status instead, so that error_page
 * applies.
 */


#include "ngx_http_thumbnail_module.h"

#if (NGX_LINUX)
#include <sys/resource.h>
#include <sys/syscall.h>
#endif


/* the header of a file source is probed in its first bytes */
#define NGX_HTTP_THUMBNAIL_PROBE_PREFIX  (256 * 1024)

#define NGX_HTTP_THUMBNAIL_STAGE_READ    0
#define NGX_HTTP_THUMBNAIL_STAGE_RENDER  1


typedef struct {
    ngx_http_request_t           *request;
    ngx_http_thumbnail_ctx_t     *ctx;
    ngx_uint_t                    stage;

    /* read by the pool thread */
    thumbnail_cache              *cache;
    u_char                       *src;         /* owned: freed after render */
    size_t                        src_len;
    ngx_http_thumbnail_read_t    *reads;       /* file parts to read */
    ngx_uint_t                    nreads;
    ngx_str_t                     key;
    ngx_str_t                     spec;
    thumbnail_limits              limits;
    ngx_int_t                     nice;
    const thumbnail_overlay      *overlay;       /* thumbnail_watermark */

    /* written by the pool thread */
    ngx_uint_t                    next_read;   /* parts read so far */
    size_t                        part_done;   /* bytes of the next part */
    ngx_uint_t                    read_failed; /* a read failed: 1 + its
                                                  index in reads */
    ngx_err_t                     read_err;    /* errno, 0: file too short */
    thumbnail_status              probe_status;
    thumbnail_info                info;
    thumbnail_status              status;
    thumbnail_cache_source        source;
    thumbnail_image              *img;
    char                          err[NGX_HTTP_THUMBNAIL_ERR_LEN];
    ngx_msec_t                    elapsed;   /* $thumbnail_render_time */
} ngx_http_thumbnail_task_ctx_t;


static ngx_int_t ngx_http_thumbnail_render_start(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx, ngx_thread_task_t *task);
static ngx_int_t ngx_http_thumbnail_task_post(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx, ngx_thread_task_t *task);
static ngx_uint_t ngx_http_thumbnail_is_heavy(
    ngx_http_thumbnail_loc_conf_t *lcf, ngx_http_thumbnail_task_ctx_t *t);
static ngx_uint_t ngx_http_thumbnail_too_heavy(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx, ngx_http_thumbnail_loc_conf_t *lcf,
    ngx_http_thumbnail_task_ctx_t *t);
static thumbnail_limits ngx_http_thumbnail_limits(ngx_http_request_t *r,
    ngx_http_thumbnail_loc_conf_t *lcf, ngx_http_thumbnail_ctx_t *ctx);
static void ngx_http_thumbnail_render_thread(void *data, ngx_log_t *log);
static void ngx_http_thumbnail_thread_nice(ngx_int_t nice);
static ngx_int_t ngx_http_thumbnail_read_upto(
    ngx_http_thumbnail_task_ctx_t *t, size_t upto);
static void ngx_http_thumbnail_render_done(ngx_event_t *ev);
static void ngx_http_thumbnail_read_done(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx, ngx_thread_task_t *task);
static void ngx_http_thumbnail_read_error(ngx_http_request_t *r,
    ngx_http_thumbnail_task_ctx_t *t);
static void ngx_http_thumbnail_task_failed(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx, ngx_uint_t status);


/*
 * The source is complete (in ctx->src, and in the files of ctx->reads):
 * posts its read or its render to the thread pool. Returns NGX_OK or the
 * HTTP status to fail with (503 when this worker's queue or heavy-render
 * limit is reached).
 */

ngx_int_t
ngx_http_thumbnail_render_post(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx)
{
    ngx_int_t                        rc;
    ngx_thread_task_t               *task;
    ngx_http_thumbnail_task_ctx_t   *t;
    ngx_http_thumbnail_loc_conf_t   *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_thumbnail_module);

    /* admitted by the phase handler, unless it did not run */

    rc = ngx_http_thumbnail_admit(r, ctx, lcf);
    if (rc != NGX_OK) {
        return rc;
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
    t->key = ctx->key;
    t->spec = ctx->spec;
    t->limits = ngx_http_thumbnail_limits(r, lcf, ctx);
    t->nice = ((ngx_http_thumbnail_main_conf_t *)
               ngx_http_get_module_main_conf(r, ngx_http_thumbnail_module))
              ->render_nice;
    t->overlay = lcf->overlay;
    t->status = THUMBNAIL_STATUS_INTERNAL;
    t->source = THUMBNAIL_CACHE_SOURCE_NONE;
    t->img = NULL;
    t->err[0] = '\0';

    /* the source is the task's from now on */

    t->src = ctx->src;
    t->src_len = ctx->src_last - ctx->src;
    ctx->src = NULL;
    ctx->src_last = NULL;
    ctx->src_end = NULL;

    if (ctx->reads && ctx->reads->nelts) {
        t->reads = ctx->reads->elts;
        t->nreads = ctx->reads->nelts;
    }

    task->handler = ngx_http_thumbnail_render_thread;
    task->event.data = task;
    task->event.handler = ngx_http_thumbnail_render_done;

    if (t->nreads) {
        t->stage = NGX_HTTP_THUMBNAIL_STAGE_READ;
        rc = ngx_http_thumbnail_task_post(r, ctx, task);

    } else {
        /* all in memory: the header is probed here, cheaply */
        t->probe_status = thumbnail_probe(t->src, t->src_len, &t->info,
                                          NULL, 0);
        rc = ngx_http_thumbnail_render_start(r, ctx, task);
    }

    if (rc != NGX_OK) {
        ngx_free(t->src);
        t->src = NULL;
    }

    return rc;
}


/* heavy-source admission, then the render goes to the pool */

static ngx_int_t
ngx_http_thumbnail_render_start(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx, ngx_thread_task_t *task)
{
    ngx_int_t                       rc;
    ngx_http_thumbnail_task_ctx_t  *t;
    ngx_http_thumbnail_loc_conf_t  *lcf;

    t = task->ctx;
    lcf = ngx_http_get_module_loc_conf(r, ngx_http_thumbnail_module);

    if (ngx_http_thumbnail_too_heavy(r, ctx, lcf, t)) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    t->stage = NGX_HTTP_THUMBNAIL_STAGE_RENDER;

    rc = ngx_http_thumbnail_task_post(r, ctx, task);
    if (rc != NGX_OK) {
        ctx->heavy = 0;
        return rc;
    }

    ngx_http_thumbnail_stat_inc(renders);

    if (ctx->heavy) {
        ngx_http_thumbnail_stat_inc(heavy);
    }

    return NGX_OK;
}


/*
 * The request waits for the task as nginx makes it wait for a threaded
 * file read: blocked (not freed if the client goes), r->aio, and a bit in
 * r->buffered so that finalizing waits in ngx_http_writer.
 */

static ngx_int_t
ngx_http_thumbnail_task_post(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx, ngx_thread_task_t *task)
{
    ngx_http_thumbnail_task_ctx_t  *t;
    ngx_http_thumbnail_loc_conf_t  *lcf;

    t = task->ctx;
    lcf = ngx_http_get_module_loc_conf(r, ngx_http_thumbnail_module);

    if (ngx_thread_task_post(lcf->thread_pool, task) != NGX_OK) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "thumbnail: cannot queue the render in thread pool "
                      "\"%V\"", &lcf->thread_pool_name);

        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "thumbnail: %s posted, %uz bytes, \"%V\"",
                   t->stage == NGX_HTTP_THUMBNAIL_STAGE_READ ? "read"
                                                             : "render",
                   t->src_len,
                   ngx_http_thumbnail_esc(r->pool, ctx->key.data,
                                          ctx->key.len));

    r->main->blocked++;
    r->aio = 1;
    r->buffered |= NGX_HTTP_THUMBNAIL_BUFFERED;

    ctx->phase = NGX_HTTP_THUMBNAIL_RENDERING;

    return NGX_OK;
}


/*
 * Heavy-render admission. A progressive JPEG of more than a tenth of
 * thumbnail_heavy_pixels (every scan is decoded whatever the output size,
 * ~700 ms for 18 MP: about ten times a baseline JPEG decoded at reduced
 * size) or any source of more than thumbnail_heavy_pixels holds a pool
 * thread for long; at most thumbnail_max_heavy of them may be queued or
 * running in this worker, so that the other threads stay free for ordinary
 * thumbnails. The probe reads only the header. A source it cannot read is
 * not heavy: its render fails quickly and reports why.
 */

static ngx_uint_t
ngx_http_thumbnail_is_heavy(ngx_http_thumbnail_loc_conf_t *lcf,
    ngx_http_thumbnail_task_ctx_t *t)
{
    uint64_t  pixels;

    if (t->probe_status != THUMBNAIL_STATUS_OK) {
        return 0;
    }

    pixels = (uint64_t) t->info.width * t->info.height;

    return pixels > lcf->heavy_pixels
           || (t->info.progressive && pixels > lcf->heavy_pixels / 10);
}


static ngx_uint_t
ngx_http_thumbnail_too_heavy(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx, ngx_http_thumbnail_loc_conf_t *lcf,
    ngx_http_thumbnail_task_ctx_t *t)
{
    ctx->heavy = ngx_http_thumbnail_is_heavy(lcf, t);

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
                  t->info.width, t->info.height,
                  t->info.progressive ? " progressive JPEG" : "",
                  ngx_http_thumbnail_counters.heavy, lcf->max_heavy);

    return 1;
}


/*
 * The location's limits, as the library takes them. Without a
 * thumbnail_max_output_size, the output byte limit is the largest value
 * the cache holds: the zone's max_item, or for the per-worker cache a
 * shard's share of its size (shards rounded up to a power of two, as the
 * library does) less what the entry's key and bookkeeping are charged.
 */

static thumbnail_limits
ngx_http_thumbnail_limits(ngx_http_request_t *r,
    ngx_http_thumbnail_loc_conf_t *lcf, ngx_http_thumbnail_ctx_t *ctx)
{
    size_t                           shard, charge;
    ngx_uint_t                       shards;
    thumbnail_limits                 limits;
    ngx_http_thumbnail_main_conf_t  *mcf;

    limits = thumbnail_limits_default();

    limits.max_source_bytes = lcf->max_source_size;
    limits.max_source_pixels = lcf->max_pixels;
    limits.max_output_width = (uint32_t) lcf->max_output;
    limits.max_output_height = (uint32_t) lcf->max_output;
    limits.strict = lcf->strict ? 1 : 0;
    limits.max_output_bytes = lcf->max_output_size;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_thumbnail_module);

    if (lcf->max_output_size_auto && ngx_http_thumbnail_zone_enabled()) {
        limits.max_output_bytes = ngx_http_thumbnail_zone_max_item();

    } else if (lcf->max_output_size_auto && ngx_http_thumbnail_cache) {
        for (shards = 1; shards < mcf->cache_shards; shards <<= 1) {
            /* void */
        }

        shard = mcf->cache_size / shards;
        charge = ctx->key.len + 1024;

        /* 1: a cache too small for anything still leaves a limit */
        limits.max_output_bytes = shard > charge ? shard - charge : 1;
    }

    return limits;
}


/*
 * Runs on a pool thread: touches only the task context, the source buffer
 * and the files' descriptors (kept open by the request, which cannot end
 * while the task runs).
 */

static void
ngx_http_thumbnail_render_thread(void *data, ngx_log_t *log)
{
    ngx_http_thumbnail_task_ctx_t *t = data;

    size_t                    prefix;
    struct timespec           start, end;
    thumbnail_render_options  opts;

    ngx_http_thumbnail_thread_nice(t->nice);

    if (t->stage == NGX_HTTP_THUMBNAIL_STAGE_READ) {

        /* enough for the header first: a heavy source may be refused */

        prefix = ngx_min(t->src_len, NGX_HTTP_THUMBNAIL_PROBE_PREFIX);

        if (ngx_http_thumbnail_read_upto(t, prefix) != NGX_OK) {
            return;
        }

        t->probe_status = thumbnail_probe(t->src, prefix, &t->info, NULL, 0);

        if (t->probe_status != THUMBNAIL_STATUS_OK && prefix < t->src_len) {
            if (ngx_http_thumbnail_read_upto(t, t->src_len) != NGX_OK) {
                return;
            }

            t->probe_status = thumbnail_probe(t->src, t->src_len, &t->info,
                                              NULL, 0);
        }

        return;
    }

    if (ngx_http_thumbnail_read_upto(t, t->src_len) != NGX_OK) {
        ngx_free(t->src);
        t->src = NULL;
        return;
    }

    opts = thumbnail_render_options_default();
    opts.limits = &t->limits;
    opts.overlay = t->overlay;          /* NULL: no thumbnail_watermark */

    (void) clock_gettime(CLOCK_MONOTONIC, &start);

    if (t->cache) {
        /* the phase handler's thumbnail_cache_get counted this miss */
        t->status = thumbnail_cache_get_or_render_after_miss(t->cache,
                        (const char *) t->key.data, t->key.len,
                        t->src, t->src_len,
                        (const char *) t->spec.data, t->spec.len,
                        &opts, &t->img, &t->source,
                        t->err, sizeof(t->err));

    } else {
        t->status = thumbnail_render_ex(t->src, t->src_len,
                        (const char *) t->spec.data, t->spec.len,
                        &opts, &t->img, t->err, sizeof(t->err));
    }

    (void) clock_gettime(CLOCK_MONOTONIC, &end);

    t->elapsed = (ngx_msec_t) ((end.tv_sec - start.tv_sec) * 1000
                               + (end.tv_nsec - start.tv_nsec) / 1000000);

    /* a large free() (munmap) is better done here than on the loop */

    ngx_free(t->src);
    t->src = NULL;
}


/*
 * thumbnail_render_nice (default 19): a pool thread that renders lowers
 * its own CPU priority by N, once (raising it back would need privileges),
 * so that when renders saturate the CPUs the event loop still runs at
 * once: static files, cache hits, refusals. make nginx-burst-bench on a
 * loaded 2-core machine, static p99 during a burst: 43.5 ms at 0, 23.8 ms
 * at 10, 17.7 ms at 19. Linux keeps a nice value per thread.
 */

static void
ngx_http_thumbnail_thread_nice(ngx_int_t nice)
{
#if (NGX_LINUX)

    int                  cur;
    pid_t                tid;
    static __thread int  done;

    if (done || nice == 0) {
        return;
    }

    done = 1;
    tid = (pid_t) syscall(SYS_gettid);

    errno = 0;
    cur = getpriority(PRIO_PROCESS, tid);

    if (cur == -1 && errno != 0) {
        return;
    }

    (void) setpriority(PRIO_PROCESS, tid, (int) ngx_min(cur + nice, 19));

#endif
}


/*
 * Reads the file parts of the source (in order) until the bytes before
 * upto are all in place; pread() only, so the descriptors' offsets are
 * left alone. A file shorter than it was (truncated meanwhile) is an error.
 */

static ngx_int_t
ngx_http_thumbnail_read_upto(ngx_http_thumbnail_task_ctx_t *t, size_t upto)
{
    size_t                      want;
    ssize_t                     n;
    ngx_http_thumbnail_read_t  *rd;

    while (t->next_read < t->nreads) {

        rd = &t->reads[t->next_read];

        if (rd->pos + t->part_done >= upto) {
            return NGX_OK;
        }

        want = ngx_min(rd->size - t->part_done,
                       upto - (rd->pos + t->part_done));

        n = pread(rd->fd, t->src + rd->pos + t->part_done, want,
                  rd->offset + (off_t) t->part_done);

        if (n == -1) {
            if (ngx_errno == NGX_EINTR) {
                continue;
            }

            t->read_err = ngx_errno;
            t->read_failed = 1 + t->next_read;
            return NGX_ERROR;
        }

        if (n == 0) {
            t->read_err = 0;            /* shorter than it was */
            t->read_failed = 1 + t->next_read;
            return NGX_ERROR;
        }

        t->part_done += n;

        if (t->part_done == rd->size) {
            t->next_read++;
            t->part_done = 0;
        }
    }

    return NGX_OK;
}


/* back on the event loop */

static void
ngx_http_thumbnail_render_done(ngx_event_t *ev)
{
    size_t                          len;
    ngx_uint_t                      status, level;
    ngx_connection_t               *c;
    ngx_thread_task_t              *task;
    ngx_http_request_t             *r;
    ngx_http_thumbnail_ctx_t       *ctx;
    ngx_http_thumbnail_task_ctx_t  *t;
    ngx_http_thumbnail_loc_conf_t  *lcf;

    task = ev->data;
    t = task->ctx;
    r = t->request;
    ctx = t->ctx;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    r->main->blocked--;
    r->aio = 0;

    if (t->stage == NGX_HTTP_THUMBNAIL_STAGE_READ) {
        ngx_http_thumbnail_read_done(r, ctx, task);
        return;
    }

    ngx_http_thumbnail_admit_release(ctx);

    if (ctx->heavy) {
        ctx->heavy = 0;
        ngx_http_thumbnail_stat_dec(heavy);
    }

    if (!t->read_failed) {
        ctx->rendered = 1;
        ctx->render_ms = t->elapsed;
    }

    if (t->read_failed) {
        /* the rest of a file source could not be read */
        ngx_http_thumbnail_read_error(r, t);
        ngx_cpystrn((u_char *) t->err, (u_char *) "the source's read failed",
                    sizeof(t->err));
        t->status = THUMBNAIL_STATUS_INTERNAL;
    }

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_thumbnail_module);

    if (t->status == THUMBNAIL_STATUS_OK) {
        status = NGX_HTTP_OK;

        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, c->log, 0,
                       "thumbnail: rendered %uDx%uD (cache source %d)",
                       thumbnail_image_width(t->img),
                       thumbnail_image_height(t->img), (int) t->source);

        len = thumbnail_image_len(t->img);

        if (ngx_http_thumbnail_hold(r, lcf, len) != NGX_OK) {
            /* in the cache, if it fits there: a retry is a hit */
            thumbnail_image_free(t->img);
            t->img = NULL;
            status = NGX_HTTP_SERVICE_UNAVAILABLE;
            ngx_http_thumbnail_failed(ctx, status);

        } else if (ctx->flight && ctx->leader && !ctx->flight->done) {
            /* the flight owns the image from now on */
            ctx->phase = NGX_HTTP_THUMBNAIL_RENDERED;
            ngx_http_thumbnail_flight_finish(ctx->flight, NGX_HTTP_OK, t->img,
                                             ctx->last_modified);
            ctx->flight->held = len;

        } else {
            ctx->phase = NGX_HTTP_THUMBNAIL_RENDERED;
            ctx->img = t->img;
            ctx->held = len;
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

        ngx_log_error(level, c->log, 0, "thumbnail: cannot render \"%V\": %V",
                      ngx_http_thumbnail_esc(r->pool, ctx->key.data,
                                             ctx->key.len),
                      ngx_http_thumbnail_esc_cstr(r->pool, t->err));

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

    ngx_http_thumbnail_task_failed(r, ctx, status);
}


/* the file parts' read (and the probe) ended: admit and render, or fail */

static void
ngx_http_thumbnail_read_done(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx, ngx_thread_task_t *task)
{
    ngx_int_t                       rc;
    ngx_connection_t               *c;
    ngx_http_thumbnail_task_ctx_t  *t;

    t = task->ctx;
    c = r->connection;

    if (t->read_failed) {
        ngx_http_thumbnail_read_error(r, t);
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;

    } else if (c->error || r->done) {
        /* the client is gone: no render for nobody */
        rc = NGX_ERROR;

    } else {
        rc = ngx_http_thumbnail_render_start(r, ctx, task);

        if (rc == NGX_OK) {
            return;
        }
    }

    ngx_free(t->src);
    t->src = NULL;

    ngx_http_thumbnail_admit_release(ctx);

    if (rc == NGX_ERROR) {
        /* waiters try again themselves; the request ends in the writer */

        if (ctx->flight && ctx->leader) {
            ngx_http_thumbnail_flight_finish(ctx->flight, 0, NULL, -1);
        }

        ctx->phase = NGX_HTTP_THUMBNAIL_PASS;

        if (r->done) {
            c->write->handler(c->write);

        } else {
            r->write_event_handler(r);
            ngx_http_run_posted_requests(c);
        }

        return;
    }

    ngx_http_thumbnail_failed(ctx, rc);
    ngx_http_thumbnail_task_failed(r, ctx, rc);
}


static void
ngx_http_thumbnail_read_error(ngx_http_request_t *r,
    ngx_http_thumbnail_task_ctx_t *t)
{
    ngx_str_t  *name;

    name = t->reads[t->read_failed - 1].name;

    ngx_log_error(NGX_LOG_ERR, r->connection->log, t->read_err,
                  "thumbnail: cannot read the source from \"%V\"%s",
                  ngx_http_thumbnail_esc(r->pool, name->data, name->len),
                  t->read_err ? "" : ": the file is shorter than it was");
}


/*
 * A failure after the source was consumed: its header was held back and
 * its body consumed, so the request can still be finalized with the error
 * status (and an error_page), keeping the connection alive. The request
 * sits in ngx_http_writer waiting for us; finalizing takes its place.
 */

static void
ngx_http_thumbnail_task_failed(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx, ngx_uint_t status)
{
    ngx_connection_t  *c;

    c = r->connection;

    ngx_http_thumbnail_filter_reset(r, ctx);

    if (status == NGX_HTTP_SERVICE_UNAVAILABLE
        && ngx_http_thumbnail_retry_after(r) != NGX_OK)
    {
        status = NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_finalize_request(r, status);
    ngx_http_run_posted_requests(c);
}
