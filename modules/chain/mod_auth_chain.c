/* Licensed under the Apache License, Version 2.0.
 *
 * mod_auth_chain -- `AuthType Chain`: each request is tried against the
 * schemes named by `AuthChain`, in order, the way Django REST framework
 * tries its authentication classes.  The first scheme that identifies the
 * caller sets r->user, r->ap_auth_type, the note `auth-chain-data` and the
 * AUTH_CHAIN_* environment; `Require` decides afterwards.  The module also
 * owns the `basic` scheme (HTTP Basic over httpd's authn providers) and the
 * `Require auth-scheme` and `Require auth-scope` authorization providers.
 *
 * Where it runs: the chain runs in the check_access_ex phase, before
 * mod_authz_core's own (APR_HOOK_LAST) pass, so that it runs on every
 * request under `AuthType Chain`, also where `Require all granted` lets
 * everyone in.  A granted identity is then authorized in that same pass,
 * which is why an authenticated caller that `Require` refuses gets 403 (as
 * DRF's PermissionDenied) and an anonymous one 401 (DRF's
 * NotAuthenticated).  check_authn only answers the 401 when authorization
 * needs a user the chain did not find.
 */

#include "apr_lib.h"
#include "apr_strings.h"

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "ap_provider.h"

#include "mod_auth.h"

#include <jansson.h>

#include "mod_auth_chain.h"
#include "ac_common.h"
#include "ac_conf.h"
#include "ac_request.h"
#include "metrics.h"
#include "throttle.h"

module AP_MODULE_DECLARE_DATA auth_chain_module;

#define DEFAULT_RETRY_AFTER 5

typedef struct {
    const char *name;
    const auth_chain_provider *provider;
} chain_scheme;

/* Each setting with its `_set` flag (ac_conf.h). */
typedef struct {
    apr_array_header_t *schemes;          /* chain_scheme, in order */
    apr_array_header_t *basic_providers;  /* const char *, authn names */
    int challenge_first;
    int on_invalid_anonymous;
    const char *unauth_user;
    const char *unauth_token;
    int error_json;
    apr_array_header_t *throttles;        /* throttle.c's; NULL: inherit */
    unsigned char schemes_set, basic_providers_set, challenge_first_set,
        on_invalid_anonymous_set, unauth_user_set, unauth_token_set,
        error_json_set;
} chain_dir_conf;

/* The server's settings: the audit log (AuthChainAuditLog). */
typedef struct {
    const char *audit;              /* a file, or "|command" */
    apr_file_t *audit_fd;           /* opened in open_logs */
} chain_srv_conf;

/* One scheme's answer for one client request. */
typedef struct {
    const char *name;
    const auth_chain_provider *provider;
    request_rec *asker;           /* the request that asked (for settings) */
    auth_chain_status status;
    auth_chain_result res;
} chain_answer;

/* What the chain decided for a request (in r->request_config). */
typedef struct {
    apr_array_header_t *answers;  /* chain_answer *, every scheme consulted */
    const chain_answer *granted;  /* the scheme that identified the caller */
    const chain_answer *denied;   /* the scheme that refused credentials */
    const chain_answer *decisive; /* the answer that stopped the chain */
    const char *data;             /* the note's JSON, when granted */
    const char *scope_wanted;     /* set when `Require auth-scope` refused */
} chain_state;

static void *create_chain_dir_config(apr_pool_t *p, char *dir)
{
    chain_dir_conf *conf = apr_pcalloc(p, sizeof(*conf));

    conf->schemes = apr_array_make(p, 4, sizeof(chain_scheme));
    conf->basic_providers = apr_array_make(p, 2, sizeof(const char *));
    return conf;
}

/* A scheme built against version 1 of mod_auth_chain.h: the provider
 * struct without `settings`. */
#define AUTH_CHAIN_PROVIDER_VERSION_1 "1"
typedef struct {
    const char *auth_type;
    auth_chain_status (*authenticate)(request_rec *r, auth_chain_result *res);
    const char *(*challenge)(request_rec *r);
    const char *(*scope_challenge)(request_rec *r, const char *scopes);
} provider_v1;

/* The names of the registered schemes, for error messages. */
static const char *known_schemes(apr_pool_t *p)
{
    static const char *const versions[] = {
        AUTH_CHAIN_PROVIDER_VERSION, AUTH_CHAIN_PROVIDER_VERSION_1
    };
    apr_array_header_t *words = apr_array_make(p, 8, sizeof(const char *));
    int i, v;

    for (v = 0; v < 2; v++) {
        apr_array_header_t *names = ap_list_provider_names(
            p, AUTH_CHAIN_PROVIDER_GROUP, versions[v]);

        for (i = 0; i < names->nelts; i++) {
            APR_ARRAY_PUSH(words, const char *) =
                APR_ARRAY_IDX(names, i, ap_list_provider_names_t)
                    .provider_name;
        }
    }
    return apr_array_pstrcat(p, words, ' ');
}

/* The scheme registered as `name`, under this API's version or, copied
 * into a provider without `settings`, under version 1.  NULL if none. */
static const auth_chain_provider *find_provider(apr_pool_t *p,
                                                const char *name)
{
    const provider_v1 *old;
    auth_chain_provider *copy;
    const auth_chain_provider *provider = ap_lookup_provider(
        AUTH_CHAIN_PROVIDER_GROUP, name, AUTH_CHAIN_PROVIDER_VERSION);

    if (provider != NULL) {
        return provider;
    }
    old = ap_lookup_provider(AUTH_CHAIN_PROVIDER_GROUP, name,
                             AUTH_CHAIN_PROVIDER_VERSION_1);
    if (old == NULL) {
        return NULL;
    }
    copy = apr_pcalloc(p, sizeof(*copy));
    copy->auth_type = old->auth_type;
    copy->authenticate = old->authenticate;
    copy->challenge = old->challenge;
    copy->scope_challenge = old->scope_challenge;
    return copy;
}

