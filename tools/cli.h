/* Licensed under the Apache License, Version 2.0.
 *
 * cli.h -- what the files of authchain-token share (private to tools/):
 *
 *   cli_args.c         the command line: options, values, usage, messages
 *   cli_db.c           the database: connection, statements, the schema
 *   authchain-token.c  the commands and main()
 *
 * Each function is described above its definition.
 */

#ifndef AC_CLI_H
#define AC_CLI_H

#include <stdio.h>

#include <libpq-fe.h>

#include "apr_pools.h"
#include "apr_tables.h"

#define PROGRAM "authchain-token"

/* Exit statuses, as documented in the man page and docs/authchain-token.md. */
#define EXIT_OK       0     /* done */
#define EXIT_NOMATCH  1     /* revoke, rotate: the ID or USER names no
                               token (rotate: none it can rotate) */
#define EXIT_USAGE    2     /* bad command, option, argument or duration */
#define EXIT_DB       3     /* cannot connect, SQL error, schema missing */
#define EXIT_INTERNAL 4     /* no random bytes, cannot write the output */

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
    OPT_VERSION = 1 << 8,
    OPT_GRACE = 1 << 9
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
    const char *grace;
    const char *command;
    apr_array_header_t *args;       /* const char *, after the command */
} cli;

/* A command: its name, the options it accepts, what runs it, its usage. */
typedef struct {
    const char *name;
    int options;                    /* OPT_* bits accepted */
    int (*run)(cli *c);
    const char *synopsis;
    const char *help;
} command_def;

/* --- authchain-token.c --------------------------------------------------- */

/* The command called `name`, or NULL (NULL too for a NULL name). */
const command_def *cli_find_command(const char *name);

/* --- cli_args.c ---------------------------------------------------------- */

void cli_say(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
const char *cli_printable(apr_pool_t *p, const char *s);

void cli_usage_all(FILE *out);
void cli_usage_command(const command_def *cmd, FILE *out);
int cli_usage_error(const command_def *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

int cli_parse_args(cli *c, int argc, const char *const *argv);
int cli_parse_duration(const char *s, apr_int64_t *seconds);
int cli_parse_grace(const char *s, apr_int64_t *seconds);
int cli_parse_integer(const char *s, apr_int64_t min, apr_int64_t max,
                      apr_int64_t *value);
const char *cli_option_name(int bits);

/* --- cli_db.c ------------------------------------------------------------ */

/* The schema version that this program installs and needs. */
extern const int cli_schema_version;

PGconn *cli_db_connect(cli *c);
PGresult *cli_db_exec(cli *c, PGconn *conn, const char *sql, int nparams,
                      const char *const *params);
int cli_db_open(cli *c, PGconn **conn);
int cli_db_schema_version(cli *c, PGconn *conn);
int cli_db_run_schema(cli *c, PGconn *conn);

#endif /* AC_CLI_H */
