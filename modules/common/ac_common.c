/* Licensed under the Apache License, Version 2.0. */

#include "apr_strings.h"

#include <stdlib.h>
#include <string.h>

#include "ac_common.h"

int ac_ct_equal(const void *a, const void *b, apr_size_t len)
{
    const volatile unsigned char *x = a;
    const volatile unsigned char *y = b;
    unsigned char diff = 0;
    apr_size_t i;

    for (i = 0; i < len; i++) {
        diff |= x[i] ^ y[i];
    }
    return diff == 0;
}

const char *ac_json_string(apr_pool_t *p, const char *s)
{
    return ac_json_stringn(p, s, strlen(s));
}

const char *ac_json_stringn(apr_pool_t *p, const char *s, apr_size_t len)
{
    static const char hex[] = "0123456789abcdef";
    apr_size_t i, n = 0;
    char *buf = apr_palloc(p, len * 6 + 3);

    buf[n++] = '"';
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '"' || c == '\\') {
            buf[n++] = '\\';
            buf[n++] = c;
        }
        else if (c == '\n') {
            buf[n++] = '\\';
            buf[n++] = 'n';
        }
        else if (c == '\t') {
            buf[n++] = '\\';
            buf[n++] = 't';
        }
        else if (c < 0x20 || c == 0x7f) {
            buf[n++] = '\\';
            buf[n++] = 'u';
            buf[n++] = '0';
            buf[n++] = '0';
            buf[n++] = hex[c >> 4];
            buf[n++] = hex[c & 0xf];
        }
        else {
            buf[n++] = c;
        }
    }
    buf[n++] = '"';
    buf[n] = '\0';
    return buf;
}

const char *ac_parse_int(apr_pool_t *p, const char *what, const char *arg,
                         int min, int max, int *out)
{
    char *end;
    long v = strtol(arg, &end, 10);

    if (end == arg || *end != '\0' || v < min || v > max) {
        return apr_psprintf(p, "%s: '%s' must be a whole number from %d to "
                            "%d", what, arg, min, max);
    }
    *out = (int)v;
    return NULL;
}

const char *ac_parse_seconds(apr_pool_t *p, const char *what,
                             const char *arg, int allow_zero, double max,
                             apr_interval_time_t *out)
{
    char *end;
    double v = strtod(arg, &end);

    if (end == arg || *end != '\0' || !(v >= 0) || (v == 0 && !allow_zero)
        || v > max) {
        return apr_psprintf(p, "%s: '%s' is not a number of seconds %s and "
                            "at most %.0f", what, arg,
                            allow_zero ? "from 0" : "above 0", max);
    }
    *out = (apr_interval_time_t)(v * APR_USEC_PER_SEC);
    return NULL;
}

apr_time_t ac_time_from_epoch(apr_int64_t sec)
{
    if (sec > AC_EPOCH_MAX) {
        sec = AC_EPOCH_MAX;
    }
    else if (sec < -AC_EPOCH_MAX) {
        sec = -AC_EPOCH_MAX;
    }
    return apr_time_from_sec(sec);
}

const char *ac_json_epoch(apr_pool_t *p, apr_int64_t sec)
{
    apr_time_exp_t tm;
    char buf[32];
    apr_size_t len;

    if (sec == 0) {
        return "null";
    }
    apr_time_exp_gmt(&tm, ac_time_from_epoch(sec));
    apr_strftime(buf, &len, sizeof(buf), "\"%Y-%m-%dT%H:%M:%SZ\"", &tm);
    return apr_pstrmemdup(p, buf, len);
}

void ac_be64_put(unsigned char *out, apr_uint64_t v)
{
    int i;

    for (i = 7; i >= 0; i--, v >>= 8) {
        out[i] = (unsigned char)(v & 0xff);
    }
}

apr_uint64_t ac_be64_get(const unsigned char *in)
{
    apr_uint64_t v = 0;
    int i;

    for (i = 0; i < 8; i++) {
        v = (v << 8) | in[i];
    }
    return v;
}

int ac_is_lower_hex(const char *s, apr_size_t len)
{
    apr_size_t i;

    if (s == NULL) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return 0;
        }
    }
    return s[len] == '\0';
}

apr_interval_time_t ac_backoff_next(apr_interval_time_t prev,
                                    apr_interval_time_t min,
                                    apr_interval_time_t max)
{
    if (prev < min) {
        return min;
    }
    return prev > max / 2 ? max : prev * 2;
}
