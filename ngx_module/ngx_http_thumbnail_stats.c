
/*
 * ngx_http_thumbnail_module: stats summed over all worker processes.
 *
 * Each worker has its own cache, so no worker can see the whole picture.
 * A small shared memory zone ("thumbnail_stats", made at configuration
 * time) holds one slot per worker, indexed by ngx_worker. Only the owner
 * writes a slot; a sequence number (odd while writing) lets readers take a
 * consistent copy.
 *
 * The counters are plain per-worker variables, changed on the event loop
 * only through ngx_http_thumbnail_stat_inc() and _dec(), which mark the
 * slot stale by posting this worker's stats event. One function,
 * ngx_http_thumbnail_stats_publish(), copies the cache's stats
 * (thumbnail_cache_get_stats) and the counters into the slot and clears
 * the mark. It runs
 *
 *   - from that event, at the end of the event loop iteration in which
 *     something changed (gauges such as in_flight while a render runs);
 *   - from ngx_http_thumbnail_stats_flush(), called by the header filter
 *     as each response header passes it, when the slot is stale: whatever
 *     a request counted is in the slot before its response leaves, so a
 *     client that asks another worker's /stats next sees it;
 *   - at worker start, and for its own slot in the stats handler.
 *
 * `thumbnail_stats;` in a location answers with JSON:
 *
 *   {"worker_processes":2,
 *    "totals":{"gets":..,"hits":..,...,"requests":..,...},
 *    "workers":[{"worker":0,"pid":..,"updated_msec":..,"cache":true,
 *                "gets":..,...}, ...]}
 *
 * Cache fields are thumbnail_cache_stats' (groupcache names); the module
 * adds requests, cache_hits (answered before the source was read), renders,
 * render_errors, flight_waits (requests that waited for another request's
 * render of the same key), not_modified, status_4xx/5xx, heavy_refused, and
 * the gauges in_flight (renders queued or running), waiting and heavy
 * (heavy renders queued or running).
 */


#include "ngx_http_thumbnail_module.h"


typedef struct {
    ngx_atomic_t                    seq;
    ngx_pid_t                       pid;
    ngx_uint_t                      has_cache;
    uint64_t                        updated_msec;
    thumbnail_cache_stats           cache;
    ngx_http_thumbnail_counters_t   counters;
} ngx_http_thumbnail_slot_t;


typedef struct {
    ngx_uint_t                      nslots;
    ngx_http_thumbnail_slot_t       slots[1];
} ngx_http_thumbnail_shm_t;


static ngx_int_t ngx_http_thumbnail_stats_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_thumbnail_stats_event_handler(ngx_event_t *ev);
static void ngx_http_thumbnail_stats_publish(void);
static ngx_int_t ngx_http_thumbnail_stats_handler(ngx_http_request_t *r);
static void ngx_http_thumbnail_stats_read(ngx_http_thumbnail_slot_t *slot,
    ngx_http_thumbnail_slot_t *copy);
static u_char *ngx_http_thumbnail_stats_fields(u_char *p,
    ngx_http_thumbnail_slot_t *s);


#define NGX_HTTP_THUMBNAIL_MIN_SLOTS  32


ngx_http_thumbnail_counters_t      ngx_http_thumbnail_counters;

static ngx_http_thumbnail_shm_t   *ngx_http_thumbnail_shm;
static ngx_event_t                 ngx_http_thumbnail_stats_event;


