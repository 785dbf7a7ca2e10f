/* Licensed under the Apache License, Version 2.0. */

#include "apr_strings.h"

#include "ac_common.h"
#include "ac_key.h"
#include "ac_metrics.h"
#include "ac_record.h"
#include "ac_verdict.h"

/* --- ids ------------------------------------------------------------------ */

void ac_verdict_id(ac_fp *settings, const void *cred, apr_size_t len,
                   unsigned char id[32])
{
    ac_fp_final(settings, cred, len, id);
}

void ac_verdict_evict(ac_cache *c, server_rec *s, ac_fp *settings,
                      const void *cred, apr_size_t len, apr_pool_t *p)
{
    unsigned char id[32];

    ac_verdict_id(settings, cred, len, id);
    if (c != NULL) {
        ac_cache_remove(c, s, id, sizeof(id), p);
    }
}

/* --- verdicts ------------------------------------------------------------- */

/* A record: "verdict expires mark loaded", then the strings. */

static apr_interval_time_t lifetime(int ttl, const ac_verdict *v)
{
    int secs = v->verdict == 0 || ttl < AC_VERDICT_NEGATIVE_TTL
               ? ttl : AC_VERDICT_NEGATIVE_TTL;

    return apr_time_from_sec(secs);
}

int ac_verdict_get(ac_cache *c, server_rec *s, const unsigned char id[32],
                   int ttl, int nfields, apr_pool_t *p, ac_verdict *v)
{
    unsigned char buf[AC_VERDICT_MAX_RECORD];
    unsigned int len = sizeof(buf);
    const char **fields[AC_VERDICT_FIELDS];
    const char *head;
    apr_int64_t n[4];
    int i;

    if (c == NULL || nfields > AC_VERDICT_FIELDS) {
        return 0;
    }
    if (!ac_cache_get(c, s, id, 32, buf, &len, p)) {
        ac_metrics_cache(0);
        return 0;
    }
    memset(v, 0, sizeof(*v));
    for (i = 0; i < nfields; i++) {
        fields[i] = &v->fields[i];
    }
    head = ac_record_decode(p, buf, len, fields, nfields);
    if (head == NULL || !ac_record_numbers(head, n, 4) || n[0] < 0) {
        ac_metrics_cache(0);
        return 0;
    }
    v->verdict = (int)n[0];
    v->expires = n[1];
    v->mark = n[2];
    v->loaded = (apr_time_t)n[3];
    /* the reader's TTL, whoever stored it */
    if (apr_time_now() >= v->loaded + lifetime(ttl, v)) {
        ac_metrics_cache(0);
        return 0;
    }
    ac_metrics_cache(1);
    return 1;
}

void ac_verdict_put(ac_cache *c, server_rec *s, const unsigned char id[32],
                    int ttl, apr_time_t known, const ac_verdict *v,
                    int nfields, apr_pool_t *p)
{
    unsigned char buf[AC_VERDICT_MAX_RECORD];
    apr_time_t expiry = v->loaded + lifetime(ttl, v);
    char head[96];
    unsigned int len;

    if (c == NULL || ttl <= 0 || nfields > AC_VERDICT_FIELDS) {
        return;
    }
    if (v->verdict == 0 && v->expires != 0
        && ac_time_from_epoch(v->expires) < expiry) {
        expiry = ac_time_from_epoch(v->expires);    /* never past it */
    }
    if (expiry <= apr_time_now()) {
        return;
    }
    apr_snprintf(head, sizeof(head), "%d %" APR_INT64_T_FMT " %"
                 APR_INT64_T_FMT " %" APR_INT64_T_FMT, v->verdict,
                 v->expires, v->mark, (apr_int64_t)v->loaded);
    len = ac_record_encode(buf, sizeof(buf), head, v->fields, nfields);
    if (len == 0) {
        return;             /* too large: judged again next time */
    }
    ac_cache_put(c, s, id, 32, v->loaded, known, expiry, buf, len, p);
}
