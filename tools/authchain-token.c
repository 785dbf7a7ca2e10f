/* Licensed under the Apache License, Version 2.0.
 *
 * authchain-token -- manage the API keys of the native token schema in
 * PostgreSQL: init (create or upgrade the schema), create, list, revoke,
 * prune.  See tools/authchain-token.1 and docs/authchain-token.md.
 *
 * The one secret this program ever handles is a new key: it is printed
 * once, alone, on standard output, and only its SHA-256 reaches the
 * database.  Everything else it says goes to standard error, except the
 * output that a command exists for (list's table, revoke's and prune's
 * counts).  User data reaches SQL only as parameters of PQexecParams; the
 * one PQexec runs the schema, which is compiled in from sql/schema.sql.
 */

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
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
#include "schema_sql.h"

#ifndef AC_PACKAGE_VERSION
#define AC_PACKAGE_VERSION "unknown"
#endif

#define PROGRAM "authchain-token"

/* Exit statuses, as documented in the man page and docs/authchain-token.md. */
#define EXIT_OK       0     /* done */
#define EXIT_NOMATCH  1     /* revoke: the ID or USER names no token */
#define EXIT_USAGE    2     /* bad command, option, argument or duration */
#define EXIT_DB       3     /* cannot connect, SQL error, schema missing */
#define EXIT_INTERNAL 4     /* no random bytes, cannot write the output */

/* Longest --expires: 100 years of 365 days, in seconds. */
#define MAX_DURATION  APR_INT64_C(3153600000)
/* Largest --days of prune. */
#define MAX_DAYS      36500

/* Serialises concurrent `init`s (an arbitrary constant: "acsc"). */
#define SCHEMA_LOCK   "1633907555"

/* A timestamptz column as ISO 8601 in UTC, NULL as "-". */
#define SQL_UTC(col) \
    "coalesce(to_char(" col " AT TIME ZONE 'UTC', " \
    "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '-')"

/* The options any command line may carry; a command accepts a subset. */
enum {
    OPT_DB = 1 << 0,
    OPT_HELP = 1 << 1,
    OPT_NAME = 1 << 2,
    OPT_SCOPE = 1 << 3,
    OPT_EXPIRES = 1 << 4,
    OPT_PREFIX = 1 << 5,
    OPT_USER = 1 << 6,
    OPT_DAYS = 1 << 7,
    OPT_VERSION = 1 << 8
};

typedef struct {
    const char *name;       /* "--scope" */
    int bit;
    int takes_value;
} option_def;

static const option_def option_defs[] = {
    {"--db", OPT_DB, 1},
    {"--help", OPT_HELP, 0},
    {"-h", OPT_HELP, 0},
    {"--name", OPT_NAME, 1},
    {"--scope", OPT_SCOPE, 1},
    {"--expires", OPT_EXPIRES, 1},
    {"--prefix", OPT_PREFIX, 1},
    {"--user", OPT_USER, 1},
    {"--days", OPT_DAYS, 1},
    {"--version", OPT_VERSION, 0},
    {NULL, 0, 0}
};

/* The parsed command line. */
typedef struct {
    apr_pool_t *pool;
    int seen;                       /* OPT_* bits given */
    const char *db;
    const char *name;
    apr_array_header_t *scopes;     /* const char * */
    const char *expires;
    const char *prefix;
    const char *user;
    const char *days;
    const char *command;
    apr_array_header_t *args;       /* const char *, after the command */
} cli;

typedef struct {
    const char *name;
    int options;                    /* OPT_* bits accepted */
    int (*run)(cli *c);
    const char *synopsis;
    const char *help;
} command_def;

static const command_def *find_command(const char *name);

static const char usage_common[] =
    " --db CONNINFO        A libpq connection string or URI (\"host=/run/\n"
    "                      postgresql dbname=app\", \"postgresql://app@db/app\");\n"
    "                      default: the PG* environment (PGHOST, PGDATABASE,\n"
    "                      PGUSER, ...) and ~/.pgpass. connect_timeout is 5\n"
    "                      seconds unless the string or PGCONNECT_TIMEOUT set it.\n"
    " -h, --help           Print this help and exit.\n";

static const char usage_exit[] =
    "Exit status: 0 done, 1 revoke matched no token, 2 usage error,\n"
    "3 database error (cannot connect, schema missing), 4 internal error.\n";