static const char *lookup_scheme(cmd_parms *cmd, const char *name,
                                 const auth_chain_provider **provider)
{
    *provider = find_provider(cmd->pool, name);
    if (*provider == NULL || (*provider)->authenticate == NULL) {
        return apr_psprintf(cmd->pool,
                            "%s: unknown scheme '%s' (is its module loaded "
                            "before this line?); known schemes: %s",
                            cmd->cmd->name, name, known_schemes(cmd->temp_pool));
    }
    return NULL;
}

static const char *set_chain(cmd_parms *cmd, void *dconf, const char *name)
{
    chain_dir_conf *conf = dconf;
    const auth_chain_provider *provider;
    const char *err;
    chain_scheme *s;
    int i;

    if ((err = lookup_scheme(cmd, name, &provider)) != NULL) {
        return err;
    }
    conf->schemes_set = 1;
    for (i = 0; i < conf->schemes->nelts; i++) {
        if (strcmp(APR_ARRAY_IDX(conf->schemes, i, chain_scheme).name,
                   name) == 0) {
            return apr_psprintf(cmd->pool, "AuthChain: scheme '%s' is "
                                "listed twice", name);
        }
    }
    s = apr_array_push(conf->schemes);
    s->name = apr_pstrdup(cmd->pool, name);
    s->provider = provider;
    return NULL;
}

static const char *set_basic_provider(cmd_parms *cmd, void *dconf,
                                      const char *name)
{
    chain_dir_conf *conf = dconf;
    const authn_provider *provider;

    provider = ap_lookup_provider(AUTHN_PROVIDER_GROUP, name,
                                  AUTHN_PROVIDER_VERSION);
    if (provider == NULL) {
        return apr_psprintf(cmd->pool,
                            "AuthChainBasicProvider: unknown authn provider "
                            "'%s' (load its mod_authn_* module, or define the "
                            "<AuthnProviderAlias> above this line)", name);
    }
    if (provider->check_password == NULL) {
        return apr_psprintf(cmd->pool,
                            "AuthChainBasicProvider: authn provider '%s' "
                            "cannot check passwords", name);
    }
    conf->basic_providers_set = 1;
    APR_ARRAY_PUSH(conf->basic_providers, const char *) =
        apr_pstrdup(cmd->pool, name);
    return NULL;
}

static const ac_conf_enum challenges[] = {
    { "all", 0 }, { "first", 1 }, { NULL, 0 }
};

static const ac_conf_enum on_invalid[] = {
    { "deny", 0 }, { "anonymous", 1 }, { NULL, 0 }
};

static void *create_chain_srv_config(apr_pool_t *p, server_rec *s)
{
    return apr_pcalloc(p, sizeof(chain_srv_conf));
}

static void *merge_chain_srv_config(apr_pool_t *p, void *basev, void *addv)
{
    chain_srv_conf *base = basev, *add = addv;

    return add->audit ? add : base;
}

static const char *set_audit_log(cmd_parms *cmd, void *dummy,
                                 const char *arg)
{
    chain_srv_conf *sconf = ap_get_module_config(cmd->server->module_config,
                                                 &auth_chain_module);

    if (*arg == '\0' || (arg[0] == '|' && arg[1] == '\0')) {
        return "AuthChainAuditLog needs a file or a |command";
    }
    sconf->audit = arg;
    return NULL;
}

static const ac_conf_enum error_formats[] = {
    { "html", 0 }, { "json", 1 }, { NULL, 0 }
};

static const command_rec chain_cmds[] = {
    AP_INIT_ITERATE("AuthChain", set_chain, NULL, OR_AUTHCFG,
                    "the authentication schemes to try, in order"),
    AP_INIT_ITERATE("AuthChainBasicProvider", set_basic_provider, NULL,
                    OR_AUTHCFG,
                    "authn providers that check Basic credentials "
                    "(default: file)"),
    AC_INIT_ENUM("AuthChainChallenge", chain_dir_conf, challenge_first,
                 challenges, OR_AUTHCFG,
                 "'all' (a challenge per scheme, default) or 'first'"),
    AC_INIT_ENUM("AuthChainOnInvalid", chain_dir_conf, on_invalid_anonymous,
                 on_invalid, OR_AUTHCFG,
                 "'deny' (401, default) or 'anonymous' (treat invalid "
                 "credentials as absent)"),
    AC_INIT_STRING("AuthChainUnauthenticatedUser", chain_dir_conf,
                   unauth_user, NULL, OR_AUTHCFG,
                   "user name set after authorization for anonymous "
                   "requests"),
    AC_INIT_STRING("AuthChainUnauthenticatedToken", chain_dir_conf,
                   unauth_token, NULL, OR_AUTHCFG,
                   "value of the auth-chain-data note for anonymous "
                   "requests"),
    AP_INIT_TAKE1("AuthChainAuditLog", set_audit_log, NULL, RSRC_CONF,
                  "a file (relative to ServerRoot) or \"|command\" that gets "
                  "one JSON line per authenticated or refused request"),
    AC_INIT_ENUM("AuthChainErrorFormat", chain_dir_conf, error_json,
                 error_formats, OR_AUTHCFG,
                 "'html' (httpd's error pages, default) or 'json' "
                 "({\"detail\": ...} as Django REST framework answers "
                 "401, 403, 429 and 503)"),
    CHAIN_THROTTLE_CMDS(chain_dir_conf, throttles),
    CHAIN_METRICS_CMD,
    {NULL}
};

/* (after the table it reads) */
static void *merge_chain_dir_config(apr_pool_t *p, void *basev, void *addv)
{
    chain_dir_conf *base = basev, *add = addv;
    chain_dir_conf *conf = apr_pcalloc(p, sizeof(*conf));

    ac_conf_merge(chain_cmds, conf, base, add);
    AC_MERGE(schemes);
    AC_MERGE(basic_providers);
    conf->throttles = add->throttles ? add->throttles : base->throttles;
    return conf;
}

/* ----------------------------------------------------------------------
 * The chain
 */

static int is_chain_request(request_rec *r)
{
    const char *type = ap_auth_type(r);

    return type != NULL && strcasecmp(type, "Chain") == 0;
}

static chain_state *state_of(request_rec *r)
{
    return ap_get_module_config(r->request_config, &auth_chain_module);
}

