
/*
 * ngx_http_thumbnail_task.h: a render task's context, shared by the event
 * loop side (ngx_http_thumbnail_render.c) and the pool thread side
 * (ngx_http_thumbnail_thread.c) only; and the file reads of a source on a
 * pool thread, which a size or test probe (ngx_http_thumbnail_info.c)
 * shares.
 */


#ifndef _NGX_HTTP_THUMBNAIL_TASK_H_INCLUDED_
#define _NGX_HTTP_THUMBNAIL_TASK_H_INCLUDED_


/* the header of a file source is probed in its first bytes */
#define NGX_HTTP_THUMBNAIL_PROBE_PREFIX  (256 * 1024)

#define NGX_HTTP_THUMBNAIL_STAGE_READ    0
#define NGX_HTTP_THUMBNAIL_STAGE_RENDER  1


/* the file parts of a source, read into its buffer on a pool thread */

typedef struct {
    ngx_http_thumbnail_read_t    *reads;
    ngx_uint_t                    nreads;

    /* written by the pool thread */
    size_t                        done;        /* bytes before it in place */
    ngx_uint_t                    failed;      /* a read failed: 1 + its
                                                  index in reads */
    ngx_err_t                     err;         /* errno, 0: file too short */
} ngx_http_thumbnail_parts_t;


typedef struct {
    ngx_http_request_t           *request;
    ngx_http_thumbnail_ctx_t     *ctx;
    ngx_uint_t                    stage;

    /* read by the pool thread */
    thumbnail_cache              *cache;
    u_char                       *src;         /* owned: freed after render */
    size_t                        src_len;
    ngx_http_thumbnail_parts_t    parts;       /* file parts to read */
    ngx_str_t                     key;
    ngx_str_t                     spec;
    thumbnail_limits              limits;
    ngx_int_t                     nice;
    const thumbnail_overlay      *overlay;       /* thumbnail_watermark */

    /* written by the pool thread */
    thumbnail_status              probe_status;
    thumbnail_info                info;
    thumbnail_status              status;
    thumbnail_cache_source        source;
    thumbnail_image              *img;
    char                          err[NGX_HTTP_THUMBNAIL_ERR_LEN];
    ngx_msec_t                    elapsed;   /* $thumbnail_render_time */
    uint64_t                      elapsed_us; /* the histogram's */
} ngx_http_thumbnail_task_ctx_t;


void ngx_http_thumbnail_render_thread(void *data, ngx_log_t *log);
ngx_int_t ngx_http_thumbnail_read_upto(ngx_http_thumbnail_parts_t *parts,
    u_char *src, size_t upto);
thumbnail_status ngx_http_thumbnail_read_probe(
    ngx_http_thumbnail_parts_t *parts, u_char *src, size_t len, size_t upto,
    thumbnail_info *info, char *err, size_t errlen);
void ngx_http_thumbnail_read_error(ngx_http_request_t *r,
    ngx_http_thumbnail_parts_t *parts);
ngx_int_t ngx_http_thumbnail_task_post(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx, ngx_thread_task_t *task, const char *what);
void ngx_http_thumbnail_task_unblock(ngx_http_request_t *r);
void ngx_http_thumbnail_task_resume(ngx_http_request_t *r);
void ngx_http_thumbnail_task_failed(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx, ngx_uint_t status);


#endif /* _NGX_HTTP_THUMBNAIL_TASK_H_INCLUDED_ */
