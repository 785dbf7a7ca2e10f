/* Licensed under the Apache License, Version 2.0.
 *
 * jwt.c -- the judgement of a JWT access token (RFC 7519, RFC 9068,
 * RFC 8725): the unverified iss picks the issuer, whose keys (a file, a
 * JWK Set URL, HMAC secrets) verify the signature under the algorithms
 * allowed; then times, issuer, audience, typ and the user claim.  And
 * what every judge shares: claims into a grant, reasons, the token's
 * hash for the log.
 */

#include "apr_strings.h"

#include "httpd.h"
#include "http_log.h"

#include "ac_common.h"
#include "oauth2.h"

APLOG_USE_MODULE(authn_oauth2);

/* The issuer `iss` of the settings, or NULL. */
oauth2_issuer *oauth2_find_issuer(const oauth2_dir_conf *conf,
                                  const char *iss)
{
    int i;

    for (i = 0; conf->issuers != NULL && i < conf->issuers->nelts; i++) {
        oauth2_issuer *is = APR_ARRAY_IDX(conf->issuers, i, oauth2_issuer *);

        if (strcmp(is->iss, iss) == 0) {
            return is;
        }
    }
    return NULL;
}

/* The hex SHA-256 of the token, for the log and the lookups that need it:
 * computed into `hash` at the first call ("" before). */
const char *oauth2_token_hash(const char *token, apr_size_t len,
                              char hash[65])
{
    if (hash[0] == '\0') {
        ac_sha256_hex(token, len, hash);
    }
    return hash;
}

/* The error_description of a failed JOSE check; `claim` names the claim
 * that a CLAIM_MISSING or CLAIM_TYPE is about. */
const char *oauth2_jose_reason(apr_pool_t *p, ac_jose_status st,
                               const char *claim)
{
    switch (st) {
    case AC_JOSE_ERR_EXPIRED:
    case AC_JOSE_ERR_NOT_YET_VALID:
    case AC_JOSE_ERR_ISSUED_IN_FUTURE:
    case AC_JOSE_ERR_BAD_SIGNATURE:
    case AC_JOSE_ERR_WRONG_ISSUER:
    case AC_JOSE_ERR_WRONG_AUDIENCE:
    case AC_JOSE_ERR_ALG_NOT_ALLOWED:
        return ac_jose_strerror(st);
    case AC_JOSE_ERR_UNKNOWN_KID:
        return "unknown key";
    case AC_JOSE_ERR_BAD_TYP:
        return "token is not an access token (typ)";
    case AC_JOSE_ERR_CLAIM_MISSING:
        return apr_psprintf(p, "claim %s missing", claim);
    case AC_JOSE_ERR_CLAIM_TYPE:
        return apr_psprintf(p, "claim %s has the wrong type", claim);
    default:
        return apr_pstrcat(p, "malformed token: ", ac_jose_strerror(st),
                           NULL);
    }
}

/* Which time claim oauth2_check_times complained about. */
static const char *time_claim_at_fault(const json_t *claims,
                                       ac_jose_status st)
{
    static const char *const names[] = { "exp", "nbf", "iat" };
    apr_int64_t v;
    int i;

    for (i = 0; i < 3; i++) {
        ac_jose_status s2 = ac_jose_claim_time(claims, names[i], &v);

        if (s2 == st) {
            return names[i];
        }
    }
    return "exp";
}

/* Check the times of `claims` (exp optional unless `need_exp`). */
ac_jose_status oauth2_check_times(const json_t *claims, apr_int64_t leeway,
                                  int need_exp, const char **claim)
{
    apr_int64_t now = apr_time_sec(apr_time_now());
    ac_jose_status st = need_exp || json_object_get(claims, "exp") != NULL
                        ? ac_jose_check_times(claims, now, leeway)
                        : ac_jose_check_times_no_exp(claims, now, leeway);

    if (st == AC_JOSE_ERR_CLAIM_MISSING || st == AC_JOSE_ERR_CLAIM_TYPE
        || st == AC_JOSE_ERR_CLAIM_INVALID) {
        *claim = time_claim_at_fault(claims, st);
    }
    else if (st == AC_JOSE_ERR_NOT_YET_VALID) {
        *claim = "nbf";
    }
    return st;
}

