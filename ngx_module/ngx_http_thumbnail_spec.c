
/*
 * ngx_http_thumbnail_module: the spec. thumbnail_spec and
 * thumbnail_allowed_specs (a constant spec and every allowed one are
 * checked and made canonical at load, so a typo fails `nginx -t`), and at
 * request time the spec made canonical and checked against the allow-list.
 */


#include "ngx_http_thumbnail_module.h"


static char *ngx_http_thumbnail_conf_canonical(ngx_conf_t *cf,
    ngx_str_t *spec, ngx_str_t *out, const char *fmt);


char *
ngx_http_thumbnail_spec(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_thumbnail_loc_conf_t *tlcf = conf;

    ngx_str_t                         *value;
    ngx_http_compile_complex_value_t   ccv;

    if (tlcf->spec != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    tlcf->spec = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (tlcf->spec == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &value[1];
    ccv.complex_value = tlcf->spec;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (tlcf->spec->lengths != NULL) {
        return NGX_CONF_OK;
    }

    /* a constant spec: check it now */

    return ngx_http_thumbnail_conf_canonical(cf, &value[1], &tlcf->spec_static,
                                             "invalid thumbnail_spec \"%V\": "
                                             "%s");
}


char *
ngx_http_thumbnail_allowed_specs(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_thumbnail_loc_conf_t *tlcf = conf;

    char        *rv;
    ngx_str_t   *value, *s;
    ngx_uint_t   i;

    if (tlcf->allowed != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    tlcf->allowed = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                     sizeof(ngx_str_t));
    if (tlcf->allowed == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 1; i < cf->args->nelts; i++) {
        s = ngx_array_push(tlcf->allowed);
        if (s == NULL) {
            return NGX_CONF_ERROR;
        }

        rv = ngx_http_thumbnail_conf_canonical(cf, &value[i], s,
                                               "invalid spec \"%V\" in "
                                               "thumbnail_allowed_specs: %s");
        if (rv != NGX_CONF_OK) {
            return rv;
        }
    }

    return NGX_CONF_OK;
}


/*
 * A spec of the configuration in canonical form; an invalid one is logged
 * with fmt, which takes the spec (%V) and the library's reason (%s).
 */

static char *
ngx_http_thumbnail_conf_canonical(ngx_conf_t *cf, ngx_str_t *spec,
    ngx_str_t *out, const char *fmt)
{
    u_char     err[NGX_HTTP_THUMBNAIL_ERR_LEN];
    ngx_int_t  rc;

    err[0] = '\0';

    rc = ngx_http_thumbnail_canonical(cf->pool, spec, out, err, sizeof(err));
    if (rc == NGX_ERROR) {
        return NGX_CONF_ERROR;
    }

    if (rc == NGX_DECLINED) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, fmt, spec, err);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_thumbnail_canonical(ngx_pool_t *pool, ngx_str_t *spec, ngx_str_t *out,
    u_char *err, size_t err_len)
{
    u_char            *p;
    size_t             written;
    thumbnail_status   st;

    /*
     * A canonical spec can be longer than its text ("jpg" becomes "jpeg",
     * "bg=222" becomes "bg=222222"), never longer than
     * THUMBNAIL_SPEC_CANONICAL_MAX with its NUL: one call, no retry.
     */

    p = ngx_pnalloc(pool, THUMBNAIL_SPEC_CANONICAL_MAX);
    if (p == NULL) {
        return NGX_ERROR;
    }

    written = 0;

    st = thumbnail_spec_canonical((const char *) spec->data, spec->len,
                                  (char *) p, THUMBNAIL_SPEC_CANONICAL_MAX,
                                  &written, (char *) err, err_len);

    if (st == THUMBNAIL_STATUS_OK) {
        out->data = p;
        out->len = written;
        return NGX_OK;
    }

    if (err_len && st == THUMBNAIL_STATUS_BUFFER_TOO_SMALL) {
        ngx_cpystrn(err, (u_char *) "internal: canonical spec too long",
                    err_len);
    }

    return NGX_DECLINED;
}


/* the allow-list, at configuration time and per request */

ngx_int_t
ngx_http_thumbnail_spec_allowed(ngx_http_thumbnail_loc_conf_t *conf,
    ngx_str_t *spec)
{
    ngx_str_t   *s;
    ngx_uint_t   i;

    if (conf->allowed == NULL) {
        return 1;
    }

    s = conf->allowed->elts;

    for (i = 0; i < conf->allowed->nelts; i++) {
        if (s[i].len == spec->len
            && ngx_strncmp(s[i].data, spec->data, spec->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}
