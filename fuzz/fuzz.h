/* Licensed under the Apache License, Version 2.0.
 *
 * fuzz.h -- what every libFuzzer target of fuzz/ shares: APR initialised
 * once, one pool cleared after each input, and FUZZ_ASSERT, which aborts
 * (so that libFuzzer saves the input) when an invariant does not hold.
 */

#ifndef AC_FUZZ_H
#define AC_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apr_general.h"
#include "apr_pools.h"
#include "apr_strings.h"

#define FUZZ_ASSERT(cond)                                               \
    do {                                                                \
        if (!(cond)) {                                                  \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__,  \
                    __LINE__, #cond);                                   \
            abort();                                                    \
        }                                                               \
    } while (0)

static apr_pool_t *fuzz_root;

/* The pool of one input: created on first use, cleared by fuzz_done(). */
static apr_pool_t *fuzz_pool(void)
{
    if (fuzz_root == NULL) {
        if (apr_initialize() != APR_SUCCESS
            || apr_pool_create(&fuzz_root, NULL) != APR_SUCCESS) {
            abort();
        }
    }
    return fuzz_root;
}

static void fuzz_done(void)
{
    apr_pool_clear(fuzz_root);
}

static apr_status_t fuzz_free(void *block)
{
    free(block);
    return APR_SUCCESS;
}

/* The input as a NUL-terminated copy, for the functions that read C
 * strings (libFuzzer's buffer is not terminated).  From malloc, not from
 * the pool, so that AddressSanitizer sees a read past its end; freed when
 * `p` is cleared. */
static char *fuzz_cstr(apr_pool_t *p, const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);

    if (s == NULL) {
        abort();
    }
    memcpy(s, data, size);
    s[size] = '\0';
    apr_pool_cleanup_register(p, s, fuzz_free, apr_pool_cleanup_null);
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif /* AC_FUZZ_H */
