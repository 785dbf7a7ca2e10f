/* Licensed under the Apache License, Version 2.0.
 *
 * mod_authn_oauth2 -- the `oauth2` scheme of AuthType Chain: OAuth 2.0
 * bearer access tokens (RFC 6750) for a resource server.
 *
 *   - JWT access tokens (RFC 7519, RFC 9068) verified with the keys of the
 *     issuer their `iss` names: a JWK Set or PEM file read at start-up, a
 *     JWK Set URL fetched with libcurl (refreshed, refetched on an unknown
 *     kid at most once a minute), or an HMAC secret; audience, issuer,
 *     times with leeway, optionally typ at+jwt;
 *   - opaque tokens asked of an RFC 7662 introspection endpoint;
 *   - opaque tokens looked up in django-oauth-toolkit's tables.
 *
 * Validated answers are cached across processes through socache, keyed by
 * a SHA-256 over the token and the settings that judged it.  A token never
 * reaches a log: it is named by the first 8 hex digits of its SHA-256.
 *
 * This file is the scheme itself and the module's hooks; oauth2.h says
 * where the rest is.
 */

#include "apr_strings.h"

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "ap_provider.h"
#include "mod_request.h"

#include "ac_common.h"
#include "ac_http.h"
#include "ac_pg.h"
#include "oauth2.h"

#define RETRY_AFTER 5
/* The OAUTH2_CLAIM_* block of a granted request, for oauth2_fixups. */
#define ENV_NOTE "authn-oauth2-claim-env"
/* pairs and bytes of a form body read for AuthOAuth2AcceptFormToken */
#define FORM_MAX_PAIRS 64
#define FORM_MAX_SIZE (64 * 1024)

/* ----------------------------------------------------------------------
 * The answers
 */

static auth_chain_status deny(auth_chain_result *res, const char *error,
                              const char *reason)
{
    res->error = error;
    res->reason = reason;
    return AUTH_CHAIN_DENIED;
}

static auth_chain_status unavailable(auth_chain_result *res,
                                     const char *reason)
{
    res->reason = reason;
    res->retry_after = RETRY_AFTER;
    return AUTH_CHAIN_UNAVAILABLE;
}

/* ----------------------------------------------------------------------
 * Where the token comes from
 */

/* RFC 6750 section 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" /
 * "~" / "+" / "/" ) *"=" */
static int is_b64token_char(unsigned char c)
{
    return (unsigned char)((c | 0x20) - 'a') < 26
           || (unsigned char)(c - '0') < 10 || c == '-' || c == '.'
           || c == '_' || c == '~' || c == '+' || c == '/';
}

static int is_b64token(const char *s, apr_size_t len)
{
    apr_size_t i = 0;

    while (i < len && is_b64token_char((unsigned char)s[i])) {
        i++;
    }
    if (i == 0) {
        return 0;
    }
    while (i < len && s[i] == '=') {
        i++;
    }
    return i == len;
}

/* mod_request's, when it is loaded: keeps the body we read for the
 * handler (KeptBodySize). */
static APR_OPTIONAL_FN_TYPE(ap_request_insert_filter) *insert_keep_filter;

/* access_token from a form-encoded POST/PUT/PATCH body.  Returns 0 (none
 * or found in *token), or 1 with *reason for a malformed form token. */
static int read_form_token(request_rec *r, const char **token,
                           apr_size_t *len, const char **reason)
{
    const char *ct = apr_table_get(r->headers_in, "Content-Type");
    apr_array_header_t *pairs = NULL;
    int i, found = 0;

    *token = NULL;
    if ((r->method_number != M_POST && r->method_number != M_PUT
         && r->method_number != M_PATCH) || ct == NULL
        || strncasecmp(ct, "application/x-www-form-urlencoded", 33) != 0
        || (ct[33] != '\0' && ct[33] != ';' && ct[33] != ' '
            && ct[33] != '\t')) {
        return 0;
    }
    /* as mod_auth_form does: with KeptBodySize set, mod_request keeps what
     * we read here and replays it to the handler */
    if (insert_keep_filter != NULL) {
        insert_keep_filter(r);
    }
    if (ap_parse_form_data(r, NULL, &pairs, FORM_MAX_PAIRS, FORM_MAX_SIZE)
        != OK || pairs == NULL) {
        return 0;
    }
    for (i = 0; i < pairs->nelts; i++) {
        ap_form_pair_t *pair = &APR_ARRAY_IDX(pairs, i, ap_form_pair_t);
        apr_off_t blen = 0;
        char *buf;
        apr_size_t size;

        if (strcmp(pair->name, "access_token") != 0) {
            continue;
        }
        if (found++) {
            *reason = "malformed request: access_token given twice";
            return 1;
        }
        apr_brigade_length(pair->value, 1, &blen);
        if (blen <= 0 || blen > AC_JOSE_MAX_TOKEN) {
            *reason = "malformed token: empty or longer than 16384 "
                      "characters";
            return 1;
        }
        size = (apr_size_t)blen;
        buf = apr_palloc(r->pool, size + 1);
        apr_brigade_flatten(pair->value, buf, &size);
        buf[size] = '\0';
        *token = buf;
        *len = size;
    }
    return 0;
}

