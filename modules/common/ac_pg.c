/* Licensed under the Apache License, Version 2.0. */

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "apr_atomic.h"
#include "apr_hash.h"
#include "apr_strings.h"
#include "apr_thread_cond.h"
#include "apr_thread_mutex.h"

#include "httpd.h"
#include "http_log.h"

#include "ac_common.h"
#include "ac_metrics.h"
#include "ac_request.h"
#include "ac_pg.h"

/* Log as the module that links this copy (ac_request.h). */
#undef APLOG_MODULE_INDEX
#define APLOG_MODULE_INDEX AC_LOG_SHARED_CODE

/* How long the pool answers "unavailable" without trying after a failed
 * connection attempt. */
#define AC_PG_BACKOFF apr_time_from_msec(500)

/* The same for a pool of writes to the primary (ac_pg_write_pool_get):
 * its writes are optional, so a down primary is tried rarely. */
#define AC_PG_WRITE_BACKOFF apr_time_from_sec(5)

/* SQLSTATE read_only_sql_transaction: a write reached a standby. */
#define AC_PG_READ_ONLY_SQLSTATE "25006"

/* SQLSTATE feature_not_supported, which a prepared statement answers for
 * good ("cached plan must not change result type") once a migration has
 * changed the type of a column it returns. */
#define AC_PG_STALE_PLAN_SQLSTATE "0A000"

/* SQLSTATE class 42, syntax error or access rule violation: an undefined
 * table or column, a missing privilege.  The statement can never run
 * against the database as it is: the configuration's error. */
#define AC_PG_REFUSED_CLASS "42"

/* The OID of `text`: every parameter is sent as text. */
#define AC_PG_TEXTOID 25

typedef struct ac_pg_conn {
    PGconn *conn;
    apr_hash_t *prepared;       /* SQL text -> statement name */
    apr_pool_t *pool;           /* lives as long as the connection */
    struct ac_pg_conn *next;
} ac_pg_conn;

struct ac_pg_pool {
    const char *conninfo;
    apr_interval_time_t timeout;
    int max;
    apr_thread_mutex_t *lock;
    apr_thread_cond_t *freed;
    ac_pg_conn *idle;
    int open;                   /* connections open or being opened */
    apr_time_t retry_after;     /* no connection attempt before this */
    int failing;                /* an outage is in progress (logged) */
    int writer;                 /* optional writes to the primary */
    unsigned int next_statement;
    struct ac_pg_batch *batches;
    struct ac_pg_pool *next;    /* same conninfo, other settings */
};

static apr_pool_t *child_pool;
static apr_thread_mutex_t *registry_lock;
static apr_hash_t *registry;
static apr_hash_t *writers;     /* read conninfo -> write conninfo or "" */

static void close_conn(ac_pg_conn *c);
static const char *first_line(apr_pool_t *p, const char *msg);

/* At child exit: close the idle connections of every pool. */
static apr_status_t close_all(void *unused)
{
    apr_hash_index_t *hi;

    for (hi = apr_hash_first(NULL, registry); hi; hi = apr_hash_next(hi)) {
        ac_pg_pool *pool;

        for (pool = apr_hash_this_val(hi); pool; pool = pool->next) {
            while (pool->idle) {
                ac_pg_conn *c = pool->idle;
                pool->idle = c->next;
                close_conn(c);
            }
        }
    }
    return APR_SUCCESS;
}

void ac_pg_child_init(apr_pool_t *pchild, server_rec *s)
{
    if (child_pool != NULL) {
        return;                 /* another server_rec of the same child */
    }
    child_pool = pchild;
    apr_thread_mutex_create(&registry_lock, APR_THREAD_MUTEX_DEFAULT, pchild);
    registry = apr_hash_make(pchild);
    writers = apr_hash_make(pchild);
    apr_pool_cleanup_register(pchild, NULL, close_all, apr_pool_cleanup_null);
}

/* Find or create the pool; the caller holds registry_lock. */
static ac_pg_pool *pool_get_locked(const char *conninfo,
                                   apr_interval_time_t timeout, int max,
                                   int writer)
{
    ac_pg_pool *pool;

    /* registry: conninfo -> the pools for it, one per (timeout, max,
     * writer) */
    for (pool = apr_hash_get(registry, conninfo, APR_HASH_KEY_STRING);
         pool != NULL; pool = pool->next) {
        if (pool->timeout == timeout && pool->max == (max > 0 ? max : 1)
            && pool->writer == writer) {
            break;
        }
    }
    if (pool == NULL) {
        pool = apr_pcalloc(child_pool, sizeof(*pool));
        pool->conninfo = apr_pstrdup(child_pool, conninfo);
        pool->timeout = timeout;
        pool->max = max > 0 ? max : 1;
        pool->writer = writer;
        apr_thread_mutex_create(&pool->lock, APR_THREAD_MUTEX_DEFAULT,
                                child_pool);
        apr_thread_cond_create(&pool->freed, child_pool);
        pool->next = apr_hash_get(registry, conninfo, APR_HASH_KEY_STRING);
        apr_hash_set(registry, pool->conninfo, APR_HASH_KEY_STRING, pool);
    }
    return pool;
}

