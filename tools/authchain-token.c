/* Licensed under the Apache License, Version 2.0.
 *
 * authchain-token -- manage the API keys of the native token schema in
 * PostgreSQL: init (create or upgrade the schema), create, list, revoke,
 * rotate, prune.  See tools/authchain-token.1 and docs/authchain-token.md.
 *
 * The one secret this program ever handles is a new key: it is printed
 * once, alone on its line, on standard output, and only its SHA-256
 * reaches the database.  Everything else it says goes to standard error, except the
 * output that a command exists for (list's table, revoke's and prune's
 * counts).  User data reaches SQL only as parameters of PQexecParams; the
 * one PQexec runs the schema, which is compiled in from sql/schema.sql.
 *
 * This file holds the commands and main(); the command line is read in
 * cli_args.c and the database reached in cli_db.c (tools/cli.h).
 */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <openssl/crypto.h>

#include "apr_general.h"
#include "apr_pools.h"
#include "apr_strings.h"
#include "apr_tables.h"

#include "ac_key.h"
#include "cli.h"

#ifndef AC_PACKAGE_VERSION
#define AC_PACKAGE_VERSION "unknown"
#endif

/* Largest --days of prune. */
#define MAX_DAYS      36500

/* Serialises concurrent `init`s (an arbitrary constant: "acsc"). */
#define SCHEMA_LOCK   "1633907555"

/* A timestamptz column as ISO 8601 in UTC, NULL as "-". */
#define SQL_UTC(col) \
    "coalesce(to_char(" col " AT TIME ZONE 'UTC', " \
    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '-')"

/* A token's status: revoked, else expired (past its expiry), else rolling
 * (rotate replaced it; its key works until its expiry), else active. */
#define SQL_STATUS \
    "CASE WHEN revoked IS NOT NULL THEN 'revoked'" \
    " WHEN expires IS NOT NULL AND expires <= now() THEN 'expired'" \
    " WHEN replaced_by IS NOT NULL THEN 'rolling'" \
    " ELSE 'active' END"

/* Whether `s` holds a control character (refused in names). */
static int has_control(const char *s)
{
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f) {
            return 1;
        }
    }
    return 0;
}

/* --- the commands ------------------------------------------------------ */

/* init: run the schema in one transaction, under an advisory lock so
 * that two inits do not race.  Refuses to touch a schema newer than this
 * program's. */
static int cmd_init(cli *c)
{
    PGconn *conn;
    PGresult *res;
    int before, after, rv = EXIT_DB;

    if (c->args->nelts > 0) {
        return cli_usage_error(cli_find_command("init"),
                               "init takes no argument");
    }
    if ((conn = cli_db_connect(c)) == NULL) {
        return EXIT_DB;
    }
    if ((res = cli_db_exec(c, conn, "BEGIN", 0, NULL)) == NULL) {
        goto done;
    }
    PQclear(res);
    res = cli_db_exec(c, conn, "SELECT pg_advisory_xact_lock(" SCHEMA_LOCK
                      ")", 0, NULL);
    if (res == NULL) {
        goto done;
    }
    PQclear(res);
    if ((before = cli_db_schema_version(c, conn)) < 0) {
        goto done;
    }
    if (before > cli_schema_version) {
        cli_say("the authchain schema in this database is version %d, newer "
                "than this " PROGRAM " (%d): nothing done", before,
                cli_schema_version);
        goto done;
    }
    if (cli_db_run_schema(c, conn) != 0) {
        goto done;
    }
    if ((after = cli_db_schema_version(c, conn)) < 0) {
        goto done;
    }
    if ((res = cli_db_exec(c, conn, "COMMIT", 0, NULL)) == NULL) {
        goto done;
    }
    PQclear(res);
    if (before == after) {
        printf("schema is up to date (version %d)\n", after);
    }
    else if (before == 0) {
        printf("schema created (version %d)\n", after);
    }
    else {
        printf("schema upgraded from version %d to %d\n", before, after);
    }
    rv = EXIT_OK;
done:
    PQfinish(conn);
    return rv;
}

/* The scopes of --scope, checked (one word each, no control characters)
 * and joined by spaces, duplicates dropped.  Returns NULL after a usage
 * error (said). */
