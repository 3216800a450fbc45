
/*
 * ngx_http_thumbnail_module: what runs on a pool thread for a render task
 * (the task itself: ngx_http_thumbnail_render.c): the file reads, the
 * probe of a file source's header, the render, and the thread's nice.
 */


#include "ngx_http_thumbnail_module.h"
#include "ngx_http_thumbnail_task.h"

#if (NGX_LINUX)
#include <sys/resource.h>
#include <sys/syscall.h>
#endif


static void ngx_http_thumbnail_thread_nice(ngx_int_t nice);
static ngx_int_t ngx_http_thumbnail_read_upto(
    ngx_http_thumbnail_task_ctx_t *t, size_t upto);


/*
 * Runs on a pool thread: touches only the task context, the source buffer
 * and the files' descriptors (kept open by the request, which cannot end
 * while the task runs).
 */

void
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
