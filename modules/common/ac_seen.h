/* Licensed under the Apache License, Version 2.0.
 *
 * ac_seen.h -- a set of one-time values (DPoP proof ids) in shared memory
 * that every child process of a node sees, without a lock: each request
 * asks "is this value new?" and, when it is, the value is remembered until
 * its expiry.  One 64-bit word a value (40 bits of its digest, 24 bits of
 * its expiry in seconds, modulo 2^24), found by linear probing over a
 * window of AC_SEEN_PROBES slots, claimed with compare-and-swap.
 *
 * At most one of any number of concurrent askers of the same value gets
 * "new": a claimer looks at the whole window again after its claim, and
 * gives up its slot (answering "seen") when another live copy is there;
 * since claims are sequentially consistent, of two claimers the later one
 * always sees the earlier.  (Two that claim at the very same moment may
 * both answer "seen": a value asked twice at once is a replay anyway.)  A slot whose value expired is free again.  A
 * window whose every slot is live and taken answers AC_SEEN_FULL: the
 * caller asks another store.  (A value left in its slot looks alive again
 * 2^24 seconds after its expiry, for its lifetime: its slot then seems
 * taken, and the same value seen; a DPoP proof that old is refused by its
 * iat anyway.)
 */

#ifndef AC_SEEN_H
#define AC_SEEN_H

#include "apr_pools.h"

#define AC_SEEN_PROBES 16

typedef struct ac_seen ac_seen;

enum { AC_SEEN_FULL = -1, AC_SEEN_SEEN = 0, AC_SEEN_NEW = 1 };

/* A set of `slots` values (8 bytes each) in `words`, memory that the
 * caller shares between processes (anonymous shared memory made before
 * the children fork) and that starts zeroed. */
ac_seen *ac_seen_make(apr_pool_t *p, void *words, apr_size_t slots);

/* Whether the value of digest id[32] is new at `now` (epoch seconds):
 * AC_SEEN_NEW, and remembered until `expiry` (at most 2^23 seconds
 * later); AC_SEEN_SEEN; or AC_SEEN_FULL. */
int ac_seen_add(ac_seen *set, const unsigned char id[32],
                apr_int64_t expiry, apr_int64_t now);

#endif /* AC_SEEN_H */
