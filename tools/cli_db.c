/* Licensed under the Apache License, Version 2.0.
 *
 * cli_db.c -- authchain-token's database: connecting with --db or the PG*
 * environment, running a statement, saying what failed (never echoing the
 * connection string, nor a value a DETAIL may quote), and the native
 * schema compiled in from sql/schema.sql: its version, and running it.
 */

#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "apr_pools.h"
#include "apr_strings.h"

#include "cli.h"
#include "schema_sql.h"

const int cli_schema_version = AC_SCHEMA_VERSION;

/* Keep libpq's NOTICEs ("relation already exists, skipping") off the
 * terminal; pass warnings on. */
static void notice_receiver(void *arg, const PGresult *res)
{
    const char *severity = PQresultErrorField(res,
                                              PG_DIAG_SEVERITY_NONLOCALIZED);
    const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

    if (severity && strcmp(severity, "WARNING") == 0 && msg) {
        cli_say("database warning: %s", msg);
    }
}

/* The first line of a libpq error message. */
static const char *first_line(apr_pool_t *p, const char *msg)
{
    const char *nl;

    if (msg == NULL || *msg == '\0') {
        return "(no message)";
    }
    nl = strchr(msg, '\n');
    return cli_printable(p, nl ? apr_pstrndup(p, msg, nl - msg) : msg);
}

/* A multi-line libpq message as printable lines, the second and later
 * ones indented, without the final newline. */
static const char *indented(apr_pool_t *p, const char *msg)
{
    const char *out = "", *line = msg, *nl;

    while (line && *line) {
        nl = strchr(line, '\n');
        while (*line == '\t' || *line == ' ') {
            line++;
        }
        if (nl == NULL || nl > line) {
            const char *text = nl ? apr_pstrndup(p, line, nl - line) : line;

            out = apr_pstrcat(p, out, *out ? "\n    " : "",
                              cli_printable(p, text), NULL);
        }
        line = nl ? nl + 1 : NULL;
    }
    return *out ? out : "(no message)";
}

/* Connect with --db (a conninfo string or URI, expanded by libpq) or the
 * PG* environment.  connect_timeout is 5 s unless the string or
 * PGCONNECT_TIMEOUT sets it: it comes before the expanded string, which
 * overrides it.  Returns the connection, or NULL having said why (never
 * echoing the string, which may hold a password). */
PGconn *cli_db_connect(cli *c)
{
    const char *keys[4], *values[4];
    PGconn *conn;
    int n = 0;

    if (c->db && *c->db) {
        PQconninfoOption *parsed;
        char *err = NULL;

        parsed = PQconninfoParse(c->db, &err);
        if (parsed == NULL) {
            /* libpq quotes the offending text, which may be a password:
             * repeat only the messages that quote an option's name. */
            if (err && (strncmp(err, "invalid connection option", 25) == 0
                        || strncmp(err, "invalid URI query parameter",
                                   27) == 0)) {
                cli_say("cannot connect to the database: --db: %s",
                        first_line(c->pool, err));
            }
            else {
                cli_say("cannot connect to the database: the --db "
                        "connection string is not valid libpq syntax (not "
                        "repeated here: it may hold a password)");
            }
            PQfreemem(err);
            return NULL;
        }
        PQconninfoFree(parsed);
    }
    keys[n] = "fallback_application_name";
    values[n++] = PROGRAM;
    if (getenv("PGCONNECT_TIMEOUT") == NULL) {
        keys[n] = "connect_timeout";
        values[n++] = "5";
    }
    if (c->db && *c->db) {
        keys[n] = "dbname";
        values[n++] = c->db;
    }
    keys[n] = NULL;
    values[n] = NULL;

    conn = PQconnectdbParams(keys, values, 1);
    if (conn == NULL) {
        cli_say("cannot connect to the database: out of memory");
        return NULL;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        cli_say("cannot connect to the database: %s",
                indented(c->pool, PQerrorMessage(conn)));
        PQfinish(conn);
        return NULL;
    }
    PQsetNoticeReceiver(conn, notice_receiver, NULL);
    return conn;
}