/* ----------------------------------------------------------------------
 * The scheme
 */

/* The token the request presents, in *token / *len: from
 * `Authorization: Bearer`, from `Authorization: DPoP` where DPoP is
 * accepted (*dpop set), or from a form body where allowed.  0 with
 * *token NULL when there is none, 0 with the token, or -1 with res
 * refusing a malformed one (invalid_request). */
static int find_token(request_rec *r, const oauth2_dir_conf *conf,
                      auth_chain_result *res, const char **token,
                      apr_size_t *len, int *dpop)
{
    const char *form_token = NULL, *reason = NULL;
    apr_size_t form_len = 0;
    ac_auth_header h;

    *token = NULL;
    ac_auth_header_split(apr_table_get(r->headers_in, "Authorization"), &h);
    *dpop = conf->dpop != DPOP_OFF && ac_auth_header_is(&h, "DPoP");
    if (*dpop || ac_auth_header_is(&h, "Bearer")) {
        reason = h.nwords == 1
                 ? (*dpop ? "malformed request: DPoP without a token"
                          : "malformed request: Bearer without a token")
                 : h.nwords > 2 ? "malformed request: the token contains "
                                  "spaces"
                 : h.credentials_len > AC_JOSE_MAX_TOKEN
                   ? "malformed token: longer than 16384 characters"
                 : !is_b64token(h.credentials, h.credentials_len)
                   ? "malformed token: characters outside RFC 6750 b64token"
                 : NULL;
        if (reason != NULL) {
            deny(res, "invalid_request", reason);
            return -1;
        }
        *token = h.credentials;
        *len = h.credentials_len;
    }
    if (!conf->form_token || *dpop) {
        return 0;
    }
    if (read_form_token(r, &form_token, &form_len, &reason)) {
        deny(res, "invalid_request", reason);
        return -1;
    }
    if (form_token == NULL) {
        return 0;
    }
    reason = *token != NULL ? "malformed request: a token both in the "
                              "header and in the body"
             : !is_b64token(form_token, form_len)
               ? "malformed token: characters outside RFC 6750 b64token"
             : NULL;
    if (reason != NULL) {
        deny(res, "invalid_request", reason);
        return -1;
    }
    *token = form_token;
    *len = form_len;
    return 0;
}

/* Which check the token gets: "jwt" (issuers, and the shape of a JWS or
 * JWE), "introspection", "db", or NULL when none applies. */
static const char *check_of(const oauth2_dir_conf *conf, const char *token,
                            apr_size_t len)
{
    apr_size_t i;
    int dots = 0;

    for (i = 0; i < len; i++) {
        dots += token[i] == '.';
    }
    if (conf->issuers != NULL && conf->issuers->nelts > 0
        && (dots == 2 || dots == 4)) {
        return "jwt";
    }
    return conf->introspect ? "introspection" : conf->db ? "db" : NULL;
}

/* Judge the token afresh by `check`: AUTH_CHAIN_GRANTED when *rec holds
 * the verdict (*negative: a refusal worth caching), or UNAVAILABLE with
 * res filled when the issuer's keys, the endpoint or the database cannot
 * answer. */
