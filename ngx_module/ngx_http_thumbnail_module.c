
/*
 * ngx_http_thumbnail_module: configuration only. The directives, the main
 * and location configurations, postconfiguration and the process hooks,
 * which hand over to the files that do the work (listed in
 * ngx_http_thumbnail_module.h).
 *
 *   thumbnail on | off;                          location
 *   thumbnail_spec SPEC;                         location (variables allowed)
 *   thumbnail_allowed_specs SPEC ...;            location
 *   thumbnail_max_source_size SIZE;              http, server, location (64m)
 *   thumbnail_max_pixels N;                      http, server, location
 *                                                (50000000)
 *   thumbnail_max_output N;                      http, server, location (2048)
 *   thumbnail_max_queue N;                       http, server, location (64)
 *   thumbnail_heavy_pixels N;                    http, server, location
 *                                                (30000000)
 *   thumbnail_max_heavy N;                       http, server, location (1)
 *   thumbnail_thread_pool NAME;                  http, server, location
 *                                                (default)
 *   thumbnail_cache size=SIZE [shards=N] [ttl=TIME];   http
 *   thumbnail_cache zone=NAME:SIZE [inactive=TIME] [ttl=TIME]
 *                   [max_item=SIZE] [lock_age=TIME];    http
 *   thumbnail_cache_key STRING;                  http, server, location
 *   thumbnail_stats;                             location
 *   thumbnail_strict on | off;                   http, server, location (off)
 *   thumbnail_avif on | off;                     http, server, location (off):
 *                                                `auto` may choose AVIF
 *   thumbnail_cache_purge CONDITION;             http, server, location
 *   thumbnail_max_output_size SIZE;              http, server, location
 *                                                (the cache's largest value,
 *                                                none without a cache)
 *   thumbnail_max_output_held SIZE;              http, server, location (64m)
 *   thumbnail_render_nice N;                     http (19)
 */


#include "ngx_http_thumbnail_module.h"

#include <dlfcn.h>                  /* after ngx_config.h: _GNU_SOURCE */


