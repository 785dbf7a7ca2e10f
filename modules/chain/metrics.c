/* Licensed under the Apache License, Version 2.0.
 *
 * metrics.c -- the node's metrics, owned by mod_auth_chain (metrics.h).
 *
 * One anonymous shared memory segment per httpd parent process, made in
 * the first post_config and kept in the process pool: every child of
 * every generation counts into the same one, so that counters survive a
 * graceful (and a plain) restart and only start from zero when httpd
 * itself starts.  Its layout (ac_metrics.h) is fixed-size; the slot table
 * of scheme names is written only here, in the parent, and only grows.
 * Counting is one relaxed atomic addition per counter: no lock on the
 * request path; a scrape reads each counter once.
 */

#include "apr_strings.h"
#include "apr_shm.h"

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "ap_provider.h"

#include "mod_auth_chain.h"
#include "ac_common.h"
#include "ac_metrics.h"
#include "metrics.h"
#include "throttle.h"

/* one counter per kind of throttle */
_Static_assert(AC_METRICS_THROTTLES == CHAIN_THROTTLE_KINDS,
               "AC_METRICS_THROTTLES is not the number of throttle kinds");

#define METRICS_HANDLER "auth-chain-metrics"
#define METRICS_USERDATA "auth_chain_metrics_segment"

/* -1: not set (On) */
static int metrics_flag = -1;
/* the segment of this generation, NULL when off */
static ac_metrics_segment *segment;

const char *chain_metrics_set(cmd_parms *cmd, void *dummy, int flag)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);

    if (err != NULL) {
        return err;
    }
    metrics_flag = flag;
    return NULL;
}

static ac_metrics_segment *auth_chain_metrics_segment(void)
{
    return segment;
}

/* --- the segment ---------------------------------------------------------- */

/* The process's segment, made on first use (the first post_config), or
 * made anew when a module of another layout finds an older one. */
static ac_metrics_segment *segment_of(server_rec *s)
{
    apr_pool_t *pp = s->process->pool;
    apr_shm_t *shm = NULL;
    ac_metrics_segment *seg;
    apr_status_t rv;

    apr_pool_userdata_get((void **)&shm, METRICS_USERDATA, pp);
    if (shm != NULL && apr_shm_size_get(shm) >= sizeof(*seg)) {
        seg = apr_shm_baseaddr_get(shm);
        if (seg->magic == AC_METRICS_MAGIC) {
            return seg;
        }
    }
    rv = apr_shm_create(&shm, sizeof(*seg), NULL, pp);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, AC_LOGNO(0030)
                     "AuthChainMetrics: cannot create the shared memory "
                     "segment of %" APR_SIZE_T_FMT " bytes; nothing is "
                     "counted", sizeof(*seg));
        return NULL;
    }
    seg = apr_shm_baseaddr_get(shm);
    memset(seg, 0, sizeof(*seg));
    seg->magic = AC_METRICS_MAGIC;
    seg->created = apr_time_now();
    apr_pool_userdata_set(shm, METRICS_USERDATA, apr_pool_cleanup_null, pp);
    return seg;
}

/* Give `name` a slot, once; slots are never reused for another name. */
static void add_scheme(server_rec *s, ac_metrics_segment *seg,
                       const char *name)
{
    apr_uint32_t n = seg->nschemes;

    if (ac_metrics_slot(seg, name) != NULL) {
        return;
    }
    if (n >= AC_METRICS_SCHEMES || strlen(name) >= AC_METRICS_NAME) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, AC_LOGNO(0031)
                     "AuthChainMetrics: no room for the scheme '%s' (%d "
                     "schemes of up to %d characters per node, until httpd "
                     "is stopped and started): it is not counted", name,
                     AC_METRICS_SCHEMES, AC_METRICS_NAME - 1);
        return;
    }
    apr_cpystrn(seg->names[n], name, AC_METRICS_NAME);
    /* children of the older generation read the table meanwhile */
    __atomic_store_n(&seg->nschemes, n + 1, __ATOMIC_RELEASE);
}

static int metrics_pre_config(apr_pool_t *pconf, apr_pool_t *plog,
                              apr_pool_t *ptemp)
{
    metrics_flag = -1;
    segment = NULL;
    return OK;
}

/* post_config: the segment, and a slot for each registered scheme. */
static int metrics_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                               apr_pool_t *ptemp, server_rec *s)
{
    static const char *const versions[] = { AUTH_CHAIN_PROVIDER_VERSION,
                                            "1" };
    int i, v;

    if (metrics_flag == 0) {
        segment = NULL;
        return OK;
    }
    if ((segment = segment_of(s)) == NULL) {
        return OK;
    }
    for (v = 0; v < 2; v++) {
        apr_array_header_t *names = ap_list_provider_names(
            ptemp, AUTH_CHAIN_PROVIDER_GROUP, versions[v]);

        for (i = 0; names != NULL && i < names->nelts; i++) {
            add_scheme(s, segment,
                       APR_ARRAY_IDX(names, i, ap_list_provider_names_t)
                           .provider_name);
        }
    }
    return OK;
}