ngx_int_t
ngx_http_thumbnail_stats_init_conf(ngx_conf_t *cf,
    ngx_http_thumbnail_main_conf_t *mcf)
{
    size_t            size;
    ngx_str_t         name = ngx_string("thumbnail_stats");
    ngx_uint_t        nslots;
    ngx_core_conf_t  *ccf;

    ccf = (ngx_core_conf_t *) ngx_get_conf(cf->cycle->conf_ctx,
                                           ngx_core_module);

    /*
     * worker_processes usually comes before http {}; if not, it is at most
     * "auto" (the CPU count) in any sane configuration, so size for that
     */

    nslots = ngx_max(NGX_HTTP_THUMBNAIL_MIN_SLOTS, (ngx_uint_t) ngx_ncpu);

    if (ccf->worker_processes != NGX_CONF_UNSET
        && (ngx_uint_t) ccf->worker_processes > nslots)
    {
        nslots = ccf->worker_processes;
    }

    /* the slots, plus room for the slab allocator's own pages */

    size = offsetof(ngx_http_thumbnail_shm_t, slots)
           + nslots * sizeof(ngx_http_thumbnail_slot_t);
    size = ngx_align(size, ngx_pagesize) + 8 * ngx_pagesize;

    mcf->stats_zone = ngx_shared_memory_add(cf, &name, size,
                                            &ngx_http_thumbnail_module);
    if (mcf->stats_zone == NULL) {
        return NGX_ERROR;
    }

    mcf->stats_zone->init = ngx_http_thumbnail_stats_init_zone;
    mcf->stats_zone->data = (void *) (uintptr_t) nslots;

    return NGX_OK;
}


static ngx_int_t
ngx_http_thumbnail_stats_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    size_t                     size;
    ngx_uint_t                 nslots;
    ngx_slab_pool_t           *shpool;
    ngx_http_thumbnail_shm_t  *shm;

    nslots = (ngx_uint_t) (uintptr_t) shm_zone->data;

    if (data) {
        /* a reload with the same zone size: keep the slots */
        shm_zone->data = data;
        ngx_http_thumbnail_shm = data;
        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        shm_zone->data = shpool->data;
        ngx_http_thumbnail_shm = shpool->data;
        return NGX_OK;
    }

    size = offsetof(ngx_http_thumbnail_shm_t, slots)
           + nslots * sizeof(ngx_http_thumbnail_slot_t);

    shm = ngx_slab_calloc(shpool, size);
    if (shm == NULL) {
        return NGX_ERROR;
    }

    shm->nslots = nslots;

    shpool->data = shm;
    shm_zone->data = shm;
    ngx_http_thumbnail_shm = shm;

    return NGX_OK;
}


ngx_int_t
ngx_http_thumbnail_stats_init_process(ngx_cycle_t *cycle)
{
    ngx_http_thumbnail_stats_event.handler =
                                      ngx_http_thumbnail_stats_event_handler;
    ngx_http_thumbnail_stats_event.log = cycle->log;

    ngx_http_thumbnail_stats_publish();

    return NGX_OK;
}


void
ngx_http_thumbnail_count_status(ngx_uint_t status)
{
    switch (status) {

    case NGX_HTTP_BAD_REQUEST:
        ngx_http_thumbnail_stat_inc(status_400);
        break;

    case NGX_HTTP_REQUEST_ENTITY_TOO_LARGE:
        ngx_http_thumbnail_stat_inc(status_413);
        break;

    case NGX_HTTP_UNSUPPORTED_MEDIA_TYPE:
        ngx_http_thumbnail_stat_inc(status_415);
        break;

    case NGX_HTTP_SERVICE_UNAVAILABLE:
        ngx_http_thumbnail_stat_inc(status_503);
        break;

    case NGX_HTTP_INTERNAL_SERVER_ERROR:
        ngx_http_thumbnail_stat_inc(status_500);
        break;

    default:
        break;
    }
}


/* a counter changed: the slot is rewritten before the loop waits again */

void
ngx_http_thumbnail_stats_changed(void)
{
    ngx_post_event(&ngx_http_thumbnail_stats_event, &ngx_posted_events);
}


/* a response header leaves: the slot must not lag behind it */

void
ngx_http_thumbnail_stats_flush(void)
{
    if (ngx_http_thumbnail_stats_event.posted) {
        ngx_http_thumbnail_stats_publish();
    }
}


static void
ngx_http_thumbnail_stats_event_handler(ngx_event_t *ev)
{
    ngx_http_thumbnail_stats_publish();
}


