/* Licensed under the Apache License, Version 2.0.
 *
 * mod_authn_session -- the `session` scheme of AuthType Chain: Django REST
 * framework's SessionAuthentication for httpd.  The user is read from
 * httpd's mod_session (through its optional functions, so any store
 * works: mod_session_cookie with mod_session_crypto, mod_session_dbd), by
 * default under the key mod_auth_form writes (`<AuthName>-user`), so that a
 * mod_auth_form login page and the API share one session.  Requests that
 * the session authenticates and whose method is unsafe must pass a CSRF
 * check: a double-submit token (a cookie this module sets, echoed in a
 * header) and, on HTTPS, a same-origin Origin or Referer.
 *
 * Two things this module needs to know about a location are configured by
 * other modules: whether its `AuthChain` names `session` (mod_auth_chain),
 * and which session store applies there (mod_session_cookie,
 * mod_session_crypto).  httpd hands a directive to every module that
 * defines it, so this module defines those directives too and records, in
 * its own per-directory configuration, where they were set (never their
 * values); httpd then merges that record exactly as it merges the owners'
 * settings.  The handlers return DECLINE_CMD, leaving the directive to its
 * owner.
 */

#include "apr_optional.h"
#include "apr_strings.h"
#include "apr_time.h"
#include "apr_encode.h"

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_cookies.h"
#include "ap_provider.h"

#include "mod_session.h"

#include <openssl/rand.h>

#include "mod_auth_chain.h"
#include "ac_common.h"
#include "ac_conf.h"
#include "ac_request.h"

module AP_MODULE_DECLARE_DATA authn_session_module;

#define DEFAULT_CSRF_COOKIE "csrftoken"
#define DEFAULT_CSRF_HEADER "X-CSRFToken"
/* 256 bits from the CSPRNG, AC_CSRF_TOKEN_LENGTH characters of unpadded
 * base64url */
#define CSRF_TOKEN_BYTES 32
/* as Django's CSRF_COOKIE_AGE: one year */
#define CSRF_COOKIE_MAX_AGE 31449600
/* r->notes of the initial request: a CSRF cookie was issued already */
#define CSRF_ISSUED_NOTE "authn-session-csrf-issued"
/* the longest Origin or Referer origin that a 403 reason repeats */
#define MAX_ECHO 200

/* Each setting with its `_set` flag (ac_conf.h). */
typedef struct {
    const char *user_key;
    const char *csrf_cookie;
    const char *csrf_header;
    const char *challenge;              /* the scheme word, NULL: none */
    apr_array_header_t *export_keys;    /* const char * */
    int trust_plain;
    /* recorded from other modules' directives (see the top of the file) */
    int chain_session;                  /* AuthChain names session */
    ac_conf_place chain_at;
    ac_conf_place cookie_at;               /* SessionCookieName */
    ac_conf_place cookie2_at;              /* SessionCookieName2 */
    ac_conf_place crypto_at;               /* SessionCryptoPassphrase(File) */
    unsigned char user_key_set, csrf_cookie_set, csrf_header_set,
        challenge_set, export_keys_set, trust_plain_set, chain_session_set,
        cookie_at_set, cookie2_at_set, crypto_at_set;
} session_dir_conf_t;

/* mod_session's functions, when it is loaded. */
static APR_OPTIONAL_FN_TYPE(ap_session_load) *session_load_fn = NULL;
static APR_OPTIONAL_FN_TYPE(ap_session_get) *session_get_fn = NULL;

/* The first `AuthChain ... session` of the configuration being read
 * (reset in pre_config), for the start-up check that mod_session is
 * loaded. */
static ac_conf_place first_chain_session;

static void *create_session_dir_config(apr_pool_t *p, char *dir)
{
    session_dir_conf_t *conf = apr_pcalloc(p, sizeof(*conf));

    conf->csrf_cookie = DEFAULT_CSRF_COOKIE;
    conf->csrf_header = DEFAULT_CSRF_HEADER;
    conf->export_keys = apr_array_make(p, 2, sizeof(const char *));
    return conf;
}

/* ----------------------------------------------------------------------
 * Directives
 */