/* The token's confirmation (RFC 7800 cnf) into the record: jkt, the
 * thumbprint of the key its DPoP proofs are signed with (RFC 9449), and
 * x5t#S256, that of the client certificate it must come with (RFC 8705).
 * Each request is checked against them (dpop.c, mtls.c).  A cnf that
 * holds neither cannot be honoured, and a token that says it is bound but
 * cannot be checked is refused.  NULL, or the reason. */
static const char *binding_of(apr_pool_t *p, const json_t *claims,
                              oauth2_record *rec)
{
    static const char *const names[] = { "jkt", "x5t#S256" };
    static const char *const malformed[] = { "malformed cnf jkt",
                                             "malformed cnf x5t#S256" };
    const char **into[2];
    const json_t *cnf = json_object_get(claims, "cnf");
    int i;

    into[0] = &rec->jkt;
    into[1] = &rec->x5t;
    if (cnf == NULL) {
        return NULL;
    }
    if (!json_is_object(cnf)) {
        return "claim cnf has the wrong type";
    }
    for (i = 0; i < 2; i++) {
        const json_t *v = json_object_get(cnf, names[i]);

        if (v == NULL) {
            continue;
        }
        /* a base64url SHA-256 */
        if (!json_is_string(v) || json_string_length(v) != 43) {
            return malformed[i];
        }
        /* copied: the claims of an introspection answer are freed */
        *into[i] = apr_pstrdup(p, json_string_value(v));
    }
    if (rec->jkt == NULL && rec->x5t == NULL) {
        return "token bound by an unsupported confirmation method (cnf)";
    }
    return NULL;
}

/* The data with the binding added as "cnf" (the claims' data leaves out
 * objects). */
static const char *data_with_binding(apr_pool_t *p, const char *data,
                                     const oauth2_record *rec)
{
    apr_size_t len = strlen(data);

    if (rec->jkt == NULL && rec->x5t == NULL) {
        return data;
    }
    return apr_pstrcat(p, apr_pstrmemdup(p, data, len - 1), ",\"cnf\":{",
                       rec->jkt ? "\"jkt\":" : "",
                       rec->jkt ? ac_json_string(p, rec->jkt) : "",
                       rec->jkt && rec->x5t ? "," : "",
                       rec->x5t ? "\"x5t#S256\":" : "",
                       rec->x5t ? ac_json_string(p, rec->x5t) : "", "}}",
                       NULL);
}

/* Fill a GRANTED record from validated claims: the user (UserClaim), the
 * scopes, the binding and the data.  Returns NULL, or the reason to
 * refuse. */
const char *oauth2_grant_from_claims(request_rec *r,
                                     const oauth2_dir_conf *conf,
                                     const json_t *claims, const char *source,
                                     oauth2_record *rec)
{
    const json_t *user = json_object_get(claims, conf->user_claim);
    const char *scopes, *why;
    ac_jose_status st;

    if (!json_is_string(user) || json_string_length(user) == 0) {
        return apr_psprintf(r->pool, "claim %s missing", conf->user_claim);
    }
    st = ac_jose_claim_scopes(r->pool, claims, &scopes);
    if (st != AC_JOSE_OK) {
        return oauth2_jose_reason(r->pool, st,
                                  json_object_get(claims, "scope") ? "scope"
                                                                   : "scp");
    }
    if ((why = binding_of(r->pool, claims, rec)) != NULL) {
        return why;
    }
    rec->verdict = VERDICT_GRANTED;
    rec->user = apr_pstrmemdup(r->pool, json_string_value(user),
                               json_string_length(user));
    rec->scopes = scopes;
    rec->data = ac_jose_claims_data(r->pool, claims, source);
    if (rec->data == NULL) {
        return "malformed token: internal error";
    }
    rec->data = data_with_binding(r->pool, rec->data, rec);
    rec->env = ac_jose_claims_env(r->pool, claims, source);
    rec->claims = ac_jose_claims_json(r->pool, claims);
    return NULL;
}

