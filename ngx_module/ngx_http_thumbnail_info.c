
/*
 * ngx_http_thumbnail_module: `thumbnail size;` and `thumbnail test;`, what
 * image_filter's size and test modes do, from the source's header only
 * (thumbnail_probe(): format and stored size, no pixels decoded).
 *
 *   thumbnail on | off | size | test;    location (off)
 *
 *   size   answers 200 application/json, image_filter's text exactly:
 *          { "img" : { "width": W, "height": H, "type": "jpeg" } }\r\n
 *          with the size as stored in the file (before EXIF orientation,
 *          as image_filter reports it) and none of the source's headers
 *          (image_filter cleans them too); 415 for a source the library
 *          cannot read (image_filter answers 200 "{}").
 *   test   passes the source through, body unchanged and Content-Type set
 *          to the format found (as image_filter does), if the library
 *          reads its header; else 415.
 *
 * The request goes the way of a render's up to the point where the source
 * is complete: the phase handler (ngx_http_thumbnail_cache.c) calls
 * ngx_http_thumbnail_info_start(), which admits it (thumbnail_max_queue,
 * as a render: it holds a source in memory), fetches HEAD as GET and drops
 * the client's Range and validators so that the source comes whole with
 * 200; the filter (ngx_http_thumbnail_filter.c) holds the header back,
 * applies thumbnail_max_source_size (413), buffers the body (memory copied,
 * file parts only noted) and at its end calls ngx_http_thumbnail_info_post().
 * A source all in memory is probed there; one with file parts is read on
 * a pool thread (size: its first 256 KB, more only if the header is not in
 * them; test: all of it, to be sent) and probed there. Then the filter
 * sends ngx_http_thumbnail_info_response(). The bytes a test response
 * holds for its client count in output_held, as a thumbnail's do.
 */


#include "ngx_http_thumbnail_module.h"
#include "ngx_http_thumbnail_task.h"


typedef struct {
    ngx_http_request_t           *request;
    ngx_http_thumbnail_ctx_t     *ctx;

    /* read by the pool thread */
    u_char                       *src;
    size_t                        src_len;
    ngx_http_thumbnail_parts_t    parts;
    ngx_uint_t                    test;        /* read all of it */

    /* written by the pool thread */
    thumbnail_status              status;
    thumbnail_info                info;
    char                          err[NGX_HTTP_THUMBNAIL_ERR_LEN];
} ngx_http_thumbnail_info_task_t;


static void ngx_http_thumbnail_info_thread(void *data, ngx_log_t *log);
static void ngx_http_thumbnail_info_done(ngx_event_t *ev);
static ngx_int_t ngx_http_thumbnail_info_result(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx, thumbnail_status st, char *err);
static const char *ngx_http_thumbnail_info_type(thumbnail_format format);


/* thumbnail on | off | size | test; */

