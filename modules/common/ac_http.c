/* Licensed under the Apache License, Version 2.0. */

#include <string.h>

#include "apr_base64.h"
#include "apr_lib.h"
#include "apr_strings.h"

#include <curl/curl.h>

#include "ac_http.h"

int ac_http_global_init(void)
{
    static int done = 0;

    /* post_config runs before any thread exists; once is enough for the
     * life of the process (curl_global_cleanup is never needed). */
    if (!done) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            return -1;
        }
        done = 1;
    }
    return 0;
}

int ac_http_is_loopback(const char *host)
{
    const char *c;
    int dots = 0;

    if (host == NULL) {
        return 0;
    }
    if (strcasecmp(host, "localhost") == 0 || strcmp(host, "::1") == 0
        || strcmp(host, "[::1]") == 0) {
        return 1;
    }
    /* 127.x.y.z, digits and exactly three dots */
    if (strncmp(host, "127.", 4) != 0) {
        return 0;
    }
    for (c = host; *c; c++) {
        if (*c == '.') {
            if (c[1] == '.' || c[1] == '\0') {
                return 0;
            }
            dots++;
        }
        else if (!apr_isdigit(*c)) {
            return 0;
        }
    }
    return dots == 3;
}

/* Parse with libcurl's own URL parser, so that what we check is what it
 * will fetch. */
const char *ac_http_check_url(apr_pool_t *p, const char *url)
{
    CURLU *u;
    char *scheme = NULL, *host = NULL, *user = NULL, *password = NULL;
    char *fragment = NULL;
    const char *err = NULL;

    if (url == NULL || *url == '\0') {
        return "the URL is empty";
    }
    if (strncasecmp(url, "https://", 8) != 0
        && strncasecmp(url, "http://", 7) != 0) {
        return "the URL must start with https:// (or http:// for a loopback "
               "host)";
    }
    u = curl_url();
    if (u == NULL) {
        return "out of memory";
    }
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
        err = "not a valid URL";
    }
    else if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK
             || curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK
             || host == NULL || *host == '\0') {
        err = "the URL has no host";
    }
    else if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK
             || curl_url_get(u, CURLUPART_PASSWORD, &password, 0)
                == CURLUE_OK) {
        err = "the URL must not carry a user name or password";
    }
    else if (curl_url_get(u, CURLUPART_FRAGMENT, &fragment, 0)
             == CURLUE_OK) {
        err = "the URL must not have a fragment";
    }
    else if (strcasecmp(scheme, "https") == 0) {
        err = NULL;
    }
    else if (strcasecmp(scheme, "http") == 0) {
        if (!ac_http_is_loopback(host)) {
            err = apr_psprintf(p, "plain http:// is allowed only for a "
                               "loopback host (127.0.0.1, ::1, localhost), "
                               "not %s: use https://", host);
        }
    }
    else {
        err = "the URL must start with https://";
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(user);
    curl_free(password);
    curl_free(fragment);
    curl_url_cleanup(u);
    return err;
}

typedef struct {
    apr_pool_t *p;
    char *buf;
    apr_size_t len, size, max;
    int too_large;
    const char *cache_control;  /* the last Cache-Control line's value */
} sink;

long ac_http_max_age(const char *cc)
{
    long age = -1;

    while (cc != NULL && *cc) {
        const char *end = strchr(cc, ','), *v;
        apr_size_t n;

        while (*cc == ' ' || *cc == '\t') {
            cc++;
        }
        n = end ? (apr_size_t)(end - cc) : strlen(cc);
        if ((n >= 8 && strncasecmp(cc, "no-store", 8) == 0)
            || (n >= 8 && strncasecmp(cc, "no-cache", 8) == 0)) {
            return 0;
        }
        if (n > 8 && strncasecmp(cc, "max-age=", 8) == 0) {
            long a = 0;

            v = cc + 8;
            if (*v == '"') {
                v++;
            }
            if (!apr_isdigit(*v)) {
                age = -1;
            }
            else {
                /* RFC 9111 section 1.2.2: a larger value is taken as the
                 * largest one can hold */
                while (apr_isdigit(*v)) {
                    a = a < 100000000L ? a * 10 + (*v - '0')
                        : 1000000000L;
                    v++;
                }
                age = a;
            }
        }
        cc = end ? end + 1 : NULL;
    }
    return age;
}

