
/*
 * ngx_http_thumbnail_module: what runs on a pool thread for a render task
 * (the task itself: ngx_http_thumbnail_render.c): the file reads, the
 * probe of a file source's header, the render, and the thread's nice.
 * A size or test probe (ngx_http_thumbnail_info.c) reads and probes its
 * file source with the same functions.
 */


#include "ngx_http_thumbnail_module.h"
#include "ngx_http_thumbnail_task.h"

#if (NGX_LINUX)
#include <sys/resource.h>
#include <sys/syscall.h>
#endif


static void ngx_http_thumbnail_thread_nice(ngx_int_t nice);


/*
 * Runs on a pool thread: touches only the task context, the source buffer
 * and the files' descriptors (kept open by the request, which cannot end
 * while the task runs).
 */

void
ngx_http_thumbnail_render_thread(void *data, ngx_log_t *log)
{
    ngx_http_thumbnail_task_ctx_t *t = data;

    struct timespec           start, end;
    thumbnail_render_options  opts;

    ngx_http_thumbnail_thread_nice(t->nice);

    if (t->stage == NGX_HTTP_THUMBNAIL_STAGE_READ) {

        /* enough for the header first: a heavy source may be refused */

        t->probe_status = ngx_http_thumbnail_read_probe(&t->parts, t->src,
                              t->src_len,
                              ngx_min(t->src_len,
                                      NGX_HTTP_THUMBNAIL_PROBE_PREFIX),
                              &t->info, NULL, 0);
        return;
    }

    if (ngx_http_thumbnail_read_upto(&t->parts, t->src, t->src_len)
        != NGX_OK)
    {
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

    t->elapsed_us = (uint64_t) ((end.tv_sec - start.tv_sec) * 1000000
                                + (end.tv_nsec - start.tv_nsec) / 1000);
    t->elapsed = (ngx_msec_t) (t->elapsed_us / 1000);

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

ngx_int_t
ngx_http_thumbnail_read_upto(ngx_http_thumbnail_parts_t *parts, u_char *src,
    size_t upto)
{
    size_t                      start, end;
    ssize_t                     n;
    ngx_uint_t                  i;
    ngx_http_thumbnail_read_t  *rd;

    for (i = 0; i < parts->nreads; i++) {

        rd = &parts->reads[i];

        start = ngx_max(parts->done, rd->pos);
        end = ngx_min(upto, rd->pos + rd->size);

        while (start < end) {
            n = pread(rd->fd, src + start, end - start,
                      rd->offset + (off_t) (start - rd->pos));

            if (n == -1 && ngx_errno == NGX_EINTR) {
                continue;
            }

            if (n <= 0) {
                parts->err = (n == -1) ? ngx_errno : 0;
                parts->failed = 1 + i;
                return NGX_ERROR;
            }

            start += n;
        }
    }

    parts->done = ngx_max(parts->done, upto);

    return NGX_OK;
}


/*
 * Probes the header in the first upto bytes, and in all len of them if it
 * is not there (large metadata segments). A failed read: parts->failed set,
 * THUMBNAIL_STATUS_INTERNAL.
 */

thumbnail_status
ngx_http_thumbnail_read_probe(ngx_http_thumbnail_parts_t *parts, u_char *src,
    size_t len, size_t upto, thumbnail_info *info, char *err, size_t errlen)
{
    thumbnail_status  st;

    if (ngx_http_thumbnail_read_upto(parts, src, upto) != NGX_OK) {
        return THUMBNAIL_STATUS_INTERNAL;
    }

    st = thumbnail_probe(src, upto, info, err, errlen);

    if (st == THUMBNAIL_STATUS_OK || upto == len) {
        return st;
    }

    if (ngx_http_thumbnail_read_upto(parts, src, len) != NGX_OK) {
        return THUMBNAIL_STATUS_INTERNAL;
    }

    return thumbnail_probe(src, len, info, err, errlen);
}


/* on the event loop: which file could not be read, and why */

void
ngx_http_thumbnail_read_error(ngx_http_request_t *r,
    ngx_http_thumbnail_parts_t *parts)
{
    ngx_str_t  *name;

    name = parts->reads[parts->failed - 1].name;

    ngx_log_error(NGX_LOG_ERR, r->connection->log, parts->err,
                  "thumbnail: cannot read the source from \"%V\"%s",
                  ngx_http_thumbnail_esc(r->pool, name->data, name->len),
                  parts->err ? "" : ": the file is shorter than it was");
}
