/* Licensed under the Apache License, Version 2.0.
 *
 * ac_pg.h -- a small pool of libpq connections per child process, shared
 * by the schemes that read PostgreSQL (token, oauth2).
 *
 * Every call is bounded: connecting, preparing and running a statement
 * share one deadline, enforced with non-blocking libpq and poll(), so a
 * database that is down, frozen or unreachable costs a request at most the
 * configured timeout, never a hang.  After a failed connection attempt the
 * pool answers "unavailable" at once for a short back-off, so an outage does
 * not make every request wait.  Dead connections are dropped and replaced
 * (a restarted server is picked up again without restarting httpd), and an
 * outage is logged once when it starts and once when it ends.
 */

#ifndef AC_PG_H
#define AC_PG_H

#include "apr_pools.h"
#include "httpd.h"

#include <libpq-fe.h>

#include "ac_sql.h"

typedef struct ac_pg_pool ac_pg_pool;

typedef enum {
    AC_PG_OK = 0,       /* the statement ran: *res is its result */
    AC_PG_UNAVAILABLE,  /* no connection, timeout, or the statement failed */
    AC_PG_REFUSED       /* the database answered, but refuses the statement
                         * as written: a table, a column or a privilege it
                         * needs is missing (SQLSTATE class 42).  A
                         * configuration error, not an outage: logged as
                         * one, naming `what`, never as "database
                         * unavailable"; *res is NULL */
} ac_pg_status;

/* The pool of this child process for `conninfo` (a libpq keyword string
 * or URI; multi-host strings work), created on first use in `pchild`.
 * `timeout` bounds every call; `max` is the most connections it opens.
 * Safe to call from any thread once ac_pg_child_init() has run. */
ac_pg_pool *ac_pg_pool_get(const char *conninfo, apr_interval_time_t timeout,
                           int max);

/* The pool for the writes that go with the reads of `conninfo` (same
 * timeout and size).  When `conninfo` names one server and does not ask
 * for a standby, that is the read pool itself: nothing changes.  When it
 * names several hosts or asks for a standby (target_session_attrs other
 * than read-write or primary), writes get a pool of their own that connects
 * with target_session_attrs=read-write, so that they reach the primary
 * while the reads stay on the standby.  Such a pool backs off longer after
 * a failure, counts a "read-only transaction" error (SQLSTATE 25006) as
 * "no primary", and logs an outage as skipped writes, not as a 503. */
ac_pg_pool *ac_pg_write_pool_get(const char *conninfo,
                                 apr_interval_time_t timeout, int max);

/* Call from the module's child_init hook before any ac_pg_pool_get(). */
void ac_pg_child_init(apr_pool_t *pchild, server_rec *s);

/* Run `sql` as a prepared statement (prepared once per connection) with
 * `nparams` text parameters.  On AC_PG_OK, *res is a PGresult that is
 * cleared with `p`.  `what` names the caller in log lines. */
ac_pg_status ac_pg_query(ac_pg_pool *pool, server_rec *s, apr_pool_t *p,
                         const char *what, const char *sql, int nparams,
                         const char *const *params, PGresult **res);

/* Lookups by key batched across the threads of this child process: one
 * prepared statement, `sql`, whose only parameter $1 is a text array literal
 * of the keys (e.g. `WHERE k = ANY($1::varchar[])`).  The threads that
 * look keys up while a statement of the batch is running wait, and the
 * next statement asks for all their keys at once (AC_PG_BATCH_MAX, each
 * key once); a request thus never gets an answer older than itself, and
 * never waits longer than the pool's timeout.  One batch per (pool, sql),
 * made on first use. */
typedef struct ac_pg_batch ac_pg_batch;

ac_pg_batch *ac_pg_batch_get(ac_pg_pool *pool, const char *sql);

