
/*
 * ngx_http_thumbnail_module: request data in the error log, escaped.
 *
 * Whatever a request controls (the spec, the cache key, a file name, a
 * header, and the library's messages, which may quote them) goes into
 * error.log through ngx_http_thumbnail_esc() or _esc_cstr(): every byte
 * outside printable ASCII, and '"' and '\', is written as \xHH, as
 * access_log's default escaping does. So a %0A in a URI cannot start a
 * forged log line, a %1B cannot send escape codes to a terminal, a '"'
 * cannot end a quoted value early, and the escaping is one-to-one.
 *
 *   ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
 *                 "thumbnail: bad spec \"%V\"",
 *                 ngx_http_thumbnail_esc(r->pool, raw.data, raw.len));
 */


#include "ngx_http_thumbnail_module.h"


static ngx_str_t  ngx_http_thumbnail_esc_failed =
    ngx_string("(not logged: no memory to escape it)");


ngx_str_t *
ngx_http_thumbnail_esc(ngx_pool_t *pool, u_char *data, size_t len)
{
    u_char         c, *p;
    size_t         i, n;
    ngx_str_t     *s;
    static u_char  hex[] = "0123456789ABCDEF";

    n = 0;

    for (i = 0; i < len; i++) {
        c = data[i];
        n += (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') ? 4 : 1;
    }

    s = ngx_palloc(pool, sizeof(ngx_str_t) + n);
    if (s == NULL) {
        return &ngx_http_thumbnail_esc_failed;
    }

    s->data = (u_char *) (s + 1);
    s->len = n;

    p = s->data;

    for (i = 0; i < len; i++) {
        c = data[i];

        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
            *p++ = '\\';
            *p++ = 'x';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 0xf];

        } else {
            *p++ = c;
        }
    }

    return s;
}


ngx_str_t *
ngx_http_thumbnail_esc_cstr(ngx_pool_t *pool, const char *s)
{
    return ngx_http_thumbnail_esc(pool, (u_char *) s, ngx_strlen(s));
}