static void
ngx_http_thumbnail_stats_publish(void)
{
    ngx_time_t                 *tp;
    thumbnail_cache_stats       cs;
    ngx_http_thumbnail_slot_t  *slot;

    if (ngx_http_thumbnail_stats_event.posted) {
        ngx_delete_posted_event(&ngx_http_thumbnail_stats_event);
    }

    if (ngx_http_thumbnail_shm == NULL
        || ngx_worker >= ngx_http_thumbnail_shm->nslots
        || ngx_exiting
        || (ngx_process != NGX_PROCESS_WORKER
            && ngx_process != NGX_PROCESS_SINGLE))
    {
        return;
    }

    ngx_memzero(&cs, sizeof(thumbnail_cache_stats));

    if (ngx_http_thumbnail_cache) {
        (void) thumbnail_cache_get_stats(ngx_http_thumbnail_cache, &cs);

    } else {
        /* this worker's zone lookups (ngx_http_thumbnail_zone_serve.c) */
        ngx_http_thumbnail_zone_worker_stats(&cs);
    }

    tp = ngx_timeofday();
    slot = &ngx_http_thumbnail_shm->slots[ngx_worker];

    slot->seq++;
    ngx_memory_barrier();

    slot->pid = ngx_pid;
    slot->has_cache = (ngx_http_thumbnail_cache != NULL
                       || ngx_http_thumbnail_zone_enabled());
    slot->updated_msec = (uint64_t) tp->sec * 1000 + tp->msec;
    slot->cache = cs;
    slot->counters = ngx_http_thumbnail_counters;

    ngx_memory_barrier();
    slot->seq++;
}


static void
ngx_http_thumbnail_stats_read(ngx_http_thumbnail_slot_t *slot,
    ngx_http_thumbnail_slot_t *copy)
{
    ngx_uint_t        i;
    ngx_atomic_uint_t  seq;

    /* bounded: a writer holds a slot for a few hundred nanoseconds */

    for (i = 0; i < 1000; i++) {
        seq = slot->seq;
        ngx_memory_barrier();

        if (seq & 1) {
            ngx_cpu_pause();
            continue;
        }

        ngx_memcpy(copy, (void *) slot, sizeof(ngx_http_thumbnail_slot_t));
        ngx_memory_barrier();

        if (slot->seq == seq) {
            return;
        }
    }

    /* a writer died mid-update: take what is there */
    ngx_memcpy(copy, (void *) slot, sizeof(ngx_http_thumbnail_slot_t));
}


char *
ngx_http_thumbnail_stats_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_thumbnail_stats_handler;

    return NGX_CONF_OK;
}


#define NGX_HTTP_THUMBNAIL_ONE(name)  + 1
#define NGX_HTTP_THUMBNAIL_NFIELDS                                           \
    (0 NGX_HTTP_THUMBNAIL_CACHE_FIELDS(NGX_HTTP_THUMBNAIL_ONE)               \
       NGX_HTTP_THUMBNAIL_COUNTERS(NGX_HTTP_THUMBNAIL_ONE))


