/* Licensed under the Apache License, Version 2.0.
 *
 * Unit tests of mod_authn_oauth2's JWT judge (modules/oauth2/jwt.c),
 * called as the scheme calls it, with settings built here and a bare
 * request (a pool, nothing else): what it grants, what it refuses and
 * why.  jwt.c is compiled into this program; what it would call in httpd
 * (the error log, the remote JWK Sets of jwks.c) is stubbed below, and a
 * test that reached a stub that must not be reached fails.  Prints TAP.
 */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "apr_general.h"
#include "apr_pools.h"
#include "apr_strings.h"

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"

#include "ac_common.h"
#include "ac_jose.h"
#include "oauth2.h"
#include "tap.h"

/* --- what jwt.c needs of httpd and of the rest of the module ------------ */

module AP_MODULE_DECLARE_DATA authn_oauth2_module;

static int remote_calls;

void ap_log_rerror_(const char *file, int line, int module_index, int level,
                    apr_status_t status, const request_rec *r,
                    const char *fmt, ...)
{
}

char *ap_escape_logitem(apr_pool_t *p, const char *str)
{
    return apr_pstrdup(p, str);
}

const ac_jose_keyset *oauth2_remote_keys(request_rec *r,
                                         const oauth2_dir_conf *conf,
                                         oauth2_issuer *is, const char *kid,
                                         int *changed)
{
    remote_calls++;
    *changed = 0;
    return NULL;
}

/* --- settings and tokens -------------------------------------------------- */

static const unsigned char secret[32] = "0123456789abcdef0123456789abcde";

/* The settings of a location with one issuer (an HMAC secret) and one
 * audience (NULL: none set; "*": any). */
static oauth2_dir_conf *settings(apr_pool_t *p, const char *aud)
{
    oauth2_dir_conf *conf = apr_pcalloc(p, sizeof(*conf));
    oauth2_issuer *is = apr_pcalloc(p, sizeof(*is));
    ac_jose_key *key;

    is->iss = "https://as.example";
    is->hmac = ac_jose_keyset_make(p);
    ac_jose_key_from_secret(p, secret, sizeof(secret), NULL, 0, &key);
    ac_jose_keyset_add(is->hmac, key);
    conf->issuers = apr_array_make(p, 1, sizeof(oauth2_issuer *));
    APR_ARRAY_PUSH(conf->issuers, oauth2_issuer *) = is;
    conf->issuers_set = 1;
    conf->leeway = 30;
    conf->user_claim = "sub";
    if (aud != NULL && strcmp(aud, "*") == 0) {
        conf->any_audience = 1;
    }
    else if (aud != NULL) {
        conf->audiences = apr_array_make(p, 1, sizeof(const char *));
        APR_ARRAY_PUSH(conf->audiences, const char *) = aud;
    }
    return conf;
}

static const char *b64u(apr_pool_t *p, const char *s)
{
    return ac_b64url_encode(p, s, strlen(s));
}

/* An HS256 JWT of the JSON texts. */
static const char *hs256(apr_pool_t *p, const char *header,
                         const char *claims)
{
    const char *input = apr_pstrcat(p, b64u(p, header), ".", b64u(p, claims),
                                    NULL);
    unsigned char mac[32];
    unsigned int n = 0;

    HMAC(EVP_sha256(), secret, sizeof(secret), (const unsigned char *)input,
         strlen(input), mac, &n);
    return apr_pstrcat(p, input, ".", ac_b64url_encode(p, mac, n), NULL);
}

/* Claims from `iss`, `aud` and an exp `in` seconds from now, with `more`
 * (a JSON fragment starting with ',', or ""). */
static const char *claims(apr_pool_t *p, const char *aud, long in,
                          const char *more)
{
    return apr_psprintf(p, "{\"iss\":\"https://as.example\",\"aud\":\"%s\","
                        "\"sub\":\"alice\",\"scope\":\"read write\","
                        "\"exp\":%" APR_INT64_T_FMT "%s}", aud,
                        apr_time_sec(apr_time_now()) + in, more);
}

#define HEADER "{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}"

/* Judge `token` under `conf`: the judgement, with the verdict and the
 * reason (or the user) in *out. */
