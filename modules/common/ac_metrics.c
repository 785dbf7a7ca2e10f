/* Licensed under the Apache License, Version 2.0. */

#include "apr_strings.h"

#include "ac_metrics.h"

/* This module's scheme (ac_metrics_count_for), and its slot once found.  The
 * slot is looked up on first use and kept when found; until a child
 * starts, a NULL is not kept: the parent may count (a start-up probe)
 * before mod_auth_chain's post_config made the segment.  In a child the
 * segment is there or never will be (ac_metrics_child_init looks once and
 * `settled` keeps the answer, NULL under `AuthChainMetrics Off`), so a
 * count is never a lookup of the optional function by name.  Threads may
 * count meanwhile (mod_watchdog may start its threads first): both are
 * read and written atomically.  A restart
 * unloads and reloads the module, and so forgets all three. */
static const char *my_scheme;
static ac_metrics_scheme *my_slot;
static int settled;

ac_metrics_scheme *ac_metrics_slot(ac_metrics_segment *seg,
                                   const char *scheme)
{
    apr_uint32_t i, n;

    if (seg == NULL || scheme == NULL) {
        return NULL;
    }
    n = __atomic_load_n(&seg->nschemes, __ATOMIC_ACQUIRE);
    for (i = 0; i < n && i < AC_METRICS_SCHEMES; i++) {
        if (strcmp(seg->names[i], scheme) == 0) {
            return &seg->schemes[i];
        }
    }
    return NULL;
}

void ac_metrics_count_for(const char *scheme)
{
    my_scheme = scheme;
}

ac_metrics_scheme *ac_metrics_mine(void)
{
    ac_metrics_scheme *slot = __atomic_load_n(&my_slot, __ATOMIC_ACQUIRE);
    APR_OPTIONAL_FN_TYPE(auth_chain_metrics_segment) *segment;

    if (slot != NULL || my_scheme == NULL
        || __atomic_load_n(&settled, __ATOMIC_ACQUIRE)) {
        return slot;
    }
    segment = APR_RETRIEVE_OPTIONAL_FN(auth_chain_metrics_segment);
    if (segment == NULL
        || (slot = ac_metrics_slot(segment(), my_scheme)) == NULL) {
        return NULL;
    }
    __atomic_store_n(&my_slot, slot, __ATOMIC_RELEASE);
    return slot;
}

void ac_metrics_child_init(void)
{
    ac_metrics_mine();
    __atomic_store_n(&settled, 1, __ATOMIC_RELEASE);
}

/* Add n to a field of this module's slot, if it has one. */
#define MINE_ADD(field, n) \
    do { \
        ac_metrics_scheme *m_ = ac_metrics_mine(); \
        if (m_ != NULL) { \
            AC_METRICS_ADD(m_->field, n); \
        } \
    } while (0)

void ac_metrics_cache(int hit)
{
    MINE_ADD(cache[hit ? 1 : 0], 1);
}

void ac_metrics_pg_acquire(ac_metrics_acquire_how how)
{
    if ((unsigned int)how < AC_MPG_ACQUIRE_COUNT) {
        MINE_ADD(pg_acquire[how], 1);
    }
    if (how == AC_MPG_CONNECTED) {
        MINE_ADD(pg_open, 1);
    }
}

void ac_metrics_pg_busy(int delta)
{
    MINE_ADD(pg_busy, delta);
}

void ac_metrics_pg_closed(void)
{
    MINE_ADD(pg_open, -1);
}

void ac_metrics_pg_query(ac_metrics_query_result result)
{
    if ((unsigned int)result < AC_MPQ_COUNT) {
        MINE_ADD(pg_queries[result], 1);
    }
}

void ac_metrics_jwks_fetch(int ok)
{
    MINE_ADD(jwks_fetches[ok ? 1 : 0], 1);
}

void ac_metrics_listener_connect(int ok)
{
    MINE_ADD(listener_connects[ok ? 1 : 0], 1);
}

void ac_metrics_listener_seen(int index, int listening)
{
    ac_metrics_scheme *m = ac_metrics_mine();

    if (m != NULL && index >= 0 && index < AC_METRICS_LISTENERS) {
        __atomic_store_n(&m->listener_seen[index],
                         listening ? (apr_int64_t)apr_time_now() : 0,
                         __ATOMIC_RELAXED);
    }
}

void ac_metrics_notification(void)
{
    MINE_ADD(notifications, 1);
}
