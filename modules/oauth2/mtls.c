/* Licensed under the Apache License, Version 2.0.
 *
 * mtls.c -- certificate-bound access tokens (RFC 8705 section 3): a token
 * whose cnf carries x5t#S256 is good only on a request that comes with
 * that client certificate: the one of this TLS connection (mod_ssl), or,
 * behind a TLS-terminating proxy, the one the proxy forwards in
 * AuthOAuth2ClientCertHeader, believed only when the request comes from an
 * address of AuthOAuth2TrustedProxy.
 */

#include "apr_lib.h"
#include "apr_strings.h"

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_ssl.h"

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ac_common.h"
#include "oauth2.h"

#define PEM_BEGIN "-----BEGIN CERTIFICATE-----"
#define PEM_END "-----END CERTIFICATE-----"

/* The DER of a certificate given as PEM (its lines broken by newlines or,
 * in a header, by spaces), or as base64 DER (what proxies forward:
 * nginx's $ssl_client_escaped_cert is URL-encoded PEM, HAProxy's
 * ssl_c_der base64): *der from `p`, or 0 when it is neither. */
static apr_size_t cert_der(apr_pool_t *p, const char *text,
                           unsigned char **der)
{
    const char *begin = ap_strstr_c(text, PEM_BEGIN), *end = NULL, *c;
    const unsigned char *in;
    unsigned char *out = NULL;
    char *b64, *o, *raw;
    apr_size_t rawlen;
    X509 *x;
    int n;

    if (begin != NULL) {
        begin += sizeof(PEM_BEGIN) - 1;
        end = ap_strstr_c(begin, PEM_END);
        if (end == NULL) {
            return 0;
        }
    }
    else {
        begin = text;
        end = text + strlen(text);
    }
    /* the base64 without its line breaks */
    b64 = o = apr_palloc(p, (apr_size_t)(end - begin) + 1);
    for (c = begin; c < end; c++) {
        if (!apr_isspace(*c)) {
            *o++ = *c;
        }
    }
    *o = '\0';
    if (ac_base64_decode(p, b64, (apr_size_t)(o - b64), &raw, &rawlen) != 0) {
        return 0;
    }
    in = (const unsigned char *)raw;
    x = d2i_X509(NULL, &in, (long)rawlen);
    if (x == NULL) {
        return 0;
    }
    n = i2d_X509(x, &out);
    X509_free(x);
    if (n <= 0) {
        return 0;
    }
    *der = apr_pmemdup(p, out, (apr_size_t)n);
    OPENSSL_free(out);
    return (apr_size_t)n;
}

/* Whether the peer of this connection is a trusted proxy. */
static int from_trusted_proxy(request_rec *r, const oauth2_dir_conf *conf)
{
    int i;

    for (i = 0; conf->trusted_proxies && i < conf->trusted_proxies->nelts;
         i++) {
        if (apr_ipsubnet_test(APR_ARRAY_IDX(conf->trusted_proxies, i,
                                            apr_ipsubnet_t *),
                              r->connection->client_addr)) {
            return 1;
        }
    }
    return 0;
}

/* The certificate of the request as text (PEM or base64 DER), and where
 * it came from, or NULL. */
static const char *client_cert(request_rec *r, const oauth2_dir_conf *conf,
                               const char **from)
{
    const char *v;

    if (ap_ssl_conn_is_ssl(r->connection)) {
        *from = "TLS";
        v = ap_ssl_var_lookup(r->pool, r->server, r->connection, r,
                              "SSL_CLIENT_CERT");
        return v != NULL && *v != '\0' ? v : NULL;
    }
    if (conf->cert_header != NULL && from_trusted_proxy(r, conf)
        && (v = apr_table_get(r->headers_in, conf->cert_header)) != NULL
        && *v != '\0') {
        char *copy = apr_pstrdup(r->pool, v);

        *from = conf->cert_header;
        /* URL-encoded PEM (nginx): %XX decoded, '+' left alone */
        return ap_unescape_all(copy) == OK ? copy : v;
    }
    return NULL;
}

const char *oauth2_mtls_check(request_rec *r, const oauth2_dir_conf *conf,
                              const oauth2_record *rec)
{
    const char *text, *from = NULL, *x5t;
    unsigned char *der, md[32];
    unsigned int n = 0;
    apr_size_t len;

    if (rec->x5t == NULL) {
        return NULL;
    }
    text = client_cert(r, conf, &from);
    if (text == NULL) {
        return "the token is bound to a client certificate, and the "
               "request has none";
    }
    len = cert_der(r->pool, text, &der);
    if (len == 0) {
        return apr_pstrcat(r->pool, "the client certificate (", from,
                           ") is not a certificate", NULL);
    }
    if (EVP_Digest(der, len, md, &n, ac_digest("SHA256"), NULL) != 1
        || n != 32) {
        return "the client certificate cannot be hashed";
    }
    x5t = ac_b64url_encode(r->pool, md, 32);
    if (strlen(x5t) != strlen(rec->x5t)
        || !ac_ct_equal(x5t, rec->x5t, strlen(x5t))) {
        return "the token is bound to another client certificate";
    }
    return NULL;
}
