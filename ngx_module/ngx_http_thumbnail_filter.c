
/*
 * ngx_http_thumbnail_module: the header and body filter that turns a 200
 * response (a static file, a proxied origin, anything) into a thumbnail.
 *
 * Like image_filter: the header filter holds the source's header back, the
 * body filter buffers the source body (up to thumbnail_max_source_size):
 * memory buffers are copied, file buffers (a static file, a proxied
 * response spooled to a temp file) are only noted, and read on a pool
 * thread. Unlike image_filter, the render does not run on the event loop
 * either: the body filter posts a thread task (ngx_http_thumbnail_render.c)
 * and returns; the
 * request is paused the way nginx pauses it for threaded file reads
 * (r->main->blocked, r->aio, a bit in r->buffered so that finalizing waits
 * in ngx_http_writer). The task's completion handler runs back on the
 * event loop and resumes the request: the writer calls the body filter
 * again, which sends the thumbnail's header and body; a render error is
 * finalized with its status (400, 413, 415, 500) so that error_page works.
 */


#include "ngx_http_thumbnail_module.h"


static ngx_int_t ngx_http_thumbnail_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_thumbnail_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_thumbnail_read(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx, ngx_chain_t *in);
static ngx_int_t ngx_http_thumbnail_send(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx);
static ngx_int_t ngx_http_thumbnail_fail(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx, ngx_uint_t status);
static void ngx_http_thumbnail_consume(ngx_chain_t *in);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


ngx_int_t
ngx_http_thumbnail_filter_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_thumbnail_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_thumbnail_body_filter;

    return NGX_OK;
}


static ngx_int_t
ngx_http_thumbnail_header_filter(ngx_http_request_t *r)
{
    off_t                           len;
    ngx_int_t                       rc;
    ngx_http_thumbnail_ctx_t       *ctx;
    ngx_http_core_loc_conf_t       *clcf;
    ngx_http_thumbnail_loc_conf_t  *lcf;

    /* what the request counted goes out before its response does */
    ngx_http_thumbnail_stats_flush();

    if (r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_thumbnail_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_thumbnail_module);

    if (ctx == NULL) {
        ngx_http_thumbnail_restore_head(r);

        if (!lcf->enable
            || !(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))
            || r->headers_out.status != NGX_HTTP_OK)
        {
            return ngx_http_next_header_filter(r);
        }

        /* the phase handler did not run (e.g. "return 200") */

        ctx = ngx_http_thumbnail_create_ctx(r);
        if (ctx == NULL) {
            return NGX_ERROR;
        }

        rc = ngx_http_thumbnail_prepare(r, ctx);
        if (rc != NGX_OK) {
            return ngx_http_thumbnail_fail(r, ctx, rc);
        }
    }

    if (ctx->phase != NGX_HTTP_THUMBNAIL_START) {
        /* our own response, an error page, or not ours */
        return ngx_http_next_header_filter(r);
    }

    if (r->headers_out.status != NGX_HTTP_OK) {

        /* e.g. 404 from the source: pass it on, let waiters try themselves */

        ctx->phase = NGX_HTTP_THUMBNAIL_PASS;

        if (ctx->flight && ctx->leader) {
            ngx_http_thumbnail_flight_finish(ctx->flight, 0, NULL, -1);
        }

        ngx_http_thumbnail_admit_release(ctx);

        /*
         * no 304 comes from a source asked unconditionally (the phase
         * handler drops the client's validators); if one does, it is not
         * about a thumbnail, and it goes out without our ETag
         */

        ngx_http_thumbnail_restore_method(r, ctx);

        return ngx_http_next_header_filter(r);
    }

    len = r->headers_out.content_length_n;

    if (len > (off_t) lcf->max_source_size) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "thumbnail: source of %O bytes is larger than "
                      "thumbnail_max_source_size %uz", len,
                      lcf->max_source_size);

        return ngx_http_thumbnail_fail(r, ctx,
                                       NGX_HTTP_REQUEST_ENTITY_TOO_LARGE);
    }

    if (len > 0) {
        /* not from the pool: the render frees it on its thread */
        ctx->src = ngx_alloc((size_t) len, r->connection->log);
        if (ctx->src == NULL) {
            return NGX_ERROR;
        }

        ctx->src_last = ctx->src;
        ctx->src_end = ctx->src + len;
    }

    ctx->last_modified = r->headers_out.last_modified_time;
    ctx->phase = NGX_HTTP_THUMBNAIL_READ;

    /*
     * File buffers are read by the render task on a pool thread, whole:
     * the copy filter must pass them on as they are, also where it would
     * read them into memory on the event loop, in output_buffers pieces:
     * with "sendfile off", or on a TLS connection (where nginx sets
     * main_filter_need_in_memory). Our own response is in memory anyway.
     * Both flags are put back if the request gives up the thumbnail (an
     * error_page may serve a file). With "directio" the copy filter reads
     * (O_DIRECT needs its aligned buffers; on a pool thread with "aio
     * threads").
     */
    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (clcf->directio != NGX_OPEN_FILE_DIRECTIO_OFF) {
        r->main_filter_need_in_memory = 1;

    } else {
        ctx->filter_flags = 1;
        ctx->need_in_memory = r->main_filter_need_in_memory;
        ctx->sendfile = r->connection->sendfile;

        r->main_filter_need_in_memory = 0;
        r->connection->sendfile = 1;
    }

    r->allow_ranges = 0;

    /* the header is sent with the thumbnail */

    return NGX_OK;
}