ac_pg_pool *ac_pg_pool_get(const char *conninfo, apr_interval_time_t timeout,
                           int max)
{
    ac_pg_pool *pool;

    apr_thread_mutex_lock(registry_lock);
    pool = pool_get_locked(conninfo, timeout, max, 0);
    apr_thread_mutex_unlock(registry_lock);
    return pool;
}

ac_pg_pool *ac_pg_write_pool_get(const char *conninfo,
                                 apr_interval_time_t timeout, int max)
{
    const char *wconninfo;
    ac_pg_pool *pool;

    apr_thread_mutex_lock(registry_lock);
    /* parsed once per child and conninfo, remembered in `writers` */
    wconninfo = apr_hash_get(writers, conninfo, APR_HASH_KEY_STRING);
    if (wconninfo == NULL) {
        wconninfo = ac_write_conninfo(child_pool, conninfo);
        apr_hash_set(writers, apr_pstrdup(child_pool, conninfo),
                     APR_HASH_KEY_STRING, wconninfo ? wconninfo : "");
    }
    if (wconninfo == NULL || *wconninfo == '\0') {
        pool = pool_get_locked(conninfo, timeout, max, 0);
    }
    else {
        pool = pool_get_locked(wconninfo, timeout, max, 1);
    }
    apr_thread_mutex_unlock(registry_lock);
    return pool;
}

const char *ac_pg_check_conninfo(apr_pool_t *p, const char *conninfo)
{
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &err);

    if (opts == NULL) {
        const char *msg = err ? apr_pstrdup(p, err) : "out of memory";
        PQfreemem(err);
        return msg;
    }
    PQconninfoFree(opts);
    return NULL;
}

/* Wait until the connection's socket is ready for `events` or the deadline
 * passes.  Returns 1 when ready, 0 on timeout or error. */
static int wait_socket(PGconn *conn, short events, apr_time_t deadline)
{
    struct pollfd pfd;
    int rc;

    pfd.fd = PQsocket(conn);
    pfd.events = events;
    if (pfd.fd < 0) {
        return 0;
    }
    do {
        apr_interval_time_t left = deadline - apr_time_now();
        if (left <= 0) {
            return 0;
        }
        rc = poll(&pfd, 1, (int)((left + 999) / 1000));
    } while (rc < 0 && errno == EINTR);
    return rc > 0;
}

/* Open a connection before the deadline, without ever blocking past it
 * (PQconnectStart/PQconnectPoll, as libpq documents for non-blocking
 * connections). */
static PGconn *connect_poll(PGconn *conn, apr_time_t deadline,
                            const char **err)
{
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;

    if (conn == NULL) {
        *err = "out of memory";
        return NULL;
    }
    if (PQstatus(conn) == CONNECTION_BAD) {
        *err = PQerrorMessage(conn);
        return conn;
    }
    while (st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
        short events = (st == PGRES_POLLING_READING) ? POLLIN : POLLOUT;
        if (!wait_socket(conn, events, deadline)) {
            *err = "timed out connecting";
            return conn;
        }
        st = PQconnectPoll(conn);
    }
    if (st == PGRES_POLLING_FAILED) {
        *err = PQerrorMessage(conn);
    }
    return conn;
}

static PGconn *connect_by(const char *conninfo, apr_time_t deadline,
                          const char **err)
{
    return connect_poll(PQconnectStart(conninfo), deadline, err);
}

/* Read the result of what was sent, before the deadline.  Returns the
 * first result (the caller clears it) or NULL with *err set. */
static PGresult *result_by(PGconn *conn, apr_time_t deadline,
                           const char **err)
{
    PGresult *res, *first = NULL;

    for (;;) {
        while (PQisBusy(conn)) {
            if (!wait_socket(conn, POLLIN, deadline)) {
                *err = "timed out waiting for the database";
                PQclear(first);
                return NULL;
            }
            if (!PQconsumeInput(conn)) {
                *err = PQerrorMessage(conn);
                PQclear(first);
                return NULL;
            }
        }
        res = PQgetResult(conn);
        if (res == NULL) {
            break;
        }
        if (first == NULL) {
            first = res;
        }
        else {
            PQclear(res);
        }
    }
    if (first == NULL) {
        *err = PQerrorMessage(conn);
    }
    return first;
}

static void close_conn(ac_pg_conn *c)
{
    if (c->conn) {
        PQfinish(c->conn);
    }
    ac_metrics_pg_closed();
    apr_pool_destroy(c->pool);
}

/* Our statements are lookups by key, the same plan whatever the key: let
 * the connection plan each prepared statement once.  (By default
 * PostgreSQL plans a statement with an array parameter again on every
 * execution: its generic plan, costed for ten elements, looks dearer than
 * a plan for the few keys of one batch.)  A server too old for the
 * setting refuses it and plans as it always did. */