static const char *check_user_key(cmd_parms *cmd, const char *arg)
{
    return *arg == '\0' ? "AuthSessionUserKey: the key cannot be empty"
                        : NULL;
}

static const char *set_challenge(cmd_parms *cmd, void *dconf, const char *arg)
{
    session_dir_conf_t *conf = dconf;

    if (strcasecmp(arg, "None") == 0) {
        conf->challenge = NULL;
    }
    else if (ac_is_http_token(arg)) {
        conf->challenge = arg;
    }
    else {
        return apr_psprintf(cmd->pool, "AuthSessionChallenge: '%s' is not an "
                            "HTTP authentication scheme name (or None)", arg);
    }
    conf->challenge_set = 1;
    return NULL;
}

/* Whether a session key holds a password: mod_auth_form's `<AuthName>-pw`
 * (in plaintext), or mod_session's `pw`.  Compared without case, as
 * mod_session's table does. */
static int is_password_key(const char *key)
{
    apr_size_t len = strlen(key);

    return strcasecmp(key, MOD_SESSION_PW) == 0
           || (len >= 3 && strcasecmp(key + len - 3, "-" MOD_SESSION_PW) == 0);
}

static const char *add_export_key(cmd_parms *cmd, void *dconf,
                                  const char *arg)
{
    session_dir_conf_t *conf = dconf;

    if (*arg == '\0') {
        return "AuthSessionExportKeys: a key cannot be empty";
    }
    if (is_password_key(arg)) {
        return apr_psprintf(cmd->pool, "AuthSessionExportKeys: '%s' holds a "
                            "password (mod_auth_form stores <AuthName>-pw in "
                            "plaintext) and is never exported", arg);
    }
    if (!conf->export_keys_set) {
        conf->export_keys = apr_array_make(cmd->pool, 4,
                                           sizeof(const char *));
        conf->export_keys_set = 1;
    }
    APR_ARRAY_PUSH(conf->export_keys, const char *) = arg;
    return NULL;
}

/* A recorder of another module's directive: fails as httpd would if that
 * module is not loaded (the directive would not exist without us). */
static const char *owner_missing(cmd_parms *cmd, const char *owner)
{
    if (ap_find_linked_module(owner) != NULL) {
        return NULL;
    }
    return apr_psprintf(cmd->pool, "Invalid command '%s', perhaps misspelled "
                        "or defined by a module not included in the server "
                        "configuration (%s is not loaded)", cmd->cmd->name,
                        owner);
}

/* `AuthChain ...`: remember whether it names session.  Several lines in
 * one section add up, as they do for mod_auth_chain. */
static const char *record_chain(cmd_parms *cmd, void *dconf, const char *args)
{
    session_dir_conf_t *conf = dconf;
    const char *err = owner_missing(cmd, "mod_auth_chain.c");
    const char *w;
    int named = 0;

    if (err != NULL) {
        return err;
    }
    while (*(w = ap_getword_conf(cmd->temp_pool, &args)) != '\0') {
        if (strcmp(w, "session") == 0) {
            named = 1;
        }
    }
    if (named) {
        conf->chain_session = 1;
        conf->chain_at = ac_place_of(cmd);
    }
    else if (!conf->chain_session_set) {
        conf->chain_session = 0;
    }
    conf->chain_session_set = 1;
    /* only while httpd reads its configuration: .htaccess files are read
     * per request, from request pools */
    if (named && first_chain_session.file == NULL
        && ap_state_query(AP_SQ_MAIN_STATE) != AP_SQ_MS_RUN_MPM) {
        first_chain_session = conf->chain_at;
    }
    return DECLINE_CMD;
}

static const char *record_cookie(cmd_parms *cmd, void *dconf, const char *args)
{
    session_dir_conf_t *conf = dconf;
    const char *err = owner_missing(cmd, "mod_session_cookie.c");

    if (err != NULL) {
        return err;
    }
    if (cmd->info != NULL) {
        conf->cookie2_at = ac_place_of(cmd);
        conf->cookie2_at_set = 1;
    }
    else {
        conf->cookie_at = ac_place_of(cmd);
        conf->cookie_at_set = 1;
    }
    return DECLINE_CMD;
}

