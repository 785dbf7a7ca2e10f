/* Licensed under the Apache License, Version 2.0.
 *
 * jwks.c -- remote keys: JWK Sets fetched from URLs, and issuers found by
 * discovery (RFC 8414, OpenID Connect Discovery 1.0).
 *
 * Who fetches: one thread per node.  A singleton watchdog of mod_watchdog
 * (it runs in one child at a time; another takes over when that child
 * exits) reads every discovery document and JWK Set of the configuration
 * when it is due and publishes the bytes in shared memory, one slot per
 * JWK Set URL or discovered issuer, under a sequence lock with a
 * generation number.  A request reads the generation (one atomic read);
 * when it changed since its child last parsed the slot, the child copies
 * the bytes out and parses them once, for all its threads.
 *
 * When: at start-up (the watchdog's first tick), then when the keys'
 * Cache-Control max-age (or AuthOAuth2JWKSRefresh), bounded by
 * AuthOAuth2JWKSRefreshMin/Max, is nine tenths gone; discovery documents
 * every AuthOAuth2DiscoveryRefresh.  A request waits only before the
 * first fetch of its slot is over, and for a kid the keys do not have:
 * it asks the watchdog for a refetch, at most once per
 * AuthOAuth2JWKSRefreshMin per slot and node, and a kid still missing
 * after one is not asked for again until the keys change.
 *
 * On failure: the last good keys and document keep serving; the failure
 * is logged once (at error), the recovery once (at notice), the attempts
 * between at debug; a retry follows after AuthOAuth2JWKSRefreshMin (5 s
 * at most while there are no keys at all).
 */

#include "apr_atomic.h"
#include "apr_hash.h"
#include "apr_optional.h"
#include "apr_shm.h"
#include "apr_strings.h"
#include "apr_thread_mutex.h"

#include "httpd.h"
#include "http_log.h"
#include "mod_watchdog.h"

#include "ac_common.h"
#include "ac_http.h"
#include "ac_request.h"
#include "oauth2.h"

APLOG_USE_MODULE(authn_oauth2);

#define WATCHDOG_NAME "authn-oauth2-keys"
/* how often the watchdog looks at what is due, and at requests' asks */
#define WATCHDOG_TICK apr_time_from_msec(100)
/* the longest URL taken from a discovery document */
#define MAX_URL 2048
/* a discovery document is read up to this size */
#define MAX_DISCOVERY (64 * 1024)
/* with no keys at all, a failed fetch is retried within this time */
#define RETRY_NO_KEYS apr_time_from_sec(5)
/* kids remembered as missing from a slot's keys, per node */
#define MAX_MISSING_KIDS 64

/* A slot in shared memory.  The published part (gen, len, body,
 * introspect) is written by the watchdog only, between two increments of
 * `seq` (odd while it writes); readers retry when seq was odd or moved. */
typedef struct {
    apr_uint32_t seq;
    apr_uint32_t gen;               /* of the keys; 0: none yet */
    apr_uint32_t len;
    char introspect[MAX_URL];       /* discovered; "" when none */
    /* requests to the watchdog */
    apr_uint32_t wanted;            /* 1: fetch the JWK Set now */
    apr_uint32_t attempts;          /* ticks that tended to the slot */
    apr_uint32_t kid_refetch_at;    /* ms clock of the last kid refetch */
    /* kids missing from the keys: a digest of kid and generation each, a
     * table indexed by the digest (a newer entry takes the place) */
    apr_uint64_t missing[MAX_MISSING_KIDS];
    /* the watchdog's own (kept here for a successor) */
    apr_time_t jwks_due, discovery_due;
    int jwks_failing, discovery_failing, discovered;
    char jwks_uri[MAX_URL];         /* the JWK Set URL; "" not yet known */
    char body[AC_JOSE_MAX_JWKS];
} shared_slot;

/* One generation of keys parsed in a child.  Requests hold a reference
 * while they verify with it; a replaced generation is freed by the last
 * one to let go. */
typedef struct {
    apr_pool_t *pool;
    ac_jose_keyset *keys;
    apr_uint32_t gen;
    int refs;
    int retired;
} jwks_gen;

/* A slot as configured (the same in every process), and what a child
 * parsed of it (guarded by `lock`). */
