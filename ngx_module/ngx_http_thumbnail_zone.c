
/*
 * ngx_http_thumbnail_module: the node-wide cache zone, its configuration
 * and its processes.
 *
 *   thumbnail_cache zone=NAME:SIZE [inactive=TIME] [ttl=TIME]
 *                   [max_item=SIZE] [lock_age=TIME];
 *   thumbnail_cache_purge CONDITION;
 *
 * Finished thumbnails live in one shared memory zone that every worker of
 * the node reads and writes (the model is lua-nginx-module's shdict: an
 * rbtree and an LRU queue in an ngx_slab_pool_t, under the pool's mutex).
 * An entry holds the thumbnail's bytes, its content type, its ETag and the
 * caching headers of the source response the render was made from
 * (Last-Modified, Cache-Control, Expires), so that a hit is answered with
 * the same caching headers as the miss was.
 *
 * The zone's work is cut by job (ngx_http_thumbnail_zone.h lists the
 * files): this file has the directive, the zone and the wake-up pipes;
 * ngx_http_thumbnail_zone_store.c the entries and their memory;
 * ngx_http_thumbnail_zone_flight.c the cross-worker single-flight;
 * ngx_http_thumbnail_zone_serve.c the responses, purge and the stats.
 *
 * Wake-ups. A request that waits for another worker's render sets its
 * worker's bit in the key's in-flight marker. When the marker goes (the
 * render's result replaces it), the leader writes a byte to a pipe of each
 * worker whose bit is set; that worker looks at its parked requests at
 * once. So followers are woken within a scheduling delay of the render's
 * end, not after nginx's 500 ms cache-lock poll. The pipes (one per worker
 * slot) are made by the master before it forks; each worker listens on
 * its own.
 *
 * Reload: the zone is looked up by name and size; with both unchanged the
 * new cycle takes the old cycle's data (as limit_req does), so its entries
 * survive `nginx -s reload`.
 */


#include "ngx_http_thumbnail_zone.h"

#include <ngx_channel.h>