/* The state of this request, or of the request it is a subrequest or an
 * internal redirect of. */
static chain_state *find_state(request_rec *r)
{
    request_rec *rr;

    for (rr = r; rr != NULL; rr = rr->main ? rr->main : rr->prev) {
        chain_state *st = state_of(rr);
        if (st != NULL) {
            return st;
        }
    }
    return NULL;
}

/* A scheme's answer already given for this client request (by the main
 * request of a subrequest, or before an internal redirect) that holds for
 * r: one whose scheme has no settings, or the same settings for both
 * requests (auth_chain_provider's `settings`).  NULL: ask the scheme. */
static const chain_answer *earlier_answer(request_rec *r,
                                          const chain_scheme *s)
{
    const char *here = NULL;
    request_rec *rr;
    int i;

    for (rr = r->main ? r->main : r->prev; rr != NULL;
         rr = rr->main ? rr->main : rr->prev) {
        chain_state *st = state_of(rr);
        if (st == NULL) {
            continue;
        }
        for (i = 0; i < st->answers->nelts; i++) {
            const chain_answer *a = APR_ARRAY_IDX(st->answers, i,
                                                  const chain_answer *);
            const char *there;

            if (strcmp(a->name, s->name) != 0) {
                continue;
            }
            if (s->provider->settings == NULL) {
                return a;
            }
            if (here == NULL) {
                here = s->provider->settings(r);
            }
            there = s->provider->settings(a->asker);
            if (here != NULL && there != NULL && strcmp(here, there) == 0) {
                return a;
            }
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, AC_LOGNO(0011)
                          "scheme %s is configured otherwise here than "
                          "where it answered for %s: asking it again",
                          s->name, rr->uri);
        }
    }
    return NULL;
}

static const char *status_name(auth_chain_status status)
{
    switch (status) {
    case AUTH_CHAIN_DECLINED:
        return "declined";
    case AUTH_CHAIN_GRANTED:
        return "granted";
    case AUTH_CHAIN_DENIED:
        return "denied";
    case AUTH_CHAIN_FORBIDDEN:
        return "forbidden";
    case AUTH_CHAIN_UNAVAILABLE:
        return "unavailable";
    }
    return "invalid";
}

/* Ask one scheme, and hold a provider to its side of the contract: a
 * grant without a user, or an answer outside the five, is a refusal. */
static chain_answer *consult(request_rec *r, const chain_scheme *s)
{
    chain_answer *a = apr_pcalloc(r->pool, sizeof(*a));
    apr_time_t start = chain_metrics_clock();

    a->name = s->name;
    a->provider = s->provider;
    a->asker = r;
    a->status = s->provider->authenticate(r, &a->res);
    if (a->status == AUTH_CHAIN_GRANTED
        && (a->res.user == NULL || a->res.user[0] == '\0')) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AC_LOGNO(0001)
                      "scheme %s granted without a user; refusing", s->name);
        a->status = AUTH_CHAIN_DENIED;
        a->res.reason = "Authentication failed.";
    }
    else if ((unsigned int)a->status > AUTH_CHAIN_UNAVAILABLE) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AC_LOGNO(0002)
                      "scheme %s gave unknown answer %d; refusing", s->name,
                      (int)a->status);
        a->status = AUTH_CHAIN_DENIED;
        a->res.reason = "Authentication failed.";
    }
    chain_metrics_decision(s->name, a->status, &a->res, start);

    switch (a->status) {
    case AUTH_CHAIN_DENIED:
    case AUTH_CHAIN_FORBIDDEN:
    case AUTH_CHAIN_UNAVAILABLE:
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AC_LOGNO(0003)
                      "scheme %s %s the request%s%s%s: %s", s->name,
                      a->status == AUTH_CHAIN_DENIED ? "denied"
                      : a->status == AUTH_CHAIN_FORBIDDEN ? "forbade"
                      : "is unavailable for",
                      a->res.user ? " (user '" : "",
                      a->res.user ? ap_escape_logitem(r->pool, a->res.user)
                                  : "",
                      a->res.user ? "')" : "",
                      a->res.reason ? a->res.reason : "no reason given");
        break;
    default:
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, AC_LOGNO(0004)
                      "scheme %s %s the request", s->name,
                      status_name(a->status));
        break;
    }
    return a;
}

/* The note's JSON: {"scheme":"<name>"} followed by the members of the
 * object the scheme returned. */
static const char *build_data(request_rec *r, const chain_answer *a)
{
    const char *scheme = ac_json_string(r->pool, a->name);
    const char *d = a->res.data;

    if (d != NULL) {
        while (apr_isspace(*d)) {
            d++;
        }
        if (*d != '{') {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AC_LOGNO(0005)
                          "scheme %s returned auth data that is not a JSON "
                          "object; ignored", a->name);
            d = NULL;
        }
        else {
            d++;
            while (apr_isspace(*d)) {
                d++;
            }
            if (*d == '}') {
                d = NULL;
            }
        }
    }
    if (d == NULL) {
        return apr_pstrcat(r->pool, "{\"scheme\":", scheme, "}", NULL);
    }
    return apr_pstrcat(r->pool, "{\"scheme\":", scheme, ",", d, NULL);
}

/* Set the note and the env from a decided state. */
static void export_identity(request_rec *r, const chain_state *st)
{
    const chain_answer *g = st->granted;

    apr_table_setn(r->notes, AUTH_CHAIN_DATA_NOTE, st->data);
    apr_table_setn(r->subprocess_env, "AUTH_CHAIN_SCHEME", g->name);
    apr_table_setn(r->subprocess_env, "AUTH_CHAIN_DATA", st->data);
    apr_table_setn(r->subprocess_env, "AUTH_CHAIN_SCOPES",
                   g->res.scopes ? g->res.scopes : "");
}

/* Try the schemes of the location in order; the first answer other than
 * DECLINED stops the chain, except that with `AuthChainOnInvalid
 * anonymous` a DENIED counts as no credentials.  Answers already given
 * for this client request are reused, never asked again. */