static const char *join_scopes(cli *c)
{
    const char *joined = "";
    int i, j;

    for (i = 0; i < c->scopes->nelts; i++) {
        const char *s = APR_ARRAY_IDX(c->scopes, i, const char *);
        const char *q;
        int dup = 0;

        if (*s == '\0') {
            cli_usage_error(cli_find_command("create"),
                            "--scope: a scope cannot be empty");
            return NULL;
        }
        for (q = s; *q; q++) {
            if (*q == ' ' || (unsigned char)*q < 0x20 || *q == 0x7f) {
                cli_usage_error(cli_find_command("create"),
                                "--scope: '%s' is not one word: give each "
                                "scope its own --scope",
                                cli_printable(c->pool, s));
                return NULL;
            }
        }
        for (j = 0; j < i; j++) {
            if (strcmp(APR_ARRAY_IDX(c->scopes, j, const char *), s) == 0) {
                dup = 1;
            }
        }
        if (!dup) {
            joined = *joined ? apr_pstrcat(c->pool, joined, " ", s, NULL) : s;
        }
    }
    return joined;
}

/* The options of a new key that create and rotate share: --expires (the
 * seconds, 0 when not given) and --prefix (the default when not given).
 * Returns EXIT_OK or a usage error (said). */
static int parse_key_options(cli *c, const command_def *cmd,
                             apr_int64_t *seconds, const char **prefix)
{
    *seconds = 0;
    if (c->expires && cli_parse_duration(c->expires, seconds) != 0) {
        return cli_usage_error(cmd, "--expires: '%s' is not a duration: give "
                               "a positive whole number and one unit of s, "
                               "m, h, d or w (30d, 12h, 90m, 3600s, 2w), at "
                               "most 100 years",
                               cli_printable(c->pool, c->expires));
    }
    *prefix = c->prefix ? c->prefix : AC_KEY_DEFAULT_PREFIX;
    if (!ac_key_valid_prefix(*prefix)) {
        return cli_usage_error(cmd, "--prefix: '%s' is not a key prefix: 1 "
                               "to %d characters of A-Z, a-z, 0-9 and _",
                               cli_printable(c->pool, *prefix),
                               AC_KEY_PREFIX_MAX);
    }
    return EXIT_OK;
}

/* create: a new key for USER.  Stores its SHA-256, then prints the key,
 * alone, on stdout; if the key cannot be written there the row is deleted
 * again, so that no token exists whose key nobody has. */
static int cmd_create(cli *c)
{
    const command_def *cmd = cli_find_command("create");
    const char *user, *scopes, *prefix, *name, *params[5];
    char hash[65], seconds_text[32], *key = NULL;
    apr_int64_t seconds = 0;
    PGconn *conn;
    PGresult *res;
    int rv;

    if (c->args->nelts == 0) {
        return cli_usage_error(cmd, "create needs a USER");
    }
    if (c->args->nelts > 1) {
        return cli_usage_error(cmd, "create takes one USER, not %d "
                               "arguments (quote a name with spaces, give "
                               "each scope its own --scope)", c->args->nelts);
    }
    user = APR_ARRAY_IDX(c->args, 0, const char *);
    if (*user == '\0' || has_control(user)) {
        return cli_usage_error(cmd, "USER must be non-empty and free of "
                               "control characters");
    }
    name = c->name ? c->name : "";
    if (has_control(name)) {
        return cli_usage_error(cmd,
                               "--name must be free of control characters");
    }
    if ((scopes = join_scopes(c)) == NULL) {
        return EXIT_USAGE;
    }
    if ((rv = parse_key_options(c, cmd, &seconds, &prefix)) != EXIT_OK) {
        return rv;
    }

    if ((rv = cli_db_open(c, &conn)) != EXIT_OK) {
        return rv;
    }
    if (ac_key_generate(c->pool, prefix, &key) != 0) {
        cli_say("cannot get random bytes from OpenSSL: no key created");
        PQfinish(conn);
        return EXIT_INTERNAL;
    }
    ac_sha256_hex(key, strlen(key), hash);
    apr_snprintf(seconds_text, sizeof(seconds_text), "%" APR_INT64_T_FMT,
                 seconds);
    params[0] = user;
    params[1] = hash;
    params[2] = name;
    params[3] = scopes;
    params[4] = c->expires ? seconds_text : NULL;
    res = cli_db_exec(c, conn,
                      "INSERT INTO authchain_token"
                      " (user_name, key_hash, name, scopes, expires)"
                      " VALUES ($1, $2, $3, $4,"
                      "  now() + $5::bigint * interval '1 second')"
                      " RETURNING id, " SQL_UTC("expires"),
                      5, params);
    if (res == NULL) {
        OPENSSL_cleanse(key, strlen(key));
        PQfinish(conn);
        return EXIT_DB;
    }

    printf("%s\n", key);
    OPENSSL_cleanse(key, strlen(key));
    if (fflush(stdout) != 0 || ferror(stdout)) {
        const char *id = PQgetvalue(res, 0, 0);
        PGresult *del;

        cli_say("cannot write the key to standard output (%s): token deleted "
                "again", strerror(errno));
        del = cli_db_exec(c, conn, "DELETE FROM authchain_token WHERE id = $1",
                          1, &id);
        PQclear(del);
        PQclear(res);
        PQfinish(conn);
        return EXIT_INTERNAL;
    }
    cli_say("created token %s for user '%s'%s%s%s%s%s, expires %s",
            PQgetvalue(res, 0, 0), cli_printable(c->pool, user),
            *name ? ", name '" : "",
            *name ? cli_printable(c->pool, name) : "",
            *name ? "'" : "", *scopes ? ", scopes " : "",
            *scopes ? scopes : "",
            strcmp(PQgetvalue(res, 0, 1), "-") ? PQgetvalue(res, 0, 1)
                                               : "never");
    PQclear(res);
    PQfinish(conn);
    return EXIT_OK;
}