static void plan_once(PGconn *conn, apr_time_t deadline)
{
    const char *err = NULL;

    if (PQsendQuery(conn, "SET plan_cache_mode = force_generic_plan")) {
        PQclear(result_by(conn, deadline, &err));
    }
}

/* Take an idle connection, or open one, or wait for one to be freed;
 * all before the deadline.  *fresh tells whether it was just opened. */
static ac_pg_conn *acquire(ac_pg_pool *pool, apr_pool_t *p,
                           apr_time_t deadline, int *fresh, const char **err)
{
    ac_pg_conn *c = NULL;
    apr_pool_t *cp;
    PGconn *conn;

    apr_thread_mutex_lock(pool->lock);
    for (;;) {
        if (pool->idle) {
            c = pool->idle;
            pool->idle = c->next;
            apr_thread_mutex_unlock(pool->lock);
            ac_metrics_pg_acquire(AC_MPG_IDLE);
            ac_metrics_pg_busy(1);
            *fresh = 0;
            return c;
        }
        if (apr_time_now() < pool->retry_after) {
            apr_thread_mutex_unlock(pool->lock);
            ac_metrics_pg_acquire(AC_MPG_BACKOFF);
            *err = "the database was unreachable moments ago";
            return NULL;
        }
        if (pool->open < pool->max) {
            pool->open++;
            break;
        }
        if (deadline <= apr_time_now()
            || apr_thread_cond_timedwait(pool->freed, pool->lock,
                                         deadline - apr_time_now())
               == APR_TIMEUP) {
            apr_thread_mutex_unlock(pool->lock);
            ac_metrics_pg_acquire(AC_MPG_EXHAUSTED);
            *err = "every pooled connection stayed busy";
            return NULL;
        }
    }
    apr_thread_mutex_unlock(pool->lock);

    conn = connect_by(pool->conninfo, deadline, err);
    if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
        /* copy libpq's message before the connection goes away */
        *err = apr_pstrdup(p, *err ? *err : "connection failed");
        if (conn) {
            PQfinish(conn);
        }
        apr_thread_mutex_lock(pool->lock);
        pool->open--;
        /* optional writes leave a down primary alone for longer */
        pool->retry_after = apr_time_now()
                            + (pool->writer ? AC_PG_WRITE_BACKOFF
                                            : AC_PG_BACKOFF);
        apr_thread_cond_signal(pool->freed);
        apr_thread_mutex_unlock(pool->lock);
        ac_metrics_pg_acquire(AC_MPG_CONNECT_FAILED);
        return NULL;
    }
    ac_metrics_pg_acquire(AC_MPG_CONNECTED);
    ac_metrics_pg_busy(1);
    plan_once(conn, deadline);
    /* unmanaged: request threads must not create subpools of pchild */
    apr_pool_create_unmanaged_ex(&cp, NULL, NULL);
    c = apr_pcalloc(cp, sizeof(*c));
    c->pool = cp;
    c->conn = conn;
    c->prepared = apr_hash_make(cp);
    *fresh = 1;
    return c;
}

/* Give a connection back, or close it when it failed. */
static void release(ac_pg_pool *pool, ac_pg_conn *c, int healthy)
{
    ac_metrics_pg_busy(-1);
    apr_thread_mutex_lock(pool->lock);
    if (healthy && PQstatus(c->conn) == CONNECTION_OK
        && PQtransactionStatus(c->conn) == PQTRANS_IDLE) {
        c->next = pool->idle;
        pool->idle = c;
    }
    else {
        close_conn(c);
        pool->open--;
    }
    apr_thread_cond_signal(pool->freed);
    apr_thread_mutex_unlock(pool->lock);
}

/* Log the start and the end of an outage once each. */
static void note_health(ac_pg_pool *pool, server_rec *s, const char *what,
                        int ok, const char *err)
{
    int was;

    apr_thread_mutex_lock(pool->lock);
    was = pool->failing;
    pool->failing = !ok;
    apr_thread_mutex_unlock(pool->lock);
    if (pool->writer) {
        if (!ok && !was) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, AC_LOGNO(0204)
                         "%s: no primary reachable, skipping these writes "
                         "until one is (reads go on): %s", what, err);
        }
        else if (!ok) {
            ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, AC_LOGNO(0205)
                         "%s: still no primary reachable, write skipped: "
                         "%s", what, err);
        }
        else if (was) {
            ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, AC_LOGNO(0206)
                         "%s: primary reachable again, writes resume", what);
        }
        return;
    }
    if (!ok && !was) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, AC_LOGNO(0201)
                     "%s: database unavailable, answering 503 until it "
                     "is back: %s", what, err);
    }
    else if (!ok) {
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, AC_LOGNO(0202)
                     "%s: database still unavailable: %s", what, err);
    }
    else if (was) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, AC_LOGNO(0203)
                     "%s: database available again", what);
    }
}