/* Print printf-style to stderr, prefixed by the program's name. */
static void say(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static void say(const char *fmt, ...)
{
    va_list ap;

    fputs(PROGRAM ": ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

/* `s` with every control character replaced by '?', so that nothing taken
 * from the command line or the database can drive the terminal. */
static const char *printable(apr_pool_t *p, const char *s)
{
    char *out = apr_pstrdup(p, s ? s : "");
    char *c;

    for (c = out; *c; c++) {
        if ((unsigned char)*c < 0x20 || *c == 0x7f) {
            *c = '?';
        }
    }
    return out;
}

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

/* --- usage ------------------------------------------------------------- */

/* The full usage: every command's synopsis, then the common options. */
static void usage_all(FILE *out)
{
    static const char *const order[] = {
        "init", "create", "list", "revoke", "prune", NULL
    };
    int i;

    fputs("Usage:\n", out);
    for (i = 0; order[i]; i++) {
        fputs(find_command(order[i])->synopsis, out);
    }
    fputs("\n"
          " init      Create the tables of the native schema, or upgrade them.\n"
          " create    Create an API key for USER and print it, once, on\n"
          "           standard output (and nothing else there).\n"
          " list      List the tokens (of USER); never keys nor hashes.\n"
          " revoke    Revoke the token ID, or every token of USER.\n"
          " prune     Delete the tokens that expired or were revoked more than\n"
          "           N days ago (default 30).\n"
          "\n", out);
    fputs(usage_common, out);
    fputs(" --version            Print the version and exit.\n"
          "\n"
          "'" PROGRAM " COMMAND --help' describes a command's options.\n",
          out);
    fputs(usage_exit, out);
}

/* One command's usage. */
static void usage_command(const command_def *cmd, FILE *out)
{
    fputs("Usage:\n", out);
    fputs(cmd->synopsis, out);
    fputs("\n", out);
    fputs(cmd->help, out);
    fputs(usage_common, out);
    fputs("\n", out);
    fputs(usage_exit, out);
}

/* A usage error: the message, then the relevant usage, on stderr. */
static int usage_error(const command_def *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int usage_error(const command_def *cmd, const char *fmt, ...)
{
    va_list ap;

    fputs(PROGRAM ": ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n", stderr);
    if (cmd) {
        usage_command(cmd, stderr);
    }
    else {
        usage_all(stderr);
    }
    return EXIT_USAGE;
}

/* --- parsing ----------------------------------------------------------- */

/* Split argv into options and positional arguments: options may come
 * before or after the command, as --opt VALUE or --opt=VALUE; "--" ends
 * them.  Decides nothing about which command accepts which option.
 * Returns EXIT_OK or a usage error. */
static int parse_args(cli *c, int argc, const char *const *argv)
{
    int i, options_done = 0;

    c->scopes = apr_array_make(c->pool, 4, sizeof(const char *));
    c->args = apr_array_make(c->pool, 4, sizeof(const char *));
    for (i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const option_def *opt;
        const char *value = NULL, *eq;
        apr_size_t namelen;

        if (options_done || arg[0] != '-' || arg[1] == '\0') {
            if (c->command == NULL) {
                c->command = arg;
            }
            else {
                APR_ARRAY_PUSH(c->args, const char *) = arg;
            }
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            options_done = 1;
            continue;
        }
        eq = strchr(arg, '=');
        namelen = eq ? (apr_size_t)(eq - arg) : strlen(arg);
        for (opt = option_defs; opt->name; opt++) {
            if (strlen(opt->name) == namelen
                && strncmp(opt->name, arg, namelen) == 0) {
                break;
            }
        }
        if (opt->name == NULL) {
            return usage_error(find_command(c->command ? c->command : ""),
                               "unknown option '%s'",
                               printable(c->pool, apr_pstrndup(c->pool, arg,
                                                               namelen)));
        }
        if (opt->takes_value) {
            if (eq) {
                value = eq + 1;
            }
            else if (i + 1 < argc) {
                value = argv[++i];
            }
            else {
                return usage_error(find_command(c->command ? c->command : ""),
                                   "option %s needs a value", opt->name);
            }
        }
        else if (eq) {
            return usage_error(find_command(c->command ? c->command : ""),
                               "option %s takes no value", opt->name);
        }
        if ((c->seen & opt->bit) && opt->bit != OPT_SCOPE) {
            return usage_error(find_command(c->command ? c->command : ""),
                               "option %s is given twice", opt->name);
        }
        c->seen |= opt->bit;
        switch (opt->bit) {
        case OPT_DB:
            c->db = value;
            break;
        case OPT_NAME:
            c->name = value;
            break;
        case OPT_SCOPE:
            APR_ARRAY_PUSH(c->scopes, const char *) = value;
            break;
        case OPT_EXPIRES:
            c->expires = value;
            break;
        case OPT_PREFIX:
            c->prefix = value;
            break;
        case OPT_USER:
            c->user = value;
            break;
        case OPT_DAYS:
            c->days = value;
            break;
        }
    }
    return EXIT_OK;
}

/* A duration of --expires: a positive decimal integer and one unit of s,
 * m, h, d (86400 s) or w, at most 100 years.  Returns 0 and the seconds,
 * or -1. */
static int parse_duration(const char *s, apr_int64_t *seconds)
{
    apr_int64_t n = 0, unit;
    const char *d = s;

    while (*d >= '0' && *d <= '9') {
        n = n * 10 + (*d - '0');
        if (n > MAX_DURATION) {
            return -1;
        }
        d++;
    }
    if (d == s || n == 0 || d[0] == '\0' || d[1] != '\0') {
        return -1;
    }
    switch (*d) {
    case 's':
        unit = 1;
        break;
    case 'm':
        unit = 60;
        break;
    case 'h':
        unit = 3600;
        break;
    case 'd':
        unit = 86400;
        break;
    case 'w':
        unit = 7 * 86400;
        break;
    default:
        return -1;
    }
    if (n > MAX_DURATION / unit) {
        return -1;
    }
    *seconds = n * unit;
    return 0;
}

/* A decimal integer in [min, max] with nothing around it.  Returns 0 and
 * the value, or -1. */
static int parse_integer(const char *s, apr_int64_t min, apr_int64_t max,
                         apr_int64_t *value)
{
    apr_int64_t n = 0;
    const char *d = s;

    while (*d >= '0' && *d <= '9') {
        if (n > (max - (*d - '0')) / 10) {
            return -1;
        }
        n = n * 10 + (*d - '0');
        d++;
    }
    if (d == s || *d != '\0' || n < min) {
        return -1;
    }
    *value = n;
    return 0;
}

/* --- the database ------------------------------------------------------ */

/* Keep libpq's NOTICEs ("relation already exists, skipping") off the
 * terminal; pass warnings on. */
static void notice_receiver(void *arg, const PGresult *res)
{
    const char *severity = PQresultErrorField(res,
                                              PG_DIAG_SEVERITY_NONLOCALIZED);
    const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

    if (severity && strcmp(severity, "WARNING") == 0 && msg) {
        say("database warning: %s", msg);
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
    return printable(p, nl ? apr_pstrndup(p, msg, nl - msg) : msg);
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
                              printable(p, text), NULL);
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
static PGconn *db_connect(cli *c)
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
                say("cannot connect to the database: --db: %s",
                    first_line(c->pool, err));
            }
            else {
                say("cannot connect to the database: the --db connection "
                    "string is not valid libpq syntax (not repeated here: it "
                    "may hold a password)");
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
        say("cannot connect to the database: out of memory");
        return NULL;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        say("cannot connect to the database: %s",
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
static PGresult *db_exec(cli *c, PGconn *conn, const char *sql, int nparams,
                         const char *const *params)
{
    PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, NULL,
                                 NULL, 0);
    ExecStatusType st = PQresultStatus(res);

    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        return res;
    }
    if (res == NULL) {
        say("database error: %s", first_line(c->pool, PQerrorMessage(conn)));
        return NULL;
    }
    say("database error: %s",
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
            say("the authchain tables are missing in this database: "
                "run " PROGRAM " init");
        }
        else {
            say("database error: %s",
                first_line(c->pool, PQresultErrorMessage(res)));
        }
        PQclear(res);
        return EXIT_DB;
    }
    version = PQgetisnull(res, 0, 0) ? 0 : atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    if (version < AC_SCHEMA_VERSION) {
        say("the authchain schema in this database is version %d, this "
            "program needs %d: run " PROGRAM " init", version,
            AC_SCHEMA_VERSION);
        return EXIT_DB;
    }
    return EXIT_OK;
}

/* Connect and check the schema, for every command but init.  Returns
 * EXIT_OK with *conn open, or the exit code having said why. */
static int db_open(cli *c, PGconn **conn)
{
    int rv;

    if ((*conn = db_connect(c)) == NULL) {
        return EXIT_DB;
    }
    if ((rv = require_schema(c, *conn)) != EXIT_OK) {
        PQfinish(*conn);
        *conn = NULL;
    }
    return rv;
}

/* --- the commands ------------------------------------------------------ */

/* The schema's version, or 0 when its table does not exist, or -1 on an
 * error (said). */
static int schema_version(cli *c, PGconn *conn)
{
    PGresult *res;
    int version = 0;

    res = db_exec(c, conn,
                  "SELECT to_regclass('authchain_schema') IS NOT NULL", 0,
                  NULL);
    if (res == NULL) {
        return -1;
    }
    if (strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
        PQclear(res);
        res = db_exec(c, conn, "SELECT max(version) FROM authchain_schema",
                      0, NULL);
        if (res == NULL) {
            return -1;
        }
        version = PQgetisnull(res, 0, 0) ? 0 : atoi(PQgetvalue(res, 0, 0));
    }
    PQclear(res);
    return version;
}

/* init: run the schema in one transaction, under an advisory lock so
 * that two inits do not race.  Refuses to touch a schema newer than this
 * program's. */
static int cmd_init(cli *c)
{
    PGconn *conn;
    PGresult *res;
    int before, after, rv = EXIT_DB;

    if (c->args->nelts > 0) {
        return usage_error(find_command("init"), "init takes no argument");
    }
    if ((conn = db_connect(c)) == NULL) {
        return EXIT_DB;
    }
    if ((res = db_exec(c, conn, "BEGIN", 0, NULL)) == NULL) {
        goto done;
    }
    PQclear(res);
    res = db_exec(c, conn, "SELECT pg_advisory_xact_lock(" SCHEMA_LOCK ")",
                  0, NULL);
    if (res == NULL) {
        goto done;
    }
    PQclear(res);
    if ((before = schema_version(c, conn)) < 0) {
        goto done;
    }
    if (before > AC_SCHEMA_VERSION) {
        say("the authchain schema in this database is version %d, newer "
            "than this " PROGRAM " (%d): nothing done", before,
            AC_SCHEMA_VERSION);
        goto done;
    }
    /* The schema is several statements and holds no user data: the simple
     * query protocol, inside the transaction above. */
    res = PQexec(conn, ac_schema_sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK
        && PQresultStatus(res) != PGRES_TUPLES_OK) {
        say("database error while creating the schema: %s",
            first_line(c->pool, PQresultErrorMessage(res)));
        PQclear(res);
        goto done;
    }
    PQclear(res);
    if ((after = schema_version(c, conn)) < 0) {
        goto done;
    }
    if ((res = db_exec(c, conn, "COMMIT", 0, NULL)) == NULL) {
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
            usage_error(find_command("create"), "--scope: a scope cannot "
                        "be empty");
            return NULL;
        }
        for (q = s; *q; q++) {
            if (*q == ' ' || (unsigned char)*q < 0x20 || *q == 0x7f) {
                usage_error(find_command("create"), "--scope: '%s' is not "
                            "one word: give each scope its own --scope",
                            printable(c->pool, s));
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

/* create: a new key for USER.  Stores its SHA-256, then prints the key,
 * alone, on stdout; if the key cannot be written there the row is deleted
 * again, so that no token exists whose key nobody has. */
static int cmd_create(cli *c)
{
    const command_def *cmd = find_command("create");
    const char *user, *scopes, *prefix, *name, *params[5];
    char hash[65], seconds_text[32], *key = NULL;
    apr_int64_t seconds = 0;
    PGconn *conn;
    PGresult *res;
    int rv;

    if (c->args->nelts == 0) {
        return usage_error(cmd, "create needs a USER");
    }
    if (c->args->nelts > 1) {
        return usage_error(cmd, "create takes one USER, not %d arguments "
                           "(quote a name with spaces, give each scope its "
                           "own --scope)", c->args->nelts);
    }
    user = APR_ARRAY_IDX(c->args, 0, const char *);
    if (*user == '\0' || has_control(user)) {
        return usage_error(cmd, "USER must be non-empty and free of control "
                           "characters");
    }
    name = c->name ? c->name : "";
    if (has_control(name)) {
        return usage_error(cmd, "--name must be free of control characters");
    }
    if ((scopes = join_scopes(c)) == NULL) {
        return EXIT_USAGE;
    }
    if (c->expires && parse_duration(c->expires, &seconds) != 0) {
        return usage_error(cmd, "--expires: '%s' is not a duration: give a "
                           "positive whole number and one unit of s, m, h, "
                           "d or w (30d, 12h, 90m, 3600s, 2w), at most 100 "
                           "years", printable(c->pool, c->expires));
    }
    prefix = c->prefix ? c->prefix : AC_KEY_DEFAULT_PREFIX;
    if (!ac_key_valid_prefix(prefix)) {
        return usage_error(cmd, "--prefix: '%s' is not a key prefix: 1 to %d "
                           "characters of A-Z, a-z, 0-9 and _",
                           printable(c->pool, prefix), AC_KEY_PREFIX_MAX);
    }

    if ((rv = db_open(c, &conn)) != EXIT_OK) {
        return rv;
    }
    if (ac_key_generate(c->pool, prefix, &key) != 0) {
        say("cannot get random bytes from OpenSSL: no key created");
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
    res = db_exec(c, conn,
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

        say("cannot write the key to standard output (%s): token deleted "
            "again", strerror(errno));
        del = db_exec(c, conn, "DELETE FROM authchain_token WHERE id = $1",
                      1, &id);
        PQclear(del);
        PQclear(res);
        PQfinish(conn);
        return EXIT_INTERNAL;
    }
    say("created token %s for user '%s'%s%s%s%s%s, expires %s",
        PQgetvalue(res, 0, 0), printable(c->pool, user),
        *name ? ", name '" : "", *name ? printable(c->pool, name) : "",
        *name ? "'" : "", *scopes ? ", scopes " : "",
        *scopes ? scopes : "",
        strcmp(PQgetvalue(res, 0, 1), "-") ? PQgetvalue(res, 0, 1) : "never");
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
        return usage_error(find_command("list"), "list takes at most one USER");
    }
    params[0] = c->args->nelts ? APR_ARRAY_IDX(c->args, 0, const char *)
                               : NULL;
    if ((rv = db_open(c, &conn)) != EXIT_OK) {
        return rv;
    }
    res = db_exec(c, conn,
                  "SELECT id, user_name, name, scopes, "
                  SQL_UTC("created") ", " SQL_UTC("expires") ", "
                  SQL_UTC("revoked") ", " SQL_UTC("last_used") ","
                  " CASE WHEN revoked IS NOT NULL THEN 'revoked'"
                  "  WHEN expires IS NOT NULL AND expires <= now()"
                  "   THEN 'expired'"
                  "  ELSE 'active' END"
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
                printf("%s\n", printable(c->pool, v));
            }
            else {
                printf("%-*s  ", (int)width[k], printable(c->pool, v));
            }
        }
    }
    PQclear(res);
    PQfinish(conn);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        say("cannot write to standard output: %s", strerror(errno));
        return EXIT_INTERNAL;
    }
    say("(%d token%s)", rows, rows == 1 ? "" : "s");
    return EXIT_OK;
}

/* revoke: set `revoked` on the token ID, or on every token of --user,
 * where it is not set yet.  Exit 1 when the ID or the user names no
 * token at all (a typo, most likely); revoking what is already revoked is
 * not an error, and says so. */
static int cmd_revoke(cli *c)
{
    const command_def *cmd = find_command("revoke");
    const char *params[1], *what;
    apr_int64_t id;
    long matched, revoked;
    PGconn *conn;
    PGresult *res;
    int rv;

    if (c->user && c->args->nelts > 0) {
        return usage_error(cmd, "revoke takes an ID or --user USER, not both");
    }
    if (c->user == NULL && c->args->nelts != 1) {
        return usage_error(cmd, c->args->nelts ? "revoke takes one ID"
                                               : "revoke needs an ID or --user USER");
    }
    if (c->user) {
        if (*c->user == '\0') {
            return usage_error(cmd, "--user: USER cannot be empty");
        }
        params[0] = c->user;
        what = apr_psprintf(c->pool, "of user '%s'",
                            printable(c->pool, c->user));
    }
    else {
        params[0] = APR_ARRAY_IDX(c->args, 0, const char *);
        if (parse_integer(params[0], 1, APR_INT64_MAX, &id) != 0) {
            return usage_error(cmd, "'%s' is not a token ID (a positive "
                               "integer; see " PROGRAM " list)",
                               printable(c->pool, params[0]));
        }
        what = apr_psprintf(c->pool, "with id %" APR_INT64_T_FMT, id);
    }
    if ((rv = db_open(c, &conn)) != EXIT_OK) {
        return rv;
    }
    /* One statement: the count of the selection and of what changed. */
    res = db_exec(c, conn, c->user
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
        say("no token %s: nothing revoked", what);
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

/* prune: delete the tokens whose expiry or revocation is more than N days
 * (default 30) in the past.  Deleting nothing is not an error. */
static int cmd_prune(cli *c)
{
    const command_def *cmd = find_command("prune");
    const char *params[1];
    apr_int64_t days = 30;
    PGconn *conn;
    PGresult *res;
    long deleted;
    int rv;

    if (c->args->nelts > 0) {
        return usage_error(cmd, "prune takes no argument (did you mean "
                           "--days N?)");
    }
    if (c->days && parse_integer(c->days, 0, MAX_DAYS, &days) != 0) {
        return usage_error(cmd, "--days: '%s' is not a number of days "
                           "(0 to %d)", printable(c->pool, c->days),
                           MAX_DAYS);
    }
    params[0] = apr_psprintf(c->pool, "%" APR_INT64_T_FMT, days);
    if ((rv = db_open(c, &conn)) != EXIT_OK) {
        return rv;
    }
    res = db_exec(c, conn,
                  "DELETE FROM authchain_token"
                  " WHERE revoked < now() - $1::integer * interval '1 day'"
                  "    OR expires < now() - $1::integer * interval '1 day'",
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
static const command_def *find_command(const char *name)
{
    const command_def *cmd;

    for (cmd = commands; name && cmd->name; cmd++) {
        if (strcmp(cmd->name, name) == 0) {
            return cmd;
        }
    }
    return NULL;
}

/* Name of the first option in `bits`, for "not valid for" messages. */
static const char *option_name(int bits)
{
    const option_def *opt;

    for (opt = option_defs; opt->name; opt++) {
        if (bits & opt->bit) {
            return opt->name;
        }
    }
    return "?";
}

/* Decide what to run: help, version, or a command whose options are
 * checked against what it accepts.  Returns the exit status. */
static int dispatch(cli *c)
{
    const command_def *cmd;

    if (c->command && strcmp(c->command, "help") == 0) {
        if (c->args->nelts == 0) {
            usage_all(stdout);
            return EXIT_OK;
        }
        cmd = find_command(APR_ARRAY_IDX(c->args, 0, const char *));
        if (cmd == NULL) {
            return usage_error(NULL, "no command '%s'",
                               printable(c->pool, APR_ARRAY_IDX(c->args, 0,
                                                                const char *)));
        }
        usage_command(cmd, stdout);
        return EXIT_OK;
    }
    if (c->command == NULL) {
        if (c->seen & OPT_VERSION) {
            printf(PROGRAM " (authchain) %s\n", AC_PACKAGE_VERSION);
            return EXIT_OK;
        }
        if (c->seen & OPT_HELP) {
            usage_all(stdout);
            return EXIT_OK;
        }
        return usage_error(NULL, "no command given");
    }
    cmd = find_command(c->command);
    if (cmd == NULL) {
        return usage_error(NULL, "unknown command '%s'",
                           printable(c->pool, c->command));
    }
    if (c->seen & OPT_HELP) {
        usage_command(cmd, stdout);
        return EXIT_OK;
    }
    if (c->seen & ~cmd->options) {
        return usage_error(cmd, "option %s is not valid for %s",
                           option_name(c->seen & ~cmd->options), cmd->name);
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
    rv = parse_args(&c, argc, argv);
    if (rv == EXIT_OK) {
        rv = dispatch(&c);
    }
    apr_pool_destroy(pool);
    return rv;
}