/* list: the tokens (of USER) as a table aligned on the widest value of
 * each column.  Never a key (not stored) nor a hash. */
static int cmd_list(cli *c)
{
    static const char *const headers[] = {
        "id", "user", "name", "scopes", "created", "expires", "revoked",
        "last_used", "status"
    };
    enum { NCOLS = sizeof(headers) / sizeof(headers[0]) };
    const char *params[1];
    apr_size_t width[NCOLS];
    PGconn *conn;
    PGresult *res;
    int rows, r, k, rv;

    if (c->args->nelts > 1) {
        return cli_usage_error(cli_find_command("list"),
                               "list takes at most one USER");
    }
    params[0] = c->args->nelts ? APR_ARRAY_IDX(c->args, 0, const char *)
                               : NULL;
    if ((rv = cli_db_open(c, &conn)) != EXIT_OK) {
        return rv;
    }
    res = cli_db_exec(c, conn,
                      "SELECT id, user_name, name, scopes, "
                      SQL_UTC("created") ", " SQL_UTC("expires") ", "
                      SQL_UTC("revoked") ", " SQL_UTC("last_used") ","
                      " " SQL_STATUS
                      " FROM authchain_token"
                      " WHERE $1::text IS NULL OR user_name = $1"
                      " ORDER BY id",
                      1, params);
    if (res == NULL) {
        PQfinish(conn);
        return EXIT_DB;
    }
    rows = PQntuples(res);
    for (k = 0; k < NCOLS; k++) {
        width[k] = strlen(headers[k]);
        for (r = 0; r < rows; r++) {
            apr_size_t len = PQgetlength(res, r, k);

            if (len == 0) {
                len = 1;                /* shown as "-" */
            }
            if (len > width[k]) {
                width[k] = len;
            }
        }
    }
    for (r = -1; r < rows; r++) {
        for (k = 0; k < NCOLS; k++) {
            const char *v = r < 0 ? headers[k] : PQgetvalue(res, r, k);

            if (*v == '\0') {
                v = "-";
            }
            if (k == NCOLS - 1) {
                printf("%s\n", cli_printable(c->pool, v));
            }
            else {
                printf("%-*s  ", (int)width[k], cli_printable(c->pool, v));
            }
        }
    }
    PQclear(res);
    PQfinish(conn);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_say("cannot write to standard output: %s", strerror(errno));
        return EXIT_INTERNAL;
    }
    cli_say("(%d token%s)", rows, rows == 1 ? "" : "s");
    return EXIT_OK;
}

/* The target of revoke and rotate: one ID argument, or --user USER.
 * Sets *param to the ID or the user (a statement's $1) and *what to how
 * the messages name it.  Returns EXIT_OK or a usage error (said). */
static int parse_target(cli *c, const command_def *cmd, const char **param,
                        const char **what)
{
    apr_int64_t id;

    if (c->user && c->args->nelts > 0) {
        return cli_usage_error(cmd, "%s takes an ID or --user USER, not both",
                               cmd->name);
    }
    if (c->user == NULL && c->args->nelts != 1) {
        return cli_usage_error(cmd, c->args->nelts ? "%s takes one ID"
                                                   : "%s needs an ID or "
                                                     "--user USER",
                               cmd->name);
    }
    if (c->user) {
        if (*c->user == '\0') {
            return cli_usage_error(cmd, "--user: USER cannot be empty");
        }
        *param = c->user;
        *what = apr_psprintf(c->pool, "of user '%s'",
                             cli_printable(c->pool, c->user));
        return EXIT_OK;
    }
    *param = APR_ARRAY_IDX(c->args, 0, const char *);
    if (cli_parse_integer(*param, 1, APR_INT64_MAX, &id) != 0) {
        return cli_usage_error(cmd, "'%s' is not a token ID (a positive "
                               "integer; see " PROGRAM " list)",
                               cli_printable(c->pool, *param));
    }
    *what = apr_psprintf(c->pool, "with id %" APR_INT64_T_FMT, id);
    return EXIT_OK;
}