static const char *record_crypto(cmd_parms *cmd, void *dconf, const char *args)
{
    session_dir_conf_t *conf = dconf;
    const char *err = owner_missing(cmd, "mod_session_crypto.c");

    if (err != NULL) {
        return err;
    }
    conf->crypto_at = ac_place_of(cmd);
    conf->crypto_at_set = 1;
    return DECLINE_CMD;
}

static const command_rec session_cmds[] = {
    AC_INIT_STRING("AuthSessionUserKey", session_dir_conf_t, user_key,
                   check_user_key, OR_AUTHCFG,
                   "the session key holding the user (default "
                   "<AuthName>-user, as mod_auth_form writes it)"),
    AC_INIT_TOKEN("AuthSessionCSRFCookie", session_dir_conf_t, csrf_cookie,
                  "a cookie name", OR_AUTHCFG,
                  "the name of the CSRF cookie (default csrftoken)"),
    AC_INIT_TOKEN("AuthSessionCSRFHeader", session_dir_conf_t, csrf_header,
                  "an HTTP header name", OR_AUTHCFG,
                  "the header that must echo the CSRF cookie (default "
                  "X-CSRFToken)"),
    AP_INIT_TAKE1("AuthSessionChallenge", set_challenge, NULL, OR_AUTHCFG,
                  "the scheme word of a WWW-Authenticate challenge, e.g. "
                  "Session (default None)"),
    AP_INIT_ITERATE("AuthSessionExportKeys", add_export_key, NULL, OR_AUTHCFG,
                    "session keys copied into the auth data"),
    AC_INIT_FLAG("AuthSessionTrustPlainCookie", session_dir_conf_t,
                 trust_plain, RSRC_CONF | ACCESS_CONF,
                 "On: trust an unencrypted mod_session_cookie session "
                 "(default Off)"),
    /* recorders: the same directives as their owners, with the same
     * contexts, so that they never refuse what the owner allows */
    AP_INIT_RAW_ARGS("AuthChain", record_chain, NULL, OR_AUTHCFG,
                     "the authentication schemes to try, in order"),
    AP_INIT_RAW_ARGS("SessionCookieName", record_cookie, NULL,
                     RSRC_CONF | OR_AUTHCFG,
                     "the name of the cookie carrying the session"),
    AP_INIT_RAW_ARGS("SessionCookieName2", record_cookie, "2",
                     RSRC_CONF | OR_AUTHCFG,
                     "the name of the RFC 2965 cookie carrying the session"),
    AP_INIT_RAW_ARGS("SessionCryptoPassphrase", record_crypto, NULL,
                     RSRC_CONF | OR_AUTHCFG,
                     "the passphrases encrypting the session"),
    AP_INIT_RAW_ARGS("SessionCryptoPassphraseFile", record_crypto, NULL,
                     RSRC_CONF | ACCESS_CONF,
                     "the file of the passphrases encrypting the session"),
    {NULL}
};

/* (after the table it reads) */
static void *merge_session_dir_config(apr_pool_t *p, void *basev, void *addv)
{
    session_dir_conf_t *base = basev, *add = addv;
    session_dir_conf_t *conf = apr_pcalloc(p, sizeof(*conf));

    ac_conf_merge(session_cmds, conf, base, add);
    AC_MERGE(challenge);
    AC_MERGE(export_keys);
    AC_MERGE(chain_session);
    conf->chain_at = add->chain_session_set ? add->chain_at : base->chain_at;
    AC_MERGE(cookie_at);
    AC_MERGE(cookie2_at);
    AC_MERGE(crypto_at);
    return conf;
}

/* ----------------------------------------------------------------------
 * What a configuration can be trusted with
 */

/* The SessionCookieName(2) of a plain cookie store that nothing encrypts
 * and that the administrator did not vouch for, or NULL. */
static const ac_conf_place *plain_cookie_store(const session_dir_conf_t *conf)
{
    if (conf->crypto_at_set || conf->trust_plain) {
        return NULL;
    }
    if (conf->cookie_at_set) {
        return &conf->cookie_at;
    }
    if (conf->cookie2_at_set) {
        return &conf->cookie2_at;
    }
    return NULL;
}