typedef struct {
    const char *iss;                /* for the log; the issuer discovered */
    const char *url;                /* the JWK Set URL; NULL: discovery */
    int refresh;                    /* AuthOAuth2JWKSRefresh, the least of
                                     * the sections' */
    apr_interval_time_t timeout;    /* AuthOAuth2Timeout, the largest */

    apr_thread_mutex_t *lock;
    jwks_gen *current;
} slot_conf;

typedef struct {
    server_rec *s;
    int nslots;
    slot_conf *conf;
    shared_slot *shared;
    apr_interval_time_t min, max, discovery_refresh;
} remote_keys;

/* this generation's; NULL when no issuer has remote keys */
static remote_keys *remote;

/* A millisecond clock that wraps (differences of up to 49 days hold). */
static apr_uint32_t ms_clock(void)
{
    return (apr_uint32_t)(apr_time_now() / 1000);
}

/* ----------------------------------------------------------------------
 * The watchdog: fetch, check, publish
 */

/* Publish new keys (the watchdog only). */
static void publish_keys(shared_slot *sl, const char *body, apr_size_t len)
{
    apr_uint32_t gen = sl->gen + 1 ? sl->gen + 1 : 1;

    apr_atomic_inc32(&sl->seq);
    memcpy(sl->body, body, len);
    sl->len = (apr_uint32_t)len;
    apr_atomic_set32(&sl->gen, gen);
    apr_atomic_inc32(&sl->seq);
}

static void publish_introspect(shared_slot *sl, const char *url)
{
    apr_atomic_inc32(&sl->seq);
    apr_cpystrn(sl->introspect, url, sizeof(sl->introspect));
    apr_atomic_inc32(&sl->seq);
}

/* A failure of `what` (a JWK Set, a discovery document) of slot `c`:
 * logged at error the first time, at debug while it lasts. */
static void log_failure(const remote_keys *rk, const slot_conf *c,
                        int *failing, const char *what, const char *from,
                        const char *why, int have)
{
    ap_log_error(APLOG_MARK, *failing ? APLOG_DEBUG : APLOG_ERR, 0, rk->s,
                 AC_LOGNO(0503) "oauth2: cannot read the %s of %s from %s: "
                 "%s; %s", what, c->iss, from, why,
                 have ? "the last good one keeps serving"
                      : "tokens of this issuer are answered 503 meanwhile");
    *failing = 1;
}

static void log_recovery(const remote_keys *rk, const slot_conf *c,
                         int *failing, const char *what, const char *from)
{
    if (*failing) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, rk->s, AC_LOGNO(0580)
                     "oauth2: the %s of %s at %s can be read again", what,
                     c->iss, from);
        *failing = 0;
    }
}

typedef struct {
    const remote_keys *rk;
    apr_pool_t *p;
    const char *url;
} skip_baton;

static void log_skipped_remote_key(void *baton, apr_size_t index,
                                   const char *kid, ac_jose_status why)
{
    skip_baton *b = baton;

    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, b->rk->s, AC_LOGNO(0502)
                 "oauth2: JWK Set of %s: key #%" APR_SIZE_T_FMT "%s%s%s "
                 "skipped: %s", b->url, index, kid ? " (kid " : "",
                 kid ? ap_escape_logitem(b->p, kid) : "",
                 kid ? ")" : "", ac_jose_strerror(why));
}

/* GET `url` (at most `max` bytes): NULL with *resp a 200 answer, or why
 * not. */
static const char *get_document(apr_pool_t *p, const char *url,
                                const char *accept, apr_size_t max,
                                apr_interval_time_t timeout,
                                ac_http_response *resp)
{
    ac_http_request req;
    const char *err = NULL;

    memset(&req, 0, sizeof(req));
    req.url = url;
    req.accept = accept;
    req.timeout = timeout;
    req.max_size = max;
    if (ac_http_fetch(p, &req, resp, &err) != AC_HTTP_OK) {
        return err;
    }
    if (resp->status != 200) {
        return apr_psprintf(p, "it answered %ld", resp->status);
    }
    return NULL;
}

/* Fetch the slot's JWK Set; publish it when it parses and differs from
 * the keys published; schedule the next fetch. */