/* revoke: set `revoked` on the token ID, or on every token of --user,
 * where it is not set yet.  Exit 1 when the ID or the user names no
 * token at all (a typo, most likely); revoking what is already revoked is
 * not an error, and says so. */
static int cmd_revoke(cli *c)
{
    const command_def *cmd = cli_find_command("revoke");
    const char *params[1], *what;
    long matched, revoked;
    PGconn *conn;
    PGresult *res;
    int rv;

    if ((rv = parse_target(c, cmd, &params[0], &what)) != EXIT_OK) {
        return rv;
    }
    if ((rv = cli_db_open(c, &conn)) != EXIT_OK) {
        return rv;
    }
    /* One statement: the count of the selection and of what changed. */
    res = cli_db_exec(c, conn, c->user
                      ? "WITH target AS (SELECT id FROM authchain_token"
                    "                WHERE user_name = $1),"
                    " done AS (UPDATE authchain_token SET revoked = now()"
                    "          WHERE user_name = $1 AND revoked IS NULL"
                    "          RETURNING id)"
                    " SELECT (SELECT count(*) FROM target),"
                    "        (SELECT count(*) FROM done)"
                      : "WITH target AS (SELECT id FROM authchain_token"
                    "                WHERE id = $1::bigint),"
                    " done AS (UPDATE authchain_token SET revoked = now()"
                    "          WHERE id = $1::bigint AND revoked IS NULL"
                    "          RETURNING id)"
                    " SELECT (SELECT count(*) FROM target),"
                    "        (SELECT count(*) FROM done)",
                      1, params);
    if (res == NULL) {
        PQfinish(conn);
        return EXIT_DB;
    }
    matched = atol(PQgetvalue(res, 0, 0));
    revoked = atol(PQgetvalue(res, 0, 1));
    PQclear(res);
    PQfinish(conn);
    if (matched == 0) {
        cli_say("no token %s: nothing revoked", what);
        return EXIT_NOMATCH;
    }
    if (revoked == 0) {
        printf("nothing to revoke: %s %s was already revoked\n",
               matched == 1 ? "the token" : "every token", what);
    }
    else if (matched == revoked) {
        printf("revoked %ld token%s %s\n", revoked, revoked == 1 ? "" : "s",
               what);
    }
    else {
        printf("revoked %ld token%s %s; %ld already revoked\n", revoked,
               revoked == 1 ? "" : "s", what, matched - revoked);
    }
    return EXIT_OK;
}

/* One row that rotate considered: the token as it was, and, once rotated,
 * the token issued in its place and the old key's new deadline. */
typedef struct {
    const char *id, *user, *name, *status, *expires, *replaced_by;
    char *key;                  /* the new key, until printed and cleansed */
    const char *new_id, *new_expires, *deadline;
} rotation;

/* Why rotate leaves the token `t` (not active) alone. */
static void say_not_rotatable(cli *c, const rotation *t)
{
    if (strcmp(t->status, "rolling") == 0) {
        cli_say("token %s is already rolling: token %s replaced it and it "
                "works until %s; nothing rotated (rotate token %s instead, "
                "or revoke token %s to end it now)", t->id, t->replaced_by,
                t->expires, t->replaced_by, t->id);
    }
    else if (strcmp(t->status, "expired") == 0) {
        cli_say("token %s expired at %s: nothing rotated (a lapsed key is "
                "replaced with " PROGRAM " create)", t->id, t->expires);
    }
    else {
        cli_say("token %s is revoked: nothing rotated (a revoked key is "
                "replaced with " PROGRAM " create)", t->id);
    }
}

/* Overwrite every new key still in memory. */
static void cleanse_keys(apr_array_header_t *rows)
{
    int i;

    for (i = 0; i < rows->nelts; i++) {
        rotation *t = &APR_ARRAY_IDX(rows, i, rotation);

        if (t->key) {
            OPENSSL_cleanse(t->key, strlen(t->key));
            t->key = NULL;
        }
    }
}

