
/*
 * ngx_http_thumbnail_module: the node-wide cache zone's entries.
 *
 * An rbtree (key: the crc32 of the cache key, collisions ordered by the
 * key bytes) and two queues, the LRU of entries and the in-flight markers,
 * in an ngx_slab_pool_t, under the pool's mutex (held by the callers).
 * A READY entry holds a thumbnail with its content type, ETag and caching
 * headers; a FAILED one a render error, kept for a second; a RENDERING one
 * is an in-flight marker (ngx_http_thumbnail_zone_flight.c).
 *
 * Memory. A thumbnail is stored in pieces of at most one page, never as
 * one run of pages: nginx's slab allocator needs a contiguous free run for
 * a multi-page allocation, and a zone churned by entries of varying sizes
 * would refuse large entries with plenty of memory free. With pieces, any
 * freed page serves any entry, so when an allocation fails, evicting from
 * the LRU tail and retrying always ends: in success, or with an empty LRU
 * (the entry is then served but not stored). The pieces are whole pages,
 * then what is left in 1024, 512 and 256-byte slab chunks (which fill
 * their pages exactly), then the rest (rounded up to a power of two, less
 * than 128 bytes lost). Overhead per entry: that rounding, and the node
 * (about 100 bytes, the key, the content type, ETag and caching headers,
 * 8 bytes per piece, rounded up to a power of two).
 *
 * Expiry (inactive=, ttl=): at lookup, and from the LRU tail whenever a
 * node is made (a marker or an entry), which also drops the markers older
 * than lock_age=.
 */


#include "ngx_http_thumbnail_zone.h"


/* how long a render error is kept for the followers */
#define NGX_HTTP_THUMBNAIL_ZONE_ERROR_TTL  1000

/* expired entries looked at (from the LRU tail) per store */
#define NGX_HTTP_THUMBNAIL_ZONE_SWEEP      8

/* caching headers kept with an entry: at most this many bytes */
#define NGX_HTTP_THUMBNAIL_MAX_HEADERS        1024


static void *ngx_http_thumbnail_zone_alloc(ngx_http_thumbnail_zone_t *zone,
    size_t size);
static ngx_int_t ngx_http_thumbnail_zone_evict(
    ngx_http_thumbnail_zone_t *zone);


/* the size of the next piece of a value of which `left` bytes remain */

static ngx_inline size_t
ngx_http_thumbnail_zone_piece(size_t left)
{
    if (left >= ngx_pagesize) {
        return ngx_pagesize;
    }

    if (left >= 1024) {
        return 1024;
    }

    if (left >= 512) {
        return 512;
    }

    if (left >= 256) {
        return 256;
    }

    return left;
}


static size_t
ngx_http_thumbnail_zone_npieces(size_t len)
{
    size_t  n;

    for (n = 0; len; n++) {
        len -= ngx_http_thumbnail_zone_piece(len);
    }

    return n;
}


/* the tree and the nodes ----------------------------------------------- */


