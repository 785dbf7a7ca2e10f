/* Licensed under the Apache License, Version 2.0.
 *
 * throttle.c -- Django REST framework's throttles (AnonRateThrottle,
 * UserRateThrottle, ScopedRateThrottle, and one per credential) for
 * `AuthType Chain` locations.
 *
 * Each throttle is a rate written as DRF writes it (N/period, the period
 * read by its first letter) and a key: the client address, the user, the
 * credential, a scope with the user or the address.  The count is GCRA
 * (the generic cell rate algorithm, a leaky bucket written as one
 * timestamp per key, the "theoretical arrival time"): N requests at once,
 * then one every period/N.  The same algorithm runs in two places:
 *
 *  - per node, in a bounded table of shared memory (AuthChainThrottleSlots
 *    slots of a 64-bit key hash and a timestamp), created in post_config
 *    and guarded by a global mutex, so every child of every MPM sees one
 *    count;
 *  - across nodes, in redis (AuthChainThrottleRedis), as a Lua script run
 *    by EVALSHA with redis's own clock, so the nodes' clocks do not matter
 *    and a check-and-count is atomic.
 *
 * When redis does not answer within AuthChainThrottleRedisTimeout, the
 * node counts alone (the per-node limit) and says so once per outage in
 * the error log; it tries redis again a second later.  Throttling never
 * answers 5xx.
 */

#include "apr_atomic.h"
#include "apr_global_mutex.h"
#include "apr_lib.h"
#include "apr_reslist.h"
#include "apr_shm.h"
#include "apr_strings.h"

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "ap_mpm.h"
#include "mod_core.h"
#include "util_mutex.h"

#include <stdlib.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "ac_common.h"
#include "metrics.h"
#include "throttle.h"

extern module AP_MODULE_DECLARE_DATA auth_chain_module;
APLOG_USE_MODULE(auth_chain);

#define MUTEX_TYPE "authchain-throttle"
#define DEFAULT_SLOTS 16384
#define DEFAULT_TIMEOUT_MS 50
#define REDIS_RETRY APR_USEC_PER_SEC    /* after a failure, try again in */
#define PROBE 8                         /* slots a key may live in */
#define REDIS_PREFIX "authchain:throttle:"

typedef enum { T_ANON, T_USER, T_CREDENTIAL, T_SCOPE } throttle_kind;

const char *const chain_throttle_kinds[CHAIN_THROTTLE_KINDS] = {
    "anon", "user", "credential", "scope"
};

typedef struct {
    throttle_kind kind;
    const char *scope;          /* T_SCOPE */
    const char *rate;           /* as written */
    apr_int64_t interval;       /* period / N, microseconds */
    apr_int64_t tolerance;      /* (N - 1) * interval: the burst */
} chain_throttle;

/* One counter of the node's table: the key's hash (0: free) and its
 * theoretical arrival time. */
typedef struct {
    apr_uint64_t hash;
    apr_int64_t tat;
} throttle_slot;

typedef struct {
    apr_uint32_t redis_down;    /* 1 from a failure to the next answer */
    apr_uint32_t redis_epoch;   /* one more with each outage */
    apr_uint32_t nslots;
    apr_int64_t redis_retry;    /* when to try redis again */
    throttle_slot slots[1];
} throttle_table;

/* Settings of the whole server (one table, one redis per httpd), from
 * the configuration being read; reset in pre_config. */
static int configured;                  /* some AuthChainThrottle */
static int nslots = DEFAULT_SLOTS;
static const char *redis_host;
static int redis_port;
static int timeout_ms = DEFAULT_TIMEOUT_MS;
static apr_hash_t *scope_rates;         /* scope name -> rate */

/* Per node (post_config) and per child (child_init). */
static throttle_table *table;
static apr_global_mutex_t *mutex;
static apr_reslist_t *redis_pool;

