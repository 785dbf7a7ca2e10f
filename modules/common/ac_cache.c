/* Licensed under the Apache License, Version 2.0. */

#include "apr_atomic.h"
#include "apr_shm.h"
#include "apr_strings.h"
#include "apr_thread_mutex.h"

#include "httpd.h"
#include "http_log.h"
#include "util_mutex.h"
#include "ap_provider.h"

#include "ac_common.h"
#include "ac_request.h"
#include "ac_cache.h"

/* Log as the module that links this copy (ac_request.h). */
#undef APLOG_MODULE_INDEX
#define APLOG_MODULE_INDEX AC_LOG_SHARED_CODE

void ac_cache_register_mutex(apr_pool_t *pconf, const char *mutex_type)
{
    ap_mutex_register(pconf, mutex_type, NULL, APR_LOCK_DEFAULT, 0);
}

const char *ac_cache_set_spec(cmd_parms *cmd, const char *arg,
                              const char **spec)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);

    if (err != NULL) {
        return err;
    }
    if (*arg == '\0' || *arg == ':') {
        return apr_psprintf(cmd->pool, "%s: '%s' does not name a socache "
                            "provider", cmd->cmd->name, arg);
    }
    *spec = arg;
    return NULL;
}

/* Look up the provider of `spec` ("name[:args]") and create its instance:
 * NULL or a message. */
static const char *cache_create(apr_pool_t *p, apr_pool_t *ptemp,
                                const char *spec, ac_cache **out)
{
    ac_cache *c = apr_pcalloc(p, sizeof(*c));
    const char *sep = ap_strchr_c(spec, ':');
    const char *name = sep ? apr_pstrmemdup(ptemp, spec, sep - spec) : spec;
    const char *err;

    c->spec = apr_pstrdup(p, spec);
    c->provider = ap_lookup_provider(AP_SOCACHE_PROVIDER_GROUP, name,
                                     AP_SOCACHE_PROVIDER_VERSION);
    if (c->provider == NULL) {
        return apr_psprintf(p, "unknown socache provider '%s' (load "
                            "mod_socache_%s)", name, name);
    }
    err = c->provider->create(&c->instance, sep ? sep + 1 : NULL, ptemp, p);
    if (err != NULL) {
        return apr_psprintf(p, "socache %s: %s", name, err);
    }
    *out = c;
    return NULL;
}

static apr_status_t destroy_cache(void *data)
{
    ac_cache *c = data;

    c->provider->destroy(c->instance, c->server);
    return APR_SUCCESS;
}

/* This node's eviction state, in anonymous shared memory that every
 * child inherits (ac_cache.h). */
struct ac_cache_shared {
    volatile apr_uint32_t epoch;        /* bumped by every eviction */
    volatile apr_uint64_t not_before;   /* entries read earlier are misses */
    volatile apr_uint64_t last_change;  /* the last eviction */
};

static apr_uint32_t current_epoch(ac_cache *c)
{
    return c->shared ? apr_atomic_read32(&c->shared->epoch) : 0;
}

/* Whether an answer known current at `known` (read at `as_of`) may be
 * older than an eviction or a resynchronisation. */
static int outdated(ac_cache *c, apr_time_t as_of, apr_time_t known)
{
    return c->shared != NULL
           && ((apr_uint64_t)as_of < apr_atomic_read64(&c->shared->not_before)
               || (apr_uint64_t)known
                  < apr_atomic_read64(&c->shared->last_change));
}

static void shared_create(ac_cache *c, server_rec *s, apr_pool_t *pconf)
{
    apr_shm_t *shm;
    apr_status_t rv = apr_shm_create(&shm, sizeof(ac_cache_shared), NULL,
                                     pconf);

    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s, AC_LOGNO(0305)
                     "cache %s: no shared memory for evictions: an evicted "
                     "answer may still be used by a process until it "
                     "expires", c->spec);
        return;
    }
    c->shared = apr_shm_baseaddr_get(shm);
    memset(c->shared, 0, sizeof(*c->shared));
}

static apr_status_t cache_init(ac_cache *c, const char *mutex_type,
                               const char *ns, server_rec *s,
                               apr_pool_t *pconf)
{
    /* records are small: a hint that lets shmcb size its divisions */
    static const struct ap_socache_hints hints = {
        64, 256, apr_time_from_sec(30)
    };
    apr_status_t rv;

    c->mutex_type = mutex_type;
    c->server = s;
    if (c->provider->flags & AP_SOCACHE_FLAG_NOTMPSAFE) {
        rv = ap_global_mutex_create(&c->mutex, NULL, mutex_type, NULL, s,
                                    pconf, 0);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, AC_LOGNO(0301)
                         "cannot create the %s mutex", mutex_type);
            return rv;
        }
    }
    rv = c->provider->init(c->instance, ns, &hints, s, pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, AC_LOGNO(0302)
                     "cannot initialise the cache %s", c->spec);
        return rv;
    }
    apr_pool_cleanup_register(pconf, c, destroy_cache, apr_pool_cleanup_null);
    shared_create(c, s, pconf);
    return APR_SUCCESS;
}