/* The error of a statement's result, on one line: the server's message
 * and its SQLSTATE.  *refused tells whether the database refuses the
 * statement as written (AC_PG_REFUSED_CLASS). */
static const char *statement_error(apr_pool_t *p, const PGresult *res,
                                   int *refused)
{
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

    *refused = state != NULL && strncmp(state, AC_PG_REFUSED_CLASS, 2) == 0;
    if (msg == NULL) {
        return first_line(p, PQresultErrorMessage(res));
    }
    return apr_psprintf(p, "%s (SQLSTATE %s)", msg, state ? state : "?");
}

/* Prepare (once per connection) and run the statement on one connection.
 * Returns the result, or NULL with *err set, *conn_ok telling whether
 * the connection itself survived and *refused whether the database
 * refused the statement (statement_error). */
static PGresult *run_on(ac_pg_pool *pool, ac_pg_conn *c, apr_pool_t *p,
                        apr_time_t deadline, const char *sql, int nparams,
                        const char *const *params, const char **err,
                        int *conn_ok, int *refused)
{
    const char *name = apr_hash_get(c->prepared, sql, APR_HASH_KEY_STRING);
    Oid types[16];
    PGresult *res;
    int i;

    *conn_ok = 0;
    *refused = 0;
    if (nparams > 16) {
        *err = "too many parameters";
        *conn_ok = 1;
        return NULL;
    }
    for (i = 0; i < nparams; i++) {
        types[i] = AC_PG_TEXTOID;
    }
    if (name == NULL) {
        apr_thread_mutex_lock(pool->lock);
        name = apr_psprintf(c->pool, "ac_%u", pool->next_statement++);
        apr_thread_mutex_unlock(pool->lock);
        if (!PQsendPrepare(c->conn, name, sql, nparams, types)) {
            *err = PQerrorMessage(c->conn);
            return NULL;
        }
        res = result_by(c->conn, deadline, err);
        if (res == NULL) {
            return NULL;
        }
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            *err = statement_error(p, res, refused);
            *conn_ok = PQstatus(c->conn) == CONNECTION_OK;
            PQclear(res);
            return NULL;
        }
        PQclear(res);
        apr_hash_set(c->prepared, apr_pstrdup(c->pool, sql),
                     APR_HASH_KEY_STRING, name);
    }
    if (!PQsendQueryPrepared(c->conn, name, nparams, params, NULL, NULL, 0)) {
        *err = PQerrorMessage(c->conn);
        return NULL;
    }
    res = result_by(c->conn, deadline, err);
    if (res == NULL) {
        return NULL;
    }
    if (PQresultStatus(res) != PGRES_TUPLES_OK
        && PQresultStatus(res) != PGRES_COMMAND_OK) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

        *err = statement_error(p, res, refused);
        /* A write on a standby (a promoted server demoted again, or
         * default_transaction_read_only): drop the connection, so that
         * the next attempt looks for the primary afresh.  A plan made
         * stale by a migration: drop it with its connection, so that a
         * fresh one prepares the statement anew. */
        *conn_ok = PQstatus(c->conn) == CONNECTION_OK
                   && !(state && strcmp(state, AC_PG_READ_ONLY_SQLSTATE) == 0)
                   && !(state
                        && strcmp(state, AC_PG_STALE_PLAN_SQLSTATE) == 0);
        PQclear(res);
        return NULL;
    }
    *conn_ok = 1;
    return res;
}

static apr_status_t clear_result(void *res)
{
    PQclear(res);
    return APR_SUCCESS;
}

/* Run the statement before `deadline`, retrying on another connection
 * when a pooled one turns out dead.  Returns the result (not yet tied to a
 * pool), or NULL when the database cannot answer or refuses the
 * statement (*st says which; both noted in the log). */