/* The Lua script: KEYS are the counters, ARGV two numbers per key (the
 * interval and the tolerance, microseconds); returns one number per key,
 * 0 when the request is counted, else the wait in microseconds.  Every
 * throttle that lets the request in counts it, as DRF's
 * check_throttles. */
static const char gcra_lua[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
    "local out = {}\n"
    "for i, key in ipairs(KEYS) do\n"
    "  local interval = tonumber(ARGV[2 * i - 1])\n"
    "  local tolerance = tonumber(ARGV[2 * i])\n"
    "  local tat = tonumber(redis.call('GET', key)) or now\n"
    "  if tat < now then tat = now end\n"
    "  if tat - now > tolerance then\n"
    "    out[i] = tat - now - tolerance\n"
    "  else\n"
    "    tat = tat + interval\n"
    "    redis.call('SET', key, string.format('%d', tat), 'PX',\n"
    "               math.ceil((tat - now) / 1000))\n"
    "    out[i] = 0\n"
    "  end\n"
    "end\n"
    "return out\n";

/* ----------------------------------------------------------------------
 * Configuration
 */

/* DRF's SimpleRateThrottle.parse_rate: "N/period", the period read by
 * its first letter (s, m, h, d; "100/minute" and "100/m" are the same,
 * and so, as in DRF, is "100/month"): 0, N and the period in seconds,
 * or -1. */
static int parse_rate(const char *rate, long *num, long *period)
{
    const char *slash = strchr(rate, '/'), *p;
    char *end;

    if (slash == NULL || slash == rate || strchr(slash + 1, '/') != NULL) {
        return -1;
    }
    for (p = rate; p < slash; p++) {
        if (!apr_isdigit(*p)) {
            return -1;
        }
    }
    *num = strtol(rate, &end, 10);
    if (end != slash || *num <= 0 || *num > 1000000) {
        return -1;
    }
    switch (slash[1]) {
    case 's': *period = 1; break;
    case 'm': *period = 60; break;
    case 'h': *period = 3600; break;
    case 'd': *period = 86400; break;
    default: return -1;
    }
    return 0;
}

const char *chain_throttle_set(cmd_parms *cmd, void *dconf, int argc,
                               char *const argv[])
{
    apr_array_header_t **list =
        (apr_array_header_t **)((char *)dconf + (apr_size_t)cmd->info);
    chain_throttle *t;
    const char *rate, *had;
    long num, period;
    int i, kind = -1;

    if (*list == NULL) {
        *list = apr_array_make(cmd->pool, 2, sizeof(chain_throttle));
    }
    if (argc == 1 && strcasecmp(argv[0], "off") == 0) {
        apr_array_clear(*list);
        return NULL;
    }
    for (i = 0; i < 4; i++) {
        if (argc > 0 && strcmp(argv[0], chain_throttle_kinds[i]) == 0) {
            kind = i;
        }
    }
    if (kind < 0) {
        return apr_psprintf(cmd->pool, "%s: unknown throttle '%s' (anon, "
                            "user, credential, scope NAME, or off)",
                            cmd->cmd->name, argc > 0 ? argv[0] : "");
    }
    if (argc != (kind == T_SCOPE ? 3 : 2)) {
        return apr_psprintf(cmd->pool, "%s: write '%s %sRATE' (e.g. "
                            "100/min)", cmd->cmd->name, argv[0],
                            kind == T_SCOPE ? "NAME " : "");
    }
    rate = argv[argc - 1];
    if (parse_rate(rate, &num, &period) != 0) {
        return apr_psprintf(cmd->pool, "%s: bad rate '%s': write it as "
                            "Django REST framework does, N/PERIOD, N from 1 "
                            "to 1000000 and a period whose first letter is "
                            "s, m, h or d (100/min, 1000/day)",
                            cmd->cmd->name, rate);
    }
    for (i = 0; i < (*list)->nelts; i++) {
        chain_throttle *o = &APR_ARRAY_IDX(*list, i, chain_throttle);
        if ((int)o->kind == kind
            && (kind != T_SCOPE || strcmp(o->scope, argv[1]) == 0)) {
            return apr_psprintf(cmd->pool, "%s: the %s throttle%s%s is "
                                "set twice in this section", cmd->cmd->name,
                                argv[0], kind == T_SCOPE ? " " : "",
                                kind == T_SCOPE ? argv[1] : "");
        }
    }
    if (kind == T_SCOPE) {
        /* a scope has one rate, as in DRF's DEFAULT_THROTTLE_RATES */
        had = apr_hash_get(scope_rates, argv[1], APR_HASH_KEY_STRING);
        if (had != NULL && strcmp(had, rate) != 0) {
            return apr_psprintf(cmd->pool, "%s: scope '%s' has the rate %s "
                                "here and %s elsewhere; a scope has one rate",
                                cmd->cmd->name, argv[1], rate, had);
        }
        apr_hash_set(scope_rates, apr_pstrdup(cmd->pool, argv[1]),
                     APR_HASH_KEY_STRING, apr_pstrdup(cmd->pool, rate));
    }
    t = apr_array_push(*list);
    t->kind = kind;
    t->scope = kind == T_SCOPE ? apr_pstrdup(cmd->pool, argv[1]) : NULL;
    t->rate = apr_pstrdup(cmd->pool, rate);
    t->interval = (apr_int64_t)period * APR_USEC_PER_SEC / num;
    t->tolerance = (num - 1) * t->interval;
    configured = 1;
    return NULL;
}

const char *chain_throttle_set_redis(cmd_parms *cmd, void *dummy,
                                     const char *arg)
{
    const char *colon = strrchr(arg, ':');
    char *end;
    long port;

    if (cmd->server->is_virtual) {
        return "AuthChainThrottleRedis: one redis per httpd, in the main "
               "server configuration";
    }
    if (colon == NULL || colon == arg) {
        return apr_psprintf(cmd->pool, "AuthChainThrottleRedis: '%s' is not "
                            "host:port", arg);
    }
    port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || port < 1 || port > 65535) {
        return apr_psprintf(cmd->pool, "AuthChainThrottleRedis: bad port in "
                            "'%s'", arg);
    }
    redis_host = apr_pstrmemdup(cmd->pool, arg, colon - arg);
    redis_port = (int)port;
    return NULL;
}