/* Issue a new key in the place of the active token `t`, in the caller's
 * transaction and one statement: the new row copies the old one's user,
 * name, scopes and expiry (or expires --expires from now), and the old
 * one records it in replaced_by and gets the deadline as its expiry (the
 * earlier of its own and now + grace, rounded up to a whole second), or
 * is revoked when the grace is 0.  The module needs nothing more: a
 * rolling key is a key with an expiry, and the expiry's UPDATE notifies
 * the httpd nodes (schema version 2), which drop the cached answer that
 * had no deadline.
 * Returns EXIT_OK, or the exit status having said why. */
static int rotate_one(cli *c, PGconn *conn, rotation *t, const char *prefix,
                      const char *expires_text, const char *grace_text)
{
    const char *params[4];
    char hash[65];
    PGresult *res;

    if (ac_key_generate(c->pool, prefix, &t->key) != 0) {
        t->key = NULL;
        cli_say("cannot get random bytes from OpenSSL: nothing rotated");
        return EXIT_INTERNAL;
    }
    ac_sha256_hex(t->key, strlen(t->key), hash);
    params[0] = t->id;
    params[1] = hash;
    params[2] = expires_text;
    params[3] = grace_text;
    res = cli_db_exec(c, conn,
                      "WITH new AS ("
                      " INSERT INTO authchain_token"
                      "  (user_name, key_hash, name, scopes, expires)"
                      "  SELECT user_name, $2, name, scopes,"
                      "   CASE WHEN $3::bigint IS NULL THEN expires"
                      "    ELSE now() + $3::bigint * interval '1 second' END"
                      "  FROM authchain_token WHERE id = $1::bigint"
                      "  RETURNING id, expires),"
                      " old AS ("
                      " UPDATE authchain_token"
                      "  SET replaced_by = (SELECT id FROM new),"
                      "  expires = CASE WHEN $4::bigint = 0 THEN expires"
                      "   ELSE least(expires, date_trunc('second', now())"
                      "    + ($4::bigint + 1) * interval '1 second') END,"
                      "  revoked = CASE WHEN $4::bigint = 0 THEN now()"
                      "   ELSE revoked END"
                      "  WHERE id = $1::bigint RETURNING expires)"
                      " SELECT new.id, " SQL_UTC("new.expires") ", "
                      SQL_UTC("old.expires") " FROM new, old",
                      4, params);
    if (res == NULL) {
        return EXIT_DB;
    }
    t->new_id = apr_pstrdup(c->pool, PQgetvalue(res, 0, 0));
    t->new_expires = apr_pstrdup(c->pool, PQgetvalue(res, 0, 1));
    t->deadline = apr_pstrdup(c->pool, PQgetvalue(res, 0, 2));
    PQclear(res);
    return EXIT_OK;
}

/* rotate: replace the token ID, or every active token of --user, by a new
 * key (Stripe's "roll"), and let the old key work for --grace more (0:
 * revoke it now).  Everything happens in one transaction, the rows locked
 * (FOR UPDATE) so that two rotations of a token cannot both succeed; the
 * new keys are printed before the commit, so that if they cannot be
 * written nothing changed at all.  Exit 1 when ID names no token or one
 * that is revoked, expired or already rolling, or USER has no active
 * token. */