void
ngx_http_thumbnail_zone_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t               **p;
    ngx_http_thumbnail_zone_node_t   *zn, *znt;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else { /* node->key == temp->key */

            zn = (ngx_http_thumbnail_zone_node_t *) &node->color;
            znt = (ngx_http_thumbnail_zone_node_t *) &temp->color;

            p = (ngx_memn2cmp(ngx_http_thumbnail_zone_key(zn),
                              ngx_http_thumbnail_zone_key(znt),
                              zn->key_len, znt->key_len) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


ngx_http_thumbnail_zone_node_t *
ngx_http_thumbnail_zone_find(ngx_http_thumbnail_zone_t *zone, ngx_str_t *key,
    uint32_t hash)
{
    ngx_int_t                        rc;
    ngx_rbtree_node_t               *node, *sentinel;
    ngx_http_thumbnail_zone_node_t  *zn;

    node = zone->sh->rbtree.root;
    sentinel = zone->sh->rbtree.sentinel;

    while (node != sentinel) {

        if (hash < node->key) {
            node = node->left;
            continue;
        }

        if (hash > node->key) {
            node = node->right;
            continue;
        }

        zn = (ngx_http_thumbnail_zone_node_t *) &node->color;

        rc = ngx_memn2cmp(key->data, ngx_http_thumbnail_zone_key(zn),
                          key->len, zn->key_len);

        if (rc == 0) {
            return zn;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


/*
 * A node with room for the key and the strings, and the pieces of a value
 * of value_len bytes (allocated, not filled); NULL when even an empty LRU
 * leaves no room. Not yet in the tree or a queue.
 */

ngx_http_thumbnail_zone_node_t *
ngx_http_thumbnail_zone_new_node(ngx_http_thumbnail_zone_t *zone,
    ngx_str_t *key, uint32_t hash, ngx_uint_t state, size_t value_len,
    size_t type_len, size_t etag_len, size_t hdrs_len)
{
    size_t                           n, npieces, left, piece;
    u_char                         **pieces;
    ngx_rbtree_node_t               *node;
    ngx_http_thumbnail_zone_node_t  *zn;

    npieces = ngx_http_thumbnail_zone_npieces(value_len);

    n = offsetof(ngx_rbtree_node_t, color)
        + offsetof(ngx_http_thumbnail_zone_node_t, data)
        + npieces * sizeof(uintptr_t)
        + key->len + type_len + 1 + etag_len + hdrs_len;

    node = ngx_http_thumbnail_zone_alloc(zone, n);
    if (node == NULL) {
        return NULL;
    }

    node->key = hash;

    zn = (ngx_http_thumbnail_zone_node_t *) &node->color;

    zn->state = (u_char) state;
    zn->purged = 0;
    zn->key_len = (uint32_t) key->len;
    zn->accessed = 0;
    zn->expires = 0;
    zn->token = 0;
    zn->pid = 0;
    zn->value_len = (uint32_t) value_len;
    zn->last_modified = -1;
    zn->status = 0;
    zn->type_len = (uint16_t) type_len;
    zn->etag_len = (uint16_t) etag_len;
    zn->hdrs_len = (uint16_t) hdrs_len;
    zn->npieces = (uint32_t) npieces;

    ngx_memcpy(ngx_http_thumbnail_zone_key(zn), key->data, key->len);
    ngx_http_thumbnail_zone_type(zn)[type_len] = '\0';

    pieces = ngx_http_thumbnail_zone_pieces(zn);
    left = value_len;

    for (n = 0; n < npieces; n++) {
        piece = ngx_http_thumbnail_zone_piece(left);
        left -= piece;

        pieces[n] = ngx_http_thumbnail_zone_alloc(zone, piece);

        if (pieces[n] == NULL) {
            while (n--) {
                ngx_slab_free_locked(zone->shpool, pieces[n]);
            }

            ngx_slab_free_locked(zone->shpool, node);
            return NULL;
        }
    }

    return zn;
}


/* slab allocation; a full zone evicts from the LRU tail and tries again */

static void *
ngx_http_thumbnail_zone_alloc(ngx_http_thumbnail_zone_t *zone, size_t size)
{
    void  *p;

    for ( ;; ) {
        p = ngx_slab_alloc_locked(zone->shpool, size);

        if (p) {
            return p;
        }

        if (ngx_http_thumbnail_zone_evict(zone) != NGX_OK) {
            return NULL;
        }
    }
}


static ngx_int_t
ngx_http_thumbnail_zone_evict(ngx_http_thumbnail_zone_t *zone)
{
    ngx_queue_t                     *q;
    ngx_http_thumbnail_zone_node_t  *zn;

    if (ngx_queue_empty(&zone->sh->lru)) {
        return NGX_DECLINED;
    }

    q = ngx_queue_last(&zone->sh->lru);
    zn = ngx_queue_data(q, ngx_http_thumbnail_zone_node_t, queue);

    if (zn->state == NGX_HTTP_THUMBNAIL_ZONE_READY) {
        zone->sh->c.evictions++;
    }

    ngx_http_thumbnail_zone_free_node(zone, zn);

    return NGX_OK;
}


/* out of the tree and its queue, pieces and node freed, counters kept */

void
ngx_http_thumbnail_zone_free_node(ngx_http_thumbnail_zone_t *zone,
    ngx_http_thumbnail_zone_node_t *zn)
{
    ngx_uint_t    i;
    u_char      **pieces;

    ngx_rbtree_delete(&zone->sh->rbtree, ngx_http_thumbnail_zone_rbnode(zn));
    ngx_queue_remove(&zn->queue);

    switch (zn->state) {

    case NGX_HTTP_THUMBNAIL_ZONE_READY:
        zone->sh->c.items--;
        zone->sh->c.bytes -= zn->value_len;
        break;

    case NGX_HTTP_THUMBNAIL_ZONE_FAILED:
        zone->sh->c.errors--;
        break;

    default: /* RENDERING */
        zone->sh->c.markers--;
        break;
    }

    pieces = ngx_http_thumbnail_zone_pieces(zn);

    for (i = 0; i < zn->npieces; i++) {
        ngx_slab_free_locked(zone->shpool, pieces[i]);
    }

    ngx_slab_free_locked(zone->shpool, ngx_http_thumbnail_zone_rbnode(zn));
}


ngx_uint_t
ngx_http_thumbnail_zone_expired(ngx_http_thumbnail_zone_t *zone,
    ngx_http_thumbnail_zone_node_t *zn, ngx_msec_t now)
{
    if (zn->state == NGX_HTTP_THUMBNAIL_ZONE_RENDERING) {
        return 0;
    }

    if (zn->expires && (ngx_msec_int_t) (now - zn->expires) >= 0) {
        return 1;
    }

    return zone->inactive
           && (ngx_msec_int_t) (now - zn->accessed) >= (ngx_msec_int_t)
                                                        zone->inactive;
}


/*
 * Expired entries at the LRU tail (least recently used first, so with
 * inactive= the first one that is not expired ends the walk) and stale
 * markers at the markers' tail (oldest first).
 */

void
ngx_http_thumbnail_zone_sweep(ngx_http_thumbnail_zone_t *zone, ngx_msec_t now)
{
    ngx_uint_t                       n;
    ngx_queue_t                     *q;
    ngx_http_thumbnail_zone_node_t  *zn;

    for (n = 0; n < NGX_HTTP_THUMBNAIL_ZONE_SWEEP; n++) {

        if (ngx_queue_empty(&zone->sh->lru)) {
            break;
        }

        q = ngx_queue_last(&zone->sh->lru);
        zn = ngx_queue_data(q, ngx_http_thumbnail_zone_node_t, queue);

        if (!ngx_http_thumbnail_zone_expired(zone, zn, now)) {
            break;
        }

        if (zn->state == NGX_HTTP_THUMBNAIL_ZONE_READY) {
            zone->sh->c.expirations++;
        }

        ngx_http_thumbnail_zone_free_node(zone, zn);
    }

    for (n = 0; n < NGX_HTTP_THUMBNAIL_ZONE_SWEEP; n++) {

        if (ngx_queue_empty(&zone->sh->markers)) {
            break;
        }

        q = ngx_queue_last(&zone->sh->markers);
        zn = ngx_queue_data(q, ngx_http_thumbnail_zone_node_t, queue);

        if ((ngx_msec_int_t) (now - zn->accessed)
            < (ngx_msec_int_t) zone->lock_age)
        {
            break;
        }

        ngx_http_thumbnail_zone_free_node(zone, zn);
    }
}


/* store and copy-out --------------------------------------------------- */


/* a READY entry into the request's pool: one allocation, under the lock */

ngx_int_t
ngx_http_thumbnail_zone_copy(ngx_pool_t *pool,
    ngx_http_thumbnail_zone_node_t *zn, ngx_http_thumbnail_zone_copy_t *cp)
{
    u_char      *p, **pieces;
    size_t       left, n;
    ngx_uint_t   i;

    p = ngx_pnalloc(pool, zn->value_len + zn->type_len + 1 + zn->etag_len
                          + zn->hdrs_len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    cp->value = p;
    cp->value_len = zn->value_len;

    pieces = ngx_http_thumbnail_zone_pieces(zn);
    left = zn->value_len;

    for (i = 0; i < zn->npieces; i++) {
        n = ngx_http_thumbnail_zone_piece(left);
        p = ngx_cpymem(p, pieces[i], n);
        left -= n;
    }

    cp->type = p;
    p = ngx_cpymem(p, ngx_http_thumbnail_zone_type(zn), zn->type_len + 1);

    cp->etag.data = p;
    cp->etag.len = zn->etag_len;
    p = ngx_cpymem(p, ngx_http_thumbnail_zone_etag(zn), zn->etag_len);

    cp->hdrs = p;
    cp->hdrs_len = zn->hdrs_len;
    ngx_memcpy(p, ngx_http_thumbnail_zone_hdrs(zn), zn->hdrs_len);

    cp->last_modified = zn->last_modified;

    return NGX_OK;
}


void
ngx_http_thumbnail_zone_store(ngx_http_thumbnail_zone_t *zone,
    ngx_http_thumbnail_ctx_t *ctx, ngx_uint_t status, thumbnail_image *img,
    time_t last_modified, u_char *hdrs, size_t hdrs_len)
{
    size_t                           len, left, n, i;
    uint32_t                         hash;
    ngx_msec_t                       now;
    const char                      *type;
    uint64_t                         waiters;
    const u_char                    *data;
    ngx_uint_t                       state, ours, purged;
    u_char                         **pieces;
    ngx_http_thumbnail_zone_node_t  *zn;

    type = NULL;
    data = NULL;
    len = 0;

    if (status == NGX_HTTP_OK && img) {
        type = thumbnail_image_media_type(img);
        data = thumbnail_image_data(img);
        len = thumbnail_image_len(img);
        state = NGX_HTTP_THUMBNAIL_ZONE_READY;

    } else if (status == NGX_HTTP_BAD_REQUEST
               || status == NGX_HTTP_REQUEST_ENTITY_TOO_LARGE
               || status == NGX_HTTP_UNSUPPORTED_MEDIA_TYPE)
    {
        /* the same source and spec fail the same way: tell the followers */
        state = NGX_HTTP_THUMBNAIL_ZONE_FAILED;

    } else {
        /* no result (source not 200, 500, 503): followers look again */
        ngx_http_thumbnail_zone_release(zone, ctx);
        return;
    }

    if (type == NULL) {
        type = "";
    }

    hash = ngx_crc32_long(ctx->key.data, ctx->key.len);
    now = ngx_current_msec;

    ngx_shmtx_lock(&zone->shpool->mutex);

    zn = ngx_http_thumbnail_zone_find(zone, &ctx->key, hash);

    ours = (zn && zn->state == NGX_HTTP_THUMBNAIL_ZONE_RENDERING
            && zn->token == ctx->zone_token);
    purged = ours && zn->purged;
    waiters = 0;

    ctx->zone_token = 0;

    if (zn && (ours || state == NGX_HTTP_THUMBNAIL_ZONE_READY)) {
        /*
         * our marker, or anything a thumbnail replaces (a marker of a
         * worker that took ours over, an older entry); an error replaces
         * only our marker
         */
        if (zn->state == NGX_HTTP_THUMBNAIL_ZONE_RENDERING) {
            waiters = zn->waiters;
        }

        ngx_http_thumbnail_zone_free_node(zone, zn);
        zn = NULL;

    } else if (zn) {
        goto done;
    }

    if (purged) {
        /* purged while it rendered: the render may predate the purge */
        goto done;
    }

    if (len > zone->max_item) {
        zone->sh->c.oversize_rejects++;
        goto done;
    }

    if (hdrs_len > NGX_HTTP_THUMBNAIL_MAX_HEADERS) {
        hdrs_len = 0;
    }

    ngx_http_thumbnail_zone_sweep(zone, now);

    zn = ngx_http_thumbnail_zone_new_node(zone, &ctx->key, hash, state, len,
                                          ngx_strlen(type), ctx->etag.len,
                                          hdrs_len);
    if (zn == NULL) {
        zone->sh->c.store_failures++;
        goto done;
    }

    zn->accessed = now;
    zn->last_modified = last_modified;

    ngx_memcpy(ngx_http_thumbnail_zone_type(zn), type, zn->type_len);
    ngx_memcpy(ngx_http_thumbnail_zone_etag(zn), ctx->etag.data,
               ctx->etag.len);

    if (hdrs_len) {
        ngx_memcpy(ngx_http_thumbnail_zone_hdrs(zn), hdrs, hdrs_len);
    }

    if (state == NGX_HTTP_THUMBNAIL_ZONE_READY) {
        pieces = ngx_http_thumbnail_zone_pieces(zn);
        left = len;

        for (i = 0; i < zn->npieces; i++) {
            n = ngx_http_thumbnail_zone_piece(left);
            ngx_memcpy(pieces[i], data + (len - left), n);
            left -= n;
        }

        if (zone->ttl) {
            zn->expires = now + zone->ttl;

            if (zn->expires == 0) {
                zn->expires = 1;
            }
        }

        zone->sh->c.items++;
        zone->sh->c.bytes += len;
        zone->sh->c.stores++;

    } else {
        zn->status = (uint16_t) status;
        zn->expires = now + NGX_HTTP_THUMBNAIL_ZONE_ERROR_TTL;

        if (zn->expires == 0) {
            zn->expires = 1;
        }

        zone->sh->c.errors++;
    }

    ngx_rbtree_insert(&zone->sh->rbtree, ngx_http_thumbnail_zone_rbnode(zn));
    ngx_queue_insert_head(&zone->sh->lru, &zn->queue);

done:

    ngx_shmtx_unlock(&zone->shpool->mutex);

    ngx_http_thumbnail_zone_notify(zone, waiters);
}