static void refresh_keys(const remote_keys *rk, const slot_conf *c,
                         shared_slot *sl, apr_pool_t *p)
{
    ac_http_response resp;
    const char *url = sl->jwks_uri, *why;
    apr_time_t now;
    apr_int64_t ttl;
    ac_jose_keyset *keys;
    ac_jose_status st;
    skip_baton b;

    why = get_document(p, url, "application/jwk-set+json, application/json",
                       AC_JOSE_MAX_JWKS, c->timeout, &resp);
    ac_metrics_jwks_fetch(why == NULL);
    now = apr_time_now();
    if (why == NULL && (sl->gen == 0 || resp.len != sl->len
                        || memcmp(resp.body, sl->body, resp.len) != 0)) {
        b.rk = rk;
        b.p = p;
        b.url = url;
        st = ac_jose_jwks_parse(p, resp.body, resp.len,
                                log_skipped_remote_key, &b, &keys);
        if (st != AC_JOSE_OK) {
            why = apr_psprintf(p, "not a usable JWK Set: %s",
                               ac_jose_strerror(st));
        }
        else {
            publish_keys(sl, resp.body, resp.len);
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, rk->s, AC_LOGNO(0506)
                         "oauth2: fetched %d key(s) of %s from %s",
                         ac_jose_keyset_count(keys), c->iss, url);
        }
    }
    if (why != NULL) {
        log_failure(rk, c, &sl->jwks_failing, "JWK Set", url, why,
                    sl->gen != 0);
        sl->jwks_due = now + (sl->gen != 0 || rk->min < RETRY_NO_KEYS
                              ? rk->min : RETRY_NO_KEYS);
        return;
    }
    log_recovery(rk, c, &sl->jwks_failing, "JWK Set", url);
    /* fresh for max-age (or AuthOAuth2JWKSRefresh), bounded; fetched
     * again when nine tenths of it are gone, before it is stale */
    ttl = resp.max_age >= 0 ? apr_time_from_sec(resp.max_age)
                            : apr_time_from_sec(c->refresh);
    ttl = ttl < rk->min ? rk->min : ttl > rk->max ? rk->max : ttl;
    sl->jwks_due = now + ttl - ttl / 10;
}

/* The well-known URL `name` of the issuer `iss`: RFC 8414 section 3.1
 * puts /.well-known/<name> between the host and the issuer's path
 * (`insert`), OpenID Connect Discovery 1.0 section 4 after it; a
 * trailing / of the path goes either way. */
static const char *well_known(apr_pool_t *p, const char *iss,
                              const char *name, int insert)
{
    const char *host_end = ap_strchr_c(ap_strstr_c(iss, "://") + 3, '/');
    apr_size_t host_len = host_end ? (apr_size_t)(host_end - iss)
                                   : strlen(iss);
    const char *path = iss + host_len;
    apr_size_t path_len = strlen(path);

    while (path_len > 0 && path[path_len - 1] == '/') {
        path_len--;
    }
    return insert
           ? apr_psprintf(p, "%.*s/.well-known/%s%.*s", (int)host_len, iss,
                          name, (int)path_len, path)
           : apr_psprintf(p, "%.*s%.*s/.well-known/%s", (int)host_len, iss,
                          (int)path_len, path, name);
}

/* The string member `name` of `doc` when it is a URL we may fetch, NULL
 * when absent; *why is set when it is there but unusable. */
static const char *url_member(apr_pool_t *p, const json_t *doc,
                              const char *name, const char **why)
{
    const json_t *v = json_object_get(doc, name);
    const char *bad;

    if (v == NULL) {
        return NULL;
    }
    if (!json_is_string(v) || json_string_length(v) >= MAX_URL
        || strlen(json_string_value(v)) != json_string_length(v)) {
        *why = apr_psprintf(p, "%s is not a URL string of at most %d bytes",
                            name, MAX_URL - 1);
        return NULL;
    }
    if ((bad = ac_http_check_url(p, json_string_value(v))) != NULL) {
        *why = apr_psprintf(p, "%s %s: %s", name, json_string_value(v), bad);
        return NULL;
    }
    return json_string_value(v);
}