static int cmd_rotate(cli *c)
{
    const command_def *cmd = cli_find_command("rotate");
    const char *target, *what, *prefix, *expires_text = NULL, *grace_text;
    apr_array_header_t *rows;
    apr_int64_t seconds, grace;
    PGconn *conn;
    PGresult *res;
    int rv, i, n, rotated = 0;

    if ((rv = parse_target(c, cmd, &target, &what)) != EXIT_OK) {
        return rv;
    }
    if (c->grace == NULL) {
        return cli_usage_error(cmd, "rotate needs --grace DURATION: how long "
                               "the old key keeps working (24h, 7d; 0 "
                               "revokes it at once)");
    }
    if (cli_parse_grace(c->grace, &grace) != 0) {
        return cli_usage_error(cmd, "--grace: '%s' is not a duration: give 0 "
                               "or a positive whole number and one unit of "
                               "s, m, h, d or w (24h, 90m, 7d), at most 100 "
                               "years", cli_printable(c->pool, c->grace));
    }
    if ((rv = parse_key_options(c, cmd, &seconds, &prefix)) != EXIT_OK) {
        return rv;
    }
    if (c->expires) {
        expires_text = apr_psprintf(c->pool, "%" APR_INT64_T_FMT, seconds);
    }
    grace_text = apr_psprintf(c->pool, "%" APR_INT64_T_FMT, grace);

    if ((rv = cli_db_open(c, &conn)) != EXIT_OK) {
        return rv;
    }
    rows = apr_array_make(c->pool, 4, sizeof(rotation));
    rv = EXIT_DB;
    if ((res = cli_db_exec(c, conn, "BEGIN", 0, NULL)) == NULL) {
        goto done;
    }
    PQclear(res);
    res = cli_db_exec(c, conn, c->user
                      ? "SELECT id, user_name, name, " SQL_STATUS ", "
                        SQL_UTC("expires") ", coalesce(replaced_by::text, '')"
                        " FROM authchain_token WHERE user_name = $1"
                        " ORDER BY id FOR UPDATE"
                      : "SELECT id, user_name, name, " SQL_STATUS ", "
                        SQL_UTC("expires") ", coalesce(replaced_by::text, '')"
                        " FROM authchain_token WHERE id = $1::bigint"
                        " FOR UPDATE",
                      1, &target);
    if (res == NULL) {
        goto done;
    }
    for (i = 0; i < PQntuples(res); i++) {
        rotation *t = apr_array_push(rows);

        memset(t, 0, sizeof(*t));
        t->id = apr_pstrdup(c->pool, PQgetvalue(res, i, 0));
        t->user = cli_printable(c->pool, PQgetvalue(res, i, 1));
        t->name = cli_printable(c->pool, PQgetvalue(res, i, 2));
        t->status = apr_pstrdup(c->pool, PQgetvalue(res, i, 3));
        t->expires = apr_pstrdup(c->pool, PQgetvalue(res, i, 4));
        t->replaced_by = apr_pstrdup(c->pool, PQgetvalue(res, i, 5));
    }
    PQclear(res);
    if (rows->nelts == 0) {
        cli_say("no token %s: nothing rotated", what);
        rv = EXIT_NOMATCH;
        goto done;
    }
    for (i = 0; i < rows->nelts; i++) {
        rotation *t = &APR_ARRAY_IDX(rows, i, rotation);

        if (strcmp(t->status, "active") != 0) {
            continue;
        }
        rv = rotate_one(c, conn, t, prefix, expires_text, grace_text);
        if (rv != EXIT_OK) {
            goto done;
        }
        rotated++;
    }
    if (rotated == 0) {
        if (c->user) {
            cli_say("no active token %s: nothing rotated (%d revoked, "
                    "expired or already rolling; see " PROGRAM " list)",
                    what, rows->nelts);
        }
        else {
            say_not_rotatable(c, &APR_ARRAY_IDX(rows, 0, rotation));
        }
        rv = EXIT_NOMATCH;
        goto done;
    }

    /* The keys, one a line in the order of the report below, before the
     * commit: a failure to write them rolls everything back. */
    for (i = 0; i < rows->nelts; i++) {
        rotation *t = &APR_ARRAY_IDX(rows, i, rotation);

        if (t->key) {
            printf("%s\n", t->key);
        }
    }
    cleanse_keys(rows);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_say("cannot write the key%s to standard output (%s): nothing "
                "rotated", rotated == 1 ? "" : "s", strerror(errno));
        rv = EXIT_INTERNAL;
        goto done;
    }
    res = cli_db_exec(c, conn, "COMMIT", 0, NULL);
    if (res == NULL || strcmp(PQcmdStatus(res), "COMMIT") != 0) {
        cli_say("the commit failed: the key%s printed %s not valid, nothing "
                "rotated", rotated == 1 ? "" : "s",
                rotated == 1 ? "is" : "are");
        PQclear(res);
        rv = EXIT_DB;
        goto done;
    }
    PQclear(res);

    for (i = 0, n = 0; i < rows->nelts; i++) {
        const rotation *t = &APR_ARRAY_IDX(rows, i, rotation);

        if (t->new_id == NULL) {
            n++;
            continue;
        }
        cli_say("rotated token %s of user '%s'%s%s%s to token %s, expires "
                "%s; token %s %s%s", t->id, t->user,
                *t->name ? " (name '" : "", t->name, *t->name ? "')" : "",
                t->new_id,
                strcmp(t->new_expires, "-") ? t->new_expires : "never",
                t->id,
                grace == 0 ? "is revoked"
                : strcmp(t->deadline, t->expires) == 0
                  ? "works until its expiry, " : "works until ",
                grace == 0 ? "" : t->deadline);
    }
    if (n > 0) {
        cli_say("(%d other token%s %s not rotated: revoked, expired or "
                "already rolling)", n, n == 1 ? "" : "s", what);
    }
    rv = EXIT_OK;
