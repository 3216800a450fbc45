
/*
 * ngx_http_thumbnail_module: the figures of thumbnail_stats in Prometheus'
 * text exposition format (0.0.4), and the two kinds of figures only it
 * shows by label: responses by status and the render time histogram.
 *
 *   thumbnail_stats prometheus;          location
 *   thumbnail_stats;  + ?format=prometheus
 *
 * The figures are the JSON's `totals` (ngx_http_thumbnail_stats.c sums the
 * workers' slots in shared memory): the cache's groupcache fields as
 * thumbnail_cache_*, the module's counters as thumbnail_*, counters with
 * _total, and with a zone its own figures as thumbnail_zone_*{zone="..."}.
 *
 * Responses are counted once per request, by the status the module
 * answers with, where it decides it (ngx_http_thumbnail_count_response()):
 * a thumbnail's 200 or 304 as its headers are set, a failure of ours
 * (400, 413, 415, 500, 503) in ngx_http_thumbnail_failed(), a bad
 * signature's 403, a source's own non-200 status (404, 502...) as the
 * header filter passes it on, and the answers of `thumbnail size|test`.
 * Counted before the response leaves: like every counter, it is in the
 * worker's slot by the time the client has the response. An error_page
 * that replaces an answer does not change its count.
 *
 * The histogram observes each render that ran on a pool thread (a render
 * that failed too) in microseconds: thumbnail_render_seconds with fixed
 * buckets from 5 ms to 10 s (NGX_HTTP_THUMBNAIL_BUCKETS).
 */


#include "ngx_http_thumbnail_module.h"


/* room for the exposition; its length is fixed by the tables below */
#define NGX_HTTP_THUMBNAIL_PROMETHEUS_SIZE  (32 * 1024)

#define NGX_HTTP_THUMBNAIL_ZONE_METRICS     32


typedef struct {
    const char                     *name;
    const char                     *type;
    const char                     *help;
    size_t                          offset;    /* in the totals */
} ngx_http_thumbnail_prom_field_t;


#define ngx_http_thumbnail_total(field)                                      \
    offsetof(ngx_http_thumbnail_totals_t, field)


static ngx_http_thumbnail_prom_field_t  ngx_http_thumbnail_prom_fields[] = {

    /* the cache's, with groupcache's names */

    { "cache_gets_total", "counter", "Cache lookups.",
      ngx_http_thumbnail_total(cache.gets) },
    { "cache_hits_total", "counter", "Cache lookups that found the key.",
      ngx_http_thumbnail_total(cache.hits) },
    { "cache_misses_total", "counter",
      "Cache lookups that did not find the key.",
      ngx_http_thumbnail_total(cache.misses) },
    { "cache_loads_total", "counter",
      "Misses answered by a render: local_loads + local_load_errors + "
      "loads_deduped.",
      ngx_http_thumbnail_total(cache.loads) },
    { "cache_loads_deduped_total", "counter",
      "Misses answered by another request's render of the same key.",
      ngx_http_thumbnail_total(cache.loads_deduped) },
    { "cache_local_loads_total", "counter", "Renders that succeeded.",
      ngx_http_thumbnail_total(cache.local_loads) },
    { "cache_local_load_errors_total", "counter",
      "Misses whose render failed or was refused.",
      ngx_http_thumbnail_total(cache.local_load_errors) },
    { "cache_evictions_total", "counter", "Entries evicted for room.",
      ngx_http_thumbnail_total(cache.evictions) },
    { "cache_expirations_total", "counter",
      "Entries dropped by ttl or inactive.",
      ngx_http_thumbnail_total(cache.expirations) },
    { "cache_oversize_rejects_total", "counter",
      "Thumbnails too large to be stored.",
      ngx_http_thumbnail_total(cache.oversize_rejects) },
    { "cache_error_hits_total", "counter",
      "Lookups answered with a remembered render error.",
      ngx_http_thumbnail_total(cache.error_hits) },
    { "cache_bytes", "gauge", "Bytes of thumbnails stored.",
      ngx_http_thumbnail_total(cache.bytes) },
    { "cache_items", "gauge", "Thumbnails stored.",
      ngx_http_thumbnail_total(cache.items) },
    { "cache_capacity_bytes", "gauge", "The cache's size.",
      ngx_http_thumbnail_total(cache.capacity_bytes) },
    { "cache_shards", "gauge", "Shards of the per-worker caches.",
      ngx_http_thumbnail_total(cache.shards) },

    /* the module's */

    { "requests_total", "counter", "Requests in thumbnail locations.",
      ngx_http_thumbnail_total(counters.requests) },
    { "cache_hit_responses_total", "counter",
      "Responses answered from a cache before the source was read.",
      ngx_http_thumbnail_total(counters.cache_hits) },
    { "renders_total", "counter", "Renders started.",
      ngx_http_thumbnail_total(counters.renders) },
    { "render_errors_total", "counter", "Renders that failed.",
      ngx_http_thumbnail_total(counters.render_errors) },
    { "flight_waits_total", "counter",
      "Requests that waited for a render of their own worker.",
      ngx_http_thumbnail_total(counters.flight_waits) },
    { "zone_waits_total", "counter",
      "Requests that waited for another worker's render.",
      ngx_http_thumbnail_total(counters.zone_waits) },
    { "not_modified_total", "counter", "304 responses.",
      ngx_http_thumbnail_total(counters.not_modified) },
    { "heavy_refused_total", "counter",
      "Renders refused by thumbnail_max_heavy.",
      ngx_http_thumbnail_total(counters.heavy_refused) },
    { "held_refused_total", "counter",
      "Renders and hits refused by thumbnail_max_output_held.",
      ngx_http_thumbnail_total(counters.held_refused) },
    { "in_flight", "gauge",
      "Renders admitted: source being read, queued or rendering.",
      ngx_http_thumbnail_total(counters.in_flight) },
    { "waiting", "gauge", "Requests waiting for another request's render.",
      ngx_http_thumbnail_total(counters.waiting) },
    { "heavy", "gauge", "Heavy renders queued or running.",
      ngx_http_thumbnail_total(counters.heavy) },
    { "output_held_bytes", "gauge",
      "Bytes of rendered thumbnails held for clients.",
      ngx_http_thumbnail_total(counters.output_held) },

    { NULL, NULL, NULL, 0 }
};