/* Look `key` up.  On AC_PG_OK, *res is the statement's whole result,
 * shared with the other requests of the statement and read-only: the rows
 * of every key asked, in any order; the caller picks its own by their
 * content (ac_sql_row_of).  It is released with `p`. */
ac_pg_status ac_pg_batch_query(ac_pg_batch *b, server_rec *s, apr_pool_t *p,
                               const char *what, const char *key,
                               PGresult **res);

/* Check a conninfo string at configuration time; NULL if it parses, else
 * libpq's message. */
const char *ac_pg_check_conninfo(apr_pool_t *p, const char *conninfo);

/* A connection of its own, outside the pools, for a check at start-up
 * (it needs no ac_pg_child_init): connecting and every statement share
 * one deadline, `timeout` after ac_pg_probe_open.  Nothing is logged:
 * the caller says what the answers mean. */
typedef struct ac_pg_probe ac_pg_probe;

/* Connect; AC_PG_OK with *probe (closed with `p`), or AC_PG_UNAVAILABLE
 * with *err (libpq's first line). */
ac_pg_status ac_pg_probe_open(apr_pool_t *p, const char *conninfo,
                              apr_interval_time_t timeout,
                              ac_pg_probe **probe, const char **err);

/* Run `sql` with `nparams` text parameters: AC_PG_OK with *res (cleared
 * with the probe's pool), AC_PG_REFUSED with *err (the server's message
 * and SQLSTATE), or AC_PG_UNAVAILABLE with *err. */
ac_pg_status ac_pg_probe_query(ac_pg_probe *probe, const char *sql,
                               int nparams, const char *const *params,
                               PGresult **res, const char **err);

/* A LISTEN connection of its own (not from the pool), for one thread that
 * calls ac_pg_listener_run() over and over (a mod_watchdog callback).  It
 * connects with application_name `app` (so that an administrator finds it
 * in pg_stat_activity), LISTENs on `channel`, and hands every
 * notification's payload to `notified`.  `listening` is called each time
 * LISTEN is in place, the first time and after every reconnection: what
 * was cached before may have missed notifications.  While there is no
 * connection it says so in the log once per loss, naming `what` and
 * `fallback` (what the caller does meanwhile), and tries again with a
 * back-off (AC_PG_LISTEN_BACKOFF_MIN, doubling, at most _MAX). */
#define AC_PG_LISTEN_BACKOFF_MIN apr_time_from_sec(1)
#define AC_PG_LISTEN_BACKOFF_MAX apr_time_from_sec(30)

typedef struct ac_pg_listener ac_pg_listener;

typedef void ac_pg_notified_fn(void *ctx, server_rec *s, const char *payload,
                               apr_pool_t *p);
typedef void ac_pg_listening_fn(void *ctx, server_rec *s, apr_time_t since);

typedef struct {
    const char *conninfo;
    const char *app;                /* application_name */
    const char *channel;            /* a plain identifier */
    const char *what;               /* names the directive in log lines */
    const char *fallback;           /* "..." while not listening */
    apr_interval_time_t timeout;    /* connecting and LISTEN */
    ac_pg_notified_fn *notified;
    ac_pg_listening_fn *listening;
    void *ctx;
    int index;                      /* the caller's number for it (0...),
                                     * for the metrics (ac_metrics.h) */
} ac_pg_listen_spec;

/* At configuration time (post_config, in pconf): nothing connects yet. */
ac_pg_listener *ac_pg_listener_create(apr_pool_t *p,
                                      const ac_pg_listen_spec *spec);

/* One step: connect and LISTEN when due, then wait at most `wait` for
 * notifications and deliver them.  Returns at once when there is no
 * connection and the next attempt is not due. */
void ac_pg_listener_run(ac_pg_listener *l, server_rec *s,
                        apr_interval_time_t wait, apr_pool_t *p);

/* Close the connection for good (safe from another thread than run's).
 * Returns 1 when it was listening. */
int ac_pg_listener_close(ac_pg_listener *l);

#endif /* AC_PG_H */