static ngx_int_t
ngx_http_thumbnail_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_int_t                  rc;
    ngx_http_thumbnail_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_thumbnail_module);

    if (ctx == NULL || r != r->main) {
        return ngx_http_next_body_filter(r, in);
    }

    switch (ctx->phase) {

    case NGX_HTTP_THUMBNAIL_READ:

        if (in == NULL) {
            return ngx_http_next_body_filter(r, in);
        }

        rc = ngx_http_thumbnail_read(r, ctx, in);

        if (rc == NGX_AGAIN) {
            r->buffered |= NGX_HTTP_THUMBNAIL_BUFFERED;
            return NGX_OK;
        }

        if (rc == NGX_DECLINED) {
            return ngx_http_thumbnail_fail(r, ctx,
                                           NGX_HTTP_REQUEST_ENTITY_TOO_LARGE);
        }

        if (rc == NGX_ERROR) {
            return ngx_http_thumbnail_fail(r, ctx,
                                           NGX_HTTP_INTERNAL_SERVER_ERROR);
        }

        rc = ngx_http_thumbnail_render_post(r, ctx);

        if (rc != NGX_OK) {
            return ngx_http_thumbnail_fail(r, ctx, rc);
        }

        return NGX_OK;

    case NGX_HTTP_THUMBNAIL_RENDERING:

        /* woken before the render finished; nothing to send yet */
        ngx_http_thumbnail_consume(in);
        return NGX_OK;

    case NGX_HTTP_THUMBNAIL_RENDERED:

        ngx_http_thumbnail_consume(in);
        return ngx_http_thumbnail_send(r, ctx);

    case NGX_HTTP_THUMBNAIL_SENT:

        /* nothing may follow our last buffer */
        ngx_http_thumbnail_consume(in);
        return ngx_http_next_body_filter(r, NULL);

    default: /* START, PASS */

        return ngx_http_next_body_filter(r, in);
    }
}


/*
 * Appends the source body to ctx->src. Memory buffers are copied; file
 * buffers (a static file, or a proxied response spooled to a temp file) get
 * their room in ctx->src and are noted in ctx->reads, to be read there by
 * the render task on a pool thread (ngx_http_thumbnail_render.c): reading
 * a 4.4 MB photo takes milliseconds, and a burst of misses read on the
 * event loop stalled everything else of the worker for seconds.
 */

static ngx_int_t
ngx_http_thumbnail_read(ngx_http_request_t *r, ngx_http_thumbnail_ctx_t *ctx,
    ngx_chain_t *in)
{
    u_char                         *p;
    size_t                          size, have, cap, need;
    ngx_buf_t                      *b;
    ngx_chain_t                    *cl;
    ngx_http_thumbnail_read_t      *rd;
    ngx_http_thumbnail_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_thumbnail_module);

    for (cl = in; cl; cl = cl->next) {

        b = cl->buf;

        if (ngx_buf_in_memory(b)) {
            size = b->last - b->pos;

        } else if (b->in_file) {
            size = (size_t) (b->file_last - b->file_pos);

        } else {
            size = 0;
        }

        have = ctx->src_last - ctx->src;

        if (size > lcf->max_source_size - have) {
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "thumbnail: source is larger than "
                          "thumbnail_max_source_size %uz",
                          lcf->max_source_size);
            return NGX_DECLINED;
        }

        if (size > (size_t) (ctx->src_end - ctx->src_last)) {

            /* unknown or wrong Content-Length: grow (file parts not read
               yet are copied as they are: they are read to their place) */

            cap = ctx->src_end - ctx->src;
            need = have + size;
            cap = ngx_max(cap * 2, ngx_max(need, 64 * 1024));
            cap = ngx_min(cap, lcf->max_source_size);

            p = ngx_alloc(cap, r->connection->log);
            if (p == NULL) {
                return NGX_ERROR;
            }

            if (have) {
                ngx_memcpy(p, ctx->src, have);
            }

            if (ctx->src) {
                ngx_free(ctx->src);
            }

            ctx->src = p;
            ctx->src_last = p + have;
            ctx->src_end = p + cap;
        }

        if (size && ngx_buf_in_memory(b)) {
            ctx->src_last = ngx_cpymem(ctx->src_last, b->pos, size);

        } else if (size) {

            if (ctx->reads == NULL) {
                ctx->reads = ngx_array_create(r->pool, 2,
                                    sizeof(ngx_http_thumbnail_read_t));
                if (ctx->reads == NULL) {
                    return NGX_ERROR;
                }
            }

            rd = ctx->reads->nelts ? (ngx_http_thumbnail_read_t *)
                     ctx->reads->elts + ctx->reads->nelts - 1 : NULL;

            if (rd && rd->fd == b->file->fd
                && rd->pos + rd->size == have
                && rd->offset + (off_t) rd->size == b->file_pos)
            {
                /* the next piece of the same file */
                rd->size += size;

            } else {
                rd = ngx_array_push(ctx->reads);
                if (rd == NULL) {
                    return NGX_ERROR;
                }

                rd->fd = b->file->fd;
                rd->name = &b->file->name;
                rd->offset = b->file_pos;
                rd->pos = have;
                rd->size = size;
            }

            ctx->src_last += size;
        }

        b->pos = b->last;

        if (b->in_file) {
            b->file_pos = b->file_last;
        }

        if (b->last_buf) {
            return NGX_OK;
        }
    }

    return NGX_AGAIN;
}


