/* Licensed under the Apache License, Version 2.0.
 *
 * jwks.c -- JWK Sets fetched from a URL, per issuer and per child
 * process: fetched on first use, refreshed when due, refetched (at most
 * once a minute) for an unknown kid, the old keys kept while a fetch
 * fails; one fetch at a time per issuer.
 */

#include "apr_strings.h"

#include "httpd.h"
#include "http_log.h"

#include "ac_common.h"
#include "ac_http.h"
#include "oauth2.h"

APLOG_USE_MODULE(authn_oauth2);

/* an unknown kid makes a JWK Set refetch at most this often per issuer */
#define KID_REFETCH_INTERVAL apr_time_from_sec(60)
/* after a failed fetch with no keys at all, wait this long to try again */
#define FETCH_RETRY_NO_KEYS apr_time_from_sec(5)
/* after a failed refresh, keep the old keys this long before retrying */
#define FETCH_RETRY_MAX apr_time_from_sec(60)

static void release_gen(oauth2_issuer *is, jwks_gen *gen)
{
    apr_thread_mutex_lock(is->lock);
    if (--gen->refs == 0 && gen->retired) {
        apr_pool_destroy(gen->pool);
    }
    apr_thread_mutex_unlock(is->lock);
}

typedef struct {
    oauth2_issuer *is;
    jwks_gen *gen;
} gen_ref;

static apr_status_t release_gen_cleanup(void *data)
{
    gen_ref *ref = data;

    release_gen(ref->is, ref->gen);
    return APR_SUCCESS;
}

typedef struct {
    request_rec *r;
    const oauth2_issuer *is;
} fetch_baton;

static void log_skipped_remote_key(void *baton, apr_size_t index,
                                   const char *kid, ac_jose_status why)
{
    fetch_baton *b = baton;

    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, b->r, AC_LOGNO(0502)
                  "oauth2: JWK Set of %s: key #%" APR_SIZE_T_FMT "%s%s%s "
                  "skipped: %s", b->is->url, index, kid ? " (kid " : "",
                  kid ? ap_escape_logitem(b->r->pool, kid) : "",
                  kid ? ")" : "", ac_jose_strerror(why));
}

/* Fetch and parse the issuer's JWK Set, with no lock held.  NULL on any
 * failure (logged). */
static jwks_gen *fetch_jwks(request_rec *r, const oauth2_dir_conf *conf,
                            const oauth2_issuer *is)
{
    ac_http_request req;
    ac_http_response resp;
    ac_http_status hs;
    ac_jose_status st;
    const char *err = NULL;
    apr_pool_t *gp;
    jwks_gen *gen;
    fetch_baton b;
    ac_jose_keyset *keys;

    memset(&req, 0, sizeof(req));
    req.url = is->url;
    req.accept = "application/jwk-set+json, application/json";
    req.timeout = conf->timeout;
    req.max_size = AC_JOSE_MAX_JWKS;
    hs = ac_http_fetch(r->pool, &req, &resp, &err);
    ac_metrics_jwks_fetch(hs == AC_HTTP_OK && resp.status == 200);
    if (hs != AC_HTTP_OK) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AC_LOGNO(0503)
                      "oauth2: cannot fetch the JWK Set of %s from %s: %s",
                      is->iss, is->url, err);
        return NULL;
    }
    if (resp.status != 200) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AC_LOGNO(0504)
                      "oauth2: the JWK Set URL %s of %s answered %ld",
                      is->url, is->iss, resp.status);
        return NULL;
    }
    /* a pool of its own (the global pool's allocator is thread-safe): it
     * lives as long as requests use this generation */
    if (apr_pool_create(&gp, NULL) != APR_SUCCESS) {
        return NULL;
    }
    b.r = r;
    b.is = is;
    st = ac_jose_jwks_parse(gp, resp.body, resp.len, log_skipped_remote_key,
                            &b, &keys);
    if (st != AC_JOSE_OK) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AC_LOGNO(0505)
                      "oauth2: the JWK Set at %s of %s is refused: %s",
                      is->url, is->iss, ac_jose_strerror(st));
        apr_pool_destroy(gp);
        return NULL;
    }
    gen = apr_pcalloc(gp, sizeof(*gen));
    gen->pool = gp;
    gen->keys = keys;
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AC_LOGNO(0506)
                  "oauth2: fetched %d key(s) of %s from %s",
                  ac_jose_keyset_count(keys), is->iss, is->url);
    return gen;
}

/* The keys of a remote issuer for this request: the current generation,
 * fetched first when there is none, when the refresh is due, or when
 * `for_kid` asks for a refetch (an unknown kid) and none was made within
 * KID_REFETCH_INTERVAL.  One fetch at a time per issuer: meanwhile the
 * others keep using the keys they have, or, with none yet, wait for the
 * fetch.  *changed tells whether a new generation came in.  NULL when
 * there are no keys at all (the caller answers UNAVAILABLE). */
const ac_jose_keyset *oauth2_remote_keys(request_rec *r,
                                         const oauth2_dir_conf *conf,
                                         oauth2_issuer *is, int for_kid,
                                         int *changed)
{
    apr_time_t now = apr_time_now();
    jwks_gen *gen, *fresh;
    int want;
    gen_ref *ref;

    *changed = 0;
    apr_thread_mutex_lock(is->lock);
    gen = is->current;
    if (gen == NULL) {
        want = now >= is->retry_at;
    }
    else if (for_kid) {
        want = is->kid_refetch_at == 0
               || now - is->kid_refetch_at >= KID_REFETCH_INTERVAL;
    }
    else {
        want = now >= is->fresh_until;
    }
    if (want && !is->fetching) {
        is->fetching = 1;
        if (for_kid && gen != NULL) {
            is->kid_refetch_at = now;
        }
        apr_thread_mutex_unlock(is->lock);
        fresh = fetch_jwks(r, conf, is);
        apr_thread_mutex_lock(is->lock);
        is->fetching = 0;
        now = apr_time_now();
        if (fresh != NULL) {
            if (is->current != NULL) {
                is->current->retired = 1;
                if (is->current->refs == 0) {
                    apr_pool_destroy(is->current->pool);
                }
            }
            is->current = fresh;
            is->fresh_until = now + apr_time_from_sec(conf->jwks_refresh);
            *changed = 1;
        }
        else if (is->current != NULL) {
            /* keep the old keys; try again later */
            apr_interval_time_t wait = apr_time_from_sec(conf->jwks_refresh);

            is->fresh_until = now + (wait < FETCH_RETRY_MAX
                                     ? wait : FETCH_RETRY_MAX);
        }
        else {
            is->retry_at = now + FETCH_RETRY_NO_KEYS;
        }
        apr_thread_cond_broadcast(is->fetched);
    }
    else if (gen == NULL && is->fetching) {
        /* another request is fetching the first keys: wait for it */
        apr_time_t deadline = now + conf->timeout;

        while (is->fetching && is->current == NULL
               && (now = apr_time_now()) < deadline) {
            apr_thread_cond_timedwait(is->fetched, is->lock, deadline - now);
        }
    }
    gen = is->current;
    if (gen != NULL) {
        gen->refs++;
    }
    apr_thread_mutex_unlock(is->lock);
    if (gen == NULL) {
        return NULL;
    }
    ref = apr_palloc(r->pool, sizeof(*ref));
    ref->is = is;
    ref->gen = gen;
    apr_pool_cleanup_register(r->pool, ref, release_gen_cleanup,
                              apr_pool_cleanup_null);
    return gen->keys;
}

