/*
 * Signed URLs (issue 19): imgproxy's scheme through the library's signer
 * (src/sign.rs, thumbnail_signer_*).
 *
 *   thumbnail_sign_key KEYHEX SALTHEX;        repeatable: rotation
 *   thumbnail_sign_size N;                     1..32 bytes (default 32)
 *   thumbnail_signature SIGNATURE [PATH];      complex values; PATH is what
 *                                              was signed (default: the
 *                                              request's path as sent,
 *                                              before decoding or rewrites)
 *
 * The check runs first in the phase handler (NGX_HTTP_PRECONTENT_PHASE, so
 * after allow/auth_*): a missing, wrong or expired signature is 403 before
 * the cache is looked at and before any source is read or proxied. It is
 * one HMAC-SHA256 of the path on the event loop (microseconds). The keys
 * are read and the signer built at configuration time: a bad key fails
 * `nginx -t` with the library's message.
 */

#include "ngx_http_thumbnail_module.h"


static void ngx_http_thumbnail_signer_cleanup(void *data);


char *
ngx_http_thumbnail_sign_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_thumbnail_loc_conf_t *lcf = conf;

    ngx_str_t  *value, *pair;

    if (lcf->sign_keys == NGX_CONF_UNSET_PTR) {
        lcf->sign_keys = ngx_array_create(cf->pool, 2, 2 * sizeof(ngx_str_t));
        if (lcf->sign_keys == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    value = cf->args->elts;

    pair = ngx_array_push(lcf->sign_keys);
    if (pair == NULL) {
        return NGX_CONF_ERROR;
    }

    pair[0] = value[1];
    pair[1] = value[2];

    return NGX_CONF_OK;
}


char *
ngx_http_thumbnail_signature(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_thumbnail_loc_conf_t *lcf = conf;

    ngx_str_t                         *value;
    ngx_uint_t                         i;
    ngx_http_complex_value_t         **cv[2];
    ngx_http_compile_complex_value_t   ccv;

    if (lcf->signature != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;
    cv[0] = &lcf->signature;
    cv[1] = &lcf->signed_path;
    lcf->signed_path = NULL;

    for (i = 1; i < cf->args->nelts; i++) {
        *cv[i - 1] = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
        if (*cv[i - 1] == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));
        ccv.cf = cf;
        ccv.value = &value[i];
        ccv.complex_value = *cv[i - 1];

        if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/* Inherits the keys, size and signature values; builds the signer of the
 * location that names keys. */
char *
ngx_http_thumbnail_sign_merge(ngx_conf_t *cf,
    ngx_http_thumbnail_loc_conf_t *prev, ngx_http_thumbnail_loc_conf_t *conf)
{
    char                 err[256];
    ngx_str_t           *pairs;
    ngx_uint_t           i, n;
    thumbnail_status     st;
    thumbnail_sign_key  *keys;
    ngx_pool_cleanup_t  *cln;

    ngx_conf_merge_uint_value(conf->sign_size, prev->sign_size, 32);

    if (conf->signature == NGX_CONF_UNSET_PTR) {
        conf->signature = prev->signature;
        conf->signed_path = prev->signed_path;
    }

    if (conf->signature == NGX_CONF_UNSET_PTR) {
        conf->signature = NULL;
        conf->signed_path = NULL;
    }

    if (conf->sign_keys == NGX_CONF_UNSET_PTR) {
        conf->sign_keys = prev->sign_keys;
        if (conf->sign_size == prev->sign_size) {
            conf->signer = prev->signer;
        }
    }

    if (conf->sign_keys == NGX_CONF_UNSET_PTR) {
        conf->sign_keys = NULL;
    }

    if (conf->sign_size < 1 || conf->sign_size > 32) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "thumbnail_sign_size must be 1..32");
        return NGX_CONF_ERROR;
    }

    if (conf->signature && conf->sign_keys == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"thumbnail_signature\" needs "
                           "\"thumbnail_sign_key\"");
        return NGX_CONF_ERROR;
    }

    if (conf->sign_keys && conf->signature == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"thumbnail_sign_key\" needs "
                           "\"thumbnail_signature\"");
        return NGX_CONF_ERROR;
    }

    if (conf->sign_keys == NULL || conf->signer != NULL) {
        return NGX_CONF_OK;
    }

    n = conf->sign_keys->nelts;
    pairs = conf->sign_keys->elts;

    keys = ngx_palloc(cf->temp_pool, n * sizeof(thumbnail_sign_key));
    if (keys == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < n; i++) {
        keys[i].key_hex = (const char *) pairs[2 * i].data;
        keys[i].key_hex_len = pairs[2 * i].len;
        keys[i].salt_hex = (const char *) pairs[2 * i + 1].data;
        keys[i].salt_hex_len = pairs[2 * i + 1].len;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    st = thumbnail_signer_new(keys, n, (uint32_t) conf->sign_size,
                              &conf->signer, err, sizeof(err));
    if (st != THUMBNAIL_STATUS_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid thumbnail_sign_key: %s", err);
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_thumbnail_signer_cleanup;
    cln->data = conf->signer;

    return NGX_CONF_OK;
}


static void
ngx_http_thumbnail_signer_cleanup(void *data)
{
    thumbnail_signer_free(data);
}


/* NGX_OK if the request's signature is valid (or none is configured),
 * else NGX_HTTP_FORBIDDEN. */
ngx_int_t
ngx_http_thumbnail_sign_check(ngx_http_request_t *r,
    ngx_http_thumbnail_loc_conf_t *lcf)
{
    u_char     *q;
    ngx_str_t   sig, path;

    if (lcf->signer == NULL) {
        return NGX_OK;
    }

    if (ngx_http_complex_value(r, lcf->signature, &sig) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (lcf->signed_path) {
        if (ngx_http_complex_value(r, lcf->signed_path, &path) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

    } else {
        /* $request_uri without the query: the bytes the URL builder signed */
        path = r->unparsed_uri;
        q = ngx_strlchr(path.data, path.data + path.len, '?');
        if (q) {
            path.len = q - path.data;
        }
    }

    if (sig.len == 0
        || !thumbnail_signer_verify_at(lcf->signer, (const char *) path.data,
                                       path.len, (const char *) sig.data,
                                       sig.len, (uint64_t) ngx_time()))
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "thumbnail: bad or missing signature for \"%V\"",
                      &path);
        return NGX_HTTP_FORBIDDEN;
    }

    return NGX_OK;
}
