/* Licensed under the Apache License, Version 2.0.
 *
 * ac_httpsyn.h -- the HTTP syntax that the schemes read and write: the
 * words of an Authorization header, quoted-strings, tokens, lists of
 * scopes, CSRF token values and the origin of a URL.  Pure: no httpd, no
 * request, so that the unit tests and the fuzz targets link it alone.
 */

#ifndef AC_HTTPSYN_H
#define AC_HTTPSYN_H

#include "apr_pools.h"

/* Upper bound on the credentials part of an Authorization header that any
 * scheme reads; httpd's LimitRequestFieldSize is 8190 by default. */
#define AC_MAX_CREDENTIALS 4096

/* The words of an Authorization header, split on whitespace the way Django
 * REST framework does (Python's str.split()).  `nwords` is 0 for an empty
 * header, 1 for a scheme alone, 2 for "scheme credentials", and 3 for
 * anything with more words (their text is not kept). */
typedef struct {
    int nwords;
    const char *scheme;
    apr_size_t scheme_len;
    const char *credentials;
    apr_size_t credentials_len;
} ac_auth_header;

void ac_auth_header_split(const char *header, ac_auth_header *out);

/* Whether the header's scheme is `name`, compared case-insensitively. */
int ac_auth_header_is(const ac_auth_header *h, const char *name);

/* `s` as an HTTP quoted-string (RFC 9110 section 5.6.4), quotes included;
 * control characters are replaced by spaces so that nothing a client sent
 * can split a header. */
const char *ac_http_quote(apr_pool_t *p, const char *s);

/* The next word of the space-separated list at *s, as OAuth 2.0 writes
 * scopes (RFC 6749 section 3.3: scope-tokens separated by SP): skips the
 * spaces before it, points *word at it with its length in *len, moves *s
 * past it and returns 1; returns 0 when only spaces are left (or *s is
 * NULL).  Only ' ' separates: any other character, tabs and controls
 * included, belongs to a word, for the caller to judge.  The one scanner
 * of scope lists:
 *
 *     while (ac_scope_next(&s, &word, &len)) { ... }
 */
int ac_scope_next(const char **s, const char **word, apr_size_t *len);

/* Whether the space-separated list `have` contains any word of the
 * space-separated list `want`. */
int ac_scopes_intersect(const char *have, const char *want);

/* The words of the space-separated lists `a` and `b`, each once, in the
 * order first seen, space-separated. */
const char *ac_scopes_union(apr_pool_t *p, const char *a, const char *b);

/* Whether `s` is a non-empty HTTP token (RFC 9110 section 5.6.2), as
 * header names, cookie names and authentication scheme names are. */
int ac_is_http_token(const char *s);

/* A CSRF token as mod_authn_session issues it: 32 bytes from the CSPRNG
 * in unpadded base64url. */
#define AC_CSRF_TOKEN_LENGTH 43

/* Whether `v` has the form of a CSRF token: exactly AC_CSRF_TOKEN_LENGTH
 * characters of [A-Za-z0-9_-].  1 or 0 (NULL included). */
int ac_csrf_token_valid(const char *v);

/* The origin of a URL (RFC 6454 section 4) as a browser sends it in
 * Origin: "scheme://host" or "scheme://host:port", scheme and host
 * lowercased, an IPv6 literal in brackets, the port only when it is not
 * the scheme's default.  NULL when `url` is NULL, does not parse, has no
 * scheme or host, or has a character outside [A-Za-z0-9+.-] in the scheme
 * or outside [A-Za-z0-9.:_-] in the host. */
const char *ac_url_origin(apr_pool_t *p, const char *url);

#endif /* AC_HTTPSYN_H */
