/* Licensed under the Apache License, Version 2.0.
 *
 * ac_metrics.h -- the node's metrics: counters in one shared memory
 * segment that mod_auth_chain creates (modules/chain/metrics.c, which
 * serves them in Prometheus's text format), counted by every child and
 * every module of the node with lock-free atomic additions.
 *
 * The segment is reached through the optional function
 * auth_chain_metrics_segment(), found on first use: a module loaded without
 * mod_auth_chain, or with `AuthChainMetrics Off`, finds none and every
 * call below does nothing.  Each module carries its own copy of this code
 * (modules/common is linked into each), so each says once, in its
 * register_hooks, which scheme its shared code counts for
 * (ac_metrics_count_for): the verdict cache and the PostgreSQL pool
 * of mod_authn_token count under "token", those of
 * mod_authn_oauth2 under "oauth2".
 *
 * Labels are never free text: a scheme name from the provider table, and
 * the fixed sets below.
 */

#ifndef AC_METRICS_H
#define AC_METRICS_H

#include "apr.h"
#include "apr_optional.h"
#include "apr_time.h"

/* --- the segment's layout (the owner's and the counters' contract) ----- */

#define AC_METRICS_MAGIC 0x61636d03u     /* "acm" and the layout's version */
#define AC_METRICS_SCHEMES 16            /* scheme slots per node */
#define AC_METRICS_NAME 32               /* a scheme's name, NUL included */
#define AC_METRICS_LISTENERS 8           /* revocation listeners per scheme */
/* a listener that said so within this time counts as listening (it says
 * so every few hundred milliseconds while it is) */
#define AC_METRICS_LISTENER_FRESH apr_time_from_sec(5)

/* Requests AuthChainThrottle answered 429, by the kind of the throttle
 * that refused (anon, user, credential, scope: modules/chain/throttle.h). */
#define AC_METRICS_THROTTLES 4

/* The outcomes: auth_chain_status's order (mod_auth_chain.h). */
#define AC_METRICS_OUTCOMES 5

/* The reason classes of a decision (docs/operations.md has the table). */
typedef enum {
    AC_MR_OK = 0,       /* granted */
    AC_MR_ABSENT,       /* declined: no credentials of the scheme */
    AC_MR_MALFORMED,    /* denied: the header or the token cannot be read */
    AC_MR_INVALID,      /* denied: unknown key, wrong password, bad signature */
    AC_MR_EXPIRED,      /* denied */
    AC_MR_REVOKED,      /* denied */
    AC_MR_INACTIVE,     /* denied: the user is inactive or deleted */
    AC_MR_BINDING,      /* denied: DPoP proof or certificate binding */
    AC_MR_CSRF,         /* forbidden: CSRF check failed */
    AC_MR_REFUSED,      /* forbidden: any other refusal */
    AC_MR_BACKEND,      /* unavailable: the store or issuer cannot answer */
    AC_MR_COUNT
} ac_metrics_reason;

/* Upper bounds of the latency histogram's buckets, in microseconds (the
 * +Inf bucket follows). */
#define AC_METRICS_BUCKETS 18
#define AC_METRICS_BUCKET_BOUNDS \
    { 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, \
      100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000 }

/* PostgreSQL: how a connection was had, and how a statement ended. */
typedef enum {
    AC_MPG_IDLE = 0,    /* an idle pooled connection */
    AC_MPG_CONNECTED,   /* a new connection */
    AC_MPG_CONNECT_FAILED,
    AC_MPG_BACKOFF,     /* refused at once: the database failed moments ago */
    AC_MPG_EXHAUSTED,   /* every connection stayed busy until the deadline */
    AC_MPG_ACQUIRE_COUNT
} ac_metrics_acquire_how;

typedef enum {
    AC_MPQ_OK = 0,
    AC_MPQ_UNAVAILABLE,
    AC_MPQ_REFUSED,
    AC_MPQ_COUNT
} ac_metrics_query_result;