static chain_state *run_chain(request_rec *r, const chain_dir_conf *conf)
{
    chain_state *st = apr_pcalloc(r->pool, sizeof(*st));
    int i;

    st->answers = apr_array_make(r->pool, conf->schemes->nelts,
                                 sizeof(const chain_answer *));
    ap_set_module_config(r->request_config, &auth_chain_module, st);

    for (i = 0; i < conf->schemes->nelts; i++) {
        const chain_scheme *s = &APR_ARRAY_IDX(conf->schemes, i, chain_scheme);
        const chain_answer *a = earlier_answer(r, s);

        if (a == NULL) {
            a = consult(r, s);
        }
        APR_ARRAY_PUSH(st->answers, const chain_answer *) = a;
        if (a->status == AUTH_CHAIN_DECLINED) {
            continue;
        }
        if (a->status == AUTH_CHAIN_DENIED) {
            st->denied = a;
            if (conf->on_invalid_anonymous) {
                ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AC_LOGNO(0006)
                              "AuthChainOnInvalid anonymous: treating the "
                              "refused %s credentials as absent", s->name);
                continue;
            }
        }
        st->decisive = a;
        break;
    }
    if (st->decisive && st->decisive->status == AUTH_CHAIN_GRANTED) {
        st->granted = st->decisive;
        st->denied = NULL;
        st->data = build_data(r, st->granted);
    }
    return st;
}

/* The challenge of one scheme, with the error attributes of RFC 6750
 * section 3 when it is the scheme that refused the credentials (on its
 * first challenge, when it offers several, one a line). */
static const char *scheme_challenge(request_rec *r, const chain_scheme *s,
                                    const chain_answer *denied)
{
    const char *c = s->provider->challenge ? s->provider->challenge(r) : NULL;
    const char *sep, *nl, *rest = "";

    if (c == NULL || denied == NULL || strcmp(denied->name, s->name) != 0) {
        return c;
    }
    if ((nl = strchr(c, '\n')) != NULL) {
        rest = nl;
        c = apr_pstrmemdup(r->pool, c, nl - c);
    }
    sep = strchr(c, ' ') ? ", " : " ";
    if (denied->res.error) {
        c = apr_pstrcat(r->pool, c, sep, "error=",
                        ac_http_quote(r->pool, denied->res.error), NULL);
        sep = ", ";
    }
    if (denied->res.reason) {
        c = apr_pstrcat(r->pool, c, sep, "error_description=",
                        ac_http_quote(r->pool, denied->res.reason), NULL);
    }
    return apr_pstrcat(r->pool, c, rest, NULL);
}

/* One WWW-Authenticate per challenge of each scheme that has one, in
 * chain order (RFC 9110 section 11.6.1); a scheme may offer several,
 * separated by newlines.  Only the first with `AuthChainChallenge
 * first`. */
static void add_challenges(request_rec *r, const chain_dir_conf *conf,
                           const chain_state *st)
{
    int i;

    for (i = 0; i < conf->schemes->nelts; i++) {
        const chain_scheme *s = &APR_ARRAY_IDX(conf->schemes, i, chain_scheme);
        const char *c = scheme_challenge(r, s, st ? st->denied : NULL), *nl;

        if (c == NULL) {
            continue;
        }
        while ((nl = strchr(c, '\n')) != NULL) {
            apr_table_addn(r->err_headers_out, "WWW-Authenticate",
                           apr_pstrmemdup(r->pool, c, nl - c));
            if (conf->challenge_first) {
                return;
            }
            c = nl + 1;
        }
        apr_table_addn(r->err_headers_out, "WWW-Authenticate", c);
        if (conf->challenge_first) {
            break;
        }
    }
}

/* The `detail` of Django REST framework's answer to `status` (with its
 * texts), or NULL for a status it does not give. */
static const char *error_detail(request_rec *r, const chain_state *st,
                                int status)
{
    const chain_answer *d = st ? st->decisive : NULL;
    const char *after;
    apr_int64_t wait;

    switch (status) {
    case HTTP_UNAUTHORIZED:          /* AuthenticationFailed/NotAuthenticated */
        if (st != NULL && st->granted != NULL) {
            /* a step-up rule (RFC 9470) wants a stronger or newer one */
            return "The authentication is not sufficient for this request.";
        }
        if (st == NULL || st->denied == NULL) {
            return "Authentication credentials were not provided.";
        }
        return st->denied->res.reason ? st->denied->res.reason
               : "Incorrect authentication credentials.";
    case HTTP_FORBIDDEN:             /* PermissionDenied, or the scheme's */
        return d && d->status == AUTH_CHAIN_FORBIDDEN && d->res.reason
               ? d->res.reason
               : "You do not have permission to perform this action.";
    case HTTP_TOO_MANY_REQUESTS:     /* Throttled */
        after = apr_table_get(r->err_headers_out, "Retry-After");
        if (after == NULL || !apr_isdigit(*after)
            || (wait = apr_atoi64(after)) <= 0 || wait > INT_MAX) {
            return "Request was throttled.";
        }
        return apr_psprintf(r->pool, "Request was throttled. Expected "
                            "available in %" APR_INT64_T_FMT " second%s.",
                            wait, wait == 1 ? "" : "s");
    case HTTP_SERVICE_UNAVAILABLE:   /* ServiceUnavailable */
        return "Service temporarily unavailable, try again later.";
    default:
        return NULL;
    }
}

/* The filter that types the JSON body: ap_send_error_response calls a
 * body text/html after the insert_error_filter hook has run. */
#define JSON_ERROR_FILTER "AUTH_CHAIN_JSON_ERROR"

static apr_status_t json_error_filter(ap_filter_t *f, apr_bucket_brigade *bb)
{
    ap_set_content_type(f->r, "application/json");
    ap_remove_output_filter(f);
    return ap_pass_brigade(f->next, bb);
}

/* AuthChainErrorFormat json: the bodies of r's 401, 403, 429 and 503, as
 * custom responses (which ap_die prefers to any ErrorDocument, a local
 * URL included); set when the chain has decided, and again for the status
 * being sent (insert_error_filter), which may know more (Retry-After). */