/* A discovery document of `iss` as read: NULL with *jwks_uri and
 * *introspect (or NULL) taken from it, or why it is refused.  Its issuer
 * must be `iss` byte for byte (RFC 8414 section 3.3, OpenID Connect
 * Discovery 1.0 section 4.3). */
static const char *check_discovery(apr_pool_t *p, server_rec *s,
                                   const char *iss,
                                   const ac_http_response *resp,
                                   const char **jwks_uri,
                                   const char **introspect)
{
    json_error_t jerr;
    json_t *doc = json_loadb(resp->body, resp->len, JSON_REJECT_DUPLICATES,
                             &jerr);
    const json_t *issuer;
    const char *why = NULL;

    if (doc == NULL || !json_is_object(doc)) {
        json_decref(doc);
        return "not a JSON object";
    }
    issuer = json_object_get(doc, "issuer");
    if (!json_is_string(issuer) || json_string_length(issuer) != strlen(iss)
        || memcmp(json_string_value(issuer), iss, strlen(iss)) != 0) {
        why = apr_psprintf(p, "its issuer %s is not %s (refused)",
                           json_is_string(issuer)
                           ? ap_escape_logitem(p, json_string_value(issuer))
                           : "(none)", iss);
    }
    else if ((*jwks_uri = url_member(p, doc, "jwks_uri", &why)) == NULL) {
        why = why ? why : "it has no jwks_uri";
    }
    else {
        const char *bad = NULL;

        *introspect = url_member(p, doc, "introspection_endpoint", &bad);
        if (bad != NULL) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                         AC_LOGNO(0581) "oauth2: the discovery document of "
                         "%s: %s; ignored", iss, bad);
        }
        *jwks_uri = apr_pstrdup(p, *jwks_uri);
        *introspect = *introspect ? apr_pstrdup(p, *introspect) : NULL;
    }
    json_decref(doc);
    return why;
}

/* Read the issuer's discovery document: RFC 8414's, and OpenID Connect's
 * when that one is not there (not a 200).  A document that is there but
 * refused is not replaced by the other one. */
static void discover(const remote_keys *rk, const slot_conf *c,
                     shared_slot *sl, apr_pool_t *p)
{
    ac_http_response resp;
    const char *from = well_known(p, c->iss, "oauth-authorization-server", 1);
    const char *jwks_uri = NULL, *introspect = NULL, *why;
    apr_time_t now;

    why = get_document(p, from, "application/json", MAX_DISCOVERY,
                       c->timeout, &resp);
    if (why != NULL) {
        const char *oidc = well_known(p, c->iss, "openid-configuration", 0);
        const char *why2 = get_document(p, oidc, "application/json",
                                        MAX_DISCOVERY, c->timeout, &resp);

        if (why2 == NULL) {
            from = oidc;
            why = NULL;
        }
        else {
            from = apr_pstrcat(p, from, " or ", oidc, NULL);
            why = apr_pstrcat(p, why, "; ", why2, NULL);
        }
    }
    if (why == NULL) {
        why = check_discovery(p, rk->s, c->iss, &resp, &jwks_uri,
                              &introspect);
    }
    now = apr_time_now();
    if (why != NULL) {
        log_failure(rk, c, &sl->discovery_failing, "discovery document",
                    from, why, sl->discovered);
        sl->discovery_due = now + (sl->discovered || rk->min < RETRY_NO_KEYS
                                   ? rk->min : RETRY_NO_KEYS);
        return;
    }
    log_recovery(rk, c, &sl->discovery_failing, "discovery document", from);
    if (!sl->discovered || strcmp(sl->jwks_uri, jwks_uri) != 0) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, rk->s, AC_LOGNO(0582)
                     "oauth2: discovered %s at %s: jwks_uri %s%s%s", c->iss,
                     from, jwks_uri, introspect ? ", introspection_endpoint "
                     : "", introspect ? introspect : "");
        apr_cpystrn(sl->jwks_uri, jwks_uri, sizeof(sl->jwks_uri));
        sl->jwks_due = 0;           /* the keys of the new URL, now */
    }
    if (strcmp(sl->introspect, introspect ? introspect : "") != 0) {
        publish_introspect(sl, introspect ? introspect : "");
    }
    sl->discovered = 1;
    sl->discovery_due = now + rk->discovery_refresh;
}