/* --- counting the chain's decisions ---------------------------------------- */

void chain_metrics_throttled(int kind)
{
    if (segment != NULL && kind >= 0 && kind < AC_METRICS_THROTTLES) {
        AC_METRICS_ADD(segment->throttled[kind], 1);
    }
}

apr_time_t chain_metrics_clock(void)
{
    return segment != NULL ? apr_time_now() : 0;
}

static int contains(const char *s, const char *word)
{
    apr_size_t n = strlen(word);

    for (; s != NULL && *s; s++) {
        if (strncasecmp(s, word, n) == 0) {
            return 1;
        }
    }
    return 0;
}

/* The reason class of an answer: from the RFC 6750 error and the reason
 * texts of our schemes (never the text itself); docs/operations.md. */
static ac_metrics_reason reason_class(auth_chain_status status,
                                      const auth_chain_result *res)
{
    const char *e = res->error, *why = res->reason;

    switch (status) {
    case AUTH_CHAIN_GRANTED:
        return AC_MR_OK;
    case AUTH_CHAIN_DECLINED:
        return AC_MR_ABSENT;
    case AUTH_CHAIN_FORBIDDEN:
        return why != NULL && strncmp(why, "CSRF", 4) == 0 ? AC_MR_CSRF
                                                           : AC_MR_REFUSED;
    case AUTH_CHAIN_UNAVAILABLE:
        return AC_MR_BACKEND;
    default:
        break;
    }
    if (e != NULL && (strcmp(e, "invalid_dpop_proof") == 0
                      || strcmp(e, "use_dpop_nonce") == 0)) {
        return AC_MR_BINDING;
    }
    if ((e != NULL && strcmp(e, "invalid_request") == 0)
        || (why != NULL && (strncmp(why, "Invalid token header.", 21) == 0
                            || strncmp(why, "Invalid basic header.", 21)
                               == 0))) {
        return AC_MR_MALFORMED;
    }
    if (contains(why, "expired")) {
        return AC_MR_EXPIRED;
    }
    if (contains(why, "revoked")) {
        return AC_MR_REVOKED;
    }
    if (contains(why, "inactive")) {
        return AC_MR_INACTIVE;
    }
    if (contains(why, "DPoP") || contains(why, "certificate")
        || contains(why, "bound")) {
        return AC_MR_BINDING;
    }
    return AC_MR_INVALID;
}

void chain_metrics_decision(const char *scheme, auth_chain_status status,
                            const auth_chain_result *res, apr_time_t start)
{
    static const apr_interval_time_t bounds[AC_METRICS_BUCKETS] =
        AC_METRICS_BUCKET_BOUNDS;
    ac_metrics_scheme *m;
    apr_interval_time_t took;
    int b;

    if (start == 0 || (unsigned int)status >= AC_METRICS_OUTCOMES
        || (m = ac_metrics_slot(segment, scheme)) == NULL) {
        return;
    }
    took = apr_time_now() - start;
    if (took < 0) {
        took = 0;
    }
    for (b = 0; b < AC_METRICS_BUCKETS && took > bounds[b]; b++)
        ;
    AC_METRICS_ADD(m->decisions[status][reason_class(status, res)], 1);
    AC_METRICS_ADD(m->buckets[b], 1);
    AC_METRICS_ADD(m->duration_us, (apr_uint64_t)took);
}

/* --- the handler: Prometheus text exposition format 0.0.4 ------------------ */

static const char *const outcome_names[AC_METRICS_OUTCOMES] = {
    "declined", "granted", "denied", "forbidden", "unavailable"
};

static const char *const reason_names[AC_MR_COUNT] = {
    "ok", "absent", "malformed", "invalid", "expired", "revoked",
    "inactive", "binding", "csrf", "refused", "backend"
};

/* Whether an outcome can have a reason class: the series that exist. */
static int valid_pair(int outcome, int reason)
{
    switch (outcome) {
    case AUTH_CHAIN_GRANTED:
        return reason == AC_MR_OK;
    case AUTH_CHAIN_DECLINED:
        return reason == AC_MR_ABSENT;
    case AUTH_CHAIN_DENIED:
        return reason >= AC_MR_MALFORMED && reason <= AC_MR_BINDING;
    case AUTH_CHAIN_FORBIDDEN:
        return reason == AC_MR_CSRF || reason == AC_MR_REFUSED;
    default:
        return reason == AC_MR_BACKEND;
    }
}

