/* Licensed under the Apache License, Version 2.0.
 *
 * ac_verdict.h -- what a credential turned out to be, cached: the verdict
 * cache of the token and oauth2 schemes, over an ac_cache that every
 * location and virtual host of a node shares (and several nodes, on redis
 * or memcache).  What a scheme keeps to itself is how it judges; what it
 * caches, and for whom, is decided here, once:
 *
 *  - The id of a verdict is SHA-256 over a fingerprint of the settings
 *    that judged it and the credential (ac_fp_* in ac_key.h).  The
 *    fingerprint covers every setting the verdict depends on, key material
 *    included as digests (an HMAC secret, the text of a key file, never
 *    the secret itself), so that a verdict reached under one location's
 *    settings is never served under another's.
 *  - The record keeps when its source was asked.  A hit is used only while
 *    the TTL of the location that *reads* it allows (a refusal: the
 *    shorter of that TTL and AC_VERDICT_NEGATIVE_TTL): a location with a
 *    short TTL never serves an answer that a location with a long one
 *    stored.
 *  - The entry itself lives until the storing location's TTL ends,
 *    counted from when the source was asked (a record rewritten later
 *    does not live longer), and never past the credential's expiry.
 */

#ifndef AC_VERDICT_H
#define AC_VERDICT_H

#include "apr_time.h"
#include "httpd.h"

#include "ac_cache.h"
#include "ac_key.h"

/* seconds a refusal (unknown, revoked, expired...) is remembered at most,
 * so that junk cannot hammer the source and a fix is seen soon */
#define AC_VERDICT_NEGATIVE_TTL 5
/* the strings a record carries, at most */
#define AC_VERDICT_FIELDS 8
/* the largest record (an oauth2 grant carries the token's claims) */
#define AC_VERDICT_MAX_RECORD 16384

/* --- ids ------------------------------------------------------------------ */

/* The id of the verdict on the credential `cred` (`len` bytes) under the
 * settings that *settings holds (ac_fp_begin, then one ac_fp_* for every
 * setting the verdict depends on, in the scheme's order); releases
 * *settings.  Every id of the cache is made here. */
void ac_verdict_id(ac_fp *settings, const void *cred, apr_size_t len,
                   unsigned char id[32]);

/* Forget the verdict on `cred` under *settings (as ac_verdict_id names
 * it) on this node: the shared entry and every process's front, from any
 * thread of any child (ac_cache_remove).  For a credential that its source
 * says changed (mod_authn_token's NOTIFY listener).  Releases *settings. */
void ac_verdict_evict(ac_cache *c, server_rec *s, ac_fp *settings,
                      const void *cred, apr_size_t len, apr_pool_t *p);

/* --- verdicts ------------------------------------------------------------- */

typedef struct {
    int verdict;            /* 0: granted; above: the scheme's refusals */
    apr_int64_t expires;    /* the credential's expiry, epoch s; 0: none */
    apr_int64_t mark;       /* the scheme's own number (token: last_used) */
    apr_time_t loaded;      /* when the source was asked (before it was) */
    const char *fields[AC_VERDICT_FIELDS];      /* NULL reads back as "" */
} ac_verdict;

/* The verdict cached under id[32] for a reader whose TTL is `ttl`
 * seconds: 1 with *v filled (its `nfields` strings copied into p), or 0
 * on a miss, a record of another shape, or one older than the reader
 * accepts. */
int ac_verdict_get(ac_cache *c, server_rec *s, const unsigned char id[32],
                   int ttl, int nfields, apr_pool_t *p, ac_verdict *v);

/* Cache *v under id[32] for a location whose TTL is `ttl` seconds; `known`
 * is when the caller last knew *v current (ac_cache_put).  Nothing is
 * stored when it would already have expired, or does not fit. */
void ac_verdict_put(ac_cache *c, server_rec *s, const unsigned char id[32],
                    int ttl, apr_time_t known, const ac_verdict *v,
                    int nfields, apr_pool_t *p);

#endif /* AC_VERDICT_H */