static const char *plain_cookie_advice =
    "a plain mod_session_cookie session can be read and forged by the "
    "client: add SessionCryptoPassphrase (mod_session_crypto) where the "
    "cookie is configured, or use mod_session_dbd, or, only if something "
    "else protects the cookie, set AuthSessionTrustPlainCookie On";

/* ----------------------------------------------------------------------
 * The CSRF cookie
 */

static int is_chain_request(request_rec *r)
{
    const char *type = ap_auth_type(r);

    return type != NULL && strcasecmp(type, "Chain") == 0;
}

static int is_https(request_rec *r)
{
    return strcmp(ap_http_scheme(r), "https") == 0;
}

static request_rec *initial_request(request_rec *r)
{
    while (r->main || r->prev) {
        r = r->main ? r->main : r->prev;
    }
    return r;
}

/* The CSRF cookie the request carries, when it is one of ours: once, and
 * 43 characters of base64url.  NULL otherwise. */
static const char *csrf_cookie_of(request_rec *r,
                                  const session_dir_conf_t *conf)
{
    const char *v = NULL;

    if (ap_cookie_read(r, conf->csrf_cookie, &v, 0) != APR_SUCCESS
        || !ac_csrf_token_valid(v)) {
        return NULL;
    }
    return v;
}

/* header_parser: under a location whose chain names session, a response
 * to a request that did not carry a CSRF cookie sets one (on any status:
 * err_headers_out).  Its value is fresh CSPRNG output, unrelated to any
 * session.  Not HttpOnly: the page's script must read it to echo it. */
static int session_header_parser(request_rec *r)
{
    session_dir_conf_t *conf = ap_get_module_config(r->per_dir_config,
                                                    &authn_session_module);
    request_rec *initial = initial_request(r);
    unsigned char raw[CSRF_TOKEN_BYTES];
    const char *token;

    if (!conf->chain_session || !is_chain_request(r)
        || apr_table_get(initial->notes, CSRF_ISSUED_NOTE) != NULL
        || csrf_cookie_of(r, conf) != NULL) {
        return DECLINED;
    }
    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AC_LOGNO(0401)
                      "session: the CSPRNG failed; no CSRF cookie issued");
        return DECLINED;
    }
    token = apr_pencode_base64(r->pool, (const char *)raw, sizeof(raw),
                               APR_ENCODE_BASE64URL, NULL);
    apr_table_addn(r->err_headers_out, "Set-Cookie",
                   apr_psprintf(r->pool, "%s=%s; Path=/; Max-Age=%d; "
                                "SameSite=Lax%s", conf->csrf_cookie, token,
                                CSRF_COOKIE_MAX_AGE,
                                is_https(r) ? "; Secure" : ""));
    apr_table_setn(initial->notes, CSRF_ISSUED_NOTE, "1");
    return DECLINED;
}

/* ----------------------------------------------------------------------
 * The CSRF check
 */

/* This request's own origin, as a browser on this site would send it. */
static const char *own_origin(request_rec *r)
{
    return ac_url_origin(r->pool, ap_construct_url(r->pool, "/", r));
}

/* A client-supplied value, as a 403 reason may repeat it: short, and
 * nothing that HTML or a log line would read as markup or a new line. */
static const char *echo(apr_pool_t *p, const char *v)
{
    const char *c;

    if (strlen(v) > MAX_ECHO) {
        return "(too long)";
    }
    for (c = v; *c; c++) {
        if (*c < 0x21 || *c > 0x7e || strchr("<>\"'&\\", *c) != NULL) {
            return "(malformed)";
        }
    }
    return apr_pstrdup(p, v);
}

/* The reason an unsafe request fails the CSRF check (DRF's wording), or
 * NULL when it passes.  On HTTPS first the origin, as Django does: the
 * Origin header when present, else the Referer's origin. */
