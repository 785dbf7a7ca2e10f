/* Licensed under the Apache License, Version 2.0.
 *
 * ac_conf.h -- directives declared, not written.  A directive that sets
 * one field of a module's per-directory configuration is one line of the
 * module's command_rec table, naming the field and its bounds:
 *
 *     AC_INIT_INT("AuthTokenCacheTTL", token_dir_conf, cache_ttl, 0, 86400,
 *                 OR_AUTHCFG, "seconds a verified key is cached"),
 *
 * The field needs a flag beside it, `unsigned char cache_ttl_set;`, that
 * says the directive was written in the section.  One setter checks the
 * value (a message naming the directive when it is wrong, which stops
 * httpd at start-up) and sets both; ac_conf_merge() merges every field
 * so declared, the nearer section's setting winning, from the same table.
 * Directives with a setter of their own (lists, several arguments, other
 * modules' directives) stay as they are and are merged with AC_MERGE.
 */

#ifndef AC_CONF_H
#define AC_CONF_H

#include <stddef.h>

#include "httpd.h"
#include "http_config.h"

typedef enum {
    AC_CONF_INT,            /* int, from min to max */
    AC_CONF_SECONDS,        /* apr_interval_time_t, fractions allowed;
                             * min 0: 0 allowed, else above 0; at most max */
    AC_CONF_FLAG,           /* int, On (1) or Off (0) */
    AC_CONF_ENUM,           /* int, one of the names of `values` */
    AC_CONF_STRING,         /* const char *, as written, after `check` */
    AC_CONF_TOKEN,          /* const char *, an HTTP token (RFC 9110),
                             * `what` it is named in the message */
    AC_CONF_DB              /* const char *, a libpq connection string;
                             * where it was written goes with it, in the
                             * ac_conf_place at `at` */
} ac_conf_kind;

/* The words of an AC_CONF_ENUM and their values; a NULL name ends it. */
typedef struct {
    const char *name;
    int value;
} ac_conf_enum;

/* A check of a string's value: NULL, or the message that refuses it. */
typedef const char *ac_conf_check_fn(cmd_parms *cmd, const char *arg);

typedef struct {
    ac_conf_kind kind;
    apr_size_t offset;          /* of the field */
    apr_size_t set;             /* of its unsigned char `_set` flag */
    apr_size_t size;            /* of the field, for the merge */
    int min, max;
    const ac_conf_enum *values;
    ac_conf_check_fn *check;
    const char *what;
    apr_size_t at;              /* AC_CONF_DB: of its ac_conf_place */
} ac_conf_field;

/* The setters of declared directives (cmd->info is the ac_conf_field). */
const char *ac_conf_take1(cmd_parms *cmd, void *dconf, const char *arg);
const char *ac_conf_flag(cmd_parms *cmd, void *dconf, int on);

/* Merge every field that `cmds` declares: `conf` gets add's value where
 * the directive was written in `add`, else base's; its flag is set where
 * either had it. */
void ac_conf_merge(const command_rec *cmds, void *conf, const void *base,
                   const void *add);

/* The field `f` of the struct `type`: where it is, where its flag is, its
 * size. */
#define AC_CONF_AT(type, f) \
    offsetof(type, f), offsetof(type, f##_set), sizeof(((type *)0)->f)

/* A descriptor with static storage (a compound literal at file scope). */
#define AC_CONF_DECL(kind, type, f, min, max, values, check) \
    AC_CONF_DECL_WHAT(kind, type, f, min, max, values, check, NULL)
#define AC_CONF_DECL_WHAT(kind, type, f, min, max, values, check, what) \
    ((void *)&(const ac_conf_field){ (kind), AC_CONF_AT(type, f), (min), \
                                     (max), (values), (check), (what), 0 })

#define AC_INIT_INT(name, type, f, min, max, where, help) \
    AP_INIT_TAKE1(name, ac_conf_take1, \
                  AC_CONF_DECL(AC_CONF_INT, type, f, min, max, NULL, NULL), \
                  where, help)

/* seconds above 0 (zero_ok 0) or from 0 (zero_ok 1), at most max */
#define AC_INIT_SECONDS(name, type, f, zero_ok, max, where, help) \
    AP_INIT_TAKE1(name, ac_conf_take1, \
                  AC_CONF_DECL(AC_CONF_SECONDS, type, f, !(zero_ok), max, \
                               NULL, NULL), \
                  where, help)

#define AC_INIT_FLAG(name, type, f, where, help) \
    AP_INIT_FLAG(name, ac_conf_flag, \
                 AC_CONF_DECL(AC_CONF_FLAG, type, f, 0, 1, NULL, NULL), \
                 where, help)

#define AC_INIT_ENUM(name, type, f, values, where, help) \
    AP_INIT_TAKE1(name, ac_conf_take1, \
                  AC_CONF_DECL(AC_CONF_ENUM, type, f, 0, 0, values, NULL), \
                  where, help)

/* check: an ac_conf_check_fn, or NULL for any value */
#define AC_INIT_STRING(name, type, f, check, where, help) \
    AP_INIT_TAKE1(name, ac_conf_take1, \
                  AC_CONF_DECL(AC_CONF_STRING, type, f, 0, 0, NULL, check), \
                  where, help)

/* an HTTP token (a header, cookie or scheme name): `what` names it in the
 * message ("'x y' is not a cookie name") */
#define AC_INIT_TOKEN(name, type, f, what, where, help) \
    AP_INIT_TAKE1(name, ac_conf_take1, \
                  AC_CONF_DECL_WHAT(AC_CONF_TOKEN, type, f, 0, 0, NULL, \
                                    NULL, what), \
                  where, help)

/* a libpq connection string (AuthTokenDB, AuthOAuth2DB), checked as
 * ac_conf_conninfo does; the struct has `ac_conf_place f##_at` beside it,
 * where the directive was written, for start-up messages (merged with
 * the string) */
#define AC_INIT_DB(name, type, f, where, help) \
    AP_INIT_TAKE1(name, ac_conf_take1, \
                  ((void *)&(const ac_conf_field){ AC_CONF_DB, \
                      AC_CONF_AT(type, f), 0, 0, NULL, ac_conf_conninfo, \
                      NULL, offsetof(type, f##_at) }), \
                  where, help)

/* Checks for AC_INIT_STRING. */
ac_conf_check_fn ac_conf_not_empty;     /* at least one character */
ac_conf_check_fn ac_conf_conninfo;      /* a libpq connection string */

#endif /* AC_CONF_H */
