/* Licensed under the Apache License, Version 2.0. */

#include "apr_atomic.h"

#include "ac_seen.h"

struct ac_seen {
    volatile apr_uint64_t *slot;
    apr_size_t slots;
};

#define EXPIRY_BITS 24
#define EXPIRY_MASK ((APR_UINT64_C(1) << EXPIRY_BITS) - 1)

ac_seen *ac_seen_make(apr_pool_t *p, void *words, apr_size_t slots)
{
    ac_seen *set = apr_pcalloc(p, sizeof(*set));

    set->slot = words;
    set->slots = slots;
    return set;
}

/* Whether a slot's value is alive at now24: its expiry lies ahead,
 * modulo 2^24 (expiries are never more than 2^23 s ahead). */
static int alive(apr_uint64_t v, apr_uint64_t now24)
{
    apr_uint64_t ahead = ((v & EXPIRY_MASK) - now24) & EXPIRY_MASK;

    return v != 0 && ahead != 0 && ahead < (APR_UINT64_C(1) << 23);
}

/* Whether another live slot of the window than `mine` holds `tag`. */
static int held_elsewhere(ac_seen *set, apr_size_t start, apr_size_t mine,
                          apr_uint64_t tag, apr_uint64_t now24)
{
    apr_size_t i;

    for (i = 0; i < AC_SEEN_PROBES; i++) {
        apr_size_t k = (start + i) % set->slots;
        apr_uint64_t v = apr_atomic_read64(&set->slot[k]);

        if (k != mine && (v >> EXPIRY_BITS) == tag && alive(v, now24)) {
            return 1;
        }
    }
    return 0;
}

int ac_seen_add(ac_seen *set, const unsigned char id[32],
                apr_int64_t expiry, apr_int64_t now)
{
    apr_uint64_t tag = 0, pos = 0, now24, word, v;
    apr_size_t start, i;
    int j;

    for (j = 0; j < 5; j++) {
        tag = tag << 8 | id[j];
    }
    for (j = 5; j < 13; j++) {
        pos = pos << 8 | id[j];
    }
    tag |= 1;                   /* a taken slot is never 0 */
    now24 = (apr_uint64_t)now & EXPIRY_MASK;
    word = tag << EXPIRY_BITS | ((apr_uint64_t)expiry & EXPIRY_MASK);
    start = (apr_size_t)(pos % set->slots);
    /* a live copy anywhere in the window: seen */
    if (held_elsewhere(set, start, set->slots, tag, now24)) {
        return AC_SEEN_SEEN;
    }
    for (i = 0; i < AC_SEEN_PROBES; i++) {
        apr_size_t k = (start + i) % set->slots;

        v = apr_atomic_read64(&set->slot[k]);
        if (alive(v, now24)) {
            if ((v >> EXPIRY_BITS) == tag) {
                return AC_SEEN_SEEN;
            }
            continue;
        }
        if (apr_atomic_cas64(&set->slot[k], word, v) != v) {
            /* taken meanwhile: by this value, or by another */
            v = apr_atomic_read64(&set->slot[k]);
            if ((v >> EXPIRY_BITS) == tag && alive(v, now24)) {
                return AC_SEEN_SEEN;
            }
            continue;
        }
        /* claimed: an asker of the same value that claimed another slot
         * first is seen now, and wins */
        if (held_elsewhere(set, start, k, tag, now24)) {
            apr_atomic_cas64(&set->slot[k], 0, word);
            return AC_SEEN_SEEN;
        }
        return AC_SEEN_NEW;
    }
    return AC_SEEN_FULL;
}