static PGresult *query_by(ac_pg_pool *pool, server_rec *s, apr_pool_t *p,
                          const char *what, const char *sql, int nparams,
                          const char *const *params, apr_time_t deadline,
                          ac_pg_status *st)
{
    const char *err = NULL;

    /* A pooled connection may have died with a restarted server, and so
     * may every other idle one: close it and take the next, until a fresh
     * connection answers or fails, within the same deadline.  (Each round
     * closes one idle connection, so the loop ends.) */
    for (;;) {
        int fresh = 0, conn_ok = 0, refused = 0;
        ac_pg_conn *c = acquire(pool, p, deadline, &fresh, &err);
        PGresult *res;

        if (c == NULL) {
            break;
        }
        res = run_on(pool, c, p, deadline, sql, nparams, params, &err,
                     &conn_ok, &refused);
        if (res == NULL) {
            err = apr_pstrdup(p, err ? err : "unknown error");
        }
        release(pool, c, conn_ok);
        if (res != NULL) {
            note_health(pool, s, what, 1, NULL);
            ac_metrics_pg_query(AC_MPQ_OK);
            *st = AC_PG_OK;
            return res;
        }
        if (refused) {
            /* the database is there and answers: no outage */
            note_health(pool, s, what, 1, NULL);
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, AC_LOGNO(0220)
                         "%s: configuration error, not an outage: the "
                         "database refuses the statement: %s", what, err);
            ac_metrics_pg_query(AC_MPQ_REFUSED);
            *st = AC_PG_REFUSED;
            return NULL;
        }
        if (fresh || conn_ok || apr_time_now() >= deadline) {
            /* a new connection failed, the SQL did, or time is up */
            if (pool->writer) {
                /* a write on a standby, or one that timed out */
                apr_thread_mutex_lock(pool->lock);
                pool->retry_after = apr_time_now() + AC_PG_WRITE_BACKOFF;
                apr_thread_mutex_unlock(pool->lock);
            }
            break;
        }
    }
    note_health(pool, s, what, 0, err ? err : "unknown error");
    ac_metrics_pg_query(AC_MPQ_UNAVAILABLE);
    *st = AC_PG_UNAVAILABLE;
    return NULL;
}

ac_pg_status ac_pg_query(ac_pg_pool *pool, server_rec *s, apr_pool_t *p,
                         const char *what, const char *sql, int nparams,
                         const char *const *params, PGresult **res)
{
    ac_pg_status st;

    *res = query_by(pool, s, p, what, sql, nparams, params,
                    apr_time_now() + pool->timeout, &st);
    if (*res == NULL) {
        return st;
    }
    apr_pool_cleanup_register(p, *res, clear_result, apr_pool_cleanup_null);
    return AC_PG_OK;
}

/* ----------------------------------------------------------------------
 * Lookups batched across the threads of a child
 *
 * A thread that wants a key waits in the batch's queue.  When no statement
 * of the batch is running, it becomes the leader: it takes every waiting
 * key (its own among them, up to AC_PG_BATCH_MAX), sends them as one array
 * in one statement, hands the one result to all of them and wakes them.
 * Keys that arrive meanwhile wait for the next statement, which is sent
 * after they arrived: an answer is never older than its request.  With
 * one request at a time this is a plain query; under load one round trip
 * to PostgreSQL serves many requests.
 */

/* Keys in one statement, and the size of their array literal. */
#define AC_PG_BATCH_MAX 64
#define AC_PG_BATCH_BYTES 65536

/* Statements of one batch running at the same time, per child.  One:
 * the keys that arrive meanwhile make the next statement larger, and
 * PostgreSQL's work per request smaller (bench/token: two statements at
 * a time cost PostgreSQL 58-62 us per request, one 42-50). */
#define AC_PG_BATCH_LEADERS 1

typedef enum {
    WAITING = 0,                /* queued */
    TAKEN,                      /* in a running statement */
    ANSWERED
} waiter_state;

/* One result shared by the requests of a statement; the last one to be
 * done with it clears it. */
typedef struct {
    PGresult *res;
    apr_uint32_t refs;
} shared_result;

typedef struct waiter {
    const char *key;
    waiter_state state;
    ac_pg_status status;
    shared_result *shared;
    apr_thread_cond_t *wake;    /* its thread's, see thread_cond() */
    struct waiter *next;
    struct waiter **slot;       /* TAKEN: its place in the leader's list */
} waiter;

struct ac_pg_batch {
    ac_pg_pool *pool;
    const char *sql;
    apr_thread_mutex_t *lock;
    waiter *head, **tail;
    int leading;                /* statements running */
    struct ac_pg_batch *next;   /* the pool's other batches */
};

/* Each thread waits on a condition variable of its own, so that an answer
 * wakes exactly the threads it concerns.  Made on the thread's first
 * batched lookup, in the child's pool (a thread that exits leaves it to
 * the child's end; signalling it then is harmless). */
static __thread apr_thread_cond_t *my_cond;

static apr_thread_cond_t *thread_cond(void)
{
    if (my_cond == NULL) {
        apr_thread_mutex_lock(registry_lock);
        if (apr_thread_cond_create(&my_cond, child_pool) != APR_SUCCESS) {
            my_cond = NULL;
        }
        apr_thread_mutex_unlock(registry_lock);
    }
    return my_cond;
}

ac_pg_batch *ac_pg_batch_get(ac_pg_pool *pool, const char *sql)
{
    ac_pg_batch *b;

    apr_thread_mutex_lock(registry_lock);
    for (b = pool->batches; b != NULL; b = b->next) {
        if (strcmp(b->sql, sql) == 0) {
            break;
        }
    }
    if (b == NULL) {
        b = apr_pcalloc(child_pool, sizeof(*b));
        b->pool = pool;
        b->sql = apr_pstrdup(child_pool, sql);
        apr_thread_mutex_create(&b->lock, APR_THREAD_MUTEX_DEFAULT,
                                child_pool);
        b->tail = &b->head;
        b->next = pool->batches;
        pool->batches = b;
    }
    apr_thread_mutex_unlock(registry_lock);
    return b;
}

