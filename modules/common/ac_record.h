/* Licensed under the Apache License, Version 2.0.
 *
 * ac_record.h -- the bytes of a cache record, as the verdict cache
 * (ac_verdict.c) stores them: a head line, then strings, each
 * NUL-terminated.  Pure: no httpd, no cache, so that the unit tests link
 * it alone.
 */

#ifndef AC_RECORD_H
#define AC_RECORD_H

#include "apr_pools.h"

/* A cache record: a head line, then `n` strings, each NUL-terminated, in
 * `size` bytes at most.  Returns the length, or 0 when it does not fit. */
unsigned int ac_record_encode(unsigned char *buf, unsigned int size,
                              const char *head, const char *const *fields,
                              int n);

/* The reverse, copying into `p`: returns the head and sets
 * *fields[0..n-1], or NULL when the record is not n + 1 strings. */
const char *ac_record_decode(apr_pool_t *p, const unsigned char *buf,
                             unsigned int len, const char **const *fields,
                             int n);

/* A head of exactly `n` decimal integers (a '-' allowed), separated by
 * single spaces, into out[0..n-1]: 1, or 0 for anything else.  (sscanf
 * cost more than the rest of a cache hit.) */
int ac_record_numbers(const char *head, apr_int64_t *out, int n);

#endif /* AC_RECORD_H */