/* A whole number from min to max for *out, or the message naming the
 * directive. */
static const char *set_number(cmd_parms *cmd, const char *arg, long min,
                              long max, int *out)
{
    char *end;
    long n = strtol(arg, &end, 10);

    if (*arg == '\0' || *end != '\0' || n < min || n > max) {
        return apr_psprintf(cmd->pool, "%s: a whole number from %ld to %ld",
                            cmd->cmd->name, min, max);
    }
    *out = (int)n;
    return NULL;
}

const char *chain_throttle_set_timeout(cmd_parms *cmd, void *dummy,
                                       const char *arg)
{
    return set_number(cmd, arg, 1, 10000, &timeout_ms);
}

const char *chain_throttle_set_slots(cmd_parms *cmd, void *dummy,
                                     const char *arg)
{
    return set_number(cmd, arg, PROBE, 16777216, &nslots);
}

/* ----------------------------------------------------------------------
 * Counting
 */

/* GCRA on one timestamp: 0 and the request counted, or the wait. */
static apr_int64_t gcra(apr_int64_t *tat, apr_int64_t now,
                        const chain_throttle *t)
{
    apr_int64_t at = *tat > now ? *tat : now;

    if (at - now > t->tolerance) {
        return at - now - t->tolerance;
    }
    *tat = at + t->interval;
    return 0;
}

/* FNV-1a, 64 bits; never 0 (a free slot). */
static apr_uint64_t key_hash(const char *key)
{
    apr_uint64_t h = APR_UINT64_C(14695981039346656037);

    for (; *key; key++) {
        h = (h ^ (unsigned char)*key) * APR_UINT64_C(1099511628211);
    }
    return h ? h : 1;
}