static u_char *
ngx_http_thumbnail_stats_fields(u_char *p, ngx_http_thumbnail_slot_t *s)
{
#define NGX_HTTP_THUMBNAIL_CACHE_JSON(name)                                  \
    p = ngx_sprintf(p, ",\"" #name "\":%uL", s->cache.name);
#define NGX_HTTP_THUMBNAIL_COUNTER_JSON(name)                                \
    p = ngx_sprintf(p, ",\"" #name "\":%uL", s->counters.name);

    NGX_HTTP_THUMBNAIL_CACHE_FIELDS(NGX_HTTP_THUMBNAIL_CACHE_JSON)
    NGX_HTTP_THUMBNAIL_COUNTERS(NGX_HTTP_THUMBNAIL_COUNTER_JSON)

#undef NGX_HTTP_THUMBNAIL_CACHE_JSON
#undef NGX_HTTP_THUMBNAIL_COUNTER_JSON

    return p;
}


static ngx_int_t
ngx_http_thumbnail_stats_handler(ngx_http_request_t *r)
{
    size_t                      len;
    u_char                     *p;
    ngx_int_t                   rc;
    ngx_buf_t                  *b;
    ngx_uint_t                  i, n;
    ngx_chain_t                 out;
    ngx_core_conf_t            *ccf;
    ngx_http_thumbnail_slot_t  *slots, total;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_thumbnail_shm == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_thumbnail_stats_publish();

    ccf = (ngx_core_conf_t *) ngx_get_conf(ngx_cycle->conf_ctx,
                                           ngx_core_module);

    n = (ccf->worker_processes > 0) ? (ngx_uint_t) ccf->worker_processes : 1;
    n = ngx_min(n, ngx_http_thumbnail_shm->nslots);

    slots = ngx_palloc(r->pool, n * sizeof(ngx_http_thumbnail_slot_t));
    if (slots == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memzero(&total, sizeof(ngx_http_thumbnail_slot_t));

    for (i = 0; i < n; i++) {
        ngx_http_thumbnail_stats_read(&ngx_http_thumbnail_shm->slots[i],
                                      &slots[i]);

#define NGX_HTTP_THUMBNAIL_CACHE_SUM(name)                                   \
        total.cache.name += slots[i].cache.name;
#define NGX_HTTP_THUMBNAIL_COUNTER_SUM(name)                                 \
        total.counters.name += slots[i].counters.name;

        NGX_HTTP_THUMBNAIL_CACHE_FIELDS(NGX_HTTP_THUMBNAIL_CACHE_SUM)
        NGX_HTTP_THUMBNAIL_COUNTERS(NGX_HTTP_THUMBNAIL_COUNTER_SUM)

#undef NGX_HTTP_THUMBNAIL_CACHE_SUM
#undef NGX_HTTP_THUMBNAIL_COUNTER_SUM
    }

    /* each field: ,"name":value with names < 24 characters */

    if (ngx_http_thumbnail_cache == NULL) {
        /* the zone's node-wide bytes, items, evictions... */
        (void) ngx_http_thumbnail_zone_stats_json(NULL, &total.cache);
    }

    len = sizeof("{\"worker_processes\":,\"totals\":{\"cache\":false")
          + NGX_INT_T_LEN + 3 + sizeof(",\"workers\":[]}\n")
          + ngx_http_thumbnail_zone_stats_len()
          + (n + 1) * (NGX_HTTP_THUMBNAIL_NFIELDS * (28 + NGX_INT64_LEN)
                       + sizeof(",{\"worker\":,\"pid\":,\"updated_msec\":,"
                                "\"cache\":false}")
                       + 3 * NGX_INT64_LEN);

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = b->last;

    p = ngx_sprintf(p, "{\"worker_processes\":%ui,\"totals\":{", n);
    p = ngx_sprintf(p, "\"cache\":%s",
                    (ngx_http_thumbnail_cache
                     || ngx_http_thumbnail_zone_enabled()) ? "true" : "false");
    p = ngx_http_thumbnail_stats_fields(p, &total);
    *p++ = '}';
    p = ngx_http_thumbnail_zone_stats_json(p, NULL);
    p = ngx_sprintf(p, ",\"workers\":[");

    for (i = 0; i < n; i++) {
        p = ngx_sprintf(p, "%s{\"worker\":%ui,\"pid\":%P,"
                        "\"updated_msec\":%uL,\"cache\":%s",
                        i ? "," : "", i, slots[i].pid,
                        slots[i].updated_msec,
                        slots[i].has_cache ? "true" : "false");
        p = ngx_http_thumbnail_stats_fields(p, &slots[i]);
        *p++ = '}';
    }

    p = ngx_sprintf(p, "]}\n");

    b->last = p;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}