/* The exp of `claims`, 0 when it has none. */
apr_int64_t oauth2_claim_exp(const json_t *claims)
{
    apr_int64_t exp;

    return ac_jose_claim_time(claims, "exp", &exp) == AC_JOSE_OK ? exp : 0;
}

/* ----------------------------------------------------------------------
 * JWT access tokens
 */

static unsigned int issuer_algs(const oauth2_dir_conf *conf,
                                const oauth2_issuer *is)
{
    if (conf->algs_set) {
        return conf->algs;
    }
    return AC_JOSE_ALGS_ASYMMETRIC | (is->hmac ? AC_JOSE_ALGS_HMAC : 0);
}

/* An HMAC token is checked against the issuer's configured secrets
 * whatever its kid says: the secrets have none. */
static ac_jose_status verify_hmac(const ac_jose_jws *jws,
                                  const ac_jose_keyset *keys)
{
    ac_jose_status st = AC_JOSE_ERR_NO_KEY;
    int i;

    for (i = 0; i < ac_jose_keyset_count(keys); i++) {
        st = ac_jose_verify(ac_jose_keyset_get(keys, i), jws->alg,
                            jws->signing_input, jws->signing_input_len,
                            jws->signature, jws->signature_len);
        if (st == AC_JOSE_OK) {
            return st;
        }
    }
    return st;
}

/* The issuer that the token's unverified iss names, when it allows the
 * token's algorithm: the iss only picks the key set.  NULL, with the
 * reason in *why, otherwise. */
static oauth2_issuer *pick_issuer(const oauth2_dir_conf *conf,
                                  const ac_jose_jws *jws, const char **why)
{
    const json_t *iss = json_object_get(jws->claims, "iss");
    oauth2_issuer *is;

    if (iss == NULL) {
        *why = "claim iss missing";
        return NULL;
    }
    if (!json_is_string(iss)) {
        *why = "claim iss has the wrong type";
        return NULL;
    }
    is = oauth2_find_issuer(conf, json_string_value(iss));
    if (is == NULL) {
        *why = "unknown issuer";
        return NULL;
    }
    if (!(jws->alg & issuer_algs(conf, is))) {
        *why = "algorithm not allowed";
        return NULL;
    }
    return is;
}

/* Verify the signature with the issuer's keys: its HMAC secrets, its JWK
 * Set URL (fetched again, throttled, when the kid is unknown: perhaps the
 * keys rotated) or its key file.  OAUTH2_NO_KEYS when the JWK Set cannot
 * be had; else OAUTH2_JUDGED with the outcome in *st. */
static oauth2_judgement verify_signature(request_rec *r,
                                         const oauth2_dir_conf *conf,
                                         oauth2_issuer *is, ac_jose_jws *jws,
                                         ac_jose_status *st)
{
    unsigned int algs = issuer_algs(conf, is);

    if ((jws->alg & AC_JOSE_ALGS_HMAC) && is->hmac != NULL) {
        *st = verify_hmac(jws, is->hmac);
    }
    else if (OAUTH2_IS_REMOTE(is)) {
        int changed;
        const ac_jose_keyset *keys = oauth2_remote_keys(r, conf, is, NULL,
                                                        &changed);

        if (keys == NULL) {
            return OAUTH2_NO_KEYS;
        }
        *st = ac_jose_jws_verify(jws, keys, algs, NULL);
        if (*st == AC_JOSE_ERR_UNKNOWN_KID && !changed && jws->kid != NULL) {
            keys = oauth2_remote_keys(r, conf, is, jws->kid, &changed);
            if (keys != NULL && changed) {
                *st = ac_jose_jws_verify(jws, keys, algs, NULL);
            }
        }
    }
    else if (is->keys != NULL) {
        *st = ac_jose_jws_verify(jws, is->keys, algs, NULL);
    }
    else {
        *st = AC_JOSE_ERR_NO_KEY;    /* an HMAC-only issuer, another alg */
    }
    return OAUTH2_JUDGED;
}

/* The audience: one of AuthOAuth2Audience (the first that is not another
 * audience decides). */