/* Each header line of the answer: its Cache-Control is kept. */
static size_t read_header(char *data, size_t size, size_t nmemb,
                          void *baton)
{
    sink *s = baton;
    apr_size_t n = size * nmemb;

    if (n > 14 && strncasecmp(data, "cache-control:", 14) == 0) {
        char *v = apr_pstrmemdup(s->p, data + 14, n - 14);
        char *e = v + strlen(v);

        while (e > v && (e[-1] == '\r' || e[-1] == '\n')) {
            *--e = '\0';
        }
        s->cache_control = s->cache_control == NULL ? v
                           : apr_pstrcat(s->p, s->cache_control, ",", v,
                                         NULL);
    }
    else if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        s->cache_control = NULL;    /* a new answer (after a 1xx) */
    }
    return n;
}

static size_t write_body(char *data, size_t size, size_t nmemb, void *baton)
{
    sink *s = baton;
    apr_size_t n = size * nmemb;

    if (n > s->max - s->len) {
        s->too_large = 1;
        return 0;               /* aborts the transfer: CURLE_WRITE_ERROR */
    }
    if (s->len + n + 1 > s->size) {
        apr_size_t size2 = s->size ? s->size : 4096;
        char *buf2;

        while (size2 < s->len + n + 1) {
            size2 *= 2;
        }
        buf2 = apr_palloc(s->p, size2);
        if (s->len) {
            memcpy(buf2, s->buf, s->len);
        }
        s->buf = buf2;
        s->size = size2;
    }
    memcpy(s->buf + s->len, data, n);
    s->len += n;
    return n;
}

static long ms_of(apr_interval_time_t t)
{
    long ms = (long)(t / 1000);

    return ms > 0 ? ms : 1;
}

/* Add a header line to *headers; clears *ok when curl cannot. */
static void add_header(struct curl_slist **headers, const char *line,
                       int *ok)
{
    struct curl_slist *l = curl_slist_append(*headers, line);

    *ok = *ok && l != NULL;
    *headers = l ? l : *headers;
}

/* The request's header lines (Authorization, Accept, a body's
 * Content-Type); 0 when curl could not hold them all. */
static int request_headers(apr_pool_t *p, const ac_http_request *req,
                           struct curl_slist **headers)
{
    int ok = 1;

    if (req->authorization) {
        add_header(headers, apr_pstrcat(p, "Authorization: ",
                                        req->authorization, NULL), &ok);
    }
    if (req->accept) {
        add_header(headers, apr_pstrcat(p, "Accept: ", req->accept, NULL),
                   &ok);
    }
    if (req->body) {
        add_header(headers, apr_pstrcat(p, "Content-Type: ",
                                        req->content_type, NULL), &ok);
        /* no 100-continue round trip */
        add_header(headers, "Expect:", &ok);
    }
    return ok;
}

/* What every fetch is: http(s) only, no redirects, verified TLS, no
 * signals, the request's time and size limits, the body into *s; 0 when
 * curl refused an option. */
static int set_options(CURL *h, const ac_http_request *req,
                       struct curl_slist *headers, sink *s, char *errbuf)
{
    int ok = 1;

    ok = ok && curl_easy_setopt(h, CURLOPT_URL, req->url) == CURLE_OK;
#if LIBCURL_VERSION_NUM >= 0x075500
    ok = ok && curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https")
               == CURLE_OK;
#else
    ok = ok && curl_easy_setopt(h, CURLOPT_PROTOCOLS,
                                (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS))
               == CURLE_OK;
#endif
    /* threads: no SIGALRM for DNS timeouts */
    ok = ok && curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, ms_of(req->timeout))
               == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                                ms_of(req->connect_timeout > 0
                                      && req->connect_timeout < req->timeout
                                      ? req->connect_timeout : req->timeout))
               == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE,
                                (curl_off_t)req->max_size) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_body)
               == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_WRITEDATA, s) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, read_header)
               == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_HEADERDATA, s) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf) == CURLE_OK;
    ok = ok && curl_easy_setopt(h, CURLOPT_USERAGENT, "authchain") == CURLE_OK;
    if (headers) {
        ok = ok && curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers)
                   == CURLE_OK;
    }
    if (req->body) {
        ok = ok && curl_easy_setopt(h, CURLOPT_POST, 1L) == CURLE_OK;
        ok = ok && curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                                    (curl_off_t)req->body_len) == CURLE_OK;
        ok = ok && curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body)
                   == CURLE_OK;
    }
    return ok;
}