static ngx_int_t ngx_http_thumbnail_zone_init(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_thumbnail_zone_close_pipes(void *data);
static void ngx_http_thumbnail_zone_wake_handler(ngx_event_t *ev);


/* configuration -------------------------------------------------------- */


/* the arguments of thumbnail_cache that belong to the zone */

ngx_uint_t
ngx_http_thumbnail_zone_arg(ngx_str_t *arg)
{
    static ngx_str_t  names[] = {
        ngx_string("zone="),
        ngx_string("inactive="),
        ngx_string("max_item="),
        ngx_string("lock_age="),
        ngx_null_string
    };

    ngx_str_t  *n;

    for (n = names; n->len; n++) {
        if (arg->len >= n->len && ngx_strncmp(arg->data, n->data, n->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/*
 * thumbnail_cache zone=NAME:SIZE [inactive=TIME] [ttl=TIME] [max_item=SIZE]
 *                 [lock_age=TIME]: makes the zone (the rest of the
 * directive's arguments are the per-worker cache's, parsed by
 * ngx_http_thumbnail_cache.c, which skips the ones above)
 */

char *
ngx_http_thumbnail_zone_directive(ngx_conf_t *cf,
    ngx_http_thumbnail_main_conf_t *mcf)
{
    u_char                     *p;
    ssize_t                     size, max_item;
    ngx_str_t                  *value, name, s;
    ngx_msec_t                  inactive, ttl, lock_age;
    ngx_uint_t                  i, has_zone_arg, has_size;
    ngx_shm_zone_t             *shm_zone;
    ngx_http_thumbnail_zone_t  *zone;

    value = cf->args->elts;

    name.len = 0;
    size = 0;
    max_item = NGX_CONF_UNSET;
    inactive = 0;
    ttl = 0;
    lock_age = 10000;
    has_zone_arg = 0;
    has_size = 0;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "size=", 5) == 0
            || ngx_strncmp(value[i].data, "shards=", 7) == 0)
        {
            has_size = 1;
            continue;
        }

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {

            name.data = value[i].data + 5;

            p = (u_char *) ngx_strchr(name.data, ':');

            if (p == NULL) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid zone size \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            name.len = p - name.data;

            s.data = p + 1;
            s.len = value[i].data + value[i].len - s.data;

            size = ngx_parse_size(&s);

            if (size == NGX_ERROR) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid zone size \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            if (size < (ssize_t) (8 * ngx_pagesize)) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "zone \"%V\" is too small", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "inactive=", 9) == 0) {
            s.data = value[i].data + 9;
            s.len = value[i].len - 9;

            inactive = ngx_parse_time(&s, 0);
            if (inactive == (ngx_msec_t) NGX_ERROR) {
                goto invalid;
            }

            has_zone_arg = 1;
            continue;
        }

        if (ngx_strncmp(value[i].data, "lock_age=", 9) == 0) {
            s.data = value[i].data + 9;
            s.len = value[i].len - 9;

            lock_age = ngx_parse_time(&s, 0);
            if (lock_age == (ngx_msec_t) NGX_ERROR || lock_age == 0) {
                goto invalid;
            }

            has_zone_arg = 1;
            continue;
        }

        if (ngx_strncmp(value[i].data, "max_item=", 9) == 0) {
            s.data = value[i].data + 9;
            s.len = value[i].len - 9;

            max_item = ngx_parse_size(&s);
            if (max_item == NGX_ERROR) {
                goto invalid;
            }

            has_zone_arg = 1;
            continue;
        }

        if (ngx_strncmp(value[i].data, "ttl=", 4) == 0) {
            /* shared with the per-worker cache */
            s.data = value[i].data + 4;
            s.len = value[i].len - 4;

            ttl = ngx_parse_time(&s, 0);
            if (ttl == (ngx_msec_t) NGX_ERROR) {
                goto invalid;
            }

            continue;
        }
    }

    if (name.len == 0) {
        if (has_zone_arg) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "inactive=, max_item= and lock_age= "
                               "need zone=");
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    if (has_size) {
        /*
         * The per-worker cache in front of the zone was measured (make
         * bench-zone: no faster on the hit path) and has defects of its
         * own: its hits lack the caching headers, it holds only what its
         * worker rendered, a purge clears only one worker's copy.
         */
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"size=\" and \"shards=\" (a per-worker cache) "
                           "cannot be combined with \"zone=\"");
        return NGX_CONF_ERROR;
    }

    if (name.len == sizeof("thumbnail_stats") - 1
        && ngx_strncmp(name.data, "thumbnail_stats", name.len) == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone name \"thumbnail_stats\" is reserved");
        return NGX_CONF_ERROR;
    }

    zone = ngx_pcalloc(cf->pool, sizeof(ngx_http_thumbnail_zone_t));
    if (zone == NULL) {
        return NGX_CONF_ERROR;
    }

    zone->name = name;
    zone->size = size;
    zone->inactive = inactive;
    zone->ttl = ttl;
    zone->lock_age = lock_age;
    zone->max_item = (max_item == NGX_CONF_UNSET) ? (size_t) size / 8
                                                  : (size_t) max_item;

    shm_zone = ngx_shared_memory_add(cf, &name, size,
                                     &ngx_http_thumbnail_module);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate zone \"%V\"", &name);
        return NGX_CONF_ERROR;
    }

    shm_zone->init = ngx_http_thumbnail_zone_init;
    shm_zone->data = zone;

    mcf->zone = shm_zone;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);

    return NGX_CONF_ERROR;
}