char *
ngx_http_thumbnail_mode(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_thumbnail_loc_conf_t *lcf = conf;

    ngx_str_t  *value;

    if (lcf->enable != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    lcf->enable = 0;
    lcf->info = NGX_HTTP_THUMBNAIL_INFO_OFF;

    if (ngx_strcasecmp(value[1].data, (u_char *) "on") == 0) {
        lcf->enable = 1;

    } else if (ngx_strcasecmp(value[1].data, (u_char *) "size") == 0) {
        lcf->info = NGX_HTTP_THUMBNAIL_INFO_SIZE;

    } else if (ngx_strcasecmp(value[1].data, (u_char *) "test") == 0) {
        lcf->info = NGX_HTTP_THUMBNAIL_INFO_TEST;

    } else if (ngx_strcasecmp(value[1].data, (u_char *) "off") != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in \"%V\" directive, "
                           "it must be \"on\", \"off\", \"size\" or \"test\"",
                           &value[1], &cmd->name);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* a size or test location reads file sources on the thread pool */

char *
ngx_http_thumbnail_info_merge(ngx_conf_t *cf,
    ngx_http_thumbnail_loc_conf_t *conf)
{
    if (conf->thread_pool == NULL) {
        conf->thread_pool = ngx_thread_pool_add(cf, &conf->thread_pool_name);
        if (conf->thread_pool == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/*
 * The phase handler, in a size or test location: NGX_DECLINED to let the
 * source be fetched, or the status to answer with (503: not admitted).
 */

ngx_int_t
ngx_http_thumbnail_info_start(ngx_http_request_t *r,
    ngx_http_thumbnail_loc_conf_t *lcf)
{
    ngx_int_t                  rc;
    ngx_http_thumbnail_ctx_t  *ctx;

    if (ngx_http_get_module_ctx(r, ngx_http_thumbnail_module)) {
        /* decided before (e.g. the phases run again) */
        return NGX_DECLINED;
    }

    ngx_http_thumbnail_restore_head(r);

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_thumbnail_create_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->info = lcf->info;

    rc = ngx_http_thumbnail_admit(r, ctx, lcf);

    if (rc != NGX_OK) {
        ngx_http_thumbnail_failed(ctx, rc);

        if (rc == NGX_HTTP_SERVICE_UNAVAILABLE
            && ngx_http_thumbnail_retry_after(r) != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return rc;
    }

    ngx_http_thumbnail_head_as_get(r, ctx);

    if (ngx_http_thumbnail_plain_source_request(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_DECLINED;
}


/*
 * The source is complete (in ctx->src, and in the files of ctx->reads):
 * probed here if it is all in memory (the answer is then ready: phase
 * RENDERED), else read and probed on a pool thread (phase RENDERING).
 * Returns NGX_OK or the HTTP status to fail with.
 */

ngx_int_t
ngx_http_thumbnail_info_post(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx)
{
    char                             err[NGX_HTTP_THUMBNAIL_ERR_LEN];
    ngx_int_t                        rc;
    thumbnail_status                 st;
    ngx_thread_task_t               *task;
    ngx_http_thumbnail_info_task_t  *t;
    ngx_http_thumbnail_loc_conf_t   *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_thumbnail_module);

    /* admitted by the phase handler, unless it did not run */

    rc = ngx_http_thumbnail_admit(r, ctx, lcf);
    if (rc != NGX_OK) {
        return rc;
    }

    ctx->probe = ngx_pcalloc(r->pool, sizeof(thumbnail_info));
    if (ctx->probe == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->reads == NULL || ctx->reads->nelts == 0) {
        /* all in memory: the header is read here, cheaply */
        err[0] = '\0';
        st = thumbnail_probe(ctx->src, ctx->src_last - ctx->src, ctx->probe,
                             err, sizeof(err));

        return ngx_http_thumbnail_info_result(r, ctx, st, err);
    }

    task = ngx_thread_task_alloc(r->pool,
                                 sizeof(ngx_http_thumbnail_info_task_t));
    if (task == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    t = task->ctx;

    t->request = r;
    t->ctx = ctx;
    t->src = ctx->src;
    t->src_len = ctx->src_last - ctx->src;
    t->parts.reads = ctx->reads->elts;
    t->parts.nreads = ctx->reads->nelts;
    t->test = (ctx->info == NGX_HTTP_THUMBNAIL_INFO_TEST);
    t->status = THUMBNAIL_STATUS_INTERNAL;
    t->err[0] = '\0';

    task->handler = ngx_http_thumbnail_info_thread;
    task->event.data = task;
    task->event.handler = ngx_http_thumbnail_info_done;

    return ngx_http_thumbnail_task_post(r, ctx, task, "source's read");
}


/*
 * On a pool thread: reads the file parts (size: the first bytes first),
 * probes the header. Touches only the task, the source buffer (which the
 * request keeps while it is blocked) and the files' descriptors.
 */

static void
ngx_http_thumbnail_info_thread(void *data, ngx_log_t *log)
{
    ngx_http_thumbnail_info_task_t *t = data;

    t->status = ngx_http_thumbnail_read_probe(&t->parts, t->src, t->src_len,
                    t->test ? t->src_len
                            : ngx_min(t->src_len,
                                      NGX_HTTP_THUMBNAIL_PROBE_PREFIX),
                    &t->info, t->err, sizeof(t->err));
}


/* back on the event loop */

static void
ngx_http_thumbnail_info_done(ngx_event_t *ev)
{
    ngx_int_t                        status;
    ngx_connection_t                *c;
    ngx_thread_task_t               *task;
    ngx_http_request_t              *r;
    ngx_http_thumbnail_ctx_t        *ctx;
    ngx_http_thumbnail_info_task_t  *t;

    task = ev->data;
    t = task->ctx;
    r = t->request;
    ctx = t->ctx;
    c = r->connection;

    ngx_http_thumbnail_task_unblock(r);

    if (t->parts.failed) {
        ngx_http_thumbnail_read_error(r, &t->parts);
        status = NGX_HTTP_INTERNAL_SERVER_ERROR;

    } else {
        *ctx->probe = t->info;
        status = ngx_http_thumbnail_info_result(r, ctx, t->status, t->err);
    }

    if (status != NGX_OK) {
        ngx_http_thumbnail_failed(ctx, status);

        if (!c->error && !r->done) {
            /* the source was consumed: the error response takes its place */
            ngx_http_thumbnail_task_failed(r, ctx, status);
            return;
        }

        ngx_http_thumbnail_filter_reset(r, ctx);
    }

    /* the writer calls the body filter, which sends the answer */

    ngx_http_thumbnail_task_resume(r);
}


/*
 * The probe's result: NGX_OK with the answer ready (phase RENDERED), or
 * the status to fail with (415: not an image the library reads).
 */

static ngx_int_t
ngx_http_thumbnail_info_result(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx, thumbnail_status st, char *err)
{
    size_t                          len;
    ngx_http_thumbnail_loc_conf_t  *lcf;

    if (st == THUMBNAIL_STATUS_OK
        && ngx_http_thumbnail_info_type(ctx->probe->format) == NULL)
    {
        st = THUMBNAIL_STATUS_UNSUPPORTED;
        ngx_cpystrn((u_char *) err, (u_char *) "a format unknown here",
                    NGX_HTTP_THUMBNAIL_ERR_LEN);
    }

    if (st != THUMBNAIL_STATUS_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "thumbnail: %s: not an image: %V",
                      ctx->info == NGX_HTTP_THUMBNAIL_INFO_SIZE ? "size"
                                                                : "test",
                      ngx_http_thumbnail_esc_cstr(r->pool, err));

        return (st == THUMBNAIL_STATUS_INTERNAL)
               ? NGX_HTTP_INTERNAL_SERVER_ERROR
               : NGX_HTTP_UNSUPPORTED_MEDIA_TYPE;
    }

    ngx_http_thumbnail_admit_release(ctx);

    if (ctx->info == NGX_HTTP_THUMBNAIL_INFO_SIZE) {
        /* the answer is a few bytes: the source goes now */
        ngx_http_thumbnail_free_source(r, ctx);

    } else {
        /* the source is the answer: held for the client, as thumbnails */
        lcf = ngx_http_get_module_loc_conf(r, ngx_http_thumbnail_module);
        len = ctx->src_last - ctx->src;

        if (ngx_http_thumbnail_hold(r, lcf, len) != NGX_OK) {
            return NGX_HTTP_SERVICE_UNAVAILABLE;
        }

        ctx->held = len;
    }

    ctx->phase = NGX_HTTP_THUMBNAIL_RENDERED;

    return NGX_OK;
}


/* image_filter's name of a format ("type"); NULL: none known here */

static const char *
ngx_http_thumbnail_info_type(thumbnail_format format)
{
    switch (format) {

    case THUMBNAIL_FORMAT_JPEG:
        return "jpeg";

    case THUMBNAIL_FORMAT_PNG:
        return "png";

    case THUMBNAIL_FORMAT_GIF:
        return "gif";

    case THUMBNAIL_FORMAT_WEBP:
        return "webp";

    default:
        return NULL;
    }
}


/*
 * The answer, with its headers set: the JSON of size, or the source itself
 * for test (its headers kept, Content-Type the format's, as image_filter's).
 */

ngx_buf_t *
ngx_http_thumbnail_info_response(ngx_http_request_t *r,
    ngx_http_thumbnail_ctx_t *ctx)
{
    u_char      *p;
    size_t       len;
    ngx_buf_t   *b;
    const char  *type;

    type = ngx_http_thumbnail_info_type(ctx->probe->format);

    b = ngx_calloc_buf(r->pool);
    if (b == NULL || type == NULL) {
        return NULL;
    }

    b->memory = 1;
    b->last_buf = 1;
    b->last_in_chain = 1;

    if (ctx->info == NGX_HTTP_THUMBNAIL_INFO_SIZE) {
        len = sizeof("{ \"img\" : { \"width\": , \"height\": , "
                     "\"type\": \"\" } }" CRLF) - 1
              + 2 * NGX_INT32_LEN + ngx_strlen(type);

        p = ngx_pnalloc(r->pool, len);
        if (p == NULL) {
            return NULL;
        }

        b->pos = p;
        b->last = ngx_sprintf(p, "{ \"img\" : { \"width\": %uD,"
                                 " \"height\": %uD,"
                                 " \"type\": \"%s\" } }" CRLF,
                              ctx->probe->width, ctx->probe->height, type);

        ngx_http_clean_header(r);

        r->headers_out.status = NGX_HTTP_OK;
        ngx_str_set(&r->headers_out.content_type, "application/json");

    } else {
        b->pos = ctx->src;
        b->last = ctx->src_last;

        r->headers_out.status = NGX_HTTP_OK;
        r->headers_out.status_line.len = 0;

        /* "image/" and image_filter's type name, known for every format */

        r->headers_out.content_type.len = sizeof("image/") - 1
                                          + ngx_strlen(type);
        r->headers_out.content_type.data = ngx_pnalloc(r->pool,
                                           r->headers_out.content_type.len);
        if (r->headers_out.content_type.data == NULL) {
            return NULL;
        }

        ngx_sprintf(r->headers_out.content_type.data, "image/%s", type);

        r->headers_out.charset.len = 0;
        ngx_http_clear_content_length(r);
    }

    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.content_length_n = b->last - b->pos;

    ngx_http_thumbnail_count_response(ctx, NGX_HTTP_OK);

    return b;
}