/* One slot at a tick: the discovery document and the keys when due, or
 * when a request asked. */
static void tend_slot(const remote_keys *rk, int i, apr_pool_t *p)
{
    const slot_conf *c = &rk->conf[i];
    shared_slot *sl = &rk->shared[i];
    int wanted = apr_atomic_xchg32(&sl->wanted, 0) != 0;
    apr_time_t now = apr_time_now();

    if (c->url == NULL
        && (now >= sl->discovery_due || (wanted && !sl->discovered))) {
        discover(rk, c, sl, p);
    }
    if (sl->jwks_uri[0] != '\0' && (wanted || now >= sl->jwks_due)) {
        refresh_keys(rk, c, sl, p);
    }
    apr_atomic_inc32(&sl->attempts);
}

/* The watchdog's callback: every WATCHDOG_TICK in the child that holds
 * the singleton, from start-up on. */
static apr_status_t remote_watchdog(int state, void *data, apr_pool_t *pool)
{
    const remote_keys *rk = data;
    apr_pool_t *p;
    int i;

    if (state == AP_WATCHDOG_STATE_STOPPING) {
        return APR_SUCCESS;
    }
    for (i = 0; i < rk->nslots; i++) {
        if (apr_pool_create(&p, pool) != APR_SUCCESS) {
            break;
        }
        tend_slot(rk, i, p);
        apr_pool_destroy(p);
    }
    return APR_SUCCESS;
}

/* ----------------------------------------------------------------------
 * Set-up
 */

typedef struct {
    apr_pool_t *pconf, *ptemp;
    apr_hash_t *index;              /* slot key -> int * */
    apr_array_header_t *slots;      /* slot_conf */
    const char *err;
} collect_baton;

static int has_issuers(const void *dconf)
{
    const oauth2_dir_conf *c = dconf;

    return c->issuers_set || c->introspect_set || c->jwks_refresh_set
           || c->timeout_set;
}

/* One configuration a request can get: a slot for each remote issuer
 * (one per JWK Set URL, one per discovered issuer), with the least
 * refresh and the longest timeout of the sections that use it. */
static void collect_visit(void *baton, server_rec *s, const void *dconf)
{
    collect_baton *b = baton;
    const oauth2_dir_conf *conf = dconf;
    int i, discovered = 0;

    for (i = 0; conf->issuers != NULL && i < conf->issuers->nelts; i++) {
        oauth2_issuer *is = APR_ARRAY_IDX(conf->issuers, i, oauth2_issuer *);
        const char *key;
        int *idx;
        slot_conf *c;

        if (!OAUTH2_IS_REMOTE(is)) {
            continue;
        }
        discovered |= is->discover;
        key = is->discover ? apr_pstrcat(b->ptemp, "d ", is->iss, NULL)
                           : apr_pstrcat(b->ptemp, "u ", is->url, NULL);
        if ((idx = apr_hash_get(b->index, key, APR_HASH_KEY_STRING))
            == NULL) {
            idx = apr_palloc(b->ptemp, sizeof(*idx));
            *idx = b->slots->nelts;
            c = apr_array_push(b->slots);
            memset(c, 0, sizeof(*c));
            c->iss = is->iss;
            c->url = is->url;
            c->refresh = conf->jwks_refresh;
            c->timeout = conf->timeout;
            apr_hash_set(b->index, key, APR_HASH_KEY_STRING, idx);
        }
        c = &APR_ARRAY_IDX(b->slots, *idx, slot_conf);
        c->refresh = conf->jwks_refresh < c->refresh ? conf->jwks_refresh
                                                     : c->refresh;
        c->timeout = conf->timeout > c->timeout ? conf->timeout : c->timeout;
        is->slot = *idx;
    }
    if (b->err == NULL && conf->introspect != NULL && !discovered
        && strcmp(conf->introspect, OAUTH2_INTROSPECT_DISCOVER) == 0) {
        b->err = "AuthOAuth2Introspect discover needs an `AuthOAuth2Issuer "
                 "<issuer> discover` in the same section (or above it)";
    }
}

