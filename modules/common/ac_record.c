/* Licensed under the Apache License, Version 2.0. */

#include "apr_strings.h"

#include <string.h>

#include "ac_record.h"

unsigned int ac_record_encode(unsigned char *buf, unsigned int size,
                              const char *head, const char *const *fields,
                              int n)
{
    unsigned int used = 0;
    int i;

    for (i = -1; i < n; i++) {
        const char *f = i < 0 ? head : fields[i];
        apr_size_t len = strlen(f ? f : "") + 1;

        if (len > size - used) {
            return 0;
        }
        memcpy(buf + used, f ? f : "", len);
        used += (unsigned int)len;
    }
    return used;
}

const char *ac_record_decode(apr_pool_t *p, const unsigned char *buf,
                             unsigned int len, const char **const *fields,
                             int n)
{
    const char *s = (const char *)buf, *end = s + len, *head;
    int i;

    if (len == 0 || buf[len - 1] != '\0') {
        return NULL;
    }
    head = apr_pstrdup(p, s);
    s += strlen(s) + 1;
    for (i = 0; i < n; i++) {
        if (s >= end) {
            return NULL;
        }
        *fields[i] = apr_pstrdup(p, s);
        s += strlen(s) + 1;
    }
    return s == end ? head : NULL;
}

int ac_record_numbers(const char *head, apr_int64_t *out, int n)
{
    const char *s = head;
    int i;

    for (i = 0; i < n; i++) {
        apr_uint64_t v = 0;
        const char *digits;
        int negative;

        if (i > 0 && *s++ != ' ') {
            return 0;
        }
        negative = *s == '-';
        s += negative;
        for (digits = s; *s >= '0' && *s <= '9'; s++) {
            apr_uint64_t d = (apr_uint64_t)(*s - '0');

            if (v > (APR_UINT64_C(9223372036854775807) - d) / 10) {
                return 0;
            }
            v = v * 10 + d;
        }
        if (s == digits) {
            return 0;
        }
        out[i] = negative ? -(apr_int64_t)v : (apr_int64_t)v;
    }
    return *s == '\0';
}