/* Run one statement with text parameters (NULL: SQL NULL).  Returns the
 * result when it succeeded, else NULL having said what failed (the primary
 * message only: a DETAIL may quote values). */
PGresult *cli_db_exec(cli *c, PGconn *conn, const char *sql, int nparams,
                      const char *const *params)
{
    PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, NULL,
                                 NULL, 0);
    ExecStatusType st = PQresultStatus(res);

    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        return res;
    }
    if (res == NULL) {
        cli_say("database error: %s",
                first_line(c->pool, PQerrorMessage(conn)));
        return NULL;
    }
    cli_say("database error: %s",
            first_line(c->pool,
                       PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)
                       ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY)
                       : PQresultErrorMessage(res)));
    PQclear(res);
    return NULL;
}

/* Whether the schema is there and at least the version this program
 * installs: the commands other than init need it.  Returns EXIT_OK or
 * EXIT_DB having said to run init. */
static int require_schema(cli *c, PGconn *conn)
{
    PGresult *res = PQexecParams(conn,
                                 "SELECT max(version) FROM authchain_schema",
                                 0, NULL, NULL, NULL, NULL, 0);
    const char *state;
    int version;

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        if (state && strcmp(state, "42P01") == 0) {     /* undefined_table */
            cli_say("the authchain tables are missing in this database: "
                    "run " PROGRAM " init");
        }
        else {
            cli_say("database error: %s",
                    first_line(c->pool, PQresultErrorMessage(res)));
        }
        PQclear(res);
        return EXIT_DB;
    }
    version = PQgetisnull(res, 0, 0) ? 0 : atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    if (version < AC_SCHEMA_VERSION) {
        cli_say("the authchain schema in this database is version %d, this "
                "program needs %d: run " PROGRAM " init", version,
                AC_SCHEMA_VERSION);
        return EXIT_DB;
    }
    return EXIT_OK;
}

/* Connect and check the schema, for every command but init.  Returns
 * EXIT_OK with *conn open, or the exit code having said why. */
int cli_db_open(cli *c, PGconn **conn)
{
    int rv;

    if ((*conn = cli_db_connect(c)) == NULL) {
        return EXIT_DB;
    }
    if ((rv = require_schema(c, *conn)) != EXIT_OK) {
        PQfinish(*conn);
        *conn = NULL;
    }
    return rv;
}

/* The schema's version, or 0 when its table does not exist, or -1 on an
 * error (said). */
int cli_db_schema_version(cli *c, PGconn *conn)
{
    PGresult *res;
    int version = 0;

    res = cli_db_exec(c, conn,
                      "SELECT to_regclass('authchain_schema') IS NOT NULL", 0,
                      NULL);
    if (res == NULL) {
        return -1;
    }
    if (strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
        PQclear(res);
        res = cli_db_exec(c, conn, "SELECT max(version) FROM authchain_schema",
                          0, NULL);
        if (res == NULL) {
            return -1;
        }
        version = PQgetisnull(res, 0, 0) ? 0 : atoi(PQgetvalue(res, 0, 0));
    }
    PQclear(res);
    return version;
}

/* Run the schema compiled in from sql/schema.sql (it creates or upgrades
 * the tables).  Returns 0, or -1 having said what failed. */
int cli_db_run_schema(cli *c, PGconn *conn)
{
    PGresult *res;

    /* The schema is several statements and holds no user data: the simple
     * query protocol, inside the caller's transaction. */
    res = PQexec(conn, ac_schema_sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK
        && PQresultStatus(res) != PGRES_TUPLES_OK) {
        cli_say("database error while creating the schema: %s",
                first_line(c->pool, PQresultErrorMessage(res)));
        PQclear(res);
        return -1;
    }
    PQclear(res);
    return 0;
}