int ac_cache_setup(server_rec *s, apr_pool_t *pconf, apr_pool_t *ptemp,
                   const char *directive, const char *spec,
                   const char *mutex_type, const char *ns, ac_cache **out)
{
    const char *err = cache_create(pconf, ptemp, spec ? spec : "shmcb", out);

    if (err != NULL) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, AC_LOGNO(0300)
                     "%s: %s", directive, err);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return cache_init(*out, mutex_type, ns, s, pconf) == APR_SUCCESS
           ? OK : HTTP_INTERNAL_SERVER_ERROR;
}

/* One answer of the front.  Each slot has its own lock: a hit holds it
 * for one copy of at most AC_CACHE_FRONT_DATA bytes. */
typedef struct {
    apr_thread_mutex_t *lock;
    apr_time_t expiry;                  /* 0: empty */
    apr_uint32_t epoch;                 /* valid while it is the node's */
    unsigned int idlen, len;
    unsigned char id[AC_CACHE_MAX_ID];
    unsigned char data[AC_CACHE_FRONT_DATA];
} front_slot;

struct ac_cache_front {
    front_slot slots[AC_CACHE_FRONT_SLOTS];
};

static front_slot *front_slot_of(ac_cache *c, const unsigned char *id,
                                 unsigned int idlen)
{
    unsigned int h = 0, i;

    if (c->front == NULL || idlen == 0 || idlen > AC_CACHE_MAX_ID) {
        return NULL;
    }
    for (i = 0; i < idlen && i < 4; i++) {
        h = (h << 8) | id[i];
    }
    return &c->front->slots[h % AC_CACHE_FRONT_SLOTS];
}

static int front_get(ac_cache *c, const unsigned char *id, unsigned int idlen,
                     apr_uint32_t epoch, unsigned char *buf,
                     unsigned int *len)
{
    front_slot *f = front_slot_of(c, id, idlen);
    int hit = 0;

    if (f == NULL) {
        return 0;
    }
    apr_thread_mutex_lock(f->lock);
    if (f->expiry > apr_time_now() && f->epoch == epoch && f->idlen == idlen
        && memcmp(f->id, id, idlen) == 0 && f->len <= *len) {
        memcpy(buf, f->data, f->len);
        *len = f->len;
        hit = 1;
    }
    apr_thread_mutex_unlock(f->lock);
    return hit;
}

static void front_put(ac_cache *c, const unsigned char *id, unsigned int idlen,
                      apr_uint32_t epoch, apr_time_t expiry,
                      const unsigned char *data, unsigned int len)
{
    front_slot *f = front_slot_of(c, id, idlen);

    if (f == NULL) {
        return;
    }
    apr_thread_mutex_lock(f->lock);
    if (len <= AC_CACHE_FRONT_DATA) {
        memcpy(f->id, id, idlen);
        f->idlen = idlen;
        memcpy(f->data, data, len);
        f->len = len;
        f->expiry = expiry;
        f->epoch = epoch;
    }
    else if (f->idlen == idlen && memcmp(f->id, id, idlen) == 0) {
        f->expiry = 0;          /* never keep an older answer for this id */
    }
    apr_thread_mutex_unlock(f->lock);
}

void ac_cache_child_init(ac_cache *c, apr_pool_t *pchild, server_rec *s)
{
    apr_status_t rv;
    int i;

    if (c == NULL) {
        return;
    }
    c->front = apr_pcalloc(pchild, sizeof(*c->front));
    for (i = 0; i < AC_CACHE_FRONT_SLOTS; i++) {
        if (apr_thread_mutex_create(&c->front->slots[i].lock,
                                    APR_THREAD_MUTEX_DEFAULT, pchild)
            != APR_SUCCESS) {
            c->front = NULL;    /* no front: every lookup asks the cache */
            break;
        }
    }
    if (c->mutex == NULL) {
        return;
    }
    rv = apr_global_mutex_child_init(&c->mutex,
                                     apr_global_mutex_lockfile(c->mutex),
                                     pchild);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, AC_LOGNO(0303)
                     "cannot reattach the %s mutex", c->mutex_type);
    }
}

/* expiry, then as_of: 8 bytes each, big-endian microseconds */
#define ENVELOPE 16