static auth_chain_status judge(request_rec *r, const oauth2_dir_conf *conf,
                               const char *check, const char *token,
                               apr_size_t len, char hash[65],
                               oauth2_record *rec, int *negative,
                               auth_chain_result *res)
{
    *negative = 0;
    if (check == NULL) {
        memset(rec, 0, sizeof(*rec));
        rec->verdict = VERDICT_DENIED;
        rec->reason = "malformed token";
        return AUTH_CHAIN_GRANTED;
    }
    if (strcmp(check, "jwt") == 0) {
        switch (oauth2_judge_jwt(r, conf, token, len, rec)) {
        case OAUTH2_NO_KEYS:
            return unavailable(res, "The token issuer's keys cannot be "
                                    "fetched.");
        case OAUTH2_MISCONFIGURED:
            return unavailable(res, "The oauth2 scheme is not configured.");
        default:
            return AUTH_CHAIN_GRANTED;
        }
    }
    *negative = 1;
    if (strcmp(check, "introspection") == 0) {
        return oauth2_judge_introspection(r, conf, token, len,
                                          oauth2_token_hash(token, len, hash),
                                          rec) == 0
               ? AUTH_CHAIN_GRANTED
               : unavailable(res, "The token introspection endpoint cannot "
                                  "answer.");
    }
    return oauth2_judge_db(r, conf, token, len,
                           oauth2_token_hash(token, len, hash), rec) == 0
           ? AUTH_CHAIN_GRANTED
           : unavailable(res, "The token store is unavailable.");
}

/* Whether the request may use the token it presents, which is good:
 * a DPoP-bound token only with the DPoP scheme and its proof, a token
 * bound to a client certificate only with that certificate, a Bearer
 * token only where DPoP is not required.  NULL, or the error (res->reason
 * set). */
static const char *sender_refused(request_rec *r,
                                  const oauth2_dir_conf *conf,
                                  const char *token, apr_size_t len,
                                  const oauth2_record *rec, int dpop,
                                  auth_chain_result *res)
{
    const char *error = NULL;

    if (dpop) {
        error = oauth2_dpop_check(r, conf, token, len, rec, res);
    }
    else if (rec->jkt != NULL) {
        /* RFC 9449 section 7.2: never as a bearer token */
        res->reason = "a DPoP-bound token presented as Bearer";
        error = "invalid_token";
    }
    else if (conf->dpop == DPOP_REQUIRED) {
        res->reason = "this resource accepts DPoP-bound tokens only";
        error = "invalid_token";
    }
    if (error == NULL && (res->reason = oauth2_mtls_check(r, conf, rec))
                         != NULL) {
        error = "invalid_token";
    }
    return error;
}

/* Decide for this request: DECLINED without a Bearer token (or a form
 * token where allowed); DENIED invalid_request for a malformed one;
 * otherwise the verdict of the JWT checks, of the introspection endpoint
 * or of the database (cached), UNAVAILABLE when those cannot answer. */
static auth_chain_status oauth2_authenticate(request_rec *r,
                                             auth_chain_result *res)
{
    oauth2_dir_conf *conf = ap_get_module_config(r->per_dir_config,
                                                 &authn_oauth2_module);
    const char *token, *check, *error;
    apr_size_t len = 0;
    char hash[65] = "";
    unsigned char id[32];
    oauth2_record rec;
    int negative, cached = 0, dpop;
    apr_time_t asked = apr_time_now();
    auth_chain_status st;

    if (find_token(r, conf, res, &token, &len, &dpop) != 0) {
        return AUTH_CHAIN_DENIED;
    }
    if (token == NULL) {
        return AUTH_CHAIN_DECLINED;
    }
    if ((conf->issuers == NULL || conf->issuers->nelts == 0)
        && conf->introspect == NULL && conf->db == NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AC_LOGNO(0530)
                      "oauth2: %s has none of AuthOAuth2Issuer, "
                      "AuthOAuth2HMACKey, AuthOAuth2Introspect, "
                      "AuthOAuth2DB", r->uri);
        return unavailable(res, "The oauth2 scheme is not configured.");
    }
    check = check_of(conf, token, len);
    if (oauth2_cache_of(conf) != NULL) {
        oauth2_cache_id(conf, check ? check : "none", token, len, id);
        cached = oauth2_cache_get(r, conf, id, &rec);
    }
    if (!cached) {
        st = judge(r, conf, check, token, len, hash, &rec, &negative, res);
        if (st != AUTH_CHAIN_GRANTED) {
            return st;
        }
        if (oauth2_cache_of(conf) != NULL) {
            oauth2_cache_put(r, conf, id, &rec, negative, asked);
        }
    }

    if (rec.verdict != VERDICT_GRANTED) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AC_LOGNO(0531)
                      "oauth2: token %.8s refused%s: %s",
                      oauth2_token_hash(token, len, hash),
                      cached ? " (cached)" : "", rec.reason);
        return deny(res, "invalid_token", rec.reason);
    }
    /* the token is good; is it the sender's?  (never cached) */
    if ((error = sender_refused(r, conf, token, len, &rec, dpop, res))
        != NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AC_LOGNO(0532)
                      "oauth2: token %.8s refused (%s): %s",
                      oauth2_token_hash(token, len, hash), error,
                      res->reason);
        res->error = error;
        return AUTH_CHAIN_DENIED;
    }
    res->auth_type = dpop ? "DPoP" : NULL;
    res->user = rec.user;
    res->scopes = rec.scopes;
    res->data = rec.data;
    /* on the request that asked, for oauth2_fixups: "" hides an older
     * answer's claims from a request that asked again */
    apr_table_setn(r->notes, ENV_NOTE, rec.env ? rec.env : "");
    apr_table_setn(r->notes, OAUTH2_CLAIMS_NOTE,
                   rec.claims ? rec.claims : "");
    return AUTH_CHAIN_GRANTED;
}