static apr_status_t release_shared(void *data)
{
    shared_result *sh = data;

    if (apr_atomic_dec32(&sh->refs) == 0) {
        PQclear(sh->res);
        free(sh);
    }
    return APR_SUCCESS;
}

/* The leader's turn, entered with b->lock held and left without it: take
 * the waiting keys, run the statement with the lock released, answer
 * them, and wake them and the next leader. */
static void lead(ac_pg_batch *b, server_rec *s, apr_pool_t *p,
                 const char *what, apr_time_t deadline)
{
    waiter *taken[AC_PG_BATCH_MAX];
    const char *keys[AC_PG_BATCH_MAX];
    apr_thread_cond_t *wake[AC_PG_BATCH_MAX + 1];
    apr_size_t bytes = 0;
    const char *literal;
    shared_result *sh = NULL;
    ac_pg_status status;
    PGresult *res;
    int n = 0, nkeys = 0, nwake = 0, i, j;

    while (b->head != NULL && n < AC_PG_BATCH_MAX) {
        waiter *w = b->head;
        apr_size_t len = 2 * strlen(w->key) + 3;

        if (n > 0 && bytes + len > AC_PG_BATCH_BYTES) {
            break;
        }
        b->head = w->next;
        if (b->head == NULL) {
            b->tail = &b->head;
        }
        w->state = TAKEN;
        w->slot = &taken[n];
        taken[n++] = w;
        /* concurrent requests with the same key ask for it once */
        for (j = 0; j < nkeys && strcmp(keys[j], w->key) != 0; j++) {
        }
        if (j == nkeys) {
            keys[nkeys++] = w->key;
            bytes += len;
        }
    }
    /* built under the lock: a waiter that gives up takes its key along */
    literal = ac_sql_array_literal(p, keys, nkeys);
    b->leading++;
    apr_thread_mutex_unlock(b->lock);

    res = query_by(b->pool, s, p, what, b->sql, 1, &literal, deadline,
                   &status);
    ap_log_error(APLOG_MARK, APLOG_TRACE1, 0, s,
                 "%s: %d key(s) of %d request(s) in one statement: %s",
                 what, nkeys, n, res ? "answered" : "no answer");
    if (res != NULL) {
        sh = malloc(sizeof(*sh));
        if (sh == NULL) {
            PQclear(res);
            status = AC_PG_UNAVAILABLE;
        }
        else {
            sh->res = res;
            sh->refs = 0;
        }
    }

    apr_thread_mutex_lock(b->lock);
    for (i = 0; i < n; i++) {
        if (taken[i] == NULL) {
            continue;           /* gave up waiting */
        }
        taken[i]->status = status;
        taken[i]->shared = sh;
        taken[i]->state = ANSWERED;
        wake[nwake++] = taken[i]->wake;
        if (sh != NULL) {
            sh->refs++;
        }
    }
    if (sh != NULL && sh->refs == 0) {
        PQclear(sh->res);
        free(sh);
    }
    b->leading--;
    if (b->head != NULL) {
        wake[nwake++] = b->head->wake;      /* the next leader */
    }
    apr_thread_mutex_unlock(b->lock);
    for (i = 0; i < nwake; i++) {
        apr_thread_cond_signal(wake[i]);
    }
}

ac_pg_status ac_pg_batch_query(ac_pg_batch *b, server_rec *s, apr_pool_t *p,
                               const char *what, const char *key,
                               PGresult **res)
{
    apr_time_t deadline = apr_time_now() + b->pool->timeout;
    apr_thread_cond_t *next = NULL;
    waiter w;

    *res = NULL;
    memset(&w, 0, sizeof(w));
    w.key = key;
    w.wake = thread_cond();
    if (w.wake == NULL) {
        return AC_PG_UNAVAILABLE;
    }
    apr_thread_mutex_lock(b->lock);
    *b->tail = &w;
    b->tail = &w.next;
    if (b->leading >= AC_PG_BATCH_LEADERS) {
        /* written under the lock, but only when trace1 is on */
        ap_log_error(APLOG_MARK, APLOG_TRACE1, 0, s,
                     "%s: queued behind the running statement", what);
    }
    while (w.state != ANSWERED) {
        apr_interval_time_t left = deadline - apr_time_now();

        if (left > 0 && w.state == WAITING
            && b->leading < AC_PG_BATCH_LEADERS) {
            lead(b, s, p, what, deadline);
            apr_thread_mutex_lock(b->lock);
            continue;
        }
        if (left > 0) {
            apr_thread_cond_timedwait(w.wake, b->lock, left);
            continue;
        }
        /* time is up: leave the queue, or the running statement */
        if (w.state == WAITING) {
            waiter **pw = &b->head;

            while (*pw != &w) {
                pw = &(*pw)->next;
            }
            *pw = w.next;
            if (b->tail == &w.next) {
                b->tail = pw;
            }
            /* it may have been woken to lead: the next one will */
            if (b->head != NULL && b->leading < AC_PG_BATCH_LEADERS) {
                next = b->head->wake;
            }
        }
        else {
            *w.slot = NULL;
        }
        apr_thread_mutex_unlock(b->lock);
        if (next != NULL) {
            apr_thread_cond_signal(next);
        }
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, AC_LOGNO(0207)
                     "%s: timed out waiting for a batched lookup", what);
        return AC_PG_UNAVAILABLE;
    }
    apr_thread_mutex_unlock(b->lock);
    if (w.status != AC_PG_OK) {
        return w.status;
    }
    *res = w.shared->res;
    apr_pool_cleanup_register(p, w.shared, release_shared,
                              apr_pool_cleanup_null);
    return AC_PG_OK;
}