int oauth2_remote_setup(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s)
{
    APR_OPTIONAL_FN_TYPE(ap_watchdog_get_instance) *get_instance;
    APR_OPTIONAL_FN_TYPE(ap_watchdog_register_callback) *register_callback;
    oauth2_srv_conf *sconf = ap_get_module_config(s->module_config,
                                                  &authn_oauth2_module);
    collect_baton b;
    server_rec *vs;
    remote_keys *rk;
    apr_shm_t *shm;
    ap_watchdog_t *wd;
    apr_status_t rv;
    int i;

    remote = NULL;
    b.pconf = pconf;
    b.ptemp = ptemp;
    b.index = apr_hash_make(ptemp);
    b.slots = apr_array_make(pconf, 4, sizeof(slot_conf));
    b.err = NULL;
    for (vs = s; vs != NULL; vs = vs->next) {
        ac_conf_effective(ptemp, vs, &authn_oauth2_module, has_issuers,
                          collect_visit, &b);
    }
    if (b.err != NULL) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, AC_LOGNO(0583) "%s",
                     b.err);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (b.slots->nelts == 0) {
        return OK;
    }
    get_instance = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_get_instance);
    register_callback =
        APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_register_callback);
    if (get_instance == NULL || register_callback == NULL) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, AC_LOGNO(0584)
                     "oauth2: JWK Set URLs and issuer discovery need "
                     "mod_watchdog (LoadModule watchdog_module, unless it "
                     "is built in: apachectl -l)");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    rk = apr_pcalloc(pconf, sizeof(*rk));
    rk->s = s;
    rk->nslots = b.slots->nelts;
    rk->conf = (slot_conf *)b.slots->elts;
    rk->min = apr_time_from_sec(sconf->jwks_refresh_min);
    rk->max = apr_time_from_sec(sconf->jwks_refresh_max);
    rk->discovery_refresh = apr_time_from_sec(sconf->discovery_refresh);
    /* anonymous shared memory, inherited by the children; gone with
     * pconf at a restart (children of the old generation keep their
     * mapping until they exit) */
    rv = apr_shm_create(&shm, sizeof(shared_slot) * (apr_size_t)rk->nslots,
                        NULL, pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, AC_LOGNO(0585)
                     "oauth2: cannot create %d KB of shared memory for the "
                     "keys of %d JWK Set(s)",
                     (int)(sizeof(shared_slot) * rk->nslots / 1024),
                     rk->nslots);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    /* new shared memory is zero-filled: only the pages of what is
     * published become resident */
    rk->shared = apr_shm_baseaddr_get(shm);
    for (i = 0; i < rk->nslots; i++) {
        if (rk->conf[i].url != NULL) {
            apr_cpystrn(rk->shared[i].jwks_uri, rk->conf[i].url, MAX_URL);
        }
    }
    rv = get_instance(&wd, WATCHDOG_NAME, 0, 1, pconf);
    if (rv == APR_SUCCESS) {
        rv = register_callback(wd, WATCHDOG_TICK, rk, remote_watchdog);
    }
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, AC_LOGNO(0586)
                     "oauth2: cannot set up the watchdog that fetches JWK "
                     "Sets");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    remote = rk;
    return OK;
}

void oauth2_remote_child_init(apr_pool_t *pchild)
{
    int i;

    for (i = 0; remote != NULL && i < remote->nslots; i++) {
        slot_conf *c = &remote->conf[i];

        apr_thread_mutex_create(&c->lock, APR_THREAD_MUTEX_DEFAULT, pchild);
    }
}

/* ----------------------------------------------------------------------
 * The request path
 */

/* Copy the published part of a slot (the body into `body`, which holds
 * AC_JOSE_MAX_JWKS bytes, when not NULL); 0 when the writer kept it
 * busy throughout. */
static int read_slot(shared_slot *sl, char *body, apr_uint32_t *gen,
                     apr_uint32_t *len, char introspect[MAX_URL])
{
    int tries;

    for (tries = 0; tries < 1000; tries++) {
        apr_uint32_t seq = apr_atomic_read32(&sl->seq);

        if (seq & 1) {
            apr_sleep(100);
            continue;
        }
        *gen = sl->gen;
        *len = sl->len;
        if (*len > AC_JOSE_MAX_JWKS) {
            continue;
        }
        if (body != NULL) {
            memcpy(body, sl->body, *len);
        }
        if (introspect != NULL) {
            memcpy(introspect, sl->introspect, MAX_URL);
            introspect[MAX_URL - 1] = '\0';
        }
        /* a full barrier: the copies above are done before seq is read */
        if (apr_atomic_add32(&sl->seq, 0) == seq) {
            return 1;
        }
    }
    return 0;
}