static oauth2_judgement judged(apr_pool_t *p, const oauth2_dir_conf *conf,
                               const char *token, oauth2_record *rec)
{
    /* nothing is logged above emerg: the log macros read only this */
    static struct ap_logconf quiet = { NULL, APLOG_EMERG };
    request_rec *r = apr_pcalloc(p, sizeof(*r));

    r->pool = p;
    r->log = &quiet;
    r->uri = "/api";
    return oauth2_judge_jwt(r, conf, token, strlen(token), rec);
}

static int refused_for(apr_pool_t *p, const oauth2_dir_conf *conf,
                       const char *token, const char *reason)
{
    oauth2_record rec;

    return judged(p, conf, token, &rec) == OAUTH2_JUDGED
           && rec.verdict == VERDICT_DENIED && rec.reason != NULL
           && strcmp(rec.reason, reason) == 0;
}

int main(void)
{
    apr_pool_t *p;
    oauth2_dir_conf *conf;
    oauth2_record rec;
    oauth2_judgement j;

    apr_initialize();
    apr_pool_create(&p, NULL);
    tap_plan(12);

    conf = settings(p, "api");
    j = judged(p, conf, hs256(p, HEADER, claims(p, "api", 300, "")), &rec);
    ok(j == OAUTH2_JUDGED && rec.verdict == VERDICT_GRANTED
       && strcmp(rec.user, "alice") == 0
       && strcmp(rec.scopes, "read write") == 0,
       "a JWT of the issuer, for the audience, in time: granted, with its "
       "user and scopes");
    ok(rec.expires > apr_time_sec(apr_time_now()) && rec.data != NULL
       && strstr(rec.data, "\"source\":\"jwt\"") != NULL,
       "with its expiry and its claims as the auth data");
    ok(refused_for(p, conf, hs256(p, HEADER, claims(p, "other", 300, "")),
                   "wrong audience"),
       "another audience is refused");
    ok(refused_for(p, conf, hs256(p, HEADER, claims(p, "api", -60, "")),
                   "token expired"),
       "a token expired beyond the leeway is refused");
    ok(refused_for(p, conf, hs256(p, HEADER,
                                  "{\"iss\":\"https://as.example\","
                                  "\"aud\":\"api\",\"sub\":\"a\"}"),
                   "claim exp missing"),
       "a JWT without exp is refused (RFC 9068)");
    ok(refused_for(p, conf,
                   hs256(p, HEADER, "{\"iss\":\"https://other.example\","
                                    "\"aud\":\"api\",\"exp\":1}"),
                   "unknown issuer"),
       "an issuer that is not configured is refused");
    ok(refused_for(p, conf,
                   apr_pstrcat(p, b64u(p, "{\"alg\":\"none\"}"), ".",
                               b64u(p, claims(p, "api", 300, "")), ".",
                               NULL),
                   "malformed token: unsigned token (alg none) not accepted"),
       "alg none is refused");
    {
        const char *good = hs256(p, HEADER, claims(p, "api", 300, ""));
        char *bad = apr_pstrdup(p, good);

        bad[strlen(bad) - 2] = bad[strlen(bad) - 2] == 'A' ? 'B' : 'A';
        ok(refused_for(p, conf, bad, "bad signature"),
           "an altered signature is refused");
    }
    ok(refused_for(p, conf, hs256(p, HEADER,
                                  "{\"iss\":\"https://as.example\","
                                  "\"aud\":\"api\",\"exp\":9999999999}"),
                   "claim sub missing"),
       "a token without its user claim is refused");

    conf->require_typ = 1;
    ok(refused_for(p, conf, hs256(p, "{\"alg\":\"HS256\",\"typ\":\"JWT\"}",
                                  claims(p, "api", 300, "")),
                   "token is not an access token (typ)"),
       "with AuthOAuth2RequireTyp, typ JWT is refused");

    conf = settings(p, NULL);
    ok(judged(p, conf, hs256(p, HEADER, claims(p, "api", 300, "")), &rec)
       == OAUTH2_MISCONFIGURED,
       "without an audience the judge says the location is misconfigured");
    ok(remote_calls == 0, "no JWK Set URL was asked for an HMAC issuer");

    apr_pool_destroy(p);
    apr_terminate();
    return tap_done();
}