/* The slot of the key hashed h: one of PROBE slots from h; when all hold
 * other keys, the one that frees first (a count that is nearly back to
 * nothing) gives way.  Under the mutex. */
static throttle_slot *slot_of(apr_uint64_t h)
{
    throttle_slot *slot = NULL, *s;
    int i;

    for (i = 0; i < PROBE; i++) {
        s = &table->slots[(h + i) % table->nslots];
        if (s->hash == h) {
            return s;
        }
        if (slot == NULL || s->tat < slot->tat) {
            slot = s;           /* a free one has tat 0 */
        }
    }
    slot->hash = h;
    slot->tat = 0;
    return slot;
}

/* Count the n counters in the node's table, under one lock. */
static void node_count(request_rec *r, int n, const char *const *keys,
                       const chain_throttle *const *ts, apr_int64_t *waits,
                       apr_int64_t now)
{
    apr_uint64_t *hashes = apr_palloc(r->pool, n * sizeof(*hashes));
    apr_status_t rv;
    int i;

    if (table == NULL) {
        return;
    }
    for (i = 0; i < n; i++) {
        hashes[i] = key_hash(keys[i]);
    }
    if ((rv = apr_global_mutex_lock(mutex)) != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, AC_LOGNO(0090)
                      "throttle: cannot lock the counters; request let in");
        return;
    }
    for (i = 0; i < n; i++) {
        waits[i] = gcra(&slot_of(hashes[i])->tat, now, ts[i]);
    }
    apr_global_mutex_unlock(mutex);
}

typedef struct {
    redisContext *c;
    char sha[41];
    apr_uint32_t epoch;         /* table->redis_epoch when it was made */
} redis_conn;

static int redis_load_script(redis_conn *rc)
{
    redisReply *rep = redisCommand(rc->c, "SCRIPT LOAD %s", gcra_lua);
    int ok = rep != NULL && rep->type == REDIS_REPLY_STRING
             && rep->len == 40;

    if (ok) {
        memcpy(rc->sha, rep->str, 40);
        rc->sha[40] = '\0';
    }
    if (rep != NULL) {
        freeReplyObject(rep);
    }
    return ok ? 0 : -1;
}

/* The reslist's constructor and destructor.  Connections come and go
 * for the life of a child (one a second at most while redis is down), so
 * each is malloc'ed and freed here rather than taken from pchild. */
static apr_status_t redis_open(void **res, void *params, apr_pool_t *p)
{
    struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
    redis_conn *rc = calloc(1, sizeof(*rc));

    if (rc == NULL) {
        return APR_ENOMEM;
    }
    rc->epoch = apr_atomic_read32(&table->redis_epoch);
    rc->c = redisConnectWithTimeout(redis_host, redis_port, tv);
    if (rc->c == NULL || rc->c->err
        || redisSetTimeout(rc->c, tv) != REDIS_OK
        || redis_load_script(rc) != 0) {
        if (rc->c != NULL) {
            redisFree(rc->c);
        }
        free(rc);
        return APR_ECONNREFUSED;
    }
    *res = rc;
    return APR_SUCCESS;
}

static apr_status_t redis_close(void *res, void *params, apr_pool_t *p)
{
    redis_conn *rc = res;

    redisFree(rc->c);
    free(rc);
    return APR_SUCCESS;
}

/* Run the script for n counters; 0 and their waits, or -1 (redis did not
 * answer, or answered nonsense). */