static void json_response(request_rec *r, const chain_state *st, int status)
{
    const char *detail = error_detail(r, st, status);

    if (detail != NULL) {
        ap_custom_response(r, status,
                           apr_pstrcat(r->pool, "{\"detail\":",
                                       ac_json_string(r->pool, detail),
                                       "}", NULL));
    }
}

static void json_responses(request_rec *r, const chain_state *st)
{
    json_response(r, st, HTTP_UNAUTHORIZED);
    json_response(r, st, HTTP_FORBIDDEN);
    json_response(r, st, HTTP_TOO_MANY_REQUESTS);
    json_response(r, st, HTTP_SERVICE_UNAVAILABLE);
}

/* check_access_ex, first: run the chain for `AuthType Chain` locations.
 * Returns DECLINED to let mod_authz_core decide (with r->user set when a
 * scheme identified the caller), or the error status that stops the
 * request: 401 for refused credentials, 403 for a refused request, 503
 * when a scheme's store cannot answer. */
static int chain_check_access(request_rec *r)
{
    chain_dir_conf *conf;
    chain_state *st;
    const chain_answer *d;

    if (!is_chain_request(r)) {
        return DECLINED;
    }
    conf = ap_get_module_config(r->per_dir_config, &auth_chain_module);
    if (conf->schemes->nelts == 0) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AC_LOGNO(0007)
                      "AuthType Chain is set for %s but no AuthChain names "
                      "a scheme", r->uri);
        return HTTP_INTERNAL_SERVER_ERROR;
    }

    st = run_chain(r, conf);
    if (conf->error_json) {
        json_responses(r, st);
    }
    d = st->decisive;
    if (d == NULL) {
        return DECLINED;
    }
    switch (d->status) {
    case AUTH_CHAIN_GRANTED:
        r->user = (char *)d->res.user;
        r->ap_auth_type = (char *)(d->res.auth_type ? d->res.auth_type
                                   : d->provider->auth_type);
        export_identity(r, st);
        return DECLINED;
    case AUTH_CHAIN_FORBIDDEN:
        if (!conf->error_json && d->res.reason && *d->res.reason != '/'
            && !ap_is_url(d->res.reason)) {
            ap_custom_response(r, HTTP_FORBIDDEN,
                               apr_pstrcat(r->pool, d->res.reason, "\n",
                                           NULL));
        }
        return HTTP_FORBIDDEN;
    case AUTH_CHAIN_UNAVAILABLE:
        apr_table_setn(r->err_headers_out, "Retry-After",
                       apr_itoa(r->pool, d->res.retry_after > 0
                                         ? d->res.retry_after
                                         : DEFAULT_RETRY_AFTER));
        return HTTP_SERVICE_UNAVAILABLE;
    default:
        add_challenges(r, conf, st);
        return HTTP_UNAUTHORIZED;
    }
}

/* check_authn: runs only when authorization needs a user that the chain
 * did not find.  Answers 401 with the challenges of the location. */
static int chain_check_authn(request_rec *r)
{
    chain_dir_conf *conf;

    if (!is_chain_request(r)) {
        return DECLINED;
    }
    if (r->user != NULL) {
        return OK;
    }
    conf = ap_get_module_config(r->per_dir_config, &auth_chain_module);
    add_challenges(r, conf, find_state(r));
    return HTTP_UNAUTHORIZED;
}

/* note_auth_failure: mod_authz_core asks for challenges when it turns an
 * authorization failure into a 401. */
static int chain_note_auth_failure(request_rec *r, const char *auth_type)
{
    if (strcasecmp(auth_type, "Chain") != 0) {
        return DECLINED;
    }
    add_challenges(r, ap_get_module_config(r->per_dir_config,
                                           &auth_chain_module),
                   find_state(r));
    return OK;
}

/* fixups: the request passed authorization.  The client request is
 * throttled (429) by the throttles of its location, as DRF throttles
 * after authentication and permissions.  Subrequests and internal
 * redirects get the note and env of the request they belong to; an
 * anonymous request gets AuthChainUnauthenticatedUser/Token. */
static int chain_fixups(request_rec *r)
{
    chain_dir_conf *conf;
    chain_state *st;

    if (!is_chain_request(r)) {
        return DECLINED;
    }
    conf = ap_get_module_config(r->per_dir_config, &auth_chain_module);
    st = find_state(r);
    if (st != NULL) {
        st->scope_wanted = NULL;
    }
    if (r->main == NULL && r->prev == NULL && conf->throttles != NULL) {
        const chain_answer *g = st ? st->granted : NULL;
        int rv = chain_throttle_check(r, conf->throttles,
                                      g ? g->res.user : NULL,
                                      g ? g->name : NULL,
                                      g ? st->data : NULL);
        if (rv != OK) {
            return rv;
        }
    }
    if (st != NULL && st->granted != NULL) {
        if (apr_table_get(r->notes, AUTH_CHAIN_DATA_NOTE) == NULL) {
            export_identity(r, st);
        }
        return DECLINED;
    }
    if (r->user == NULL && conf->unauth_user) {
        r->user = (char *)conf->unauth_user;
    }
    if (conf->unauth_token) {
        apr_table_setn(r->notes, AUTH_CHAIN_DATA_NOTE, conf->unauth_token);
        apr_table_setn(r->subprocess_env, "AUTH_CHAIN_DATA",
                       conf->unauth_token);
    }
    return DECLINED;
}

/* insert_error_filter: a 403 from `Require auth-scope` carries the
 * granting scheme's insufficient_scope challenge (RFC 6750 section 3.1);
 * with `AuthChainErrorFormat json` the body of a 401, 403, 429 or 503 is
 * Django REST framework's {"detail":"..."} (in place of any
 * ErrorDocument: the location asked for JSON). */