static const char *csrf_failure(request_rec *r, const session_dir_conf_t *conf)
{
    const char *cookie, *header;

    if (is_https(r)) {
        const char *ours = own_origin(r);
        const char *origin = apr_table_get(r->headers_in, "Origin");
        const char *referer = apr_table_get(r->headers_in, "Referer");

        if (origin != NULL) {
            const char *theirs = ac_url_origin(r->pool, origin);

            if (theirs == NULL || ours == NULL || strcmp(theirs, ours) != 0) {
                return apr_psprintf(r->pool, "Origin checking failed - %s "
                                    "does not match any trusted origins.",
                                    echo(r->pool, origin));
            }
        }
        else {
            const char *theirs;

            if (referer == NULL || *referer == '\0') {
                return "Referer checking failed - no Referer.";
            }
            if ((theirs = ac_url_origin(r->pool, referer)) == NULL) {
                return "Referer checking failed - Referer is malformed.";
            }
            if (strncmp(theirs, "https://", 8) != 0) {
                return "Referer checking failed - Referer is insecure while "
                       "host is secure.";
            }
            if (ours == NULL || strcmp(theirs, ours) != 0) {
                /* the Referer's origin only: its path may hold secrets */
                return apr_psprintf(r->pool, "Referer checking failed - %s "
                                    "does not match any trusted origins.",
                                    echo(r->pool, theirs));
            }
        }
    }

    if ((cookie = csrf_cookie_of(r, conf)) == NULL) {
        return "CSRF cookie not set.";
    }
    header = apr_table_get(r->headers_in, conf->csrf_header);
    if (header == NULL || *header == '\0') {
        return "CSRF token missing.";
    }
    /* the length is public (every token has 43 characters); the content
     * is compared in constant time */
    if (strlen(header) != AC_CSRF_TOKEN_LENGTH
        || !ac_ct_equal(header, cookie, AC_CSRF_TOKEN_LENGTH)) {
        return "CSRF token incorrect.";
    }
    return NULL;
}

static int is_safe_method(request_rec *r)
{
    /* HEAD is M_GET with header_only */
    return r->method_number == M_GET || r->method_number == M_OPTIONS
           || r->method_number == M_TRACE;
}

/* ----------------------------------------------------------------------
 * The scheme
 */

static const char *user_key_of(request_rec *r, const session_dir_conf_t *conf)
{
    const char *realm;

    if (conf->user_key != NULL) {
        return conf->user_key;
    }
    realm = ap_auth_name(r);
    return realm ? apr_pstrcat(r->pool, realm, "-" MOD_SESSION_USER, NULL)
                 : MOD_SESSION_USER;
}

/* {"expires":...} and, with AuthSessionExportKeys, "keys":{...} holding
 * the listed keys that the session has.  Passwords are never copied: no
 * `pw` or `*-pw` key (refused at start-up too), nor mod_auth_form's
 * `<AuthName>-site`, a hash of the password. */
static const char *auth_data(request_rec *r, const session_dir_conf_t *conf,
                             session_rec *z)
{
    const char *data = apr_pstrcat(r->pool, "{\"expires\":",
                                   ac_json_epoch(r->pool,
                                                 apr_time_sec(z->expiry)),
                                   NULL);
    const char *realm = ap_auth_name(r);
    const char *site = realm ? apr_pstrcat(r->pool, realm, "-site", NULL)
                             : NULL;
    apr_array_header_t *members;
    int i;

    if (!conf->export_keys_set) {
        return apr_pstrcat(r->pool, data, "}", NULL);
    }
    members = apr_array_make(r->pool, conf->export_keys->nelts,
                             sizeof(const char *));
    for (i = 0; i < conf->export_keys->nelts; i++) {
        const char *key = APR_ARRAY_IDX(conf->export_keys, i, const char *);
        const char *value = NULL;

        if (is_password_key(key) || (site && strcasecmp(key, site) == 0)) {
            continue;
        }
        if (session_get_fn(r, z, key, &value) != APR_SUCCESS
            || value == NULL) {
            continue;
        }
        APR_ARRAY_PUSH(members, const char *) =
            apr_pstrcat(r->pool, ac_json_string(r->pool, key), ":",
                        ac_json_string(r->pool, value), NULL);
    }
    return apr_pstrcat(r->pool, data, ",\"keys\":{",
                       apr_array_pstrcat(r->pool, members, ','), "}}", NULL);
}