done:
    cleanse_keys(rows);
    PQfinish(conn);         /* without a COMMIT: rolled back */
    return rv;
}

/* prune: delete the tokens whose expiry or revocation is more than N days
 * (default 30) in the past.  Deleting nothing is not an error. */
static int cmd_prune(cli *c)
{
    const command_def *cmd = cli_find_command("prune");
    const char *params[1];
    apr_int64_t days = 30;
    PGconn *conn;
    PGresult *res;
    long deleted;
    int rv;

    if (c->args->nelts > 0) {
        return cli_usage_error(cmd, "prune takes no argument (did you mean "
                               "--days N?)");
    }
    if (c->days && cli_parse_integer(c->days, 0, MAX_DAYS, &days) != 0) {
        return cli_usage_error(cmd, "--days: '%s' is not a number of days "
                               "(0 to %d)", cli_printable(c->pool, c->days),
                               MAX_DAYS);
    }
    params[0] = apr_psprintf(c->pool, "%" APR_INT64_T_FMT, days);
    if ((rv = cli_db_open(c, &conn)) != EXIT_OK) {
        return rv;
    }
    res = cli_db_exec(c, conn,
                      "DELETE FROM authchain_token"
                      " WHERE revoked < now() - $1::integer * interval '1 day'"
                      "    OR expires < now() - $1::integer"
                      " * interval '1 day'",
                      1, params);
    if (res == NULL) {
        PQfinish(conn);
        return EXIT_DB;
    }
    deleted = atol(PQcmdTuples(res));
    PQclear(res);
    PQfinish(conn);
    printf("pruned %ld token%s (expired or revoked more than %" APR_INT64_T_FMT
           " day%s ago)\n", deleted, deleted == 1 ? "" : "s", days,
           days == 1 ? "" : "s");
    return EXIT_OK;
}

static const command_def commands[] = {
    {"init", OPT_DB | OPT_HELP, cmd_init,
     "\t" PROGRAM " [--db CONNINFO] init\n",
     "Create the tables of the native schema (sql/schema.sql, installed in\n"
     "$datadir/authchain/) in one transaction, or upgrade an older version.\n"
     "Running it again changes nothing.\n"
     "\n"},
    {"create", OPT_DB | OPT_HELP | OPT_NAME | OPT_SCOPE | OPT_EXPIRES
               | OPT_PREFIX, cmd_create,
     "\t" PROGRAM " [--db CONNINFO] create [--name NAME] [--scope SCOPE]...\n"
     "\t\t[--expires DURATION] [--prefix PREFIX] USER\n",
     "Create an API key for USER. The key is printed once on standard\n"
     "output, alone (key=$(" PROGRAM " create alice) works); the token's id\n"
     "goes to standard error. Only the key's SHA-256 is stored.\n"
     "\n"
     " --name NAME          A label for the token (\"ci\", \"alice's laptop\").\n"
     " --scope SCOPE        One scope, one word; repeat for several.\n"
     " --expires DURATION   Expire after DURATION: a positive whole number and\n"
     "                      s, m, h, d or w (3600s, 90m, 12h, 30d, 2w). Default:\n"
     "                      never.\n"
     " --prefix PREFIX      The key's prefix: 1 to 16 characters of A-Z, a-z,\n"
     "                      0-9 and _. Default: act_. The module must expect\n"
     "                      the same prefix (AuthTokenPrefix).\n"},
    {"list", OPT_DB | OPT_HELP, cmd_list,
     "\t" PROGRAM " [--db CONNINFO] list [USER]\n",
     "List the tokens (of USER): id, user, name, scopes, created, expires,\n"
     "revoked, last_used (UTC) and status (active, expired, revoked). Keys\n"
     "are not stored and never shown.\n"
     "\n"},
    {"revoke", OPT_DB | OPT_HELP | OPT_USER, cmd_revoke,
     "\t" PROGRAM " [--db CONNINFO] revoke ID\n"
     "\t" PROGRAM " [--db CONNINFO] revoke --user USER\n",
     "Revoke the token ID (see list), or every token of USER, from now on.\n"
     "Prints how many were revoked. Exit status 1 when ID or USER names no\n"
     "token; revoking a revoked token again is not an error.\n"
     "\n"
     " --user USER          Revoke every token of USER.\n"},
    {"rotate", OPT_DB | OPT_HELP | OPT_USER | OPT_GRACE | OPT_EXPIRES
               | OPT_PREFIX, cmd_rotate,
     "\t" PROGRAM " [--db CONNINFO] rotate --grace DURATION [--expires DURATION]\n"
     "\t\t[--prefix PREFIX] ID\n"
     "\t" PROGRAM " [--db CONNINFO] rotate --grace DURATION [--expires DURATION]\n"
     "\t\t[--prefix PREFIX] --user USER\n",
     "Replace the token ID, or every active token of USER, by a new key with\n"
     "the same user, name, scopes and expiry, and let the old key work until\n"
     "the end of the grace period (list shows it as rolling). The new keys\n"
     "are printed once on standard output, one a line, in the order of the\n"
     "report on standard error. Exit status 1 when ID names no token, or one\n"
     "that is revoked, expired or already rolling, or USER has no active\n"
     "token.\n"
     "\n"
     " --grace DURATION     How long the old key keeps working: 0 (revoke it\n"
     "                      now) or a whole number and s, m, h, d or w (24h,\n"
     "                      7d); never past the old key's own expiry.\n"
     "                      Required.\n"
     " --expires DURATION   The new key expires DURATION from now. Default:\n"
     "                      when the old key would have (never if it would\n"
     "                      not).\n"
     " --prefix PREFIX      The new key's prefix (it is not stored, so not\n"
     "                      copied). Default: act_.\n"
     " --user USER          Rotate every active token of USER.\n"},
    {"prune", OPT_DB | OPT_HELP | OPT_DAYS, cmd_prune,
     "\t" PROGRAM " [--db CONNINFO] prune [--days N]\n",
     "Delete the tokens that expired, or were revoked, more than N days ago.\n"
     "Prints how many.\n"
     "\n"
     " --days N             Default 30; 0 deletes every expired or revoked\n"
     "                      token.\n"},
    {NULL, 0, NULL, NULL, NULL}
};