/* The keys published in the slot, parsed (the caller holds c->lock). */
static jwks_gen *parse_slot(request_rec *r, shared_slot *sl)
{
    char *body = apr_palloc(r->pool, AC_JOSE_MAX_JWKS);
    apr_uint32_t gen, len;
    apr_pool_t *gp;
    jwks_gen *g;
    ac_jose_keyset *keys;

    if (!read_slot(sl, body, &gen, &len, NULL) || gen == 0) {
        return NULL;
    }
    /* a pool of its own (the global pool's allocator is thread-safe): it
     * lives as long as requests use this generation */
    if (apr_pool_create(&gp, NULL) != APR_SUCCESS) {
        return NULL;
    }
    /* the watchdog parsed these bytes before it published them */
    if (ac_jose_jwks_parse(gp, body, len, NULL, NULL, &keys) != AC_JOSE_OK) {
        apr_pool_destroy(gp);
        return NULL;
    }
    g = apr_pcalloc(gp, sizeof(*g));
    g->pool = gp;
    g->keys = keys;
    g->gen = gen;
    return g;
}

typedef struct {
    slot_conf *c;
    jwks_gen *gen;
} gen_ref;

static apr_status_t release_gen(void *data)
{
    gen_ref *ref = data;

    apr_thread_mutex_lock(ref->c->lock);
    if (--ref->gen->refs == 0 && ref->gen->retired) {
        apr_pool_destroy(ref->gen->pool);
    }
    apr_thread_mutex_unlock(ref->c->lock);
    return APR_SUCCESS;
}

/* The child's keys of the slot, parsed again when the watchdog published
 * newer ones, held for the request.  NULL when there are none. */
static jwks_gen *hold_keys(request_rec *r, slot_conf *c, shared_slot *sl)
{
    apr_uint32_t gen = apr_atomic_read32(&sl->gen);
    jwks_gen *g;
    gen_ref *ref;

    apr_thread_mutex_lock(c->lock);
    if (gen != 0 && (c->current == NULL || c->current->gen != gen)) {
        jwks_gen *fresh = parse_slot(r, sl);

        if (fresh != NULL) {
            if (c->current != NULL) {
                c->current->retired = 1;
                if (c->current->refs == 0) {
                    apr_pool_destroy(c->current->pool);
                }
            }
            c->current = fresh;
        }
    }
    g = c->current;
    if (g != NULL) {
        g->refs++;
    }
    apr_thread_mutex_unlock(c->lock);
    if (g == NULL) {
        return NULL;
    }
    ref = apr_palloc(r->pool, sizeof(*ref));
    ref->c = c;
    ref->gen = g;
    apr_pool_cleanup_register(r->pool, ref, release_gen,
                              apr_pool_cleanup_null);
    return g;
}

/* Wait until the watchdog has tended to the slot (with `ask`: after
 * asking it for a fetch now, and until it did), or `timeout` (and a
 * tick) passed. */
static void await_fetch(shared_slot *sl, apr_interval_time_t timeout,
                        int ask)
{
    apr_uint32_t before = apr_atomic_read32(&sl->attempts);
    apr_time_t deadline = apr_time_now() + timeout + 2 * WATCHDOG_TICK;

    if (ask) {
        apr_atomic_set32(&sl->wanted, 1);
    }
    do {
        apr_sleep(apr_time_from_msec(5));
        if (apr_atomic_read32(&sl->attempts) != before
            && (!ask || apr_atomic_read32(&sl->wanted) == 0)) {
            return;
        }
    } while (apr_time_now() < deadline);
}

/* Whether the kid is known (on this node) to be missing from the keys
 * of generation `gen`; with `remember`, it is from now on. */