/* Decide for this request.  DECLINED without a usable session: none, an
 * empty one, an expired one, one mod_session could not decode (a tampered
 * or foreign cookie), one without the user key, or one from a store that
 * cannot be trusted.  GRANTED with the session's user; FORBIDDEN when the
 * session authenticated an unsafe request that fails the CSRF check. */
static auth_chain_status session_authenticate(request_rec *r,
                                              auth_chain_result *res)
{
    session_dir_conf_t *conf = ap_get_module_config(r->per_dir_config,
                                                    &authn_session_module);
    const ac_conf_place *plain;
    session_rec *z = NULL;
    const char *user = NULL, *failure;
    apr_status_t rv;

    if (session_load_fn == NULL || session_get_fn == NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AC_LOGNO(0402)
                      "session: mod_session is not loaded; no session is "
                      "read for %s", r->uri);
        return AUTH_CHAIN_DECLINED;
    }
    /* what start-up could not see (.htaccess, overlapping sections) */
    if ((plain = plain_cookie_store(conf)) != NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AC_LOGNO(0403)
                      "session: not trusting the session of %s, a plain "
                      "cookie (SessionCookieName at %s:%d): %s", r->uri,
                      plain->file, plain->line, plain_cookie_advice);
        return AUTH_CHAIN_DECLINED;
    }
    rv = session_load_fn(r, &z);
    if (rv != APR_SUCCESS) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, rv, r, AC_LOGNO(0404)
                      "session: the session could not be read or decoded "
                      "(tampered, expired in its store, or encrypted with "
                      "another passphrase); treated as no session");
        return AUTH_CHAIN_DECLINED;
    }
    if (z == NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, AC_LOGNO(0405)
                      "session: mod_session is not enabled for %s", r->uri);
        return AUTH_CHAIN_DECLINED;
    }
    if (z->expiry != 0 && z->expiry < apr_time_now()) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AC_LOGNO(0406)
                      "session: the session expired; treated as no session");
        return AUTH_CHAIN_DECLINED;
    }
    /* an undecodable session (a tampered or foreign cookie) is an empty
     * one by now: mod_session logged why */
    if (session_get_fn(r, z, user_key_of(r, conf), &user) != APR_SUCCESS
        || user == NULL || *user == '\0') {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, AC_LOGNO(0407)
                      "session: no user under the session key '%s'",
                      user_key_of(r, conf));
        return AUTH_CHAIN_DECLINED;
    }

    res->user = user;
    if (!is_safe_method(r) && (failure = csrf_failure(r, conf)) != NULL) {
        res->reason = apr_pstrcat(r->pool, "CSRF Failed: ", failure, NULL);
        return AUTH_CHAIN_FORBIDDEN;
    }
    res->data = auth_data(r, conf, z);
    return AUTH_CHAIN_GRANTED;
}

static const char *session_challenge(request_rec *r)
{
    session_dir_conf_t *conf = ap_get_module_config(r->per_dir_config,
                                                    &authn_session_module);

    return conf->challenge ? ac_challenge(r, conf->challenge) : NULL;
}

static const auth_chain_provider session_provider = {
    "Session",
    session_authenticate,
    session_challenge,
    NULL,
    /* the answer depends on mod_session's settings too (which cookie,
     * which passphrase): asked again in every other configuration */
    ac_settings_of_config
};

/* ----------------------------------------------------------------------
 * The start-up check
 *
 * httpd merges per-directory configuration per request; at start-up there
 * is no request, so the check merges what it can know without one: for
 * each server, its defaults with each section, where a <Location> also
 * gets the <Location>s whose path is a prefix of its own (in
 * configuration order) and a <Directory> its parent <Directory>s and the
 * <Location />s; <Files> and <If> nested in a section get that section.
 * Regex sections stand on their own.
 */

typedef struct {
    session_dir_conf_t *ours;
    void *session;                      /* mod_session's session_dir_conf */
} effective_conf;

typedef struct {
    apr_pool_t *p;
    server_rec *s;
    module *session_mod;
    const char *error;                  /* the first refusal */
} startup_check;