static ac_jose_status check_audience(const oauth2_dir_conf *conf,
                                     const json_t *claims)
{
    ac_jose_status st = AC_JOSE_OK;
    int i;

    for (i = 0; i < conf->audiences->nelts; i++) {
        st = ac_jose_check_audience(claims, APR_ARRAY_IDX(conf->audiences, i,
                                                          const char *));
        if (st != AC_JOSE_ERR_WRONG_AUDIENCE) {
            break;
        }
    }
    return st;
}

/* The claims of an authentic token: times, issuer, audience (unless any
 * is accepted), typ when required.  OAUTH2_MISCONFIGURED when no audience
 * is set; else OAUTH2_JUDGED with the outcome in *st and the claim at
 * fault in *claim. */
static oauth2_judgement check_claims(request_rec *r,
                                     const oauth2_dir_conf *conf,
                                     const oauth2_issuer *is,
                                     const ac_jose_jws *jws,
                                     ac_jose_status *st, const char **claim)
{
    *st = oauth2_check_times(jws->claims, conf->leeway, 1, claim);
    if (*st == AC_JOSE_OK) {
        *st = ac_jose_check_issuer(jws->claims, is->iss);
        *claim = "iss";
    }
    if (*st == AC_JOSE_OK) {
        *claim = "aud";
        if (!conf->any_audience && (conf->audiences == NULL
                                    || conf->audiences->nelts == 0)) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AC_LOGNO(0508)
                          "oauth2: no AuthOAuth2Audience for %s: set "
                          "one, or * to accept any", r->uri);
            return OAUTH2_MISCONFIGURED;
        }
        if (!conf->any_audience) {
            *st = check_audience(conf, jws->claims);
        }
    }
    if (*st == AC_JOSE_OK && conf->require_typ) {
        *st = ac_jose_jws_check_typ(jws);
    }
    return OAUTH2_JUDGED;
}

/* Judge a JWT: OAUTH2_JUDGED with the verdict in *rec, or why there is
 * none.  The steps: parse, pick the issuer, verify the signature, check
 * the claims, grant. */
oauth2_judgement oauth2_judge_jwt(request_rec *r,
                                  const oauth2_dir_conf *conf,
                                  const char *token, apr_size_t len,
                                  oauth2_record *rec)
{
    char hash[65] = "";
    ac_jose_jws *jws;
    ac_jose_status st;
    oauth2_issuer *is;
    oauth2_judgement j;
    const char *claim = NULL, *why = NULL;

    memset(rec, 0, sizeof(*rec));
    rec->verdict = VERDICT_DENIED;
    st = ac_jose_jws_parse(r->pool, token, len,
                           conf->algs_set ? conf->algs : AC_JOSE_ALGS_ALL,
                           &jws);
    if (st != AC_JOSE_OK) {
        rec->reason = oauth2_jose_reason(r->pool, st, NULL);
        return OAUTH2_JUDGED;
    }
    if ((is = pick_issuer(conf, jws, &why)) == NULL) {
        rec->reason = why;
        return OAUTH2_JUDGED;
    }
    if ((j = verify_signature(r, conf, is, jws, &st)) != OAUTH2_JUDGED) {
        return j;
    }
    if (st != AC_JOSE_OK) {
        rec->reason = oauth2_jose_reason(r->pool, st, NULL);
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, AC_LOGNO(0507)
                      "oauth2: token %.8s of %s: %s",
                      oauth2_token_hash(token, len, hash),
                      ap_escape_logitem(r->pool, is->iss), rec->reason);
        return OAUTH2_JUDGED;
    }
    /* the token is authentic: now its claims */
    if ((j = check_claims(r, conf, is, jws, &st, &claim)) != OAUTH2_JUDGED) {
        return j;
    }
    if (st != AC_JOSE_OK) {
        rec->reason = oauth2_jose_reason(r->pool, st, claim);
        rec->expires = oauth2_claim_exp(jws->claims);
        return OAUTH2_JUDGED;
    }
    why = oauth2_grant_from_claims(r, conf, jws->claims, "jwt", rec);
    if (why != NULL) {
        rec->verdict = VERDICT_DENIED;
        rec->reason = why;
    }
    rec->expires = oauth2_claim_exp(jws->claims);
    return OAUTH2_JUDGED;
}
