/* Licensed under the Apache License, Version 2.0.
 *
 * cli_args.c -- authchain-token's command line: the options, how argv is
 * split into them, the values they take (durations, whole numbers), the
 * usage texts and usage errors, and the two helpers that everything the
 * program says goes through (cli_say, cli_printable).
 */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "apr_pools.h"
#include "apr_strings.h"
#include "apr_tables.h"

#include "cli.h"

/* Longest --expires: 100 years of 365 days, in seconds. */
#define MAX_DURATION  APR_INT64_C(3153600000)

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
    {"--grace", OPT_GRACE, 1},
    {NULL, 0, 0}
};

static const char usage_common[] =
    " --db CONNINFO        A libpq connection string or URI (\"host=/run/\n"
    "                      postgresql dbname=app\", \"postgresql://app@db/app\");\n"
    "                      default: the PG* environment (PGHOST, PGDATABASE,\n"
    "                      PGUSER, ...) and ~/.pgpass. connect_timeout is 5\n"
    "                      seconds unless the string or PGCONNECT_TIMEOUT set it.\n"
    " -h, --help           Print this help and exit.\n";

static const char usage_exit[] =
    "Exit status: 0 done, 1 revoke or rotate matched no token, 2 usage error,\n"
    "3 database error (cannot connect, schema missing), 4 internal error.\n";

/* One line on stderr, prefixed by the program's name. */
static void vsay(const char *fmt, va_list ap)
{
    fputs(PROGRAM ": ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

/* Print printf-style to stderr, prefixed by the program's name. */
void cli_say(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsay(fmt, ap);
    va_end(ap);
}

/* `s` with every control character replaced by '?', so that nothing taken
 * from the command line or the database can drive the terminal. */
const char *cli_printable(apr_pool_t *p, const char *s)
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

/* --- usage ------------------------------------------------------------- */

/* The full usage: every command's synopsis, then the common options. */
void cli_usage_all(FILE *out)
{
    static const char *const order[] = {
        "init", "create", "list", "revoke", "rotate", "prune", NULL
    };
    int i;

    fputs("Usage:\n", out);
    for (i = 0; order[i]; i++) {
        fputs(cli_find_command(order[i])->synopsis, out);
    }
    fputs("\n"
          " init      Create the tables of the native schema, or upgrade them.\n"
          " create    Create an API key for USER and print it, once, on\n"
          "           standard output (and nothing else there).\n"
          " list      List the tokens (of USER); never keys nor hashes.\n"
          " revoke    Revoke the token ID, or every token of USER.\n"
          " rotate    Replace the token ID, or every active token of USER, by a\n"
          "           new key (printed once); the old key works until the\n"
          "           end of --grace.\n"
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
void cli_usage_command(const command_def *cmd, FILE *out)
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
int cli_usage_error(const command_def *cmd, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsay(fmt, ap);
    va_end(ap);
    if (cmd) {
        cli_usage_command(cmd, stderr);
    }
    else {
        cli_usage_all(stderr);
    }
    return EXIT_USAGE;
}

/* --- parsing ----------------------------------------------------------- */

/* Split argv into options and positional arguments: options may come
 * before or after the command, as --opt VALUE or --opt=VALUE; "--" ends
 * them.  Decides nothing about which command accepts which option.
 * Returns EXIT_OK or a usage error. */
int cli_parse_args(cli *c, int argc, const char *const *argv)
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
            return cli_usage_error(cli_find_command(c->command),
                                   "unknown option '%s'",
                                   cli_printable(c->pool,
                                                 apr_pstrndup(c->pool, arg,
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
                return cli_usage_error(cli_find_command(c->command),
                                       "option %s needs a value", opt->name);
            }
        }
        else if (eq) {
            return cli_usage_error(cli_find_command(c->command),
                                   "option %s takes no value", opt->name);
        }
        if ((c->seen & opt->bit) && opt->bit != OPT_SCOPE) {
            return cli_usage_error(cli_find_command(c->command),
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
        case OPT_GRACE:
            c->grace = value;
            break;
        }
    }
    return EXIT_OK;
}

/* A duration of --expires (and of --grace): a positive decimal integer and one unit of s,
 * m, h, d (86400 s) or w, at most 100 years.  Returns 0 and the seconds,
 * or -1. */
int cli_parse_duration(const char *s, apr_int64_t *seconds)
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

/* A duration of --grace: one of --expires, or zero ("0", or 0 with a
 * unit: "0s", "0h").  Returns 0 and the seconds, or -1. */
int cli_parse_grace(const char *s, apr_int64_t *seconds)
{
    const char *d = s;

    while (*d == '0') {
        d++;
    }
    if (d > s && (d[0] == '\0'
                  || (d[1] == '\0' && strchr("smhdw", d[0]) != NULL))) {
        *seconds = 0;
        return 0;
    }
    return cli_parse_duration(s, seconds);
}

/* A decimal integer in [min, max] with nothing around it.  Returns 0 and
 * the value, or -1. */
int cli_parse_integer(const char *s, apr_int64_t min, apr_int64_t max,
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

/* Name of the first option in `bits`, for "not valid for" messages. */
const char *cli_option_name(int bits)
{
    const option_def *opt;

    for (opt = option_defs; opt->name; opt++) {
        if (bits & opt->bit) {
            return opt->name;
        }
    }
    return "?";
}