/* ----------------------------------------------------------------------
 * The LISTEN connection
 */

struct ac_pg_listener {
    ac_pg_listen_spec spec;
    apr_thread_mutex_t *lock;   /* run and close may be on two threads */
    PGconn *conn;               /* NULL: not listening */
    apr_time_t retry_at;        /* no connection attempt before this */
    apr_interval_time_t backoff;
    int degraded;               /* not listening, and the log said so */
    int ever;                   /* it listened once at least */
    int closed;
};

ac_pg_listener *ac_pg_listener_create(apr_pool_t *p,
                                      const ac_pg_listen_spec *spec)
{
    ac_pg_listener *l = apr_pcalloc(p, sizeof(*l));

    l->spec = *spec;
    if (apr_thread_mutex_create(&l->lock, APR_THREAD_MUTEX_DEFAULT, p)
        != APR_SUCCESS) {
        return NULL;
    }
    return l;
}

/* The first line of a libpq message, without its newline. */
static const char *first_line(apr_pool_t *p, const char *msg)
{
    const char *nl;

    if (msg == NULL || *msg == '\0') {
        return "connection closed";
    }
    nl = ap_strchr_c(msg, '\n');
    return nl ? apr_pstrmemdup(p, msg, nl - msg) : apr_pstrdup(p, msg);
}

/* Connect (application_name set, TCP keepalives on so that a silently
 * dead peer is noticed too) and LISTEN, before the deadline.  Returns the
 * connection, or NULL with *err set. */
static PGconn *listen_connect(ac_pg_listener *l, apr_pool_t *p,
                              const char **err)
{
    /* "dbname" first and expanded: the administrator's string (keywords
     * or URI) is the base, and the keywords after it win. */
    static const char *const keys[] = {
        "dbname", "application_name", "keepalives", "keepalives_idle",
        "keepalives_interval", "keepalives_count", NULL
    };
    const char *values[] = {
        l->spec.conninfo, l->spec.app, "1", "30", "10", "3", NULL
    };
    apr_time_t deadline = apr_time_now() + l->spec.timeout;
    PGconn *conn = PQconnectStartParams(keys, values, 1);
    PGresult *res;

    *err = NULL;
    if (conn == NULL) {
        *err = "out of memory";
        return NULL;
    }
    if (PQstatus(conn) != CONNECTION_BAD) {
        connect_poll(conn, deadline, err);
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        *err = first_line(p, *err ? *err : PQerrorMessage(conn));
        PQfinish(conn);
        return NULL;
    }
    if (!PQsendQuery(conn, apr_pstrcat(p, "LISTEN ", l->spec.channel,
                                       NULL))) {
        *err = first_line(p, PQerrorMessage(conn));
        PQfinish(conn);
        return NULL;
    }
    res = result_by(conn, deadline, err);
    if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK) {
        *err = first_line(p, res ? PQresultErrorMessage(res) : *err);
        PQclear(res);
        PQfinish(conn);
        return NULL;
    }
    PQclear(res);
    return conn;
}

/* Not listening (a failed attempt or a lost connection): log it once per
 * loss, and schedule the next attempt. */
static void listener_down(ac_pg_listener *l, server_rec *s, const char *err)
{
    l->backoff = ac_backoff_next(l->backoff, AC_PG_LISTEN_BACKOFF_MIN,
                                 AC_PG_LISTEN_BACKOFF_MAX);
    l->retry_at = apr_time_now() + l->backoff;
    if (!l->degraded) {
        l->degraded = 1;
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, AC_LOGNO(0210)
                     "%s: %s the database (%s): %s until it is back; "
                     "reconnecting with a back-off", l->spec.what,
                     l->ever ? "lost the connection that listens to"
                             : "cannot listen to", err, l->spec.fallback);
    }
    else {
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, AC_LOGNO(0211)
                     "%s: still not listening (%s), next attempt in %"
                     APR_TIME_T_FMT " ms", l->spec.what, err,
                     apr_time_as_msec(l->backoff));
    }
}