static u_char *ngx_http_thumbnail_prom_head(u_char *p, u_char *last,
    const char *name, const char *type, const char *help);
static u_char *ngx_http_thumbnail_prometheus(u_char *p, u_char *last,
    ngx_http_thumbnail_totals_t *t);


/*
 * The status the module answers a request with, once per request (ctx:
 * NULL for a request without one, e.g. a bad signature's 403).
 */

void
ngx_http_thumbnail_count_response(ngx_http_thumbnail_ctx_t *ctx,
    ngx_uint_t status)
{
    if (ctx) {
        if (ctx->counted) {
            return;
        }

        ctx->counted = 1;
    }

    switch (status) {

#define NGX_HTTP_THUMBNAIL_STATUS_CASE(code, label)                          \
    case code:                                                              \
        ngx_http_thumbnail_stat_inc(responses_##code);                      \
        break;

    NGX_HTTP_THUMBNAIL_STATUSES(NGX_HTTP_THUMBNAIL_STATUS_CASE)

#undef NGX_HTTP_THUMBNAIL_STATUS_CASE

    default:
        ngx_http_thumbnail_stat_inc(responses_other);
    }
}


/* a render took us microseconds on its pool thread */

void
ngx_http_thumbnail_observe_render(uint64_t us)
{
    ngx_http_thumbnail_counters_t  *c;

    c = &ngx_http_thumbnail_counters;

    c->render_count++;
    c->render_us_sum += us;

#define NGX_HTTP_THUMBNAIL_BUCKET_INC(bound, label)                          \
    if (us <= (uint64_t) bound * 1000) {                                     \
        c->render_le_##bound##ms++;                                          \
    }

    NGX_HTTP_THUMBNAIL_BUCKETS(NGX_HTTP_THUMBNAIL_BUCKET_INC)

#undef NGX_HTTP_THUMBNAIL_BUCKET_INC

    ngx_http_thumbnail_stats_changed();
}


ngx_int_t
ngx_http_thumbnail_prometheus_handler(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_buf_t                   *b;
    ngx_http_thumbnail_totals_t  t;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_thumbnail_stats_totals(&t) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b = ngx_create_temp_buf(r->pool, NGX_HTTP_THUMBNAIL_PROMETHEUS_SIZE);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_http_thumbnail_prometheus(b->pos, b->end, &t);

    if (b->last == b->end) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "thumbnail: the Prometheus exposition does not fit "
                      "in %d bytes", NGX_HTTP_THUMBNAIL_PROMETHEUS_SIZE);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_thumbnail_stats_send(r, b, "text/plain; version=0.0.4");
}


static u_char *
ngx_http_thumbnail_prom_head(u_char *p, u_char *last, const char *name,
    const char *type, const char *help)
{
    return ngx_slprintf(p, last,
                        "# HELP thumbnail_%s %s\n# TYPE thumbnail_%s %s\n",
                        name, help, name, type);
}


/* the exposition, written at p; returns its end (last if it is cut) */