const char *oauth2_challenge_of(request_rec *r, const oauth2_dir_conf *conf,
                                const char *scheme)
{
    const char *c = ac_challenge(r, scheme);
    const char *meta = oauth2_resource_metadata_url(r, conf);

    return meta == NULL ? c
           : apr_pstrcat(r->pool, c, ", resource_metadata=",
                         ac_http_quote(r->pool, meta), NULL);
}

/* Bearer, DPoP (with the proof algorithms, RFC 9449 section 7.1), or
 * both, each its own challenge; the one of the scheme the request used
 * first, which carries the error attributes. */
static const char *offered_challenges(request_rec *r)
{
    oauth2_dir_conf *conf = ap_get_module_config(r->per_dir_config,
                                                 &authn_oauth2_module);
    const char *bearer, *dpop;
    ac_auth_header h;

    if (conf->dpop == DPOP_OFF) {
        return oauth2_challenge_of(r, conf, "Bearer");
    }
    dpop = apr_pstrcat(r->pool, oauth2_challenge_of(r, conf, "DPoP"),
                       ", algs=",
                       ac_http_quote(r->pool, oauth2_dpop_algs(r->pool, conf)),
                       NULL);
    if (conf->dpop == DPOP_REQUIRED) {
        return dpop;
    }
    bearer = oauth2_challenge_of(r, conf, "Bearer");
    ac_auth_header_split(apr_table_get(r->headers_in, "Authorization"), &h);
    return ac_auth_header_is(&h, "DPoP")
           ? apr_pstrcat(r->pool, dpop, "\n", bearer, NULL)
           : apr_pstrcat(r->pool, bearer, "\n", dpop, NULL);
}

/* ... with the step-up that `Require auth-acr`/`auth-max-age` asked for
 * (authz.c) */
static const char *oauth2_challenge(request_rec *r)
{
    return oauth2_step_up_challenge(r, offered_challenges(r));
}

static const char *oauth2_scope_challenge(request_rec *r, const char *scopes)
{
    oauth2_dir_conf *conf = ap_get_module_config(r->per_dir_config,
                                                 &authn_oauth2_module);

    return apr_pstrcat(r->pool, oauth2_challenge_of(r, conf, "Bearer"),
                       ", error=\"insufficient_scope\", scope=",
                       ac_http_quote(r->pool, scopes), NULL);
}

/* The settings that decide the scheme's answer: those that judge a
 * token, and where a token is read from. */
static const char *oauth2_settings(request_rec *r)
{
    oauth2_dir_conf *conf = ap_get_module_config(r->per_dir_config,
                                                 &authn_oauth2_module);
    unsigned char fp[32];
    ac_fp f;

    ac_fp_begin(&f);
    oauth2_judging_settings(&f, conf);
    ac_fp_int(&f, conf->form_token);
    ac_fp_int(&f, conf->dpop);
    ac_fp_int(&f, conf->dpop_algs);
    ac_fp_int(&f, conf->dpop_max_age);
    ac_fp_int(&f, conf->dpop_nonce);
    ac_fp_str(&f, conf->external_url);
    ac_fp_str(&f, conf->cert_header);
    ac_fp_int(&f, conf->trusted_proxies ? conf->trusted_proxies->nelts : 0);
    ac_fp_mem(&f, &conf->trusted_proxies, sizeof(conf->trusted_proxies));
    ac_fp_final(&f, NULL, 0, fp);
    return ac_fp_hex(r->pool, fp);
}