static int redis_count(request_rec *r, int n, const char *const *keys,
                       const chain_throttle *const *ts, apr_int64_t *waits)
{
    redis_conn *rc;
    redisReply *rep = NULL;
    const char **argv = apr_palloc(r->pool, (3 + 3 * n) * sizeof(char *));
    int i, argc = 0, tries, ok = 0;

    /* a connection made before the last outage is dead: redis went
     * away since (the children's idle ones were not used to find out) */
    for (;;) {
        if (apr_reslist_acquire(redis_pool, (void **)&rc) != APR_SUCCESS) {
            return -1;
        }
        if (rc->epoch == apr_atomic_read32(&table->redis_epoch)) {
            break;
        }
        apr_reslist_invalidate(redis_pool, rc);
    }
    argv[argc++] = "EVALSHA";
    argv[argc++] = rc->sha;
    argv[argc++] = apr_itoa(r->pool, n);
    for (i = 0; i < n; i++) {
        argv[argc++] = apr_pstrcat(r->pool, REDIS_PREFIX, keys[i], NULL);
    }
    for (i = 0; i < n; i++) {
        argv[argc++] = apr_psprintf(r->pool, "%" APR_INT64_T_FMT,
                                    ts[i]->interval);
        argv[argc++] = apr_psprintf(r->pool, "%" APR_INT64_T_FMT,
                                    ts[i]->tolerance);
    }
    for (tries = 0; tries < 2; tries++) {
        rep = redisCommandArgv(rc->c, argc, argv, NULL);
        if (rep != NULL && rep->type == REDIS_REPLY_ERROR
            && strncmp(rep->str, "NOSCRIPT", 8) == 0
            && redis_load_script(rc) == 0) {
            freeReplyObject(rep);       /* redis lost its scripts */
            rep = NULL;
            continue;
        }
        break;
    }
    if (rep != NULL && rep->type == REDIS_REPLY_ARRAY
        && rep->elements == (size_t)n) {
        ok = 1;
        for (i = 0; i < n; i++) {
            if (rep->element[i]->type != REDIS_REPLY_INTEGER) {
                ok = 0;
                break;
            }
            waits[i] = rep->element[i]->integer;
        }
    }
    if (!ok) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, AC_LOGNO(0091)
                      "throttle: redis: %s", rc->c->err ? rc->c->errstr
                      : rep && rep->type == REDIS_REPLY_ERROR ? rep->str
                      : "unexpected reply");
    }
    if (rep != NULL) {
        freeReplyObject(rep);
    }
    if (ok) {
        apr_reslist_release(redis_pool, rc);
    }
    else {
        apr_reslist_invalidate(redis_pool, rc);
    }
    return ok ? 0 : -1;
}

/* Count in redis when it is configured and answers; else -1.  The first
 * failure of an outage is logged, and the next answer. */
static int shared_count(request_rec *r, int n, const char *const *keys,
                        const chain_throttle *const *ts, apr_int64_t *waits,
                        apr_int64_t now)
{
    if (redis_pool == NULL || table == NULL) {
        return -1;
    }
    if (apr_atomic_read32(&table->redis_down) && now < table->redis_retry) {
        return -1;
    }
    if (redis_count(r, n, keys, ts, waits) != 0) {
        table->redis_retry = now + REDIS_RETRY;
        if (apr_atomic_cas32(&table->redis_down, 1, 0) == 0) {
            apr_atomic_inc32(&table->redis_epoch);
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AC_LOGNO(0092)
                          "AuthChainThrottleRedis %s:%d does not answer "
                          "(within %d ms): throttling per node until it "
                          "does", redis_host, redis_port, timeout_ms);
        }
        return -1;
    }
    if (apr_atomic_read32(&table->redis_down)
        && apr_atomic_cas32(&table->redis_down, 0, 1) == 1) {
        ap_log_rerror(APLOG_MARK, APLOG_NOTICE, 0, r, AC_LOGNO(0093)
                      "AuthChainThrottleRedis %s:%d answers again: "
                      "throttling across nodes", redis_host, redis_port);
    }
    return 0;
}

/* What identifies the credential in the auth data: its "id" (token),
 * else its "jti" (oauth2); NULL when it has neither. */