/* A completed transfer: its status, content type and body (always
 * NUL-terminated) into *resp. */
static void take_response(CURL *h, apr_pool_t *p, sink *s,
                          ac_http_response *resp)
{
    char *ctype = NULL;

    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    if (curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ctype) == CURLE_OK
        && ctype != NULL) {
        resp->content_type = apr_pstrdup(p, ctype);
    }
    if (s->buf == NULL) {
        s->buf = apr_pcalloc(p, 1);
    }
    s->buf[s->len] = '\0';
    resp->body = s->buf;
    resp->len = s->len;
    resp->max_age = ac_http_max_age(s->cache_control);
}

/* What a failed transfer was (too large, a timeout, no connection, or
 * anything else: the protocol), and why, in *why. */
static ac_http_status failure(apr_pool_t *p, const ac_http_request *req,
                              CURLcode rc, const sink *s,
                              const char *errbuf, const char **why)
{
    if (s->too_large || rc == CURLE_FILESIZE_EXCEEDED) {
        *why = apr_psprintf(p, "the response is larger than %"
                            APR_SIZE_T_FMT " bytes", req->max_size);
        return AC_HTTP_ERR_TOO_LARGE;
    }
    *why = apr_pstrdup(p, errbuf[0] ? errbuf : curl_easy_strerror(rc));
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        return AC_HTTP_ERR_TIMEOUT;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
#if LIBCURL_VERSION_NUM < 0x073e00
    case CURLE_SSL_CACERT:
#endif
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
        return AC_HTTP_ERR_CONNECT;
    default:
        return AC_HTTP_ERR_PROTOCOL;
    }
}

ac_http_status ac_http_fetch(apr_pool_t *p, const ac_http_request *req,
                             ac_http_response *resp, const char **error)
{
    CURL *h;
    CURLcode rc;
    struct curl_slist *headers = NULL;
    char errbuf[CURL_ERROR_SIZE];
    const char *why;
    sink s;
    ac_http_status st = AC_HTTP_OK;
    int ok;

    memset(resp, 0, sizeof(*resp));
    if ((why = ac_http_check_url(p, req->url)) != NULL) {
        if (error) {
            *error = why;
        }
        return AC_HTTP_ERR_URL;
    }
    memset(&s, 0, sizeof(s));
    s.p = p;
    s.max = req->max_size;
    errbuf[0] = '\0';

    h = curl_easy_init();
    if (h == NULL) {
        if (error) {
            *error = "cannot create a curl handle";
        }
        return AC_HTTP_ERR_INTERNAL;
    }
    ok = request_headers(p, req, &headers);
    ok = set_options(h, req, headers, &s, errbuf) && ok;
    if (!ok) {
        curl_slist_free_all(headers);
        curl_easy_cleanup(h);
        if (error) {
            *error = "cannot set up the curl handle";
        }
        return AC_HTTP_ERR_INTERNAL;
    }

    rc = curl_easy_perform(h);
    if (rc == CURLE_OK) {
        take_response(h, p, &s, resp);
    }
    else {
        st = failure(p, req, rc, &s, errbuf, &why);
        if (error) {
            *error = why;
        }
    }
    curl_slist_free_all(headers);
    curl_easy_cleanup(h);
    return st;
}

const char *ac_form_urlencode(apr_pool_t *p, const char *s, apr_size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = apr_palloc(p, len * 3 + 1), *o = out;
    apr_size_t i;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
            || (c >= '0' && c <= '9') || c == '*' || c == '-' || c == '.'
            || c == '_') {
            *o++ = (char)c;
        }
        else if (c == ' ') {
            *o++ = '+';
        }
        else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o = '\0';
    return out;
}

const char *ac_http_basic_credentials(apr_pool_t *p, const char *id,
                                      const char *secret)
{
    const char *plain = apr_pstrcat(p, ac_form_urlencode(p, id, strlen(id)),
                                    ":",
                                    ac_form_urlencode(p, secret,
                                                      strlen(secret)),
                                    NULL);
    int len = (int)strlen(plain);
    char *enc = apr_palloc(p, apr_base64_encode_len(len));

    apr_base64_encode(enc, plain, len);
    return apr_pstrcat(p, "Basic ", enc, NULL);
}
