/* Licensed under the Apache License, Version 2.0.
 *
 * ac_http.h -- the outgoing HTTP of mod_authn_oauth2 (JWK Set GET, RFC 7662
 * introspection POST), on libcurl, with the rules built in:
 *
 *   - https only, except plain http to a loopback host (127.0.0.1, ::1,
 *     localhost); no user name or password in a URL; TLS peer and host
 *     verification always on; redirects never followed;
 *   - a total deadline and a connect deadline per call;
 *   - the response body bounded: the transfer is aborted as soon as it
 *     grows past the cap (or announces a larger Content-Length).
 *
 * One curl easy handle per call, so calls from any number of threads are
 * independent; ac_http_global_init() must run once before the first call
 * (post_config, before any thread exists).  Nothing here logs: errors come
 * back as short texts without secrets (the URL never carries any).
 */

#ifndef AC_HTTP_H
#define AC_HTTP_H

#include "apr_pools.h"
#include "apr_time.h"

typedef enum {
    AC_HTTP_OK = 0,         /* an HTTP answer came (any status code) */
    AC_HTTP_ERR_URL,        /* the URL breaks the rules above */
    AC_HTTP_ERR_CONNECT,    /* resolving, connecting, TLS */
    AC_HTTP_ERR_TIMEOUT,    /* the deadline passed */
    AC_HTTP_ERR_TOO_LARGE,  /* the body is larger than the cap */
    AC_HTTP_ERR_PROTOCOL,   /* anything else libcurl refused */
    AC_HTTP_ERR_INTERNAL    /* libcurl could not be set up */
} ac_http_status;

typedef struct {
    const char *url;
    /* NULL: GET.  Otherwise POST of these bytes with `content_type`. */
    const char *body;
    apr_size_t body_len;
    const char *content_type;
    /* An Authorization header value ("Basic ..."), or NULL. */
    const char *authorization;
    /* The Accept header value, or NULL. */
    const char *accept;
    apr_interval_time_t timeout;            /* whole call */
    apr_interval_time_t connect_timeout;    /* 0: the same as timeout */
    apr_size_t max_size;                    /* of the response body */
} ac_http_request;

typedef struct {
    long status;            /* the HTTP status code */
    char *body;             /* NUL-terminated, allocated from the pool */
    apr_size_t len;
    const char *content_type;   /* or NULL */
    /* How long the answer may be cached (RFC 9111 section 5.2.2): the
     * max-age of its Cache-Control in seconds, 0 for no-store or
     * no-cache, -1 when it says nothing of it. */
    long max_age;
} ac_http_response;

/* Once per process, before any thread calls ac_http_fetch(). */
int ac_http_global_init(void);

/* NULL when `url` may be fetched under the rules above, else why not (a
 * static text, or one from `p`). */
const char *ac_http_check_url(apr_pool_t *p, const char *url);

/* The freshness lifetime a Cache-Control header value gives (see
 * ac_http_response.max_age): 0 for no-store/no-cache, else max-age,
 * else -1. */
long ac_http_max_age(const char *cache_control);

/* Whether `host` (as in a URL, IPv6 without brackets) is a loopback
 * name: localhost, 127.0.0.0/8, ::1. */
int ac_http_is_loopback(const char *host);

/* Do one request.  On AC_HTTP_OK *resp holds the answer; otherwise
 * *error (when not NULL) says what went wrong, in a few words. */
ac_http_status ac_http_fetch(apr_pool_t *p, const ac_http_request *req,
                             ac_http_response *resp, const char **error);

/* `len` bytes in application/x-www-form-urlencoded form (the URL
 * encoding of the WHATWG URL standard, as RFC 6749 section 2.3.1 asks for
 * client credentials): [A-Za-z0-9*-._] kept, space as '+', every other
 * byte as %XX. */
const char *ac_form_urlencode(apr_pool_t *p, const char *s, apr_size_t len);

/* The client_secret_basic Authorization value of RFC 6749 section 2.3.1:
 * "Basic " base64(urlencode(id) ":" urlencode(secret)). */
const char *ac_http_basic_credentials(apr_pool_t *p, const char *id,
                                      const char *secret);

#endif /* AC_HTTP_H */
