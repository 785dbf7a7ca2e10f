/* Licensed under the Apache License, Version 2.0. */

#include "apr_strings.h"

#include "httpd.h"
#include "http_log.h"
#include "util_mutex.h"
#include "ap_provider.h"

#include "ac_common.h"
#include "ac_cache.h"

void ac_cache_register_mutex(apr_pool_t *pconf, const char *mutex_type)
{
    ap_mutex_register(pconf, mutex_type, NULL, APR_LOCK_DEFAULT, 0);
}

const char *ac_cache_create(apr_pool_t *p, apr_pool_t *ptemp,
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

apr_status_t ac_cache_init(ac_cache *c, const char *mutex_type,
                           const char *ns, server_rec *s, apr_pool_t *pconf)
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

void ac_cache_child_init(ac_cache *c, apr_pool_t *pchild, server_rec *s)
{
    apr_status_t rv;

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

int ac_cache_get(ac_cache *c, server_rec *s, const unsigned char *id,
                 unsigned int idlen, unsigned char *buf, unsigned int *len,
                 apr_pool_t *p)
{
    apr_status_t rv;

    /* shmcb is not safe across processes even for reads (its retrieve
     * expires entries and moves its indexes) */
    if (c->mutex && apr_global_mutex_lock(c->mutex) != APR_SUCCESS) {
        return 0;
    }
    rv = c->provider->retrieve(c->instance, s, id, idlen, buf, len, p);
    if (c->mutex) {
        apr_global_mutex_unlock(c->mutex);
    }
    return rv == APR_SUCCESS;
}

void ac_cache_put(ac_cache *c, server_rec *s, const unsigned char *id,
                  unsigned int idlen, apr_time_t expiry,
                  const unsigned char *data, unsigned int len, apr_pool_t *p)
{
    apr_status_t rv;

    if (c->mutex && apr_global_mutex_lock(c->mutex) != APR_SUCCESS) {
        return;
    }
    rv = c->provider->store(c->instance, s, id, idlen, expiry,
                            (unsigned char *)data, len, p);
    if (c->mutex) {
        apr_global_mutex_unlock(c->mutex);
    }
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_DEBUG, rv, s, AC_LOGNO(0304)
                     "cache %s: store failed", c->spec);
    }
}
