/* Licensed under the Apache License, Version 2.0.
 *
 * ac_cache.h -- verified credentials cached across processes through
 * httpd's socache (shmcb by default; memcache or redis for several nodes).
 * Keys are hashes of credentials, never credentials.  Providers that are
 * not safe across processes (shmcb) are used under a global mutex, for
 * retrieve as well as store.
 *
 * In front of the shared cache each process keeps the answers it used last
 * (AC_CACHE_FRONT_SLOTS of them, direct-mapped by the id, which is a hash)
 * until the very expiry the shared entry has, so that a hit takes no
 * global lock; the staleness bound of a cached answer stays the one its
 * owner chose.  The shared entries carry their expiry in front of the data
 * (8 bytes, big-endian microseconds) for this, and then the time the
 * answer was read from its source ("as of", 8 bytes likewise).
 *
 * Eviction before the expiry (instant revocation, mod_authn_token's
 * listener): ac_cache_remove() drops one entry from the shared cache, and
 * every process's front must forget it too.  The fronts live in each child,
 * so a small block of this node's shared memory holds an epoch that every
 * eviction bumps: a front answer is only used while the epoch it was
 * stored under is the current one (one atomic read per hit); otherwise the
 * front asks the shared cache again, which is cheap.  The same block holds
 * two times:
 *  - not_before: when the listener (re)starts listening after a gap, the
 *    notifications of the gap are lost, so every shared entry read from the
 *    source before that moment is a miss (ac_cache_resync).  This needs no
 *    walk over the shared cache (redis or memcache cannot list theirs);
 *    the price is one extra lookup per key after a reconnection.
 *  - last_change: the time of the last eviction.  An answer read before it
 *    may be the one just evicted, so ac_cache_put() does not store it, and
 *    if the eviction raced with the store, removes it again.
 */

#ifndef AC_CACHE_H
#define AC_CACHE_H

#include "apr_global_mutex.h"
#include "httpd.h"
#include "http_config.h"
#include "ap_socache.h"

#define AC_CACHE_FRONT_SLOTS 256
#define AC_CACHE_FRONT_DATA  1024   /* larger answers skip the front */
#define AC_CACHE_MAX_ID      64

typedef struct ac_cache_front ac_cache_front;
typedef struct ac_cache_shared ac_cache_shared;

typedef struct {
    const char *spec;                   /* "shmcb:args", for messages */
    const ap_socache_provider_t *provider;
    ap_socache_instance_t *instance;
    apr_global_mutex_t *mutex;          /* NULL when the provider is MP-safe */
    const char *mutex_type;
    server_rec *server;
    ac_cache_front *front;              /* this process's, from child_init */
    ac_cache_shared *shared;            /* this node's epoch and times */
} ac_cache;

/* pre_config: register the mutex type (e.g. "authn-token-cache") so that
 * the Mutex directive can configure it. */
void ac_cache_register_mutex(apr_pool_t *pconf, const char *mutex_type);

/* The cache directive (AuthTokenCache, AuthOAuth2Cache), allowed in the
 * main server only: stores `arg` ("name[:args]") in *spec. */
const char *ac_cache_set_spec(cmd_parms *cmd, const char *arg,
                              const char **spec);

/* post_config: create the cache of `spec` (NULL: "shmcb") and initialise
 * it under namespace `ns`, with the mutex type registered in pre_config.
 * A failure is logged naming `directive`; returns OK or
 * HTTP_INTERNAL_SERVER_ERROR, which stops httpd. */
int ac_cache_setup(server_rec *s, apr_pool_t *pconf, apr_pool_t *ptemp,
                   const char *directive, const char *spec,
                   const char *mutex_type, const char *ns, ac_cache **out);

/* child_init: reattach the global mutex, make this process's front
 * (nothing for a NULL cache). */
void ac_cache_child_init(ac_cache *c, apr_pool_t *pchild, server_rec *s);

/* Look `id` up; on a hit copies at most *len bytes into buf, sets *len and
 * returns 1. */
int ac_cache_get(ac_cache *c, server_rec *s, const unsigned char *id,
                 unsigned int idlen, unsigned char *buf, unsigned int *len,
                 apr_pool_t *p);

/* Store data under `id` until `expiry` (absolute).  `as_of` is when the
 * answer was read from its source (taken before the read began), kept
 * with the entry; `known` is when the caller last knew the answer to be
 * current: that same moment, or when the cache gave it back (a record
 * rewritten with a new mark).  Nothing is stored when an eviction came
 * after `known`: the answer may be the one just evicted. */
void ac_cache_put(ac_cache *c, server_rec *s, const unsigned char *id,
                  unsigned int idlen, apr_time_t as_of, apr_time_t known,
                  apr_time_t expiry, const unsigned char *data,
                  unsigned int len, apr_pool_t *p);

/* Remember `id` until `expiry` unless it is there already: 1 when it was
 * not (and is now), 0 when it was, -1 when the cache cannot say.  For
 * one-time values (a DPoP proof's jti): the front is not used, and with
 * shmcb the look and the store are one step under the mutex; memcache and
 * redis offer no such step through socache, so two nodes that see the
 * same value within the same few milliseconds may both find it new. */
int ac_cache_add(ac_cache *c, server_rec *s, const unsigned char *id,
                 unsigned int idlen, apr_time_t expiry, apr_pool_t *p);

/* Forget `id` on this node: the shared entry, and every process's front.
 * Safe from any thread of any child. */
void ac_cache_remove(ac_cache *c, server_rec *s, const unsigned char *id,
                     unsigned int idlen, apr_pool_t *p);

/* Trust no entry read from the source before `since` (every front
 * included): after a gap in which evictions may have been missed. */
void ac_cache_resync(ac_cache *c, apr_time_t since);

#endif /* AC_CACHE_H */
