/* Licensed under the Apache License, Version 2.0.
 *
 * Unit tests of ac_write_conninfo (modules/common/ac_sql.c): the libpq
 * conninfo that writes use when reads may go to a standby; of
 * ac_sql_array_literal, the keys of a batched lookup; and of ac_sql_row_of,
 * the row of one request among a batch's, on results made without a
 * server.  Prints TAP.
 */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "apr_general.h"
#include "apr_pools.h"

#include <libpq-fe.h>

#include "ac_common.h"
#include "tap.h"

/* `conninfo`'s write conninfo, parsed back: the value of `keyword`. */
static int write_has(apr_pool_t *p, const char *conninfo,
                     const char *keyword, const char *want)
{
    const char *w = ac_write_conninfo(p, conninfo);
    PQconninfoOption *opts, *o;
    int found = 0;

    if (w == NULL || (opts = PQconninfoParse(w, NULL)) == NULL) {
        return 0;
    }
    for (o = opts; o->keyword != NULL; o++) {
        if (strcmp(o->keyword, keyword) == 0) {
            found = want ? (o->val && strcmp(o->val, want) == 0)
                         : o->val == NULL;
        }
    }
    PQconninfoFree(opts);
    return found;
}

static void test_write_conninfo(apr_pool_t *p)
{
    ok(ac_write_conninfo(p, "host=/run/postgresql dbname=app") == NULL,
       "one host without target_session_attrs: writes share the read pool");
    ok(ac_write_conninfo(p, "postgresql:///app?host=/run/postgresql")
       == NULL, "a one-host URI: writes share the read pool");
    ok(ac_write_conninfo(p, "host=a,b target_session_attrs=read-write")
       == NULL, "a string that already asks for read-write is the primary's");
    ok(ac_write_conninfo(p, "host=a,b target_session_attrs=primary")
       == NULL, "so is one that asks for the primary");
    ok(ac_write_conninfo(p, "host='a b") == NULL,
       "an unparsable string has none");
    ok(write_has(p, "host=/s1,/s2 port=5432,5433 dbname=app "
                 "target_session_attrs=prefer-standby",
                 "target_session_attrs", "read-write"),
       "prefer-standby: writes ask for read-write");
    ok(write_has(p, "host=/s1,/s2 port=5432,5433 dbname=app "
                 "target_session_attrs=prefer-standby", "host", "/s1,/s2")
       && write_has(p, "host=/s1,/s2 port=5432,5433 dbname=app "
                    "target_session_attrs=prefer-standby", "port",
                    "5432,5433"),
       "the hosts and ports are kept");
    ok(write_has(p, "host=a,b dbname=app", "target_session_attrs",
                 "read-write"),
       "several hosts without target_session_attrs: writes ask for read-write");
    ok(write_has(p, "host=a target_session_attrs=standby "
                 "target_session_attrs=read-only dbname=app",
                 "target_session_attrs", "read-write"),
       "a repeated keyword (the last wins) is replaced, not appended");
    ok(write_has(p, "postgresql://u@a:5432,b:5433/app"
                 "?target_session_attrs=prefer-standby",
                 "target_session_attrs", "read-write")
       && write_has(p, "postgresql://u@a:5432,b:5433/app"
                    "?target_session_attrs=prefer-standby", "host", "a,b")
       && write_has(p, "postgresql://u@a:5432,b:5433/app"
                    "?target_session_attrs=prefer-standby", "dbname", "app"),
       "a multi-host URI becomes a keyword string with read-write");
    ok(write_has(p, "host=a,b password='it\\'s \\\\ x' dbname=app",
                 "password", "it's \\ x"),
       "quotes and backslashes in values survive the rebuild");
}

static int literal_is(apr_pool_t *p, const char *want, int n, ...)
{
    const char *strs[8];
    va_list ap;
    int i;

    va_start(ap, n);
    for (i = 0; i < n; i++) {
        strs[i] = va_arg(ap, const char *);
    }
    va_end(ap);
    return strcmp(ac_sql_array_literal(p, strs, n), want) == 0;
}

static void test_array_literal(apr_pool_t *p)
{
    ok(literal_is(p, "{}", 0), "no keys: an empty array");
    ok(literal_is(p, "{\"ab12\"}", 1, "ab12"), "one key, quoted");
    ok(literal_is(p, "{\"a\",\"b\"}", 2, "a", "b"), "two keys");
    ok(literal_is(p, "{\"a,b\",\"{c}\"}", 2, "a,b", "{c}"),
       "commas and braces stay inside their element");
    ok(literal_is(p, "{\"x\\\"y\",\"z\\\\w\"}", 2, "x\"y", "z\\w"),
       "quotes and backslashes are escaped");
    ok(literal_is(p, "{\"NULL\",\"\"}", 2, "NULL", ""),
       "NULL is a string, and so is the empty key");
}

/* A result of two text columns, (id, key), whose rows are `keys` (NULL:
 * SQL NULL), as a batched lookup returns them. */
static PGresult *result_of(int n, const char *const *keys)
{
    PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    PGresAttDesc cols[2];
    char id[16];
    int i;

    memset(cols, 0, sizeof(cols));
    cols[0].name = "id";
    cols[1].name = "key";
    cols[0].typid = cols[1].typid = 25;     /* text */
    cols[0].typlen = cols[1].typlen = -1;
    cols[0].atttypmod = cols[1].atttypmod = -1;
    PQsetResultAttrs(res, 2, cols);
    for (i = 0; i < n; i++) {
        snprintf(id, sizeof(id), "%d", i);
        PQsetvalue(res, i, 0, id, (int)strlen(id));
        PQsetvalue(res, i, 1, (char *)keys[i],
                   keys[i] ? (int)strlen(keys[i]) : -1);
    }
    return res;
}

static int row_is(int want, int n, const char *const *keys, int col,
                  const char *secret)
{
    PGresult *res = result_of(n, keys);
    int got = ac_sql_row_of(res, col, secret, strlen(secret));

    PQclear(res);
    return got == want;
}

static void test_row_of(void)
{
    static const char *const batch[] = {
        "4fd1c0ffee", "9a7b3c", NULL, "9a7b3c2d", ""
    };

    ok(row_is(1, 5, batch, 1, "9a7b3c"),
       "the row whose key is the secret, among the batch's");
    ok(row_is(3, 5, batch, 1, "9a7b3c2d"),
       "a longer key that starts with another row's is told apart");
    ok(row_is(-1, 5, batch, 1, "9a7b"),
       "a prefix of a stored key matches no row");
    ok(row_is(-1, 5, batch, 1, "unknown"),
       "a secret that no row holds: -1");
    ok(row_is(4, 5, batch, 1, "") && row_is(-1, 3, batch, 1, ""),
       "an empty secret matches only an empty key, never a NULL");
    ok(row_is(-1, 5, batch, 0, "9a7b3c") && row_is(2, 5, batch, 0, "2"),
       "only the column asked is compared");
    ok(row_is(-1, 0, batch, 1, "9a7b3c"), "an empty result: -1");
}

int main(void)
{
    apr_pool_t *p;

    apr_initialize();
    apr_pool_create(&p, NULL);
    tap_plan(24);
    test_write_conninfo(p);
    test_array_literal(p);
    test_row_of();
    apr_pool_destroy(p);
    apr_terminate();
    return tap_done();
}