static void chain_insert_error(request_rec *r)
{
    const chain_dir_conf *conf;
    chain_state *st;
    const char *c;

    if (!is_chain_request(r)) {
        return;
    }
    conf = ap_get_module_config(r->per_dir_config, &auth_chain_module);
    if (conf->error_json && error_detail(r, NULL, r->status) != NULL) {
        json_response(r, find_state(r), r->status);
        ap_add_output_filter(JSON_ERROR_FILTER, NULL, r, r->connection);
    }
    st = state_of(r);
    if (r->status != HTTP_FORBIDDEN || st == NULL
        || st->scope_wanted == NULL || st->granted == NULL
        || st->granted->provider->scope_challenge == NULL) {
        return;
    }
    c = st->granted->provider->scope_challenge(r, st->scope_wanted);
    if (c != NULL) {
        /* err_headers_out: the error response clears headers_out later */
        apr_table_setn(r->err_headers_out, "WWW-Authenticate", c);
    }
}

/* ----------------------------------------------------------------------
 * The audit log: one JSON line per request that the chain authenticated
 * or refused, or that authorization refused (docs/mod_auth_chain.md).
 */

/* the longest string of a line's member: a line stays below PIPE_BUF */
#define AUDIT_MAX_STRING 256

static int chain_open_logs(apr_pool_t *pconf, apr_pool_t *plog,
                           apr_pool_t *ptemp, server_rec *s)
{
    for (; s != NULL; s = s->next) {
        chain_srv_conf *sc = ap_get_module_config(s->module_config,
                                                  &auth_chain_module);
        const char *path;
        piped_log *pl;
        apr_status_t rv;

        if (sc->audit == NULL || sc->audit_fd != NULL) {
            continue;           /* none, or the main server's, opened */
        }
        if (sc->audit[0] == '|') {
            if ((pl = ap_open_piped_log(pconf, sc->audit + 1)) == NULL) {
                ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, AC_LOGNO(0012)
                             "AuthChainAuditLog: cannot start '%s'",
                             sc->audit + 1);
                return HTTP_INTERNAL_SERVER_ERROR;
            }
            sc->audit_fd = ap_piped_log_write_fd(pl);
            continue;
        }
        path = ap_server_root_relative(pconf, sc->audit);
        rv = path == NULL ? APR_EBADPATH
             : apr_file_open(&sc->audit_fd, path,
                             APR_FOPEN_WRITE | APR_FOPEN_APPEND
                             | APR_FOPEN_CREATE | APR_FOPEN_LARGEFILE,
                             APR_FPROT_OS_DEFAULT, pconf);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, AC_LOGNO(0013)
                         "AuthChainAuditLog: cannot open '%s'", sc->audit);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    return OK;
}

/* A string member, cut to AUDIT_MAX_STRING bytes (at a character
 * boundary of UTF-8), or null. */
static const char *audit_string(apr_pool_t *p, const char *s)
{
    apr_size_t n;

    if (s == NULL) {
        return "null";
    }
    n = strlen(s);
    if (n > AUDIT_MAX_STRING) {
        n = AUDIT_MAX_STRING;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) {
            n--;
        }
    }
    return ac_json_stringn(p, s, n);
}

/* What identifies the credential in the note's data, never a secret:
 * the members id, name (token), jti, client_id, iss (oauth2), each a
 * string or a number. */
static const char *audit_credential(apr_pool_t *p, const char *data)
{
    static const char *const members[] = {
        "id", "name", "jti", "client_id", "iss", NULL
    };
    json_t *o = data ? json_loads(data, 0, NULL) : NULL;
    const char *out = "";
    int i;

    if (o == NULL) {
        return "null";
    }
    for (i = 0; members[i]; i++) {
        json_t *v = json_object_get(o, members[i]);
        const char *text;

        if (json_is_string(v)) {
            text = audit_string(p, json_string_value(v));
        }
        else if (json_is_integer(v)) {
            text = apr_psprintf(p, "%" APR_INT64_T_FMT,
                                (apr_int64_t)json_integer_value(v));
        }
        else {
            continue;
        }
        out = apr_pstrcat(p, out, *out ? "," : "", "\"", members[i], "\":",
                          text, NULL);
    }
    json_decref(o);
    return apr_pstrcat(p, "{", out, "}", NULL);
}

static const char *decision_of(const chain_answer *d)
{
    switch (d->status) {
    case AUTH_CHAIN_GRANTED:     return "granted";
    case AUTH_CHAIN_DENIED:      return "denied";
    case AUTH_CHAIN_FORBIDDEN:   return "forbidden";
    case AUTH_CHAIN_UNAVAILABLE: return "unavailable";
    default:                     return "error";
    }
}

/* log_transaction */
static int chain_audit(request_rec *r)
{
    chain_srv_conf *sc = ap_get_module_config(r->server->module_config,
                                              &auth_chain_module);
    request_rec *final = r, *last;
    const chain_state *st;
    const chain_answer *d, *who;
    const char *line, *reason, *throttled;
    char when[APR_RFC822_DATE_LEN + 8];
    apr_time_exp_t t;
    apr_size_t len;

    if (sc->audit_fd == NULL) {
        return DECLINED;
    }
    while (final->next) {       /* the request that answered */
        final = final->next;
    }
    /* the chain's state of that request or of one it was redirected
     * from (never of a subrequest: it is gone) */
    for (st = NULL, last = final; last && (st = state_of(last)) == NULL;
         last = last->prev)
        ;
    if (st == NULL) {
        return DECLINED;
    }
    d = st->decisive;
    throttled = apr_table_get(r->notes, CHAIN_THROTTLED_NOTE);
    if (d == NULL && throttled == NULL && final->status != HTTP_UNAUTHORIZED
        && final->status != HTTP_FORBIDDEN) {
        return DECLINED;        /* anonymous, and let in */
    }
    who = d ? d : st->denied;
    reason = throttled ? throttled
             : who && who != st->granted ? who->res.reason : NULL;
    apr_time_exp_gmt(&t, r->request_time);
    apr_snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ",
                 t.tm_year + 1900, t.tm_mon + 1, t.tm_mday, t.tm_hour,
                 t.tm_min, t.tm_sec, t.tm_usec);
    line = apr_pstrcat(r->pool,
        "{\"time\":\"", when, "\"",
        ",\"client\":", audit_string(r->pool, r->useragent_ip),
        ",\"method\":", audit_string(r->pool, r->method),
        ",\"uri\":", audit_string(r->pool, r->uri),
        ",\"status\":", apr_itoa(r->pool, final->status),
        ",\"decision\":\"", d ? decision_of(d)
                              : st->denied ? "denied" : "anonymous", "\"",
        ",\"scheme\":", who ? audit_string(r->pool, who->name) : "null",
        ",\"user\":", audit_string(r->pool, st->granted
                                             ? st->granted->res.user : NULL),
        ",\"reason\":", audit_string(r->pool, reason),
        ",\"credential\":", st->granted ? audit_credential(r->pool, st->data)
                                         : "null",
        "}\n", NULL);
    len = strlen(line);
    apr_file_write(sc->audit_fd, line, &len);
    return OK;
}