static void family(request_rec *r, const char *name, const char *type,
                   const char *help)
{
    ap_rprintf(r, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A family of one counter or gauge per scheme named in `only` (NULL-ended),
 * and per value of its label `label` (NULL: no label): the `nvalues`
 * 64-bit numbers at `offset` in the scheme's ac_metrics_scheme, signed
 * for a gauge. */
typedef struct {
    const char *name, *type, *help;
    const char *const *only;
    const char *label;
    const char *const *values;
    int nvalues;
    apr_size_t offset;
} family_def;

static void write_family(request_rec *r, ac_metrics_segment *seg,
                         apr_uint32_t n, const family_def *f)
{
    int gauge = strcmp(f->type, "gauge") == 0, o, k;
    apr_uint32_t i;

    family(r, f->name, f->type, f->help);
    for (o = 0; f->only[o] != NULL; o++) {
        for (i = 0; i < n; i++) {
            const char *at = (const char *)&seg->schemes[i] + f->offset;

            if (strcmp(seg->names[i], f->only[o]) != 0) {
                continue;
            }
            for (k = 0; k < (f->label ? f->nvalues : 1); k++) {
                const char *v = at + k * sizeof(apr_uint64_t);
                const char *labels = f->label
                    ? apr_psprintf(r->pool, ",%s=\"%s\"", f->label,
                                   f->values[k])
                    : "";

                if (gauge) {
                    ap_rprintf(r, "%s{scheme=\"%s\"%s} %" APR_INT64_T_FMT
                               "\n", f->name, seg->names[i], labels,
                               AC_METRICS_READ(*(const apr_int64_t *)v));
                }
                else {
                    ap_rprintf(r, "%s{scheme=\"%s\"%s} %" APR_UINT64_T_FMT
                               "\n", f->name, seg->names[i], labels,
                               AC_METRICS_READ(*(const apr_uint64_t *)v));
                }
            }
        }
    }
}

static const char *const pg_schemes[] = { "token", "oauth2", NULL };
static const char *const oauth2_only[] = { "oauth2", NULL };
static const char *const token_only[] = { "token", NULL };
static const char *const miss_hit[] = { "miss", "hit" };
static const char *const error_ok[] = { "error", "ok" };
static const char *const acquire_names[AC_MPG_ACQUIRE_COUNT] = {
    "idle", "connected", "connect_failed", "backoff", "exhausted"
};
static const char *const query_names[AC_MPQ_COUNT] = {
    "ok", "unavailable", "refused"
};

#define AT(field) APR_OFFSETOF(ac_metrics_scheme, field)

static const family_def families[] = {
    { "authchain_cache_lookups_total", "counter",
      "Lookups in the verdict cache, by scheme and result.",
      pg_schemes, "result", miss_hit, 2, AT(cache) },
    { "authchain_pg_acquires_total", "counter",
      "PostgreSQL connections asked of the pool, by scheme and how the "
      "pool answered.",
      pg_schemes, "result", acquire_names, AC_MPG_ACQUIRE_COUNT,
      AT(pg_acquire) },
    { "authchain_pg_queries_total", "counter",
      "PostgreSQL statements, by scheme and result.",
      pg_schemes, "result", query_names, AC_MPQ_COUNT, AT(pg_queries) },
    { "authchain_pg_connections", "gauge",
      "PostgreSQL connections open in the pools of all children.",
      pg_schemes, NULL, NULL, 0, AT(pg_open) },
    { "authchain_pg_connections_busy", "gauge",
      "PostgreSQL connections in use by a request now.",
      pg_schemes, NULL, NULL, 0, AT(pg_busy) },
    { "authchain_jwks_fetches_total", "counter",
      "JWK Set fetches of the oauth2 scheme, by result.",
      oauth2_only, "result", error_ok, 2, AT(jwks_fetches) },
    { "authchain_revocation_listener_connects_total", "counter",
      "Connections the revocation listeners made, by result.",
      token_only, "result", error_ok, 2, AT(listener_connects) },
    { "authchain_revocation_notifications_total", "counter",
      "Notifications the revocation listeners received.",
      token_only, NULL, NULL, 0, AT(notifications) },
};

static void write_metrics(request_rec *r, ac_metrics_segment *seg)
{
    static const apr_interval_time_t bounds[AC_METRICS_BUCKETS] =
        AC_METRICS_BUCKET_BOUNDS;
    apr_uint32_t n = __atomic_load_n(&seg->nschemes, __ATOMIC_ACQUIRE), i;
    apr_size_t f;
    int o, k, b;

    if (n > AC_METRICS_SCHEMES) {
        n = AC_METRICS_SCHEMES;
    }
    family(r, "authchain_decisions_total", "counter",
           "Answers of the authentication schemes, by scheme, outcome and "
           "reason class.");
    for (i = 0; i < n; i++) {
        for (o = 0; o < AC_METRICS_OUTCOMES; o++) {
            for (k = 0; k < AC_MR_COUNT; k++) {
                if (!valid_pair(o, k)) {
                    continue;
                }
                ap_rprintf(r, "authchain_decisions_total{scheme=\"%s\","
                           "outcome=\"%s\",reason=\"%s\"} %"
                           APR_UINT64_T_FMT "\n", seg->names[i],
                           outcome_names[o], reason_names[k],
                           AC_METRICS_READ(seg->schemes[i].decisions[o][k]));
            }
        }
    }

    family(r, "authchain_decision_duration_seconds", "histogram",
           "Time a scheme took to answer, by scheme.");
    for (i = 0; i < n; i++) {
        ac_metrics_scheme *m = &seg->schemes[i];
        apr_uint64_t cum = 0;

        for (b = 0; b <= AC_METRICS_BUCKETS; b++) {
            cum += AC_METRICS_READ(m->buckets[b]);
            if (b < AC_METRICS_BUCKETS) {
                ap_rprintf(r, "authchain_decision_duration_seconds_bucket"
                           "{scheme=\"%s\",le=\"%g\"} %" APR_UINT64_T_FMT
                           "\n", seg->names[i], bounds[b] / 1e6, cum);
            }
        }
        /* _count is the +Inf bucket, read once: always equal */
        ap_rprintf(r, "authchain_decision_duration_seconds_bucket"
                   "{scheme=\"%s\",le=\"+Inf\"} %" APR_UINT64_T_FMT "\n"
                   "authchain_decision_duration_seconds_sum{scheme=\"%s\"} "
                   "%.6f\n"
                   "authchain_decision_duration_seconds_count{scheme=\"%s\"}"
                   " %" APR_UINT64_T_FMT "\n", seg->names[i], cum,
                   seg->names[i],
                   AC_METRICS_READ(m->duration_us) / 1e6, seg->names[i],
                   cum);
    }

    for (f = 0; f < sizeof(families) / sizeof(families[0]); f++) {
        write_family(r, seg, n, &families[f]);
    }

    family(r, "authchain_revocation_listeners", "gauge",
           "Revocation listeners of the token scheme listening now "
           "(AuthTokenRevocationListen).");
    for (i = 0; i < n; i++) {
        int up = 0;

        if (strcmp(seg->names[i], "token") != 0) {
            continue;
        }
        for (k = 0; k < AC_METRICS_LISTENERS; k++) {
            apr_int64_t seen = AC_METRICS_READ(seg->schemes[i]
                                               .listener_seen[k]);

            up += seen != 0 && r->request_time - seen
                               < AC_METRICS_LISTENER_FRESH;
        }
        ap_rprintf(r, "authchain_revocation_listeners{scheme=\"%s\"} %d\n",
                   seg->names[i], up);
    }

    family(r, "authchain_throttled_total", "counter",
           "Requests AuthChainThrottle answered 429, by the kind of the "
           "throttle that refused.");
    for (k = 0; k < AC_METRICS_THROTTLES; k++) {
        ap_rprintf(r, "authchain_throttled_total{throttle=\"%s\"} %"
                   APR_UINT64_T_FMT "\n", chain_throttle_kinds[k],
                   AC_METRICS_READ(seg->throttled[k]));
    }

    family(r, "authchain_metrics_start_time_seconds", "gauge",
           "When the counters started (httpd's start; restarts keep them).");
    ap_rprintf(r, "authchain_metrics_start_time_seconds %.6f\n",
               seg->created / 1e6);
}

/* The handler `auth-chain-metrics`: the counters of this node, for GET
 * and HEAD; 404 when the metrics are off. */
static int metrics_handler(request_rec *r)
{
    if (r->handler == NULL || strcmp(r->handler, METRICS_HANDLER) != 0) {
        return DECLINED;
    }
    r->allowed |= AP_METHOD_BIT << M_GET;
    if (r->method_number != M_GET) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    if (segment == NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AC_LOGNO(0032)
                      "auth-chain-metrics: AuthChainMetrics is Off");
        return HTTP_NOT_FOUND;
    }
    ap_set_content_type(r, "text/plain; version=0.0.4; charset=utf-8");
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    if (r->header_only) {
        return OK;
    }
    write_metrics(r, segment);
    return OK;
}

void chain_metrics_register(apr_pool_t *p)
{
    ap_hook_pre_config(metrics_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    /* first: the segment is there for the other modules' post_config
     * (every scheme registered its provider long before) */
    ap_hook_post_config(metrics_post_config, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_handler(metrics_handler, NULL, NULL, APR_HOOK_MIDDLE);
    APR_REGISTER_OPTIONAL_FN(auth_chain_metrics_segment);
}