static u_char *
ngx_http_thumbnail_prometheus(u_char *p, u_char *last,
    ngx_http_thumbnail_totals_t *t)
{
    u_char                           *c;
    uint64_t                          v;
    ngx_str_t                         zone;
    ngx_uint_t                        i, n;
    ngx_http_thumbnail_metric_t       zm[NGX_HTTP_THUMBNAIL_ZONE_METRICS];
    ngx_http_thumbnail_prom_field_t  *f;

    p = ngx_http_thumbnail_prom_head(p, last, "worker_processes", "gauge",
                                     "Worker processes whose figures are "
                                     "summed.");
    p = ngx_slprintf(p, last, "thumbnail_worker_processes %ui\n",
                     t->workers);

    p = ngx_http_thumbnail_prom_head(p, last, "cache_enabled", "gauge",
                                     "1 if a cache (per-worker or zone) is "
                                     "configured.");
    p = ngx_slprintf(p, last, "thumbnail_cache_enabled %ui\n",
                     t->has_cache ? 1 : 0);

    for (f = ngx_http_thumbnail_prom_fields; f->name; f++) {
        v = *(uint64_t *) ((u_char *) t + f->offset);

        p = ngx_http_thumbnail_prom_head(p, last, f->name, f->type, f->help);
        p = ngx_slprintf(p, last, "thumbnail_%s %uL\n", f->name, v);
    }

    /* the JSON's status_4xx/5xx: failures of ours, by status */

    p = ngx_http_thumbnail_prom_head(p, last, "failures_total", "counter",
                                     "Requests the module failed, by "
                                     "status.");
    p = ngx_slprintf(p, last,
                     "thumbnail_failures_total{status=\"400\"} %uL\n"
                     "thumbnail_failures_total{status=\"413\"} %uL\n"
                     "thumbnail_failures_total{status=\"415\"} %uL\n"
                     "thumbnail_failures_total{status=\"500\"} %uL\n"
                     "thumbnail_failures_total{status=\"503\"} %uL\n",
                     t->counters.status_400, t->counters.status_413,
                     t->counters.status_415, t->counters.status_500,
                     t->counters.status_503);

    p = ngx_http_thumbnail_prom_head(p, last, "responses_total", "counter",
                                     "Responses of thumbnail locations, by "
                                     "the status the module answered "
                                     "with.");

#define NGX_HTTP_THUMBNAIL_STATUS_LINE(code, label)                          \
    p = ngx_slprintf(p, last,                                               \
                     "thumbnail_responses_total{status=\"" label "\"} "       \
                     "%uL\n", t->counters.responses_##code);

    NGX_HTTP_THUMBNAIL_STATUSES(NGX_HTTP_THUMBNAIL_STATUS_LINE)

#undef NGX_HTTP_THUMBNAIL_STATUS_LINE

    p = ngx_slprintf(p, last,
                     "thumbnail_responses_total{status=\"other\"} %uL\n",
                     t->counters.responses_other);

    p = ngx_http_thumbnail_prom_head(p, last, "render_seconds", "histogram",
                                     "Time a render took on its pool "
                                     "thread.");

#define NGX_HTTP_THUMBNAIL_BUCKET_LINE(bound, label)                         \
    p = ngx_slprintf(p, last,                                               \
                     "thumbnail_render_seconds_bucket{le=\"" label "\"} "     \
                     "%uL\n", t->counters.render_le_##bound##ms);

    NGX_HTTP_THUMBNAIL_BUCKETS(NGX_HTTP_THUMBNAIL_BUCKET_LINE)

#undef NGX_HTTP_THUMBNAIL_BUCKET_LINE

    p = ngx_slprintf(p, last,
                     "thumbnail_render_seconds_bucket{le=\"+Inf\"} %uL\n"
                     "thumbnail_render_seconds_sum %uL.%06uL\n"
                     "thumbnail_render_seconds_count %uL\n",
                     t->counters.render_count,
                     t->counters.render_us_sum / 1000000,
                     t->counters.render_us_sum % 1000000,
                     t->counters.render_count);

    /* the zone's own, node-wide */

    n = ngx_http_thumbnail_zone_metrics(zm, NGX_HTTP_THUMBNAIL_ZONE_METRICS,
                                        &zone);

    for (i = 0; i < n; i++) {
        p = ngx_http_thumbnail_prom_head(p, last, zm[i].name, zm[i].type,
                                         zm[i].help);
        p = ngx_slprintf(p, last, "thumbnail_%s{zone=\"", zm[i].name);

        /* a label value escapes \, " and newline */

        for (c = zone.data; c < zone.data + zone.len && p < last; c++) {
            if (*c == '\\' || *c == '"' || *c == '\n') {
                *p++ = '\\';

                if (p == last) {
                    break;
                }
            }

            *p++ = (*c == '\n') ? 'n' : *c;
        }

        p = ngx_slprintf(p, last, "\"} %uL\n", zm[i].value);
    }

    return p;
}