/* ----------------------------------------------------------------------
 * Require auth-scheme NAME...  /  Require auth-scope SCOPE...
 */

static const char *scheme_parse_config(cmd_parms *cmd,
                                       const char *require_line,
                                       const void **parsed)
{
    const char *t = require_line, *w;
    int n = 0;

    while ((w = ap_getword_conf(cmd->temp_pool, &t)) && w[0]) {
        if (find_provider(cmd->temp_pool, w) == NULL) {
            return apr_psprintf(cmd->pool, "Require auth-scheme: unknown "
                                "scheme '%s'; known schemes: %s", w,
                                known_schemes(cmd->temp_pool));
        }
        n++;
    }
    if (n == 0) {
        return "Require auth-scheme needs at least one scheme name";
    }
    return NULL;
}

static authz_status scheme_check_authorization(request_rec *r,
                                               const char *require_line,
                                               const void *parsed)
{
    const chain_state *st = find_state(r);
    const char *t = require_line, *w;

    if (r->user == NULL || st == NULL || st->granted == NULL) {
        return AUTHZ_DENIED_NO_USER;
    }
    while ((w = ap_getword_conf(r->pool, &t)) && w[0]) {
        if (strcmp(w, st->granted->name) == 0) {
            return AUTHZ_GRANTED;
        }
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AC_LOGNO(0008)
                  "user '%s' authenticated by scheme %s, not by one of: %s",
                  ap_escape_logitem(r->pool, r->user), st->granted->name,
                  require_line);
    return AUTHZ_DENIED;
}

/* The scopes of `Require auth-scope` per server and <Location> path, for
 * RFC 9728's scopes_supported (auth_chain_scopes_at); made anew with each
 * reading of the configuration. */
static apr_hash_t *scopes_by_section;

static int chain_pre_config(apr_pool_t *pconf, apr_pool_t *plog,
                            apr_pool_t *ptemp)
{
    scopes_by_section = apr_hash_make(pconf);
    return OK;
}

static const char *section_key(apr_pool_t *p, server_rec *s,
                               const char *path)
{
    apr_size_t n = strlen(path);

    if (n > 1 && path[n - 1] == '/') {          /* /api/ is /api */
        n--;
    }
    return apr_psprintf(p, "%pp %.*s", (void *)s, (int)n, path);
}

/* Note the scopes of a Require line written (maybe within <RequireAll>
 * and the like) in a <Location> with a plain path. */
static void note_scopes(cmd_parms *cmd, const char *scopes)
{
    const ap_directive_t *d = cmd->directive->parent;
    const char *key, *had;

    while (d && strncasecmp(d->directive, "<Require", 8) == 0) {
        d = d->parent;
    }
    if (d == NULL || strcasecmp(d->directive, "<Location") != 0
        || d->args[0] == '~' || cmd->path == NULL || scopes_by_section == NULL) {
        return;
    }
    key = section_key(cmd->pool, cmd->server, cmd->path);
    had = apr_hash_get(scopes_by_section, key, APR_HASH_KEY_STRING);
    apr_hash_set(scopes_by_section, key, APR_HASH_KEY_STRING,
                 had ? ac_scopes_union(cmd->pool, had, scopes) : scopes);
}

static const char *auth_chain_scopes_at(apr_pool_t *p, server_rec *s,
                                        const char *path)
{
    return scopes_by_section == NULL ? NULL
           : apr_hash_get(scopes_by_section, section_key(p, s, path),
                          APR_HASH_KEY_STRING);
}

static const char *scope_parse_config(cmd_parms *cmd,
                                      const char *require_line,
                                      const void **parsed)
{
    const char *t = require_line, *w;
    apr_array_header_t *words = apr_array_make(cmd->pool, 2,
                                               sizeof(const char *));

    while ((w = ap_getword_conf(cmd->pool, &t)) && w[0]) {
        APR_ARRAY_PUSH(words, const char *) = w;
    }
    if (words->nelts == 0) {
        return "Require auth-scope needs at least one scope";
    }
    *parsed = apr_array_pstrcat(cmd->pool, words, ' ');
    note_scopes(cmd, *parsed);
    return NULL;
}

static authz_status scope_check_authorization(request_rec *r,
                                              const char *require_line,
                                              const void *parsed)
{
    chain_state *st = find_state(r);
    const char *wanted = parsed;

    if (r->user == NULL || st == NULL || st->granted == NULL) {
        return AUTHZ_DENIED_NO_USER;
    }
    if (ac_scopes_intersect(st->granted->res.scopes, wanted)) {
        return AUTHZ_GRANTED;
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AC_LOGNO(0009)
                  "user '%s' (scheme %s) has none of the scopes: %s",
                  ap_escape_logitem(r->pool, r->user), st->granted->name,
                  wanted);
    if (state_of(r) == st) {
        st->scope_wanted = wanted;
    }
    return AUTHZ_DENIED;
}

static const authz_provider authz_scheme_provider = {
    &scheme_check_authorization,
    &scheme_parse_config,
};

static const authz_provider authz_scope_provider = {
    &scope_check_authorization,
    &scope_parse_config,
};

/* ----------------------------------------------------------------------
 * The `basic` scheme: HTTP Basic (RFC 7617) over httpd's authn providers.
 */

static auth_chain_status basic_refuse(auth_chain_result *res,
                                      const char *reason)
{
    res->reason = reason;
    return AUTH_CHAIN_DENIED;
}