static ngx_int_t
ngx_http_thumbnail_send(ngx_http_request_t *r, ngx_http_thumbnail_ctx_t *ctx)
{
    ngx_int_t         rc;
    ngx_chain_t       out;
    thumbnail_image  *img;

    img = ctx->img;

    if (img == NULL && ctx->flight) {
        img = ctx->flight->img;
    }

    ctx->phase = NGX_HTTP_THUMBNAIL_SENT;
    r->buffered &= ~NGX_HTTP_THUMBNAIL_BUFFERED;

    if (img == NULL) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "thumbnail: rendered, but no image to send");
        return ngx_http_thumbnail_fail(r, ctx, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }

    if (ngx_http_thumbnail_set_headers(r, ctx, img, -2) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_thumbnail_restore_method(r, ctx);

    /* the render's end (in_flight) goes out before its response does */
    ngx_http_thumbnail_stats_flush();

    rc = ngx_http_next_header_filter(r);

    if (rc == NGX_ERROR || rc > NGX_OK) {
        return NGX_ERROR;
    }

    if (r->header_only) {
        return rc;
    }

    out.buf = ngx_http_thumbnail_image_buf(r->pool, img);
    if (out.buf == NULL) {
        return NGX_ERROR;
    }

    out.next = NULL;

    return ngx_http_next_body_filter(r, &out);
}


/*
 * An error while the source is still coming (inside the content handler's
 * output call): as image_filter does, send the error response in place;
 * NGX_ERROR then stops the source.
 */

static ngx_int_t
ngx_http_thumbnail_fail(ngx_http_request_t *r, ngx_http_thumbnail_ctx_t *ctx,
    ngx_uint_t status)
{
    ngx_int_t  rc;

    ngx_http_thumbnail_failed(ctx, status);
    ngx_http_thumbnail_filter_reset(r, ctx);

    /*
     * ngx_http_filter_finalize_request(), plus Retry-After on a 503: the
     * header goes in after the source's headers are cleaned, before the
     * error response is made
     */

    r->filter_finalize = 1;

    if (status == NGX_HTTP_SERVICE_UNAVAILABLE
        && ngx_http_thumbnail_retry_after(r) != NGX_OK)
    {
        return NGX_ERROR;
    }

    rc = ngx_http_special_response_handler(r, status);

    /* NGX_ERROR resets any pending data */

    switch (rc) {

    case NGX_OK:
    case NGX_DONE:
        return NGX_ERROR;

    default:
        return rc;
    }
}


/*
 * The source's response gives way to an error response of ours: its body,
 * its header and the other filters' state go (as in
 * ngx_http_filter_finalize_request()); ours keeps its context.
 */

void
ngx_http_thumbnail_filter_reset(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx)
{
    ngx_http_thumbnail_free_source(r, ctx);
    ngx_http_thumbnail_restore_method(r, ctx);

    if (ctx->filter_flags) {
        ctx->filter_flags = 0;
        r->main_filter_need_in_memory = ctx->need_in_memory;
        r->connection->sendfile = ctx->sendfile;
    }

    r->buffered &= ~NGX_HTTP_THUMBNAIL_BUFFERED;

    ngx_http_clean_header(r);

    ngx_memzero(r->ctx, sizeof(void *) * ngx_http_max_module);
    ngx_http_set_ctx(r, ctx, ngx_http_thumbnail_module);
}


void
ngx_http_thumbnail_free_source(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx)
{
    if (ctx->src) {
        ngx_free(ctx->src);
        ctx->src = NULL;
        ctx->src_last = NULL;
        ctx->src_end = NULL;
    }
}


static void
ngx_http_thumbnail_consume(ngx_chain_t *in)
{
    ngx_chain_t  *cl;

    for (cl = in; cl; cl = cl->next) {
        cl->buf->pos = cl->buf->last;

        if (cl->buf->in_file) {
            cl->buf->file_pos = cl->buf->file_last;
        }
    }
}
