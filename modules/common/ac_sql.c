/* Licensed under the Apache License, Version 2.0. */

#include "apr_strings.h"

#include <string.h>

#include <libpq-fe.h>

#include "ac_common.h"
#include "ac_sql.h"

/* A conninfo value in single quotes, as libpq's keyword syntax wants. */
static const char *quote_value(apr_pool_t *p, const char *v)
{
    char *out = apr_palloc(p, 2 * strlen(v) + 3), *o = out;

    *o++ = '\'';
    for (; *v; v++) {
        if (*v == '\'' || *v == '\\') {
            *o++ = '\\';
        }
        *o++ = *v;
    }
    *o++ = '\'';
    *o = '\0';
    return out;
}

const char *ac_write_conninfo(apr_pool_t *p, const char *conninfo)
{
    PQconninfoOption *opts, *o;
    const char *tsa = NULL, *out = "";
    int multi = 0;

    opts = PQconninfoParse(conninfo, NULL);
    if (opts == NULL) {
        return NULL;
    }
    for (o = opts; o->keyword != NULL; o++) {
        if (o->val == NULL) {
            continue;
        }
        if (strcmp(o->keyword, "target_session_attrs") == 0) {
            tsa = o->val;
        }
        else if ((strcmp(o->keyword, "host") == 0
                  || strcmp(o->keyword, "hostaddr") == 0)
                 && strchr(o->val, ',') != NULL) {
            multi = 1;
        }
    }
    if ((tsa == NULL || strcmp(tsa, "any") == 0) ? !multi
        : (strcmp(tsa, "read-write") == 0 || strcmp(tsa, "primary") == 0)) {
        PQconninfoFree(opts);
        return NULL;
    }
    for (o = opts; o->keyword != NULL; o++) {
        if (o->val != NULL
            && strcmp(o->keyword, "target_session_attrs") != 0) {
            out = apr_pstrcat(p, out, o->keyword, "=",
                              quote_value(p, o->val), " ", NULL);
        }
    }
    PQconninfoFree(opts);
    return apr_pstrcat(p, out, "target_session_attrs=read-write", NULL);
}

const char *ac_sql_array_literal(apr_pool_t *p, const char *const *strs,
                                 int n)
{
    apr_size_t size = 3;
    char *out, *o;
    const char *c;
    int i;

    for (i = 0; i < n; i++) {
        size += 2 * strlen(strs[i]) + 3;
    }
    o = out = apr_palloc(p, size);
    *o++ = '{';
    for (i = 0; i < n; i++) {
        if (i > 0) {
            *o++ = ',';
        }
        *o++ = '"';
        for (c = strs[i]; *c; c++) {
            if (*c == '"' || *c == '\\') {
                *o++ = '\\';
            }
            *o++ = *c;
        }
        *o++ = '"';
    }
    *o++ = '}';
    *o = '\0';
    return out;
}

int ac_sql_row_of(const PGresult *res, int col, const char *secret,
                  apr_size_t len)
{
    int row, found = -1;

    for (row = 0; row < PQntuples(res); row++) {
        const char *v = PQgetvalue(res, row, col);

        if (!PQgetisnull(res, row, col) && strlen(v) == len
            && ac_ct_equal(v, secret, len)) {
            found = row;
        }
    }
    return found;
}