/* Decode `Authorization: Basic` as DRF's BasicAuthentication does, then
 * ask the configured authn providers in order, as mod_auth_basic does: a
 * provider that does not know the user passes to the next. */
static auth_chain_status basic_authenticate(request_rec *r,
                                            auth_chain_result *res)
{
    chain_dir_conf *conf = ap_get_module_config(r->per_dir_config,
                                                &auth_chain_module);
    static const char *const default_providers[] = { "file" };
    const char *const *names = default_providers;
    int nnames = 1, i;
    ac_auth_header h;
    char *decoded, *colon;
    apr_size_t len;
    const char *name = NULL;
    authn_status rv = AUTH_USER_NOT_FOUND;

    ac_auth_header_split(apr_table_get(r->headers_in, "Authorization"), &h);
    if (!ac_auth_header_is(&h, "Basic")) {
        return AUTH_CHAIN_DECLINED;
    }
    if (h.nwords == 1) {
        return basic_refuse(res, "Invalid basic header. No credentials "
                                 "provided.");
    }
    if (h.nwords > 2) {
        return basic_refuse(res, "Invalid basic header. Credentials string "
                                 "should not contain spaces.");
    }
    if (h.credentials_len > AC_MAX_CREDENTIALS) {
        return basic_refuse(res, "Invalid basic header. Credentials string "
                                 "is too long.");
    }
    if (ac_base64_decode(r->pool, h.credentials, h.credentials_len,
                         &decoded, &len) != 0) {
        return basic_refuse(res, "Invalid basic header. Credentials not "
                                 "correctly base64 encoded.");
    }
    if (memchr(decoded, '\0', len) != NULL) {
        return basic_refuse(res, "Invalid basic header. Credentials string "
                                 "should not contain NUL characters.");
    }
    if ((colon = strchr(decoded, ':')) == NULL) {
        return basic_refuse(res, "Invalid basic header. Credentials should "
                                 "be user-id:password.");
    }
    *colon = '\0';
    res->user = decoded;

    if (conf->basic_providers->nelts > 0) {
        names = (const char *const *)conf->basic_providers->elts;
        nnames = conf->basic_providers->nelts;
    }
    for (i = 0; i < nnames; i++) {
        const authn_provider *provider;

        name = names[i];
        provider = ap_lookup_provider(AUTHN_PROVIDER_GROUP, name,
                                      AUTHN_PROVIDER_VERSION);
        if (provider == NULL || provider->check_password == NULL) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AC_LOGNO(0010)
                          "AuthChainBasicProvider: authn provider '%s' is "
                          "not loaded", name);
            rv = AUTH_GENERAL_ERROR;
            break;
        }
        /* as mod_auth_basic: mod_authn_socache reads the provider's name
         * from this note to know whose answer it may cache */
        apr_table_setn(r->notes, AUTHN_PROVIDER_NAME_NOTE, name);
        rv = provider->check_password(r, decoded, colon + 1);
        apr_table_unset(r->notes, AUTHN_PROVIDER_NAME_NOTE);
        if (rv != AUTH_USER_NOT_FOUND) {
            break;
        }
    }

    switch (rv) {
    case AUTH_GRANTED:
        res->data = apr_pstrcat(r->pool, "{\"provider\":",
                                ac_json_string(r->pool, name), "}", NULL);
        return AUTH_CHAIN_GRANTED;
    case AUTH_DENIED:
    case AUTH_USER_NOT_FOUND:
        return basic_refuse(res, "Invalid username/password.");
    default:
        res->reason = "The password store could not be read.";
        return AUTH_CHAIN_UNAVAILABLE;
    }
}

static const char *basic_challenge(request_rec *r)
{
    return ac_challenge(r, "Basic");
}

static const auth_chain_provider basic_provider = {
    "Basic",
    basic_authenticate,
    basic_challenge,
    NULL,
    /* the basic scheme's settings are those of httpd's authn providers
     * (AuthUserFile...): the password is checked again wherever httpd
     * authenticates again */
    ac_settings_of_config
};

static void register_hooks(apr_pool_t *p)
{
    AC_LOG_MODULE(auth_chain);
    chain_metrics_register(p);
    ap_hook_pre_config(chain_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    chain_throttle_register_hooks(p);
    ap_hook_open_logs(chain_open_logs, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_log_transaction(chain_audit, NULL, NULL, APR_HOOK_MIDDLE);
    APR_REGISTER_OPTIONAL_FN(auth_chain_scopes_at);
    ap_hook_check_access_ex(chain_check_access, NULL, NULL, APR_HOOK_FIRST,
                            AP_AUTH_INTERNAL_PER_CONF);
    ap_hook_check_authn(chain_check_authn, NULL, NULL, APR_HOOK_MIDDLE,
                        AP_AUTH_INTERNAL_PER_CONF);
    ap_hook_note_auth_failure(chain_note_auth_failure, NULL, NULL,
                              APR_HOOK_MIDDLE);
    ap_hook_fixups(chain_fixups, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_insert_error_filter(chain_insert_error, NULL, NULL,
                                APR_HOOK_MIDDLE);
    ap_register_output_filter(JSON_ERROR_FILTER, json_error_filter, NULL,
                              AP_FTYPE_CONTENT_SET);

    ap_register_provider(p, AUTH_CHAIN_PROVIDER_GROUP, "basic",
                         AUTH_CHAIN_PROVIDER_VERSION, &basic_provider);
    ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, "auth-scheme",
                              AUTHZ_PROVIDER_VERSION, &authz_scheme_provider,
                              AP_AUTH_INTERNAL_PER_CONF);
    ap_register_auth_provider(p, AUTHZ_PROVIDER_GROUP, "auth-scope",
                              AUTHZ_PROVIDER_VERSION, &authz_scope_provider,
                              AP_AUTH_INTERNAL_PER_CONF);
}

AP_DECLARE_MODULE(auth_chain) = {
    STANDARD20_MODULE_STUFF,
    create_chain_dir_config,
    merge_chain_dir_config,
    create_chain_srv_config,
    merge_chain_srv_config,
    chain_cmds,
    register_hooks
};
