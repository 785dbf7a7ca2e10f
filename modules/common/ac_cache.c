/* Licensed under the Apache License, Version 2.0. */

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
                     unsigned char *buf, unsigned int *len)
{
    front_slot *f = front_slot_of(c, id, idlen);
    int hit = 0;

    if (f == NULL) {
        return 0;
    }
    apr_thread_mutex_lock(f->lock);
    if (f->expiry > apr_time_now() && f->idlen == idlen
        && memcmp(f->id, id, idlen) == 0 && f->len <= *len) {
        memcpy(buf, f->data, f->len);
        *len = f->len;
        hit = 1;
    }
    apr_thread_mutex_unlock(f->lock);
    return hit;
}

static void front_put(ac_cache *c, const unsigned char *id, unsigned int idlen,
                      apr_time_t expiry, const unsigned char *data,
                      unsigned int len)
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

#define ENVELOPE 8

int ac_cache_get(ac_cache *c, server_rec *s, const unsigned char *id,
                 unsigned int idlen, unsigned char *buf, unsigned int *len,
                 apr_pool_t *p)
{
    unsigned int n = *len + ENVELOPE;
    unsigned char *raw;
    apr_uint64_t expiry = 0;
    apr_status_t rv;
    int i;

    if (front_get(c, id, idlen, buf, len)) {
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
    for (i = 0; i < ENVELOPE; i++) {
        expiry = (expiry << 8) | raw[i];
    }
    if ((apr_time_t)expiry <= apr_time_now()) {
        return 0;
    }
    *len = n - ENVELOPE;
    memcpy(buf, raw + ENVELOPE, *len);
    front_put(c, id, idlen, (apr_time_t)expiry, buf, *len);
    return 1;
}

void ac_cache_put(ac_cache *c, server_rec *s, const unsigned char *id,
                  unsigned int idlen, apr_time_t expiry,
                  const unsigned char *data, unsigned int len, apr_pool_t *p)
{
    unsigned char *raw = apr_palloc(p, len + ENVELOPE);
    apr_uint64_t e = (apr_uint64_t)expiry;
    apr_status_t rv;
    int i;

    for (i = ENVELOPE - 1; i >= 0; i--, e >>= 8) {
        raw[i] = (unsigned char)(e & 0xff);
    }
    memcpy(raw + ENVELOPE, data, len);
    front_put(c, id, idlen, expiry, data, len);
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
}
