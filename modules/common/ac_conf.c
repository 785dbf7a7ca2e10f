/* Licensed under the Apache License, Version 2.0. */

#include "apr_strings.h"

#include "httpd.h"
#include "http_config.h"

#include "ac_common.h"
#include "ac_conf.h"
#include "ac_pg.h"
#include "ac_request.h"

/* "'a', 'b' or 'c'", the words of an enum */
static const char *enum_words(apr_pool_t *p, const ac_conf_enum *values)
{
    const char *out = "";
    int i;

    for (i = 0; values[i].name != NULL; i++) {
        out = apr_pstrcat(p, out, i == 0 ? "" : values[i + 1].name
                                                ? ", " : " or ",
                          "'", values[i].name, "'", NULL);
    }
    return out;
}

const char *ac_conf_take1(cmd_parms *cmd, void *dconf, const char *arg)
{
    const ac_conf_field *f = cmd->info;
    const char *name = cmd->cmd->name;
    char *conf = dconf;
    const char *err = NULL;
    int i;

    switch (f->kind) {
    case AC_CONF_INT:
        err = ac_parse_int(cmd->pool, name, arg, f->min, f->max,
                           (int *)(conf + f->offset));
        break;
    case AC_CONF_SECONDS:
        err = ac_parse_seconds(cmd->pool, name, arg, f->min == 0, f->max,
                               (apr_interval_time_t *)(conf + f->offset));
        break;
    case AC_CONF_ENUM:
        for (i = 0; f->values[i].name != NULL; i++) {
            if (strcasecmp(arg, f->values[i].name) == 0) {
                *(int *)(conf + f->offset) = f->values[i].value;
                break;
            }
        }
        if (f->values[i].name == NULL) {
            err = apr_psprintf(cmd->pool, "%s must be %s, not '%s'", name,
                               enum_words(cmd->temp_pool, f->values), arg);
        }
        break;
    case AC_CONF_STRING:
    case AC_CONF_DB:
        if (f->check != NULL) {
            err = f->check(cmd, arg);
        }
        if (err == NULL) {
            *(const char **)(conf + f->offset) = arg;
        }
        if (err == NULL && f->kind == AC_CONF_DB) {
            *(ac_conf_place *)(conf + f->at) = ac_place_of(cmd);
        }
        break;
    case AC_CONF_TOKEN:
        if (!ac_is_http_token(arg)) {
            err = apr_psprintf(cmd->pool, "%s: '%s' is not %s", name, arg,
                               f->what);
        }
        else {
            *(const char **)(conf + f->offset) = arg;
        }
        break;
    default:
        err = apr_psprintf(cmd->pool, "%s: not a one-argument directive",
                           name);
        break;
    }
    if (err == NULL) {
        conf[f->set] = 1;
    }
    return err;
}

const char *ac_conf_flag(cmd_parms *cmd, void *dconf, int on)
{
    const ac_conf_field *f = cmd->info;
    char *conf = dconf;

    *(int *)(conf + f->offset) = on;
    conf[f->set] = 1;
    return NULL;
}

/* A field's value: an int or a pointer (or apr_interval_time_t) nearly
 * always, copied inline then; merges run on every request, several
 * times. */
static void copy_field(char *to, const char *from, apr_size_t size)
{
    if (size == sizeof(int)) {
        memcpy(to, from, sizeof(int));
    }
    else if (size == sizeof(apr_int64_t)) {
        memcpy(to, from, sizeof(apr_int64_t));
    }
    else {
        memcpy(to, from, size);
    }
}

void ac_conf_merge(const command_rec *cmds, void *conf, const void *base,
                   const void *add)
{
    const char *b = base, *a = add;
    char *c = conf;

    for (; cmds->name != NULL; cmds++) {
        const ac_conf_field *f = cmds->cmd_data;
        const char *from;

        if (cmds->func.take1 != ac_conf_take1
            && cmds->func.flag != ac_conf_flag) {
            continue;
        }
        from = a[f->set] ? a : b;
        copy_field(c + f->offset, from + f->offset, f->size);
        if (f->kind == AC_CONF_DB) {
            memcpy(c + f->at, from + f->at, sizeof(ac_conf_place));
        }
        c[f->set] = a[f->set] | b[f->set];
    }
}

const char *ac_conf_not_empty(cmd_parms *cmd, const char *arg)
{
    return *arg == '\0'
           ? apr_psprintf(cmd->pool, "%s must not be empty", cmd->cmd->name)
           : NULL;
}

const char *ac_conf_conninfo(cmd_parms *cmd, const char *arg)
{
    const char *err = ac_pg_check_conninfo(cmd->temp_pool, arg);

    return err == NULL
           ? NULL
           : apr_psprintf(cmd->pool, "%s: not a libpq connection string: %s",
                          cmd->cmd->name, err);
}