void ac_pg_listener_run(ac_pg_listener *l, server_rec *s,
                        apr_interval_time_t wait, apr_pool_t *p)
{
    const char *err = NULL;
    PGnotify *n;

    apr_thread_mutex_lock(l->lock);
    if (l->closed) {
        apr_thread_mutex_unlock(l->lock);
        return;
    }
    if (l->conn == NULL) {
        apr_time_t since;

        if (apr_time_now() < l->retry_at) {
            apr_thread_mutex_unlock(l->lock);
            return;
        }
        if ((l->conn = listen_connect(l, p, &err)) == NULL) {
            ac_metrics_listener_connect(0);
            listener_down(l, s, err);
            apr_thread_mutex_unlock(l->lock);
            return;
        }
        since = apr_time_now();
        ac_metrics_listener_connect(1);
        if (l->degraded) {
            ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, AC_LOGNO(0212)
                         "%s: listening to the database again; what was "
                         "cached before is not trusted (resynchronised)",
                         l->spec.what);
        }
        else {
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, AC_LOGNO(0213)
                         "%s: listening to the database (channel %s)",
                         l->spec.what, l->spec.channel);
        }
        l->degraded = 0;
        l->ever = 1;
        l->backoff = 0;
        l->spec.listening(l->spec.ctx, s, since);
    }
    if (wait_socket(l->conn, POLLIN, apr_time_now() + wait)
        && !PQconsumeInput(l->conn)) {
        err = first_line(p, PQerrorMessage(l->conn));
    }
    if (err == NULL && PQstatus(l->conn) != CONNECTION_OK) {
        err = first_line(p, PQerrorMessage(l->conn));
    }
    /* what arrived before a loss is still delivered */
    while ((n = PQnotifies(l->conn)) != NULL) {
        l->spec.notified(l->spec.ctx, s, n->extra, p);
        ac_metrics_notification();      /* counted once handled */
        PQfreemem(n);
    }
    if (err != NULL) {
        PQfinish(l->conn);
        l->conn = NULL;
        listener_down(l, s, err);
    }
    ac_metrics_listener_seen(l->spec.index, l->conn != NULL);
    apr_thread_mutex_unlock(l->lock);
}

int ac_pg_listener_close(ac_pg_listener *l)
{
    int was = 0;

    apr_thread_mutex_lock(l->lock);
    l->closed = 1;
    if (l->conn != NULL) {
        PQfinish(l->conn);
        l->conn = NULL;
        ac_metrics_listener_seen(l->spec.index, 0);
        was = 1;
    }
    apr_thread_mutex_unlock(l->lock);
    return was;
}

/* ----------------------------------------------------------------------
 * A connection for a check at start-up
 */

struct ac_pg_probe {
    PGconn *conn;
    apr_pool_t *pool;
    apr_time_t deadline;
};

static apr_status_t close_probe(void *data)
{
    ac_pg_probe *probe = data;

    PQfinish(probe->conn);
    return APR_SUCCESS;
}

ac_pg_status ac_pg_probe_open(apr_pool_t *p, const char *conninfo,
                              apr_interval_time_t timeout,
                              ac_pg_probe **out, const char **err)
{
    ac_pg_probe *probe = apr_pcalloc(p, sizeof(*probe));
    PGconn *conn;

    *out = NULL;
    *err = NULL;
    probe->deadline = apr_time_now() + timeout;
    conn = connect_by(conninfo, probe->deadline, err);
    if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
        *err = first_line(p, *err ? *err : "connection failed");
        PQfinish(conn);
        return AC_PG_UNAVAILABLE;
    }
    probe->conn = conn;
    probe->pool = p;
    apr_pool_cleanup_register(p, probe, close_probe, apr_pool_cleanup_null);
    *out = probe;
    return AC_PG_OK;
}

ac_pg_status ac_pg_probe_query(ac_pg_probe *probe, const char *sql,
                               int nparams, const char *const *params,
                               PGresult **res, const char **err)
{
    int refused = 0;

    *res = NULL;
    *err = NULL;
    if (!PQsendQueryParams(probe->conn, sql, nparams, NULL, params, NULL,
                           NULL, 0)) {
        *err = first_line(probe->pool, PQerrorMessage(probe->conn));
        return AC_PG_UNAVAILABLE;
    }
    *res = result_by(probe->conn, probe->deadline, err);
    if (*res == NULL) {
        *err = first_line(probe->pool, *err);
        return AC_PG_UNAVAILABLE;
    }
    apr_pool_cleanup_register(probe->pool, *res, clear_result,
                              apr_pool_cleanup_null);
    if (PQresultStatus(*res) != PGRES_TUPLES_OK
        && PQresultStatus(*res) != PGRES_COMMAND_OK) {
        *err = statement_error(probe->pool, *res, &refused);
        *res = NULL;
        return refused ? AC_PG_REFUSED : AC_PG_UNAVAILABLE;
    }
    return AC_PG_OK;
}