static effective_conf fold(startup_check *c, effective_conf e,
                           ap_conf_vector_t *v)
{
    session_dir_conf_t *ours = ap_get_module_config(v, &authn_session_module);

    if (ours != NULL) {
        e.ours = e.ours ? merge_session_dir_config(c->p, e.ours, ours) : ours;
    }
    if (c->session_mod != NULL) {
        void *add = ap_get_module_config(v, c->session_mod);

        if (add != NULL) {
            e.session = (e.session && c->session_mod->merge_dir_config)
                        ? c->session_mod->merge_dir_config(c->p, e.session,
                                                           add)
                        : add;
        }
    }
    return e;
}

static const char *server_name_of(apr_pool_t *p, server_rec *s)
{
    if (s->defn_name != NULL) {
        return apr_psprintf(p, "the virtual host at %s:%d", s->defn_name,
                            s->defn_line_number);
    }
    return "the main server";
}

static void check_effective(startup_check *c, effective_conf e,
                            const char *section)
{
    const session_dir_conf_t *ours = e.ours;
    const session_dir_conf *sess = e.session;
    const ac_conf_place *plain;

    if (c->error != NULL || ours == NULL || !ours->chain_session
        || sess == NULL || !sess->enabled
        || (plain = plain_cookie_store(ours)) == NULL) {
        return;
    }
    c->error = apr_psprintf(c->p, "AuthChain names session (%s:%d) for %s of "
                            "%s, where the session is a plain "
                            "mod_session_cookie cookie (SessionCookieName at "
                            "%s:%d) without SessionCryptoPassphrase: %s",
                            ours->chain_at.file, ours->chain_at.line, section,
                            server_name_of(c->p, c->s), plain->file,
                            plain->line, plain_cookie_advice);
}

static const char *section_name(apr_pool_t *p, const char *kind,
                                const core_dir_config *core)
{
    return apr_psprintf(p, "<%s%s %s>", kind, core->r ? "Match" : "",
                        core->d ? core->d : "");
}

/* <Files> and <If> sections nested in a section (or at server level). */
static void check_nested(startup_check *c, effective_conf e,
                         ap_conf_vector_t *v)
{
    core_dir_config *core = ap_get_core_module_config(v);
    int i;

    if (core == NULL) {
        return;
    }
    for (i = 0; core->sec_file && i < core->sec_file->nelts; i++) {
        ap_conf_vector_t *f = APR_ARRAY_IDX(core->sec_file, i,
                                            ap_conf_vector_t *);
        effective_conf fe = fold(c, e, f);

        check_effective(c, fe, section_name(c->p, "Files",
                                            ap_get_core_module_config(f)));
        check_nested(c, fe, f);
    }
    for (i = 0; core->sec_if && i < core->sec_if->nelts; i++) {
        ap_conf_vector_t *f = APR_ARRAY_IDX(core->sec_if, i,
                                            ap_conf_vector_t *);
        effective_conf fe = fold(c, e, f);

        check_effective(c, fe, "an <If> section");
        check_nested(c, fe, f);
    }
}

/* `e` with the <Location /> sections of the server folded in. */
static effective_conf fold_location_root(startup_check *c, effective_conf e,
                                         const core_server_config *sconf)
{
    int i;

    for (i = 0; i < sconf->sec_url->nelts; i++) {
        ap_conf_vector_t *u = APR_ARRAY_IDX(sconf->sec_url, i,
                                            ap_conf_vector_t *);
        core_dir_config *uc = ap_get_core_module_config(u);

        if (ac_section_is_plain(u) && strcmp(uc->d, "/") == 0) {
            e = fold(c, e, u);
        }
    }
    return e;
}

