/* Licensed under the Apache License, Version 2.0. */

#include "apr_lib.h"
#include "apr_strings.h"
#include "apr_uri.h"

#include <string.h>

#include "ac_httpsyn.h"

/* Python's str.split() whitespace, ASCII part (a table: a header of a
 * kilobyte is read character by character). */
static const unsigned char split_space[256] = {
    [' '] = 1, ['\t'] = 1, ['\n'] = 1, ['\r'] = 1, ['\v'] = 1, ['\f'] = 1,
    [0x1c] = 1, [0x1d] = 1, [0x1e] = 1, [0x1f] = 1
};

static int is_split_space(char c)
{
    return split_space[(unsigned char)c];
}

void ac_auth_header_split(const char *header, ac_auth_header *out)
{
    const char *s = header;
    const char *start;

    out->nwords = 0;
    out->scheme = out->credentials = NULL;
    out->scheme_len = out->credentials_len = 0;
    if (s == NULL) {
        return;
    }
    while (out->nwords < 3) {
        while (*s && is_split_space(*s)) {
            s++;
        }
        if (*s == '\0') {
            return;
        }
        start = s;
        while (*s && !is_split_space(*s)) {
            s++;
        }
        if (out->nwords == 0) {
            out->scheme = start;
            out->scheme_len = s - start;
        }
        else if (out->nwords == 1) {
            out->credentials = start;
            out->credentials_len = s - start;
        }
        out->nwords++;
    }
}

int ac_auth_header_is(const ac_auth_header *h, const char *name)
{
    return h->nwords > 0 && strlen(name) == h->scheme_len
           && strncasecmp(h->scheme, name, h->scheme_len) == 0;
}

const char *ac_http_quote(apr_pool_t *p, const char *s)
{
    apr_size_t len = strlen(s), i, n = 0;
    char *buf = apr_palloc(p, len * 2 + 3);

    buf[n++] = '"';
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c < 0x20 || c == 0x7f) {
            c = ' ';
        }
        else if (c == '"' || c == '\\') {
            buf[n++] = '\\';
        }
        buf[n++] = c;
    }
    buf[n++] = '"';
    buf[n] = '\0';
    return buf;
}

int ac_scope_next(const char **s, const char **word, apr_size_t *len)
{
    const char *c = *s;

    if (c == NULL) {
        return 0;
    }
    while (*c == ' ') {
        c++;
    }
    if (*c == '\0') {
        *s = c;
        return 0;
    }
    *word = c;
    while (*c && *c != ' ') {
        c++;
    }
    *len = (apr_size_t)(c - *word);
    *s = c;
    return 1;
}

/* Whether `word` (length len) is one of the words of `list`. */
static int list_has_word(const char *list, const char *word, apr_size_t len)
{
    const char *w;
    apr_size_t n;

    while (ac_scope_next(&list, &w, &n)) {
        if (n == len && memcmp(w, word, len) == 0) {
            return 1;
        }
    }
    return 0;
}

int ac_scopes_intersect(const char *have, const char *want)
{
    const char *w;
    apr_size_t len;

    while (ac_scope_next(&want, &w, &len)) {
        if (list_has_word(have, w, len)) {
            return 1;
        }
    }
    return 0;
}

const char *ac_scopes_union(apr_pool_t *p, const char *a, const char *b)
{
    const char *out = "", *lists[2], *w, *s;
    apr_size_t len;
    int i;

    lists[0] = a;
    lists[1] = b;
    for (i = 0; i < 2; i++) {
        for (s = lists[i]; ac_scope_next(&s, &w, &len);) {
            if (!list_has_word(out, w, len)) {
                out = apr_pstrcat(p, out, *out ? " " : "",
                                  apr_pstrmemdup(p, w, len), NULL);
            }
        }
    }
    return out;
}

int ac_is_http_token(const char *s)
{
    const char *c;

    if (s == NULL || *s == '\0') {
        return 0;
    }
    for (c = s; *c; c++) {
        if (!apr_isalnum(*c) && strchr("!#$%&'*+-.^_`|~", *c) == NULL) {
            return 0;
        }
    }
    return 1;
}

int ac_csrf_token_valid(const char *v)
{
    const char *c;

    if (v == NULL || strlen(v) != AC_CSRF_TOKEN_LENGTH) {
        return 0;
    }
    for (c = v; *c; c++) {
        if (!apr_isalnum(*c) && *c != '-' && *c != '_') {
            return 0;
        }
    }
    return 1;
}

static void lowercase(char *s)
{
    for (; *s; s++) {
        *s = apr_tolower(*s);
    }
}

const char *ac_url_origin(apr_pool_t *p, const char *url)
{
    apr_uri_t u;
    char *scheme, *host;
    const char *c;

    if (url == NULL || apr_uri_parse(p, url, &u) != APR_SUCCESS
        || u.scheme == NULL || u.hostname == NULL || *u.hostname == '\0') {
        return NULL;
    }
    for (c = u.hostname; *c; c++) {
        if (!apr_isalnum(*c) && strchr(".-:_", *c) == NULL) {
            return NULL;
        }
    }
    for (c = u.scheme; *c; c++) {
        if (!apr_isalnum(*c) && strchr("+-.", *c) == NULL) {
            return NULL;
        }
    }
    scheme = apr_pstrdup(p, u.scheme);
    lowercase(scheme);
    host = strchr(u.hostname, ':')      /* an IPv6 literal */
           ? apr_pstrcat(p, "[", u.hostname, "]", NULL)
           : apr_pstrdup(p, u.hostname);
    lowercase(host);
    if (u.port_str != NULL && *u.port_str != '\0'
        && u.port != apr_uri_port_of_scheme(scheme)) {
        return apr_psprintf(p, "%s://%s:%u", scheme, host,
                            (unsigned int)u.port);
    }
    return apr_pstrcat(p, scheme, "://", host, NULL);
}