/* One scheme's counters.  Gauges are signed. */
typedef struct {
    apr_uint64_t decisions[AC_METRICS_OUTCOMES][AC_MR_COUNT];
    apr_uint64_t buckets[AC_METRICS_BUCKETS + 1];
    apr_uint64_t duration_us;             /* the histogram's sum */
    apr_uint64_t cache[2];                /* misses, hits */
    apr_uint64_t pg_acquire[AC_MPG_ACQUIRE_COUNT];
    apr_uint64_t pg_queries[AC_MPQ_COUNT];
    apr_int64_t pg_open;                  /* connections open, all children */
    apr_int64_t pg_busy;                  /* of them in use by a request */
    apr_uint64_t jwks_fetches[2];         /* JWK Set fetches: failed, ok */
    apr_int64_t listener_seen[AC_METRICS_LISTENERS];  /* apr_time_t: last
                                           * seen listening; 0: stopped */
    apr_uint64_t listener_connects[2];    /* failed, ok */
    apr_uint64_t notifications;
} ac_metrics_scheme;

typedef struct {
    apr_uint32_t magic;
    apr_uint32_t nschemes;                /* slots in use, only ever grows */
    apr_int64_t created;                  /* apr_time_t */
    char names[AC_METRICS_SCHEMES][AC_METRICS_NAME];
    ac_metrics_scheme schemes[AC_METRICS_SCHEMES];
    apr_uint64_t throttled[AC_METRICS_THROTTLES];
} ac_metrics_segment;

/* The owner's optional function: the segment, or NULL (metrics off, or
 * mod_auth_chain not loaded). */
APR_DECLARE_OPTIONAL_FN(ac_metrics_segment *, auth_chain_metrics_segment,
                        (void));

/* The slot of `scheme` in `seg`, or NULL. */
ac_metrics_scheme *ac_metrics_slot(ac_metrics_segment *seg,
                                   const char *scheme);

/* Lock-free counting, relaxed: a scrape may see one counter a moment
 * ahead of another, never a torn or lost count. */
#define AC_METRICS_ADD(field, n) \
    ((void)__atomic_fetch_add(&(field), (n), __ATOMIC_RELAXED))
#define AC_METRICS_READ(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

/* --- what this module's shared code counts ------------------------------ */

/* The scheme this module's shared code counts for ("token", "oauth2");
 * call from register_hooks.  Without it, nothing is counted.  (No
 * function here may end in "_module": the modules export those names,
 * and httpd would bind every module's call to the first module's copy.) */
void ac_metrics_count_for(const char *scheme);

/* The slot of this module's scheme, or NULL: nothing to count. */
ac_metrics_scheme *ac_metrics_mine(void);

/* From the module's child_init: the slot is looked for once more and
 * what was found (or not) is kept for the child's life. */
void ac_metrics_child_init(void);

/* The verdict cache answered (hit 1) or did not (ac_verdict_get). */
void ac_metrics_cache(int hit);
/* PostgreSQL (ac_pg): a connection was had (or not); one closed; a
 * statement ended. */
void ac_metrics_pg_acquire(ac_metrics_acquire_how how);
void ac_metrics_pg_busy(int delta);
void ac_metrics_pg_closed(void);
void ac_metrics_pg_query(ac_metrics_query_result result);
/* A JWK Set fetch ended: ok 1 for a 200 answer (modules/oauth2/jwks.c). */
void ac_metrics_jwks_fetch(int ok);
/* A revocation listener connected (ok 1) or failed to; listener number
 * `index` (ac_pg_listen_spec) is listening now (a heartbeat), or stopped;
 * a notification arrived.  A heartbeat, not a gauge counted up and down:
 * a child that dies with its listener leaves nothing behind. */
void ac_metrics_listener_connect(int ok);
void ac_metrics_listener_seen(int index, int listening);
void ac_metrics_notification(void);

#endif /* AC_METRICS_H */
