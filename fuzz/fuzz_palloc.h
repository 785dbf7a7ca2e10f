/* Licensed under the Apache License, Version 2.0.
 *
 * fuzz_palloc.h -- included before anything else (-include) when
 * fuzz/run compiles modules/common and the targets: apr_palloc and
 * apr_pcalloc become one malloc per allocation, freed by a cleanup of the
 * pool, so that AddressSanitizer sees a write or read past the end of
 * anything our code allocates.  (Inside APR's own pool blocks it cannot:
 * they are large chunks carved up without redzones.)  Allocations that
 * APR makes itself (apr_pstrdup, apr_psprintf, ...) stay in the pool.
 */

#ifndef AC_FUZZ_PALLOC_H
#define AC_FUZZ_PALLOC_H

#include <stdlib.h>
#include <string.h>

#include "apr_pools.h"

static apr_status_t fuzz_palloc_free(void *block)
{
    free(block);
    return APR_SUCCESS;
}

static inline void *fuzz_palloc(apr_pool_t *p, apr_size_t size)
{
    /* malloc(0) may return NULL, which a caller would take for failure */
    void *block = malloc(size ? size : 1);

    if (block == NULL) {
        abort();
    }
    apr_pool_cleanup_register(p, block, fuzz_palloc_free,
                              apr_pool_cleanup_null);
    return block;
}

#undef apr_palloc
#undef apr_pcalloc
#define apr_palloc(p, size) fuzz_palloc((p), (size))
#define apr_pcalloc(p, size) memset(fuzz_palloc((p), (size)), 0, (size))

#endif /* AC_FUZZ_PALLOC_H */
