/*
 * Watermarks (issue 19): thumbnail_watermark FILE [OPTION...];
 *
 * The overlay image is read and decoded once, at configuration time
 * (thumbnail_overlay_new): a missing or bad file, or a bad option, fails
 * `nginx -t` with the library's message. OPTIONs are the library's
 * overlay options: gravity=, margin=, opacity=, scale=, apply=always|wm
 * (apply=wm: only specs with the `wm` option are watermarked; without it
 * every thumbnail of the location is). The render task passes the overlay
 * to thumbnail_render_ex / thumbnail_cache_get_or_render_ex
 * (ngx_http_thumbnail_render.c), and the cache key carries the overlay's
 * id (ngx_http_thumbnail_request.c), so a new logo or new options never
 * serve thumbnails made with the old ones.
 */

#include "ngx_http_thumbnail_module.h"


/* A watermark is a logo, not a photo. */
#define NGX_HTTP_THUMBNAIL_WATERMARK_MAX  (16 * 1024 * 1024)


static void ngx_http_thumbnail_overlay_cleanup(void *data);


char *
ngx_http_thumbnail_watermark(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_thumbnail_loc_conf_t *lcf = conf;

    char                 err[256];
    u_char              *buf, *p;
    size_t               size, olen;
    ssize_t              n;
    ngx_fd_t             fd;
    ngx_str_t           *value, path;
    ngx_uint_t           i;
    ngx_file_info_t      fi;
    thumbnail_status     st;
    ngx_pool_cleanup_t  *cln;

    if (lcf->overlay != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0
        && cf->args->nelts == 2)
    {
        lcf->overlay = NULL;
        return NGX_CONF_OK;
    }

    path = value[1];

    if (ngx_conf_full_name(cf->cycle, &path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    fd = ngx_open_file(path.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "thumbnail_watermark: cannot open \"%V\"", &path);
        return NGX_CONF_ERROR;
    }

    buf = NULL;
    size = 0;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "thumbnail_watermark: cannot stat \"%V\"", &path);
        goto failed;
    }

    size = (size_t) ngx_file_size(&fi);

    if (size > NGX_HTTP_THUMBNAIL_WATERMARK_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "thumbnail_watermark: \"%V\" is larger than 16m",
                           &path);
        goto failed;
    }

    buf = ngx_palloc(cf->temp_pool, size ? size : 1);
    if (buf == NULL) {
        goto failed;
    }

    n = ngx_read_fd(fd, buf, size);
    if (n == -1 || (size_t) n != size) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "thumbnail_watermark: cannot read \"%V\"", &path);
        goto failed;
    }

    ngx_close_file(fd);
    fd = NGX_INVALID_FILE;

    /* the options, joined with spaces */
    olen = 0;
    for (i = 2; i < cf->args->nelts; i++) {
        olen += value[i].len + 1;
    }

    p = ngx_pnalloc(cf->temp_pool, olen + 1);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    olen = 0;
    for (i = 2; i < cf->args->nelts; i++) {
        ngx_memcpy(p + olen, value[i].data, value[i].len);
        olen += value[i].len;
        p[olen++] = ' ';
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    st = thumbnail_overlay_new(buf, size, (const char *) p, olen,
                               &lcf->overlay, err, sizeof(err));
    if (st != THUMBNAIL_STATUS_OK) {
        lcf->overlay = NGX_CONF_UNSET_PTR;
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "thumbnail_watermark \"%V\": %s", &path, err);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_thumbnail_overlay_cleanup;
    cln->data = lcf->overlay;

    lcf->overlay_id.data = (u_char *) thumbnail_overlay_id(lcf->overlay);
    lcf->overlay_id.len = ngx_strlen(lcf->overlay_id.data);

    return NGX_CONF_OK;

failed:

    if (fd != NGX_INVALID_FILE) {
        ngx_close_file(fd);
    }

    return NGX_CONF_ERROR;
}


void
ngx_http_thumbnail_watermark_merge(ngx_http_thumbnail_loc_conf_t *prev,
    ngx_http_thumbnail_loc_conf_t *conf)
{
    if (conf->overlay == NGX_CONF_UNSET_PTR) {
        conf->overlay = prev->overlay;
        conf->overlay_id = prev->overlay_id;
    }

    if (conf->overlay == NGX_CONF_UNSET_PTR) {
        conf->overlay = NULL;
    }
}


static void
ngx_http_thumbnail_overlay_cleanup(void *data)
{
    thumbnail_overlay_free(data);
}