static void *ngx_http_thumbnail_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_thumbnail_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_thumbnail_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_thumbnail_spec(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_thumbnail_allowed_specs(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_thumbnail_conf_canonical(ngx_conf_t *cf,
    ngx_str_t *spec, ngx_str_t *out, const char *fmt);
static ngx_int_t ngx_http_thumbnail_init(ngx_conf_t *cf);
static void ngx_http_thumbnail_pin(ngx_conf_t *cf);
static ngx_int_t ngx_http_thumbnail_init_module(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_thumbnail_init_process(ngx_cycle_t *cycle);
static void ngx_http_thumbnail_exit_process(ngx_cycle_t *cycle);


static ngx_conf_num_bounds_t  ngx_http_thumbnail_render_nice_bounds = {
    ngx_conf_check_num_bounds, 0, 19
};


static ngx_command_t  ngx_http_thumbnail_commands[] = {

    { ngx_string("thumbnail"),
      NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_thumbnail_loc_conf_t, enable),
      NULL },

    { ngx_string("thumbnail_spec"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_thumbnail_spec,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("thumbnail_allowed_specs"),
      NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_thumbnail_allowed_specs,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("thumbnail_max_source_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_thumbnail_loc_conf_t, max_source_size),
      NULL },

    { ngx_string("thumbnail_max_pixels"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_thumbnail_loc_conf_t, max_pixels),
      NULL },

    { ngx_string("thumbnail_max_output"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_thumbnail_loc_conf_t, max_output),
      NULL },

    { ngx_string("thumbnail_max_queue"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_thumbnail_loc_conf_t, max_queue),
      NULL },

    { ngx_string("thumbnail_heavy_pixels"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_thumbnail_loc_conf_t, heavy_pixels),
      NULL },

    { ngx_string("thumbnail_max_heavy"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_thumbnail_loc_conf_t, max_heavy),
      NULL },

    { ngx_string("thumbnail_thread_pool"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_thumbnail_loc_conf_t, thread_pool_name),
      NULL },

    { ngx_string("thumbnail_cache"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_thumbnail_cache_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("thumbnail_cache_key"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_thumbnail_loc_conf_t, key),
      NULL },

    { ngx_string("thumbnail_stats"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_thumbnail_stats_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("thumbnail_strict"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_thumbnail_loc_conf_t, strict),
      NULL },

    { ngx_string("thumbnail_avif"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_thumbnail_loc_conf_t, avif),
      NULL },

    { ngx_string("thumbnail_cache_purge"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_thumbnail_loc_conf_t, purge),
      NULL },

    { ngx_string("thumbnail_max_output_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_thumbnail_loc_conf_t, max_output_size),
      NULL },

    { ngx_string("thumbnail_max_output_held"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_thumbnail_loc_conf_t, max_output_held),
      NULL },

    { ngx_string("thumbnail_render_nice"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_thumbnail_main_conf_t, render_nice),
      &ngx_http_thumbnail_render_nice_bounds },

    { ngx_string("thumbnail_sign_key"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE2,
      ngx_http_thumbnail_sign_key,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("thumbnail_sign_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_thumbnail_loc_conf_t, sign_size),
      NULL },

    { ngx_string("thumbnail_signature"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_thumbnail_signature,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("thumbnail_watermark"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_thumbnail_watermark,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("thumbnail_quality"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_thumbnail_loc_conf_t, quality),
      NULL },  /* 1..100, checked in merge; applied in options.c */

      ngx_null_command
};


static ngx_http_module_t  ngx_http_thumbnail_module_ctx = {
    ngx_http_thumbnail_add_variables,      /* preconfiguration */
    ngx_http_thumbnail_init,               /* postconfiguration */

    ngx_http_thumbnail_create_main_conf,   /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_thumbnail_create_loc_conf,    /* create location configuration */
    ngx_http_thumbnail_merge_loc_conf      /* merge location configuration */
};


ngx_module_t  ngx_http_thumbnail_module = {
    NGX_MODULE_V1,
    &ngx_http_thumbnail_module_ctx,        /* module context */
    ngx_http_thumbnail_commands,           /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_http_thumbnail_init_module,        /* init module */
    ngx_http_thumbnail_init_process,       /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_thumbnail_exit_process,       /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_http_thumbnail_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_thumbnail_main_conf_t  *mcf;

    mcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_thumbnail_main_conf_t));
    if (mcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     mcf->cache_size = 0;
     *     mcf->cache_ttl = 0;
     *     mcf->cache_set = 0;
     *     mcf->stats_zone = NULL;
     */

    mcf->cache_shards = 16;
    mcf->render_nice = NGX_CONF_UNSET;

    return mcf;
}


static void *
ngx_http_thumbnail_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_thumbnail_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_thumbnail_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->spec_static = { 0, NULL };
     *     conf->thread_pool_name = { 0, NULL };
     *     conf->thread_pool = NULL;
     */

    conf->enable = NGX_CONF_UNSET;
    conf->spec = NGX_CONF_UNSET_PTR;
    conf->allowed = NGX_CONF_UNSET_PTR;
    conf->key = NGX_CONF_UNSET_PTR;
    conf->max_source_size = NGX_CONF_UNSET_SIZE;
    conf->max_pixels = NGX_CONF_UNSET_UINT;
    conf->max_output = NGX_CONF_UNSET_UINT;
    conf->max_queue = NGX_CONF_UNSET_UINT;
    conf->heavy_pixels = NGX_CONF_UNSET_UINT;
    conf->max_heavy = NGX_CONF_UNSET_UINT;
    conf->strict = NGX_CONF_UNSET;
    conf->avif = NGX_CONF_UNSET;
    conf->purge = NGX_CONF_UNSET_PTR;
    conf->max_output_size = NGX_CONF_UNSET_SIZE;
    conf->max_output_held = NGX_CONF_UNSET_SIZE;
    conf->sign_keys = NGX_CONF_UNSET_PTR;
    conf->sign_size = NGX_CONF_UNSET_UINT;
    conf->signature = NGX_CONF_UNSET_PTR;
    conf->overlay = NGX_CONF_UNSET_PTR;
    conf->quality = NGX_CONF_UNSET_UINT;

    return conf;
}


static char *
ngx_http_thumbnail_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_thumbnail_loc_conf_t *prev = parent;
    ngx_http_thumbnail_loc_conf_t *conf = child;

    thumbnail_limits  def;

    def = thumbnail_limits_default();

    ngx_conf_merge_value(conf->enable, prev->enable, 0);

    if (conf->spec == NGX_CONF_UNSET_PTR) {
        conf->spec = prev->spec;
        conf->spec_static = prev->spec_static;
    }

    if (conf->spec == NGX_CONF_UNSET_PTR) {
        conf->spec = NULL;
    }

    ngx_conf_merge_ptr_value(conf->allowed, prev->allowed, NULL);
    ngx_conf_merge_ptr_value(conf->key, prev->key, NULL);
    ngx_conf_merge_ptr_value(conf->purge, prev->purge, NULL);

    if (ngx_http_thumbnail_sign_merge(cf, prev, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_http_thumbnail_watermark_merge(prev, conf);

    ngx_conf_merge_size_value(conf->max_source_size, prev->max_source_size,
                              (size_t) def.max_source_bytes);
    ngx_conf_merge_uint_value(conf->max_pixels, prev->max_pixels,
                              (ngx_uint_t) def.max_source_pixels);
    /*
     * 2048, not the library's 4096: a 1024-pixel slot at 2x or a
     * 680-pixel one at 3x; past that it is not a thumbnail, and a 4096x4096
     * output is 64 MB of pixels while rendering (16 MB at 2048) and up to
     * as many bytes of PNG
     */
    ngx_conf_merge_uint_value(conf->max_output, prev->max_output, 2048);
    ngx_conf_merge_uint_value(conf->max_queue, prev->max_queue, 64);

    /*
     * A heavy render (a progressive JPEG, ~700 ms for 18 MP, or a source of
     * more than 30 MP) holds a pool thread for a long time; one per worker
     * leaves every other thread of even a 2-thread pool to ordinary ones.
     */
    ngx_conf_merge_uint_value(conf->heavy_pixels, prev->heavy_pixels,
                              30000000);
    ngx_conf_merge_uint_value(conf->max_heavy, prev->max_heavy, 1);
    ngx_conf_merge_value(conf->strict, prev->strict, def.strict != 0);
    ngx_conf_merge_value(conf->avif, prev->avif, 0);

    ngx_conf_merge_str_value(conf->thread_pool_name, prev->thread_pool_name,
                             "default");

    /*
     * Unset, the output byte limit is the largest value the cache holds
     * (computed per request: the key is charged too), so a thumbnail that
     * is served can be cached and is not rendered again for every request;
     * without a cache there is none.
     */
    if (conf->max_output_size == NGX_CONF_UNSET_SIZE) {
        conf->max_output_size = prev->max_output_size;
        conf->max_output_size_auto = prev->max_output_size_auto;
    }

    if (conf->max_output_size == NGX_CONF_UNSET_SIZE) {
        conf->max_output_size = 0;
        conf->max_output_size_auto = 1;
    }

    /* per worker: rendered thumbnails held for clients */
    ngx_conf_merge_size_value(conf->max_output_held, prev->max_output_held,
                              64 * 1024 * 1024);

    /* thumbnail_quality: unset means none (options.c) */
    if (conf->quality == NGX_CONF_UNSET_UINT) {
        conf->quality = prev->quality;
    }

    if (conf->quality != NGX_CONF_UNSET_UINT
        && (conf->quality < 1 || conf->quality > 100))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "thumbnail_quality must be 1..100");
        return NGX_CONF_ERROR;
    }

    if (conf->max_output == 0 || conf->max_output > 0xffffffff) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "thumbnail_max_output must be 1..4294967295");
        return NGX_CONF_ERROR;
    }

    if (!conf->enable) {
        return NGX_CONF_OK;
    }

    if (ngx_http_thumbnail_zone_check_purge(cf, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (conf->spec == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"thumbnail on\" needs \"thumbnail_spec\"");
        return NGX_CONF_ERROR;
    }

    if (conf->spec_static.data
        && !ngx_http_thumbnail_spec_allowed(conf, &conf->spec_static))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "thumbnail_spec \"%V\" is not in "
                           "thumbnail_allowed_specs", &conf->spec_static);
        return NGX_CONF_ERROR;
    }

    if (conf->thread_pool == NULL) {
        /* the pool is created (32 threads) if no thread_pool defines it */
        conf->thread_pool = ngx_thread_pool_add(cf, &conf->thread_pool_name);
        if (conf->thread_pool == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static char *
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


static char *
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


static ngx_int_t
ngx_http_thumbnail_init(ngx_conf_t *cf)
{
    ngx_http_thumbnail_main_conf_t  *mcf;

    if (thumbnail_abi_version() != THUMBNAIL_ABI_VERSION) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "thumbnail library ABI %uD does not match "
                           "the module's header (ABI %d)",
                           thumbnail_abi_version(), THUMBNAIL_ABI_VERSION);
        return NGX_ERROR;
    }

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_thumbnail_module);

    /* see ngx_http_thumbnail_render.c */
    ngx_conf_init_value(mcf->render_nice, 19);

    ngx_http_thumbnail_pin(cf);

    if (ngx_http_thumbnail_cache_init_conf(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_thumbnail_filter_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_thumbnail_stats_init_conf(cf, mcf);
}


/*
 * Keep this module's code mapped until the process ends. The Rust library
 * leaves thread-specific data with destructors in the pool threads that ran
 * renders. A worker that exits (shutdown, reload) tells those threads to
 * quit but does not wait for their destructors to run, and goes on to unload
 * its modules: a destructor that runs after the unload jumps into unmapped
 * memory, and the worker dies of SIGSEGV. RTLD_NODELETE makes dlclose()
 * leave the object in place; the extra reference is never dropped.
 */

static void
ngx_http_thumbnail_pin(ngx_conf_t *cf)
{
    Dl_info            info;
    static ngx_uint_t  pinned;

    if (pinned) {
        return;
    }

    if (dladdr((void *) &ngx_http_thumbnail_module, &info) == 0
        || info.dli_fname == NULL)
    {
        ngx_conf_log_error(NGX_LOG_NOTICE, cf, 0,
                           "thumbnail: dladdr() found no object to pin");
        return;
    }

    if (dlopen(info.dli_fname, RTLD_NOW|RTLD_NOLOAD|RTLD_NODELETE) == NULL) {
        /* e.g. linked into the nginx binary: never unloaded anyway */
        ngx_conf_log_error(NGX_LOG_NOTICE, cf, 0,
                           "thumbnail: cannot pin \"%s\": %s",
                           info.dli_fname, dlerror());
        return;
    }

    pinned = 1;
}


/* in the master, before the workers are forked */

static ngx_int_t
ngx_http_thumbnail_init_module(ngx_cycle_t *cycle)
{
    return ngx_http_thumbnail_zone_init_module(cycle);
}


static ngx_int_t
ngx_http_thumbnail_init_process(ngx_cycle_t *cycle)
{
    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    ngx_http_thumbnail_flight_init();
    ngx_http_thumbnail_malloc_init(cycle);

    if (ngx_http_thumbnail_cache_init_process(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_thumbnail_zone_init_process(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_thumbnail_stats_init_process(cycle);
}


static void
ngx_http_thumbnail_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_thumbnail_cache_exit_process(cycle);
}