static const char *credential_id(apr_pool_t *p, const char *data)
{
    static const char *const members[] = { "id", "jti", NULL };
    json_t *o = data ? json_loads(data, 0, NULL) : NULL;
    const char *id = NULL;
    int i;

    for (i = 0; o != NULL && members[i] && id == NULL; i++) {
        json_t *v = json_object_get(o, members[i]);
        if (json_is_string(v)) {
            id = apr_pstrdup(p, json_string_value(v));
        }
        else if (json_is_integer(v)) {
            id = apr_psprintf(p, "%" APR_INT64_T_FMT,
                              (apr_int64_t)json_integer_value(v));
        }
    }
    json_decref(o);
    return id;
}

/* The counter of throttle t for this request, or NULL when t does not
 * apply (anon for a known user; credential for an anonymous one).  The
 * forms are DRF's cache keys: throttle_anon_<ident>, throttle_user_<pk
 * or ident>, throttle_<scope>_<pk or ident>. */
static const char *counter_key(request_rec *r, const chain_throttle *t,
                               const char *user, const char *scheme,
                               const char *data)
{
    const char *who = user ? apr_pstrcat(r->pool, "u:", user, NULL)
                      : apr_pstrcat(r->pool, "a:", r->useragent_ip, NULL);
    const char *id;

    switch (t->kind) {
    case T_ANON:
        return user ? NULL : apr_pstrcat(r->pool, "anon:", who, NULL);
    case T_USER:
        return apr_pstrcat(r->pool, "user:", who, NULL);
    case T_CREDENTIAL:
        if (user == NULL) {
            return NULL;
        }
        id = credential_id(r->pool, data);
        return apr_pstrcat(r->pool, "credential:", scheme, ":",
                           id ? "id:" : "", id ? id : who, NULL);
    case T_SCOPE:
        return apr_pstrcat(r->pool, "scope:", t->scope, ":", who, NULL);
    }
    return NULL;
}

int chain_throttle_check(request_rec *r, const apr_array_header_t *throttles,
                         const char *user, const char *scheme,
                         const char *data)
{
    int n = 0, i, worst = -1;
    const char **keys;
    const chain_throttle **ts;
    apr_int64_t *waits, now = apr_time_now();
    apr_int64_t secs;
    const char *detail;

    if (throttles == NULL || throttles->nelts == 0) {
        return OK;
    }
    keys = apr_palloc(r->pool, throttles->nelts * sizeof(*keys));
    ts = apr_palloc(r->pool, throttles->nelts * sizeof(*ts));
    waits = apr_pcalloc(r->pool, throttles->nelts * sizeof(*waits));
    for (i = 0; i < throttles->nelts; i++) {
        const chain_throttle *t = &APR_ARRAY_IDX(throttles, i,
                                                 chain_throttle);
        const char *key = counter_key(r, t, user, scheme, data);

        if (key != NULL) {
            keys[n] = key;
            ts[n++] = t;
        }
    }
    if (n == 0) {
        return OK;
    }
    if (shared_count(r, n, keys, ts, waits, now) != 0) {
        node_count(r, n, keys, ts, waits, now);
    }
    /* DRF: every throttle counts; the longest wait is the answer's */
    for (i = 0; i < n; i++) {
        if (waits[i] > 0 && (worst < 0 || waits[i] > waits[worst])) {
            worst = i;
        }
    }
    if (worst < 0) {
        return OK;
    }
    secs = (waits[worst] + APR_USEC_PER_SEC - 1) / APR_USEC_PER_SEC;
    apr_table_setn(r->err_headers_out, "Retry-After",
                   apr_psprintf(r->pool, "%" APR_INT64_T_FMT, secs));
    detail = apr_psprintf(r->pool, "Request was throttled. Expected "
                          "available in %" APR_INT64_T_FMT " second%s.",
                          secs, secs == 1 ? "" : "s");
    apr_table_setn(r->notes, CHAIN_THROTTLED_NOTE, detail);
    chain_metrics_throttled(ts[worst]->kind);
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AC_LOGNO(0094)
                  "throttled by the %s%s%s throttle (%s) for %s%s: %s",
                  chain_throttle_kinds[ts[worst]->kind], ts[worst]->scope ? " " : "",
                  ts[worst]->scope ? ts[worst]->scope : "", ts[worst]->rate,
                  user ? "user " : "", user ? ap_escape_logitem(r->pool, user)
                                            : r->useragent_ip, detail);
    /* the text, unless an ErrorDocument (or the JSON of
     * AuthChainErrorFormat json) answers */
    if (ap_response_code_string(r, ap_index_of_response(
            HTTP_TOO_MANY_REQUESTS)) == NULL) {
        ap_custom_response(r, HTTP_TOO_MANY_REQUESTS,
                           apr_pstrcat(r->pool, detail, "\n", NULL));
    }
    return HTTP_TOO_MANY_REQUESTS;
}