/* The command called `name`, or NULL. */
const command_def *cli_find_command(const char *name)
{
    const command_def *cmd;

    for (cmd = commands; name && cmd->name; cmd++) {
        if (strcmp(cmd->name, name) == 0) {
            return cmd;
        }
    }
    return NULL;
}


/* Decide what to run: help, version, or a command whose options are
 * checked against what it accepts.  Returns the exit status. */
static int dispatch(cli *c)
{
    const command_def *cmd;

    if (c->command && strcmp(c->command, "help") == 0) {
        if (c->args->nelts == 0) {
            cli_usage_all(stdout);
            return EXIT_OK;
        }
        cmd = cli_find_command(APR_ARRAY_IDX(c->args, 0, const char *));
        if (cmd == NULL) {
            return cli_usage_error(NULL, "no command '%s'",
                                   cli_printable(c->pool,
                                                 APR_ARRAY_IDX(c->args, 0,
                                                               const char *)));
        }
        cli_usage_command(cmd, stdout);
        return EXIT_OK;
    }
    if (c->command == NULL) {
        if (c->seen & OPT_VERSION) {
            printf(PROGRAM " (authchain) %s\n", AC_PACKAGE_VERSION);
            return EXIT_OK;
        }
        if (c->seen & OPT_HELP) {
            cli_usage_all(stdout);
            return EXIT_OK;
        }
        return cli_usage_error(NULL, "no command given");
    }
    cmd = cli_find_command(c->command);
    if (cmd == NULL) {
        return cli_usage_error(NULL, "unknown command '%s'",
                               cli_printable(c->pool, c->command));
    }
    if (c->seen & OPT_HELP) {
        cli_usage_command(cmd, stdout);
        return EXIT_OK;
    }
    if (c->seen & ~cmd->options) {
        return cli_usage_error(cmd, "option %s is not valid for %s",
                               cli_option_name(c->seen & ~cmd->options),
                               cmd->name);
    }
    return cmd->run(c);
}

/* Parse, dispatch, and exit with the command's status (EXIT_*). */
int main(int argc, const char *const *argv)
{
    apr_pool_t *pool;
    cli c;
    int rv;

    if (apr_app_initialize(&argc, &argv, NULL) != APR_SUCCESS
        || apr_pool_create(&pool, NULL) != APR_SUCCESS) {
        fputs(PROGRAM ": cannot initialise APR\n", stderr);
        return EXIT_INTERNAL;
    }
    atexit(apr_terminate);
    /* A closed pipe is an error to report (and, for create, a token to
     * delete again), not a silent death. */
    signal(SIGPIPE, SIG_IGN);

    memset(&c, 0, sizeof(c));
    c.pool = pool;
    rv = cli_parse_args(&c, argc, argv);
    if (rv == EXIT_OK) {
        rv = dispatch(&c);
    }
    apr_pool_destroy(pool);
    return rv;
}