static ngx_int_t
ngx_http_thumbnail_zone_init(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_thumbnail_zone_t  *ozone = data;

    size_t                      len;
    ngx_http_thumbnail_zone_t  *zone;

    zone = shm_zone->data;

    if (ozone) {
        /* a reload, same name and size: keep the entries */
        zone->sh = ozone->sh;
        zone->shpool = ozone->shpool;
        return NGX_OK;
    }

    zone->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        zone->sh = zone->shpool->data;
        return NGX_OK;
    }

    zone->sh = ngx_slab_calloc(zone->shpool,
                               sizeof(ngx_http_thumbnail_zone_sh_t));
    if (zone->sh == NULL) {
        return NGX_ERROR;
    }

    zone->shpool->data = zone->sh;

    ngx_rbtree_init(&zone->sh->rbtree, &zone->sh->sentinel,
                    ngx_http_thumbnail_zone_insert_value);
    ngx_queue_init(&zone->sh->lru);
    ngx_queue_init(&zone->sh->markers);

    len = sizeof(" in thumbnail zone \"\"") + shm_zone->shm.name.len;

    zone->shpool->log_ctx = ngx_slab_alloc(zone->shpool, len);
    if (zone->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(zone->shpool->log_ctx, " in thumbnail zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* a full zone is normal: it evicts */
    zone->shpool->log_nomem = 0;

    return NGX_OK;
}


/* thumbnail_cache_purge needs the zone */

char *
ngx_http_thumbnail_zone_check_purge(ngx_conf_t *cf,
    ngx_http_thumbnail_loc_conf_t *lcf)
{
    ngx_http_thumbnail_main_conf_t  *mcf;

    if (lcf->purge == NULL) {
        return NGX_CONF_OK;
    }

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_thumbnail_module);

    if (mcf->zone == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"thumbnail_cache_purge\" needs "
                           "\"thumbnail_cache zone=...\"");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* processes ------------------------------------------------------------ */


/*
 * In the master, for each configuration, before the workers are forked: a
 * pipe per worker slot, through which a leader wakes the followers of
 * another worker (closed with the cycle).
 */

ngx_int_t
ngx_http_thumbnail_zone_init_module(ngx_cycle_t *cycle)
{
    ngx_fd_t                         fds[2];
    ngx_uint_t                       i, n;
    ngx_core_conf_t                 *ccf;
    ngx_pool_cleanup_t              *cln;
    ngx_http_thumbnail_zone_t       *zone;
    ngx_http_thumbnail_main_conf_t  *mcf;

    if (cycle->conf_ctx[ngx_http_module.index] == NULL) {
        return NGX_OK;
    }

    mcf = ngx_http_cycle_get_module_main_conf(cycle,
                                              ngx_http_thumbnail_module);

    if (mcf == NULL || mcf->zone == NULL) {
        return NGX_OK;
    }

    zone = mcf->zone->data;

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    n = (ccf->worker_processes > 0) ? (ngx_uint_t) ccf->worker_processes : 1;
    n = ngx_min(n, 64);

    zone->wake = ngx_palloc(cycle->pool, 2 * n * sizeof(ngx_fd_t));
    if (zone->wake == NULL) {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(cycle->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_thumbnail_zone_close_pipes;
    cln->data = zone;

    for (i = 0; i < n; i++) {

        if (pipe(fds) == -1) {
            ngx_log_error(NGX_LOG_ALERT, cycle->log, ngx_errno,
                          "thumbnail: pipe() failed");
            return NGX_ERROR;
        }

        zone->wake[2 * i] = fds[0];
        zone->wake[2 * i + 1] = fds[1];
        zone->nwake = i + 1;

        if (ngx_nonblocking(fds[0]) == -1
            || ngx_nonblocking(fds[1]) == -1
            || fcntl(fds[0], F_SETFD, FD_CLOEXEC) == -1
            || fcntl(fds[1], F_SETFD, FD_CLOEXEC) == -1)
        {
            ngx_log_error(NGX_LOG_ALERT, cycle->log, ngx_errno,
                          "thumbnail: cannot set up the wake-up pipe");
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static void
ngx_http_thumbnail_zone_close_pipes(void *data)
{
    ngx_http_thumbnail_zone_t *zone = data;

    ngx_uint_t  i;

    for (i = 0; i < 2 * zone->nwake; i++) {
        (void) close(zone->wake[i]);
    }

    zone->nwake = 0;
}


/* in a worker: listen on its own pipe */

ngx_int_t
ngx_http_thumbnail_zone_init_process(ngx_cycle_t *cycle)
{
    ngx_http_thumbnail_zone_t  *zone;

    ngx_queue_init(&ngx_http_thumbnail_zone_parked);

    zone = ngx_http_thumbnail_zone_get();

    if (zone == NULL || ngx_worker >= zone->nwake) {
        return NGX_OK;
    }

    if (ngx_add_channel_event(cycle, zone->wake[2 * ngx_worker],
                              NGX_READ_EVENT,
                              ngx_http_thumbnail_zone_wake_handler)
        == NGX_ERROR)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the zone of this worker's configuration, or NULL */

ngx_http_thumbnail_zone_t *
ngx_http_thumbnail_zone_get(void)
{
    ngx_http_thumbnail_main_conf_t  *mcf;

    if (ngx_cycle->conf_ctx == NULL
        || ngx_cycle->conf_ctx[ngx_http_module.index] == NULL)
    {
        return NULL;
    }

    mcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                              ngx_http_thumbnail_module);

    if (mcf == NULL || mcf->zone == NULL) {
        return NULL;
    }

    return mcf->zone->data;
}


ngx_uint_t
ngx_http_thumbnail_zone_enabled(void)
{
    return ngx_http_thumbnail_zone_get() != NULL;
}


/* the largest thumbnail the zone stores (max_item=), or 0 without a zone */

size_t
ngx_http_thumbnail_zone_max_item(void)
{
    ngx_http_thumbnail_zone_t  *zone;

    zone = ngx_http_thumbnail_zone_get();

    return zone ? zone->max_item : 0;
}


/* wake-ups ------------------------------------------------------------- */


/* a byte into the pipe of each worker with followers of a marker gone */

void
ngx_http_thumbnail_zone_notify(ngx_http_thumbnail_zone_t *zone,
    uint64_t waiters)
{
    ssize_t     n;
    ngx_uint_t  i;

    for (i = 0; waiters && i < zone->nwake; i++, waiters >>= 1) {

        if (!(waiters & 1)) {
            continue;
        }

        if (i == ngx_worker) {
            /* followers here too (a marker taken over): no syscall */
            ngx_http_thumbnail_zone_wake_handler(NULL);
            continue;
        }

        /* a full pipe already holds a wake-up: EAGAIN is fine */
        n = write(zone->wake[2 * i + 1], "w", 1);
        (void) n;
    }
}


/*
 * A byte came (or a marker of this worker went): every parked request of
 * this worker looks at the zone now, instead of at its next timer.
 */

static void
ngx_http_thumbnail_zone_wake_handler(ngx_event_t *ev)
{
    u_char                     buf[64];
    ngx_queue_t               *q;
    ngx_connection_t          *c;
    ngx_http_thumbnail_ctx_t  *ctx;

    if (ev) {
        c = ev->data;

        while (read(c->fd, buf, sizeof(buf)) > 0) {
            /* drain: the channel event is edge-triggered */
        }
    }

    if (ngx_queue_prev(&ngx_http_thumbnail_zone_parked) == NULL) {
        return;
    }

    for (q = ngx_queue_head(&ngx_http_thumbnail_zone_parked);
         q != ngx_queue_sentinel(&ngx_http_thumbnail_zone_parked);
         q = ngx_queue_next(q))
    {
        ctx = ngx_queue_data(q, ngx_http_thumbnail_ctx_t, zone_link);

        if (ctx->zone_timer.timer_set) {
            ngx_del_timer(&ctx->zone_timer);
        }

        if (!ctx->zone_timer.posted) {
            ngx_post_event(&ctx->zone_timer, &ngx_posted_events);
        }
    }
}