/* ----------------------------------------------------------------------
 * Hooks
 */

static int throttle_pre_config(apr_pool_t *pconf, apr_pool_t *plog,
                               apr_pool_t *ptemp)
{
    configured = 0;
    nslots = DEFAULT_SLOTS;
    redis_host = NULL;
    redis_port = 0;
    timeout_ms = DEFAULT_TIMEOUT_MS;
    scope_rates = apr_hash_make(pconf);
    table = NULL;
    mutex = NULL;
    return ap_mutex_register(pconf, MUTEX_TYPE, NULL, APR_LOCK_DEFAULT, 0);
}

/* The node's table and its mutex, made anew with each reading of the
 * configuration (counts start again after a restart). */
static int throttle_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                                apr_pool_t *ptemp, server_rec *s)
{
    apr_shm_t *shm;
    apr_status_t rv;
    apr_size_t size;

    if (!configured) {
        if (redis_host != NULL) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, AC_LOGNO(0095)
                         "AuthChainThrottleRedis is set but no "
                         "AuthChainThrottle uses it");
        }
        return OK;
    }
    size = APR_OFFSETOF(throttle_table, slots)
           + (apr_size_t)nslots * sizeof(throttle_slot);
    rv = apr_shm_create(&shm, size, NULL, pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, AC_LOGNO(0096)
                     "AuthChainThrottle: cannot create %" APR_SIZE_T_FMT
                     " bytes of shared memory (AuthChainThrottleSlots %d)",
                     size, nslots);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    table = apr_shm_baseaddr_get(shm);
    memset(table, 0, size);
    table->nslots = (apr_uint32_t)nslots;
    rv = ap_global_mutex_create(&mutex, NULL, MUTEX_TYPE, NULL, s, pconf, 0);
    if (rv != APR_SUCCESS) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

static void throttle_child_init(apr_pool_t *pchild, server_rec *s)
{
    apr_status_t rv;
    int threads = 1;

    redis_pool = NULL;
    if (table == NULL) {
        return;
    }
    rv = apr_global_mutex_child_init(&mutex,
                                     apr_global_mutex_lockfile(mutex),
                                     pchild);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, AC_LOGNO(0097)
                     "AuthChainThrottle: cannot attach the counters' mutex; "
                     "throttling is off in this child");
        table = NULL;
        return;
    }
    if (redis_host == NULL) {
        return;
    }
    ap_mpm_query(AP_MPMQ_MAX_THREADS, &threads);
    if (threads < 1) {
        threads = 1;
    }
    rv = apr_reslist_create(&redis_pool, 0, threads, threads, 0, redis_open,
                            redis_close, NULL, pchild);
    if (rv != APR_SUCCESS) {
        redis_pool = NULL;
        return;
    }
    apr_reslist_timeout_set(redis_pool,
                            (apr_interval_time_t)timeout_ms * 1000);
}

void chain_throttle_register_hooks(apr_pool_t *p)
{
    ap_hook_pre_config(throttle_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(throttle_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(throttle_child_init, NULL, NULL, APR_HOOK_MIDDLE);
}
