/* Licensed under the Apache License, Version 2.0.
 *
 * ac_sql.h -- the PostgreSQL helpers that need libpq but neither a
 * connection nor httpd: what the pool of ac_pg.c writes for libpq (the
 * conninfo of writes, an array literal) and reads from a result.  Apart
 * from ac_pg.c, which logs through httpd, so that the unit tests link them
 * alone.
 */

#ifndef AC_SQL_H
#define AC_SQL_H

#include "apr_pools.h"

/* The libpq conninfo for the writes that go with the reads of `conninfo`
 * (ac_pg_write_pool_get in ac_pg.h): NULL when writes can share the read
 * connections (one host, and no target_session_attrs or one that already
 * asks for read-write or primary), else `conninfo` with
 * target_session_attrs=read-write, rebuilt as a keyword='value' string from
 * libpq's own parse, so that a URI and a repeated keyword (the last one
 * wins) are read exactly as libpq reads them.  NULL too when libpq cannot
 * parse `conninfo`. */
const char *ac_write_conninfo(apr_pool_t *p, const char *conninfo);

/* A PostgreSQL array literal of the `n` strings: {"a","b\"c"}, every
 * element quoted, `"` and `\` escaped, so that any string is one element
 * (and none is NULL).  At most 2 * strlen + 3 bytes per element. */
const char *ac_sql_array_literal(apr_pool_t *p, const char *const *strs,
                                 int n);

/* The row of a batched lookup's result (a libpq PGresult) whose column
 * `col` holds `secret` (`len` bytes), or -1: every row is compared, each
 * in constant time, so that the time taken tells nothing of the secret
 * nor of which row matched.  NULLs never match. */
struct pg_result;
int ac_sql_row_of(const struct pg_result *res, int col, const char *secret,
                  apr_size_t len);

#endif /* AC_SQL_H */