static const auth_chain_provider oauth2_provider = {
    "Bearer",
    oauth2_authenticate,
    oauth2_challenge,
    oauth2_scope_challenge,
    oauth2_settings
};

/* ----------------------------------------------------------------------
 * Hooks
 */

/* fixups (after mod_auth_chain's): OAUTH2_CLAIM_<name> for each scalar
 * claim of the token that authenticated the request (the block that
 * ac_jose_claims_env() made when it was judged), subrequests and
 * internal redirects included: they take the block of the nearest
 * request that asked the scheme (this one, or the one whose answer the
 * chain reused), wherever in the client's request that happened. */
static int oauth2_fixups(request_rec *r)
{
    const char *env = oauth2_granted_note(r, ENV_NOTE), *name, *value;
    apr_size_t name_len, value_len;

    while (ac_jose_claims_env_next(&env, &name, &name_len, &value,
                                   &value_len)) {
        apr_table_setn(r->subprocess_env,
                       apr_pstrcat(r->pool, "OAUTH2_CLAIM_",
                                   apr_pstrmemdup(r->pool, name, name_len),
                                   NULL),
                       apr_pstrmemdup(r->pool, value, value_len));
    }
    return DECLINED;
}

static int oauth2_pre_config(apr_pool_t *pconf, apr_pool_t *plog,
                             apr_pool_t *ptemp)
{
    ac_cache_register_mutex(pconf, OAUTH2_MUTEX_TYPE);
    return OK;
}

/* --- the start-up check: an issuer without an audience -------------------- */

/* post_config: libcurl's global set-up, the remote keys (jwks.c) and
 * the shared cache (AuthOAuth2Cache, default shmcb; `AuthOAuth2CacheTTL 0` is
 * the way to run without it). */
static int oauth2_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                              apr_pool_t *ptemp, server_rec *s)
{
    oauth2_srv_conf *sconf = ap_get_module_config(s->module_config,
                                                  &authn_oauth2_module);

    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }
    ac_digests_init(pconf);
    if (ac_http_global_init() != 0) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, AC_LOGNO(0540)
                     "oauth2: curl_global_init failed");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (oauth2_dpop_setup(pconf, ptemp, s, sconf) != OK
        || oauth2_remote_setup(pconf, ptemp, s) != OK) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return ac_cache_setup(s, pconf, ptemp, "AuthOAuth2Cache",
                          sconf->cache_spec, OAUTH2_MUTEX_TYPE, "authn_oauth2",
                          &sconf->cache);
}

static void oauth2_child_init(apr_pool_t *pchild, server_rec *s)
{
    oauth2_srv_conf *sconf = ap_get_module_config(s->module_config,
                                                  &authn_oauth2_module);

    ac_metrics_child_init();
    ac_pg_child_init(pchild, s);
    ac_cache_child_init(sconf->cache, pchild, s);
    oauth2_dpop_child_init(pchild);
    oauth2_remote_child_init(pchild);
}

static void oauth2_retrieve_functions(void)
{
    insert_keep_filter = APR_RETRIEVE_OPTIONAL_FN(ap_request_insert_filter);
    oauth2_metadata_retrieve();
}

static void register_hooks(apr_pool_t *p)
{
    static const char *const after_chain[] = { "mod_auth_chain.c", NULL };

    AC_LOG_MODULE(authn_oauth2);
    ac_metrics_count_for("oauth2");     /* what modules/common counts */
    ap_hook_pre_config(oauth2_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_check_config(oauth2_check_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_check_config(oauth2_check_db, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(oauth2_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(oauth2_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_optional_fn_retrieve(oauth2_retrieve_functions, NULL, NULL,
                                 APR_HOOK_MIDDLE);
    ap_hook_fixups(oauth2_fixups, after_chain, NULL, APR_HOOK_MIDDLE);
    ap_hook_quick_handler(oauth2_metadata_handler, NULL, NULL,
                          APR_HOOK_MIDDLE);
    ap_register_provider(p, AUTH_CHAIN_PROVIDER_GROUP, "oauth2",
                         AUTH_CHAIN_PROVIDER_VERSION, &oauth2_provider);
    oauth2_register_authz(p);
    oauth2_register_claim_headers(p);
}

AP_DECLARE_MODULE(authn_oauth2) = {
    STANDARD20_MODULE_STUFF,
    oauth2_create_dir_config,
    oauth2_merge_dir_config,
    oauth2_create_srv_config,
    NULL,
    oauth2_cmds,
    register_hooks
};
