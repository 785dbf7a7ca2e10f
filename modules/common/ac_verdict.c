/* Licensed under the Apache License, Version 2.0. */

#include "apr_strings.h"

#include "ac_common.h"
#include "ac_key.h"
#include "ac_verdict.h"

/* --- settings fingerprints ---------------------------------------------- */

void ac_fp_begin(ac_fp *fp)
{
    fp->ctx = EVP_MD_CTX_new();
    if (fp->ctx != NULL
        && EVP_DigestInit_ex(fp->ctx, ac_digest("SHA256"), NULL) != 1) {
        EVP_MD_CTX_free(fp->ctx);
        fp->ctx = NULL;
    }
}

/* an item: its kind, its length (8 bytes), its bytes */
static void fp_item(ac_fp *fp, char kind, const void *data, apr_size_t len)
{
    unsigned char head[9];

    if (fp->ctx == NULL) {
        return;
    }
    head[0] = (unsigned char)kind;
    ac_be64_put(head + 1, (apr_uint64_t)len);
    EVP_DigestUpdate(fp->ctx, head, sizeof(head));
    EVP_DigestUpdate(fp->ctx, data, len);
}

void ac_fp_str(ac_fp *fp, const char *s)
{
    if (s == NULL) {
        fp_item(fp, 'n', "", 0);
    }
    else {
        fp_item(fp, 's', s, strlen(s));
    }
}

void ac_fp_mem(ac_fp *fp, const void *data, apr_size_t len)
{
    fp_item(fp, 'm', data, len);
}

void ac_fp_int(ac_fp *fp, apr_int64_t v)
{
    unsigned char b[8];

    ac_be64_put(b, (apr_uint64_t)v);
    fp_item(fp, 'i', b, sizeof(b));
}

void ac_fp_final(ac_fp *fp, const void *last, apr_size_t len,
                 unsigned char out[32])
{
    unsigned int n = 32;

    if (fp->ctx == NULL) {
        /* OpenSSL could not hash: an id that nothing else has, so that
         * nothing is shared (each such lookup misses) */
        memset(out, 0, 32);
        return;
    }
    fp_item(fp, 'c', last, len);
    if (EVP_DigestFinal_ex(fp->ctx, out, &n) != 1) {
        memset(out, 0, 32);
    }
    EVP_MD_CTX_free(fp->ctx);
    fp->ctx = NULL;
}

const char *ac_fp_hex(apr_pool_t *p, const unsigned char fp[32])
{
    static const char hex[] = "0123456789abcdef";
    char *out = apr_palloc(p, 65);
    int i;

    for (i = 0; i < 32; i++) {
        out[2 * i] = hex[fp[i] >> 4];
        out[2 * i + 1] = hex[fp[i] & 0xf];
    }
    out[64] = '\0';
    return out;
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

    if (c == NULL || nfields > AC_VERDICT_FIELDS
        || !ac_cache_get(c, s, id, 32, buf, &len, p)) {
        return 0;
    }
    memset(v, 0, sizeof(*v));
    for (i = 0; i < nfields; i++) {
        fields[i] = &v->fields[i];
    }
    head = ac_record_decode(p, buf, len, fields, nfields);
    if (head == NULL || !ac_record_numbers(head, n, 4) || n[0] < 0) {
        return 0;
    }
    v->verdict = (int)n[0];
    v->expires = n[1];
    v->mark = n[2];
    v->loaded = (apr_time_t)n[3];
    /* the reader's TTL, whoever stored it */
    return apr_time_now() < v->loaded + lifetime(ttl, v);
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