static int kid_missing(shared_slot *sl, const char *kid, apr_uint32_t gen,
                       int remember)
{
    unsigned char d[32];
    apr_uint64_t mark;
    volatile apr_uint64_t *entry;
    ac_fp fp;

    ac_fp_begin(&fp);
    ac_fp_int(&fp, gen);
    ac_fp_final(&fp, kid, strlen(kid), d);
    memcpy(&mark, d, sizeof(mark));
    mark = mark ? mark : 1;
    entry = &sl->missing[mark % MAX_MISSING_KIDS];
    if (apr_atomic_read64(entry) == mark) {
        return 1;
    }
    if (remember) {
        apr_atomic_set64(entry, mark);
    }
    return 0;
}

/* An unknown kid: a refetch by the watchdog, unless the kid is known to
 * be missing from the keys published, or the slot was refetched for a
 * kid less than AuthOAuth2JWKSRefreshMin ago (on this node). */
static void refetch_for_kid(request_rec *r, const oauth2_dir_conf *conf,
                            slot_conf *c, shared_slot *sl, const char *kid)
{
    apr_uint32_t gen = apr_atomic_read32(&sl->gen);
    apr_uint32_t now = ms_clock(), last;
    const char *name = ap_escape_logitem(r->pool, kid);

    if (kid_missing(sl, kid, gen, 0)) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, AC_LOGNO(0587)
                      "oauth2: kid %s is not in the keys of %s (known)",
                      name, c->iss);
        return;
    }
    last = apr_atomic_read32(&sl->kid_refetch_at);
    if ((last != 0 && now - last < (apr_uint32_t)(remote->min / 1000))
        || apr_atomic_cas32(&sl->kid_refetch_at, now, last) != last) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, AC_LOGNO(0588)
                      "oauth2: kid %s is not in the keys of %s; no refetch "
                      "(one was asked for less than "
                      "AuthOAuth2JWKSRefreshMin ago)", name, c->iss);
        return;
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AC_LOGNO(0589)
                  "oauth2: kid %s is not in the keys of %s: asking for a "
                  "refetch", name, c->iss);
    await_fetch(sl, conf->timeout, 1);
    if (apr_atomic_read32(&sl->gen) == gen) {
        kid_missing(sl, kid, gen, 1);
    }
}

const ac_jose_keyset *oauth2_remote_keys(request_rec *r,
                                         const oauth2_dir_conf *conf,
                                         oauth2_issuer *is, const char *kid,
                                         int *changed)
{
    slot_conf *c;
    shared_slot *sl;
    jwks_gen *g;
    apr_uint32_t before = 0;

    *changed = 0;
    if (remote == NULL || is->slot < 0 || is->slot >= remote->nslots) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AC_LOGNO(0504)
                      "oauth2: the issuer %s has no remote keys here (not "
                      "seen at start-up)", is->iss);
        return NULL;
    }
    c = &remote->conf[is->slot];
    sl = &remote->shared[is->slot];
    if (kid != NULL) {
        apr_thread_mutex_lock(c->lock);
        before = c->current ? c->current->gen : 0;
        apr_thread_mutex_unlock(c->lock);
        refetch_for_kid(r, conf, c, sl, kid);
    }
    else if (apr_atomic_read32(&sl->gen) == 0
             && apr_atomic_read32(&sl->attempts) == 0) {
        /* only before the first tick is over (it fetches everything) */
        await_fetch(sl, conf->timeout, 0);
    }
    if ((g = hold_keys(r, c, sl)) == NULL) {
        return NULL;
    }
    *changed = kid != NULL && g->gen != before;
    return g->keys;
}

const char *oauth2_discovered_introspect(request_rec *r,
                                         const oauth2_dir_conf *conf)
{
    char *url = apr_palloc(r->pool, MAX_URL);
    apr_uint32_t gen, len;
    int i;

    for (i = 0; remote != NULL && conf->issuers != NULL
                && i < conf->issuers->nelts; i++) {
        oauth2_issuer *is = APR_ARRAY_IDX(conf->issuers, i, oauth2_issuer *);

        if (is->discover && is->slot >= 0 && is->slot < remote->nslots) {
            if (!read_slot(&remote->shared[is->slot], NULL, &gen, &len, url)
                || *url == '\0') {
                return NULL;
            }
            return url;
        }
    }
    return NULL;
}