static void check_server(startup_check *c, server_rec *s)
{
    core_server_config *sconf = ap_get_core_module_config(s->module_config);
    effective_conf base = { NULL, NULL };
    effective_conf root;
    int i, j;

    c->s = s;
    base = fold(c, base, s->lookup_defaults);
    check_nested(c, base, s->lookup_defaults);

    /* <Location />: applies to every URL, so to every <Directory> too */
    root = fold_location_root(c, base, sconf);

    for (i = 0; i < sconf->sec_url->nelts; i++) {
        ap_conf_vector_t *v = APR_ARRAY_IDX(sconf->sec_url, i,
                                            ap_conf_vector_t *);
        core_dir_config *vc = ap_get_core_module_config(v);
        effective_conf e = base;

        if (ac_section_is_plain(v)) {
            for (j = 0; j < sconf->sec_url->nelts; j++) {
                ap_conf_vector_t *u = APR_ARRAY_IDX(sconf->sec_url, j,
                                                    ap_conf_vector_t *);
                core_dir_config *uc = ap_get_core_module_config(u);

                if (u == v || (ac_section_is_plain(u)
                               && ac_location_covers(uc->d, vc->d))) {
                    e = fold(c, e, u);
                }
            }
        }
        else {
            e = fold(c, root, v);
        }
        check_effective(c, e, section_name(c->p, "Location", vc));
        check_nested(c, e, v);
    }

    for (i = 0; i < sconf->sec_dir->nelts; i++) {
        ap_conf_vector_t *v = APR_ARRAY_IDX(sconf->sec_dir, i,
                                            ap_conf_vector_t *);
        core_dir_config *vc = ap_get_core_module_config(v);
        effective_conf e = base;

        if (ac_section_is_plain(v)) {
            for (j = 0; j < sconf->sec_dir->nelts; j++) {
                ap_conf_vector_t *u = APR_ARRAY_IDX(sconf->sec_dir, j,
                                                    ap_conf_vector_t *);
                core_dir_config *uc = ap_get_core_module_config(u);

                if (u != v && ac_section_is_plain(u)
                    && strncmp(uc->d, vc->d, strlen(uc->d)) == 0) {
                    e = fold(c, e, u);
                }
            }
        }
        e = fold(c, e, v);
        /* then what every URL gets */
        e = fold_location_root(c, e, sconf);
        check_effective(c, e, section_name(c->p, "Directory", vc));
        check_nested(c, e, v);
    }
}

static void session_retrieve_functions(void)
{
    session_load_fn = APR_RETRIEVE_OPTIONAL_FN(ap_session_load);
    session_get_fn = APR_RETRIEVE_OPTIONAL_FN(ap_session_get);
}

static int session_pre_config(apr_pool_t *pconf, apr_pool_t *plog,
                              apr_pool_t *ptemp)
{
    first_chain_session.file = NULL;
    first_chain_session.line = 0;
    return OK;
}

/* post_config: refuse to start when a chain names session but mod_session
 * is not loaded, or where the session would come from a cookie that the
 * client can forge (see "The start-up check" above). */
static int session_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                               apr_pool_t *ptemp, server_rec *s)
{
    startup_check c;
    server_rec *vs;

    session_retrieve_functions();
    if (first_chain_session.file == NULL) {
        return OK;
    }
    if (session_load_fn == NULL || session_get_fn == NULL) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, AC_LOGNO(0410)
                     "AuthChain names session (%s:%d) but mod_session is not "
                     "loaded: load session_module and a store "
                     "(session_cookie with session_crypto, or session_dbd)",
                     first_chain_session.file, first_chain_session.line);
        return HTTP_INTERNAL_SERVER_ERROR;
    }

    memset(&c, 0, sizeof(c));
    c.p = ptemp;
    c.session_mod = ap_find_linked_module("mod_session.c");
    for (vs = s; vs != NULL && c.error == NULL; vs = vs->next) {
        check_server(&c, vs);
    }
    if (c.error != NULL) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, AC_LOGNO(0411) "%s",
                     c.error);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

static void register_hooks(apr_pool_t *p)
{
    AC_LOG_MODULE(authn_session);
    ap_hook_pre_config(session_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(session_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_optional_fn_retrieve(session_retrieve_functions, NULL, NULL,
                                 APR_HOOK_MIDDLE);
    ap_hook_header_parser(session_header_parser, NULL, NULL, APR_HOOK_MIDDLE);
    ap_register_provider(p, AUTH_CHAIN_PROVIDER_GROUP, "session",
                         AUTH_CHAIN_PROVIDER_VERSION, &session_provider);
}

AP_DECLARE_MODULE(authn_session) = {
    STANDARD20_MODULE_STUFF,
    create_session_dir_config,
    merge_session_dir_config,
    NULL,
    NULL,
    session_cmds,
    register_hooks
};