int ac_cache_get(ac_cache *c, server_rec *s, const unsigned char *id,
                 unsigned int idlen, unsigned char *buf, unsigned int *len,
                 apr_pool_t *p)
{
    unsigned int n = *len + ENVELOPE;
    unsigned char *raw;
    /* read before the lookup: an eviction during it makes what this
     * process keeps in its front invalid at once */
    apr_uint32_t epoch = current_epoch(c);
    apr_time_t expiry, as_of;
    apr_status_t rv;

    if (front_get(c, id, idlen, epoch, buf, len)) {
        return 1;
    }
    raw = apr_palloc(p, n);
    /* shmcb is not safe across processes even for reads (its retrieve
     * expires entries and moves its indexes) */
    if (c->mutex && apr_global_mutex_lock(c->mutex) != APR_SUCCESS) {
        return 0;
    }
    rv = c->provider->retrieve(c->instance, s, id, idlen, raw, &n, p);
    if (c->mutex) {
        apr_global_mutex_unlock(c->mutex);
    }
    if (rv != APR_SUCCESS || n < ENVELOPE) {
        return 0;
    }
    expiry = (apr_time_t)ac_be64_get(raw);
    as_of = (apr_time_t)ac_be64_get(raw + 8);
    if (expiry <= apr_time_now() || outdated(c, as_of, APR_INT64_MAX)) {
        return 0;
    }
    *len = n - ENVELOPE;
    memcpy(buf, raw + ENVELOPE, *len);
    front_put(c, id, idlen, epoch, expiry, buf, *len);
    return 1;
}

static void shared_remove(ac_cache *c, server_rec *s, const unsigned char *id,
                          unsigned int idlen, apr_pool_t *p)
{
    if (c->mutex && apr_global_mutex_lock(c->mutex) != APR_SUCCESS) {
        return;
    }
    c->provider->remove(c->instance, s, id, idlen, p);
    if (c->mutex) {
        apr_global_mutex_unlock(c->mutex);
    }
}

void ac_cache_put(ac_cache *c, server_rec *s, const unsigned char *id,
                  unsigned int idlen, apr_time_t as_of, apr_time_t known,
                  apr_time_t expiry, const unsigned char *data,
                  unsigned int len, apr_pool_t *p)
{
    unsigned char *raw;
    apr_uint32_t epoch = current_epoch(c);
    apr_status_t rv;

    if (outdated(c, as_of, known)) {
        return;
    }
    raw = apr_palloc(p, len + ENVELOPE);
    ac_be64_put(raw, (apr_uint64_t)expiry);
    ac_be64_put(raw + 8, (apr_uint64_t)as_of);
    memcpy(raw + ENVELOPE, data, len);
    front_put(c, id, idlen, epoch, expiry, data, len);
    if (c->mutex && apr_global_mutex_lock(c->mutex) != APR_SUCCESS) {
        return;
    }
    rv = c->provider->store(c->instance, s, id, idlen, expiry, raw,
                            len + ENVELOPE, p);
    if (c->mutex) {
        apr_global_mutex_unlock(c->mutex);
    }
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_DEBUG, rv, s, AC_LOGNO(0304)
                     "cache %s: store failed", c->spec);
    }
    /* An eviction that came between the check above and the store may
     * have removed the entry before it was there: take it back.  (The
     * evicting side sets last_change before it removes, so one of the
     * two always sees the other.) */
    if (outdated(c, as_of, known)) {
        shared_remove(c, s, id, idlen, p);
    }
}

int ac_cache_add(ac_cache *c, server_rec *s, const unsigned char *id,
                 unsigned int idlen, apr_time_t expiry, apr_pool_t *p)
{
    unsigned char raw[ENVELOPE];
    unsigned int n = sizeof(raw);
    apr_status_t rv;
    int added = -1;

    if (c->mutex && apr_global_mutex_lock(c->mutex) != APR_SUCCESS) {
        return -1;
    }
    rv = c->provider->retrieve(c->instance, s, id, idlen, raw, &n, p);
    if (rv == APR_SUCCESS) {
        added = 0;
    }
    else {
        /* an expiry and no "as of": nothing but the fact it was seen */
        ac_be64_put(raw, (apr_uint64_t)expiry);
        ac_be64_put(raw + 8, 0);
        rv = c->provider->store(c->instance, s, id, idlen, expiry, raw,
                                ENVELOPE, p);
        added = rv == APR_SUCCESS ? 1 : -1;
    }
    if (c->mutex) {
        apr_global_mutex_unlock(c->mutex);
    }
    return added;
}

void ac_cache_remove(ac_cache *c, server_rec *s, const unsigned char *id,
                     unsigned int idlen, apr_pool_t *p)
{
    if (c->shared != NULL) {
        apr_atomic_set64(&c->shared->last_change,
                         (apr_uint64_t)apr_time_now());
        apr_atomic_inc32(&c->shared->epoch);
    }
    shared_remove(c, s, id, idlen, p);
}

void ac_cache_resync(ac_cache *c, apr_time_t since)
{
    if (c->shared == NULL) {
        return;
    }
    apr_atomic_set64(&c->shared->not_before, (apr_uint64_t)since);
    apr_atomic_set64(&c->shared->last_change, (apr_uint64_t)since);
    apr_atomic_inc32(&c->shared->epoch);
}
