/* Licensed under the Apache License, Version 2.0.
 *
 * config.c -- mod_authn_oauth2's configuration: the per-directory
 * settings, their directives (declared with ac_conf where they set one
 * field), merging, and the start-up check that every section with issuers
 * names its audience.
 */

#include "apr_strings.h"

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"

#include "ac_common.h"
#include "ac_conf.h"
#include "ac_http.h"
#include "ac_pg.h"
#include "oauth2.h"

APLOG_USE_MODULE(authn_oauth2);

#define DEFAULT_LEEWAY 30
#define DEFAULT_JWKS_REFRESH 3600
#define DEFAULT_FETCH_TIMEOUT apr_time_from_sec(3)
#define DEFAULT_DB_TIMEOUT apr_time_from_sec(2)
#define DEFAULT_CACHE_TTL 60
#define DEFAULT_DPOP_MAX_AGE 60

#define DEFAULT_JWKS_REFRESH_MIN 60
#define DEFAULT_JWKS_REFRESH_MAX 86400
#define DEFAULT_DISCOVERY_REFRESH 3600

void *oauth2_create_srv_config(apr_pool_t *p, server_rec *s)
{
    oauth2_srv_conf *sconf = apr_pcalloc(p, sizeof(*sconf));

    sconf->jwks_refresh_min = DEFAULT_JWKS_REFRESH_MIN;
    sconf->jwks_refresh_max = DEFAULT_JWKS_REFRESH_MAX;
    sconf->discovery_refresh = DEFAULT_DISCOVERY_REFRESH;
    return sconf;
}

void *oauth2_create_dir_config(apr_pool_t *p, char *dir)
{
    oauth2_dir_conf *conf = apr_pcalloc(p, sizeof(*conf));

    conf->algs = 0;                 /* 0: the per-issuer default */
    conf->leeway = DEFAULT_LEEWAY;
    conf->jwks_refresh = DEFAULT_JWKS_REFRESH;
    conf->timeout = DEFAULT_FETCH_TIMEOUT;
    conf->schema = SCHEMA_DOT;
    conf->db_timeout = DEFAULT_DB_TIMEOUT;
    conf->user_claim = "sub";
    conf->cache_ttl = DEFAULT_CACHE_TTL;
    conf->dpop = DPOP_OFF;
    conf->dpop_algs = AC_JOSE_ALGS_ASYMMETRIC;
    conf->dpop_max_age = DEFAULT_DPOP_MAX_AGE;
    /* the layout of the tables of an AuthOAuth2DB written here */
    conf->detected = apr_pcalloc(p, sizeof(*conf->detected));
    return conf;
}

/* ----------------------------------------------------------------------
 * Directives
 */

/* The issuer `iss` of this section, created when new. */
static oauth2_issuer *section_issuer(cmd_parms *cmd, oauth2_dir_conf *conf,
                                     const char *iss)
{
    oauth2_issuer *is;

    if (conf->issuers == NULL) {
        conf->issuers = apr_array_make(cmd->pool, 2, sizeof(oauth2_issuer *));
    }
    if ((is = oauth2_find_issuer(conf, iss)) != NULL) {
        return is;
    }
    is = apr_pcalloc(cmd->pool, sizeof(*is));
    is->iss = apr_pstrdup(cmd->pool, iss);
    is->slot = -1;
    APR_ARRAY_PUSH(conf->issuers, oauth2_issuer *) = is;
    if (!conf->issuers_set) {
        conf->issuers_at = ac_place_of(cmd);
        conf->issuers_at_set = 1;
    }
    conf->issuers_set = 1;
    return is;
}

/* Fold a digest of key material (`what`: its kind) into the issuer's:
 * cached verdicts are told apart by the keys that judged them (oauth2_cache_id)
 * without the cache id holding the keys. */
static void issuer_absorb(oauth2_issuer *is, const char *what,
                          const void *material, apr_size_t len)
{
    ac_fp fp;

    ac_fp_begin(&fp);
    ac_fp_mem(&fp, is->keys_fp, sizeof(is->keys_fp));
    ac_fp_str(&fp, what);
    ac_fp_final(&fp, material, len, is->keys_fp);
}

typedef struct {
    cmd_parms *cmd;
    const char *file;
} skip_baton;

static void log_skipped_key(void *baton, apr_size_t index, const char *kid,
                            ac_jose_status why)
{
    skip_baton *b = baton;

    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, b->cmd->server, AC_LOGNO(0501)
                 "%s: %s: key #%" APR_SIZE_T_FMT "%s%s%s skipped: %s",
                 b->cmd->cmd->name, b->file, index, kid ? " (kid " : "",
                 kid ? ap_escape_logitem(b->cmd->temp_pool, kid) : "",
                 kid ? ")" : "", ac_jose_strerror(why));
}

/* A JWK Set or PEM public key file of the issuer, read at start-up. */
static const char *load_key_file(cmd_parms *cmd, const char *path,
                                 oauth2_issuer *is)
{
    ac_jose_keyset **out = &is->keys;
    apr_file_t *f;
    apr_finfo_t fi;
    apr_status_t rv;
    apr_size_t len;
    char *text;
    ac_jose_status st;
    skip_baton b;

    rv = apr_file_open(&f, path, APR_FOPEN_READ | APR_FOPEN_BINARY,
                       APR_OS_DEFAULT, cmd->temp_pool);
    if (rv != APR_SUCCESS) {
        char buf[120];

        return apr_psprintf(cmd->pool, "%s: cannot open the key file %s: %s",
                            cmd->cmd->name, path,
                            apr_strerror(rv, buf, sizeof(buf)));
    }
    rv = apr_file_info_get(&fi, APR_FINFO_SIZE, f);
    if (rv != APR_SUCCESS || fi.size > AC_JOSE_MAX_JWKS) {
        apr_file_close(f);
        return apr_psprintf(cmd->pool, "%s: the key file %s is larger than "
                            "%d bytes (or unreadable)", cmd->cmd->name, path,
                            AC_JOSE_MAX_JWKS);
    }
    len = (apr_size_t)fi.size;
    text = apr_palloc(cmd->temp_pool, len + 1);
    rv = apr_file_read_full(f, text, len, &len);
    apr_file_close(f);
    if (rv != APR_SUCCESS && rv != APR_EOF) {
        return apr_psprintf(cmd->pool, "%s: cannot read the key file %s",
                            cmd->cmd->name, path);
    }
    text[len] = '\0';
    issuer_absorb(is, "file", text, len);

    if (ap_strstr_c(text, "-----BEGIN") != NULL) {
        ac_jose_key *key;

        st = ac_jose_key_from_pem(cmd->pool, text, len, NULL, 0, &key);
        if (st != AC_JOSE_OK) {
            return apr_psprintf(cmd->pool, "%s: %s: %s", cmd->cmd->name,
                                path, ac_jose_strerror(st));
        }
        *out = ac_jose_keyset_make(cmd->pool);
        ac_jose_keyset_add(*out, key);
        return NULL;
    }
    b.cmd = cmd;
    b.file = path;
    st = ac_jose_jwks_parse(cmd->pool, text, len, log_skipped_key, &b, out);
    if (st != AC_JOSE_OK) {
        return apr_psprintf(cmd->pool, "%s: %s is neither a PEM public key "
                            "nor a usable JWK Set: %s", cmd->cmd->name, path,
                            ac_jose_strerror(st));
    }
    return NULL;
}

/* Anything with a scheme is a URL (and only https/loopback http pass). */
static int is_url(const char *s)
{
    return ap_strstr_c(s, "://") != NULL;
}

/* An issuer to be discovered: an https URL (http to a loopback host),
 * without query or fragment (RFC 8414 section 2). */
static const char *check_discoverable(cmd_parms *cmd, const char *iss)
{
    const char *err = ac_http_check_url(cmd->temp_pool, iss);

    if (err == NULL && strchr(iss, '?') != NULL) {
        err = "an issuer has no query (RFC 8414 section 2)";
    }
    return err == NULL ? NULL
           : apr_psprintf(cmd->pool, "AuthOAuth2Issuer %s discover: the "
                          "issuer must be the URL its discovery document "
                          "is found under: %s", iss, err);
}

/* AuthOAuth2Issuer ISS SOURCE: SOURCE a key file, a JWK Set URL, or
 * `discover` (the JWK Set URL from the issuer's metadata) */
static const char *set_issuer(cmd_parms *cmd, void *dconf, const char *iss,
                              const char *source)
{
    oauth2_dir_conf *conf = dconf;
    oauth2_issuer *is;
    const char *err;

    if (*iss == '\0') {
        return "AuthOAuth2Issuer: the issuer must not be empty";
    }
    if (strcmp(source, "discover") == 0
        && (err = check_discoverable(cmd, iss)) != NULL) {
        return err;
    }
    is = section_issuer(cmd, conf, iss);
    if (is->source != NULL) {
        return apr_psprintf(cmd->pool, "AuthOAuth2Issuer: the issuer %s is "
                            "given twice in this section", iss);
    }
    if (strcmp(source, "discover") == 0) {
        is->discover = 1;
    }
    else if (is_url(source)) {
        if ((err = ac_http_check_url(cmd->temp_pool, source)) != NULL) {
            return apr_psprintf(cmd->pool, "AuthOAuth2Issuer %s %s: %s", iss,
                                source, err);
        }
        if (strlen(source) >= 2048) {
            return "AuthOAuth2Issuer: a JWK Set URL has at most 2047 bytes";
        }
        is->url = apr_pstrdup(cmd->pool, source);
    }
    else {
        const char *path = ap_server_root_relative(cmd->temp_pool, source);

        if (path == NULL) {
            return apr_psprintf(cmd->pool, "AuthOAuth2Issuer: bad path %s",
                                source);
        }
        if ((err = load_key_file(cmd, path, is)) != NULL) {
            return err;
        }
    }
    is->source = apr_pstrdup(cmd->pool, source);
    return NULL;
}

/* AuthOAuth2HMACKey ISS B64URL-SECRET */
static const char *set_hmac_key(cmd_parms *cmd, void *dconf, const char *iss,
                                const char *secret)
{
    oauth2_dir_conf *conf = dconf;
    oauth2_issuer *is;
    ac_jose_key *key;
    char *raw;
    apr_size_t len;
    ac_jose_status st;

    if (*iss == '\0') {
        return "AuthOAuth2HMACKey: the issuer must not be empty";
    }
    if (ac_b64url_decode(cmd->temp_pool, secret, strlen(secret), &raw, &len)
        != 0) {
        return "AuthOAuth2HMACKey: the secret is not base64url (RFC 4648 "
               "section 5, without padding)";
    }
    if (len < 32) {
        return apr_psprintf(cmd->pool, "AuthOAuth2HMACKey: the secret is %"
                            APR_SIZE_T_FMT " bytes; at least 32 are needed",
                            len);
    }
    st = ac_jose_key_from_secret(cmd->pool, raw, len, NULL, 0, &key);
    if (st != AC_JOSE_OK) {
        memset(raw, 0, len);
        return apr_psprintf(cmd->pool, "AuthOAuth2HMACKey: %s",
                            ac_jose_strerror(st));
    }
    is = section_issuer(cmd, conf, iss);
    issuer_absorb(is, "hmac", raw, len);
    memset(raw, 0, len);
    if (is->hmac == NULL) {
        is->hmac = ac_jose_keyset_make(cmd->pool);
    }
    ac_jose_keyset_add(is->hmac, key);
    return NULL;
}

static const char *set_audience(cmd_parms *cmd, void *dconf, const char *args)
{
    oauth2_dir_conf *conf = dconf;
    const char *w;

    conf->audiences = apr_array_make(cmd->pool, 2, sizeof(const char *));
    conf->any_audience = 0;
    while (*(w = ap_getword_conf(cmd->pool, &args)) != '\0') {
        if (strcmp(w, "*") == 0) {
            conf->any_audience = 1;
        }
        else {
            APR_ARRAY_PUSH(conf->audiences, const char *) = w;
        }
    }
    if (conf->any_audience && conf->audiences->nelts > 0) {
        return "AuthOAuth2Audience: * (any audience) cannot be combined with "
               "audiences";
    }
    if (!conf->any_audience && conf->audiences->nelts == 0) {
        return "AuthOAuth2Audience needs at least one audience, or *";
    }
    conf->audiences_set = 1;
    conf->any_audience_set = 1;
    return NULL;
}

/* The JWS algorithms of a directive's arguments into *out, of those in
 * `allowed`: NULL, or the message.  "none" is never an algorithm. */
static const char *parse_algorithms(cmd_parms *cmd, const char *args,
                                    unsigned int allowed, unsigned int *out)
{
    const char *name = cmd->cmd->name, *w;
    unsigned int algs = 0;

    while (*(w = ap_getword_conf(cmd->temp_pool, &args)) != '\0') {
        ac_jose_alg a = ac_jose_alg_from_name(w);

        if (strcasecmp(w, "none") == 0) {
            return apr_psprintf(cmd->pool, "%s: none (unsigned tokens) is "
                                "never accepted", name);
        }
        if (a == 0) {
            return apr_psprintf(cmd->pool, "%s: unknown algorithm '%s' "
                                "(known: RS256 RS384 RS512 PS256 PS384 "
                                "PS512 ES256 ES384 ES512 EdDSA HS256 HS384 "
                                "HS512)", name, w);
        }
        if (!(a & allowed)) {
            return apr_psprintf(cmd->pool, "%s: %s is not allowed here (only "
                                "algorithms with a public key)", name, w);
        }
        algs |= (unsigned int)a;
    }
    if (algs == 0) {
        return apr_psprintf(cmd->pool, "%s needs at least one algorithm",
                            name);
    }
    *out = algs;
    return NULL;
}

static const char *set_algorithms(cmd_parms *cmd, void *dconf,
                                  const char *args)
{
    oauth2_dir_conf *conf = dconf;

    conf->algs_set = 1;
    return parse_algorithms(cmd, args, AC_JOSE_ALGS_ALL, &conf->algs);
}

/* AuthOAuth2DPoPAlgorithms: a proof is signed by the client's own key
 * pair, never with a shared secret (RFC 9449 section 4.2). */
static const char *set_dpop_algorithms(cmd_parms *cmd, void *dconf,
                                       const char *args)
{
    oauth2_dir_conf *conf = dconf;

    conf->dpop_algs_set = 1;
    return parse_algorithms(cmd, args, AC_JOSE_ALGS_ASYMMETRIC,
                            &conf->dpop_algs);
}

/* AuthOAuth2ExternalURL: scheme://host[:port] as clients write it, no
 * path (the request's is added). */
static const char *check_external_url(cmd_parms *cmd, const char *arg)
{
    const char *rest = strncasecmp(arg, "https://", 8) == 0 ? arg + 8
                       : strncasecmp(arg, "http://", 7) == 0 ? arg + 7
                       : NULL;

    if (rest == NULL || *rest == '\0' || strpbrk(rest, "/?#@ ") != NULL) {
        return apr_psprintf(cmd->pool, "AuthOAuth2ExternalURL: '%s' is not "
                            "scheme://host[:port] (http or https, no path)",
                            arg);
    }
    return NULL;
}

/* AuthOAuth2ResourceMetadata on|off: on names the resource by the path
 * of the <Location> it is written in, which must be a plain one. */
static const char *set_resource_metadata(cmd_parms *cmd, void *dconf,
                                         const char *arg)
{
    oauth2_dir_conf *conf = dconf;
    const ap_directive_t *section = cmd->directive->parent;

    conf->resource_path_set = 1;
    if (strcasecmp(arg, "off") == 0) {
        conf->resource_path = NULL;
        return NULL;
    }
    if (strcasecmp(arg, "on") != 0) {
        return apr_psprintf(cmd->pool, "AuthOAuth2ResourceMetadata must be "
                            "'on' or 'off', not '%s'", arg);
    }
    if (section == NULL || strcasecmp(section->directive, "<Location") != 0
        || section->args[0] == '~' || cmd->path == NULL
        || cmd->path[0] != '/' || strpbrk(cmd->path, "*?[%") != NULL
        || ap_strstr_c(cmd->path, "/.") != NULL
        || ap_strstr_c(cmd->path, "//") != NULL) {
        return "AuthOAuth2ResourceMetadata on belongs in a <Location> "
               "section with a plain path (no regex, no wildcard, no dot "
               "segment): that path is the resource";
    }
    /* /api/ and /api are one resource, /api */
    conf->resource_path = cmd->path[1] != '\0'
                          && cmd->path[strlen(cmd->path) - 1] == '/'
                          ? apr_pstrndup(cmd->pool, cmd->path,
                                         strlen(cmd->path) - 1)
                          : cmd->path;
    return NULL;
}

/* AuthOAuth2TrustedProxy address|network... */
static const char *add_trusted_proxy(cmd_parms *cmd, void *dconf,
                                     const char *arg)
{
    oauth2_dir_conf *conf = dconf;
    char *addr = apr_pstrdup(cmd->temp_pool, arg), *mask;
    apr_ipsubnet_t *net;

    if ((mask = strchr(addr, '/')) != NULL) {
        *mask++ = '\0';
    }
    if (apr_ipsubnet_create(&net, addr, mask, cmd->pool) != APR_SUCCESS) {
        return apr_psprintf(cmd->pool, "AuthOAuth2TrustedProxy: '%s' is not "
                            "an IP address or network (a.b.c.d[/bits], "
                            "IPv6 likewise)", arg);
    }
    if (!conf->trusted_proxies_set) {
        conf->trusted_proxies = apr_array_make(cmd->pool, 2,
                                               sizeof(apr_ipsubnet_t *));
        conf->trusted_proxies_set = 1;
    }
    APR_ARRAY_PUSH(conf->trusted_proxies, apr_ipsubnet_t *) = net;
    return NULL;
}

/* AuthOAuth2DPoPNonceSecret: the nonces of several nodes must pass on
 * each: they share this secret (base64url, at least 32 bytes). */
static const char *set_nonce_secret(cmd_parms *cmd, void *dummy,
                                    const char *arg)
{
    oauth2_srv_conf *sconf = ap_get_module_config(cmd->server->module_config,
                                                  &authn_oauth2_module);
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    char *raw;
    apr_size_t len;
    ac_fp fp;

    if (err != NULL) {
        return err;
    }
    if (ac_b64url_decode(cmd->temp_pool, arg, strlen(arg), &raw, &len) != 0
        || len < 32) {
        return "AuthOAuth2DPoPNonceSecret: 32 or more bytes in base64url "
               "(RFC 4648 section 5, without padding)";
    }
    ac_fp_begin(&fp);
    ac_fp_str(&fp, "dpop-nonce");
    ac_fp_final(&fp, raw, len, sconf->nonce_secret);
    memset(raw, 0, len);
    sconf->nonce_secret_set = 1;
    return NULL;
}

/* AuthOAuth2JWKSRefreshMin, ...Max, AuthOAuth2DiscoveryRefresh: seconds,
 * for the whole server (one watchdog fetches for all). */
static const char *set_remote_seconds(cmd_parms *cmd, void *dummy,
                                      const char *arg)
{
    oauth2_srv_conf *sconf = ap_get_module_config(cmd->server->module_config,
                                                  &authn_oauth2_module);
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    const char *name = cmd->cmd->name;
    char *end;
    apr_int64_t v;

    if (err != NULL) {
        return err;
    }
    v = apr_strtoi64(arg, &end, 10);
    if (*arg == '\0' || *end != '\0' || v < 1 || v > 86400 * 7) {
        return apr_psprintf(cmd->pool, "%s: seconds from 1 to 604800, not "
                            "'%s'", name, arg);
    }
    if (strcasecmp(name, "AuthOAuth2JWKSRefreshMin") == 0) {
        sconf->jwks_refresh_min = (int)v;
        sconf->jwks_refresh_min_set = 1;
    }
    else if (strcasecmp(name, "AuthOAuth2JWKSRefreshMax") == 0) {
        sconf->jwks_refresh_max = (int)v;
        sconf->jwks_refresh_max_set = 1;
    }
    else {
        sconf->discovery_refresh = (int)v;
        sconf->discovery_refresh_set = 1;
    }
    if (sconf->jwks_refresh_min > sconf->jwks_refresh_max) {
        return apr_psprintf(cmd->pool, "AuthOAuth2JWKSRefreshMin (%d) is "
                            "larger than AuthOAuth2JWKSRefreshMax (%d)",
                            sconf->jwks_refresh_min,
                            sconf->jwks_refresh_max);
    }
    return NULL;
}

static const char *check_url(cmd_parms *cmd, const char *arg)
{
    const char *err = ac_http_check_url(cmd->temp_pool, arg);

    return err == NULL ? NULL : apr_psprintf(cmd->pool, "%s %s: %s",
                                             cmd->cmd->name, arg, err);
}

/* AuthOAuth2Introspect URL | discover */
static const char *check_introspect(cmd_parms *cmd, const char *arg)
{
    return strcmp(arg, OAUTH2_INTROSPECT_DISCOVER) == 0 ? NULL
           : check_url(cmd, arg);
}

/* AuthOAuth2DBSchema dot | dot1 | dot2 | dot3 */
static const char *set_schema(cmd_parms *cmd, void *dconf, const char *arg)
{
    oauth2_dir_conf *conf = dconf;

    if (strcasecmp(arg, "dot") == 0) {
        conf->schema = SCHEMA_DOT;
    }
    else if (strcasecmp(arg, "dot1") == 0 || strcasecmp(arg, "dot2") == 0) {
        conf->schema = SCHEMA_DOT1;
    }
    else if (strcasecmp(arg, "dot3") == 0) {
        conf->schema = SCHEMA_DOT3;
    }
    else {
        return apr_psprintf(cmd->pool, "AuthOAuth2DBSchema must be dot "
                            "(django-oauth-toolkit, its layout detected), "
                            "dot1 or dot2 (its 1.x/2.x tables), or dot3 "
                            "(its 3.x tables), not '%s'", arg);
    }
    conf->schema_at = ac_place_of(cmd);
    conf->schema_set = 1;
    return NULL;
}

static const char *check_user_claim(cmd_parms *cmd, const char *arg)
{
    return *arg == '\0' || strlen(arg) > 128
           ? "AuthOAuth2UserClaim: a claim name of 1 to 128 characters"
           : NULL;
}

static const char *set_cache(cmd_parms *cmd, void *dummy, const char *arg)
{
    oauth2_srv_conf *sconf = ap_get_module_config(cmd->server->module_config,
                                                  &authn_oauth2_module);

    return ac_cache_set_spec(cmd, arg, &sconf->cache_spec);
}

#define DIR_CONF (RSRC_CONF | ACCESS_CONF)

static const ac_conf_enum dpop_modes[] = {
    { "off", DPOP_OFF }, { "optional", DPOP_OPTIONAL },
    { "required", DPOP_REQUIRED }, { NULL, 0 }
};

const command_rec oauth2_cmds[] = {
    AP_INIT_TAKE2("AuthOAuth2Issuer", set_issuer, NULL, DIR_CONF,
                  "an issuer (iss) and its keys: a JWK Set or PEM file, a "
                  "JWK Set https:// URL, or discover (RFC 8414 / OpenID "
                  "Connect discovery)"),
    AP_INIT_TAKE2("AuthOAuth2HMACKey", set_hmac_key, NULL, DIR_CONF,
                  "an issuer and its base64url HMAC secret (HS256/384/512)"),
    AP_INIT_RAW_ARGS("AuthOAuth2Audience", set_audience, NULL, DIR_CONF,
                     "the audiences accepted in aud, or * for any"),
    AP_INIT_RAW_ARGS("AuthOAuth2Algorithms", set_algorithms, NULL, DIR_CONF,
                     "the JWS algorithms accepted (default RS*, PS*, ES*, "
                     "EdDSA, and HS* for issuers with an HMAC key)"),
    AC_INIT_INT("AuthOAuth2Leeway", oauth2_dir_conf, leeway, 0, 3600,
                DIR_CONF, "seconds of clock skew allowed on exp, nbf, iat "
                "(default 30)"),
    AC_INIT_FLAG("AuthOAuth2RequireTyp", oauth2_dir_conf, require_typ,
                 DIR_CONF, "require the JWT header typ at+jwt (default Off)"),
    AC_INIT_INT("AuthOAuth2JWKSRefresh", oauth2_dir_conf, jwks_refresh, 1,
                86400 * 7, DIR_CONF, "seconds a fetched JWK Set without "
                "a Cache-Control max-age is used before a refresh (default "
                "3600)"),
    AP_INIT_TAKE1("AuthOAuth2JWKSRefreshMin", set_remote_seconds, NULL,
                  RSRC_CONF, "the least seconds between two fetches of a "
                  "JWK Set, also for an unknown kid (default 60)"),
    AP_INIT_TAKE1("AuthOAuth2JWKSRefreshMax", set_remote_seconds, NULL,
                  RSRC_CONF, "the most seconds a fetched JWK Set is used "
                  "before a refresh, whatever its max-age (default 86400)"),
    AP_INIT_TAKE1("AuthOAuth2DiscoveryRefresh", set_remote_seconds, NULL,
                  RSRC_CONF, "seconds between two reads of an issuer's "
                  "discovery document (default 3600)"),
    AC_INIT_SECONDS("AuthOAuth2Timeout", oauth2_dir_conf, timeout, 0, 3600,
                    DIR_CONF, "seconds a JWK Set fetch or an introspection "
                    "call may take (default 3)"),
    AC_INIT_STRING("AuthOAuth2Introspect", oauth2_dir_conf, introspect,
                   check_introspect, DIR_CONF,
                   "the RFC 7662 introspection endpoint (https://), or "
                   "discover: the discovered issuer's"),
    AC_INIT_STRING("AuthOAuth2ClientID", oauth2_dir_conf, client_id,
                   ac_conf_not_empty, DIR_CONF,
                   "the client id for the introspection endpoint"),
    AC_INIT_STRING("AuthOAuth2ClientSecret", oauth2_dir_conf, client_secret,
                   NULL, DIR_CONF,
                   "the client secret for the introspection endpoint"),
    AC_INIT_DB("AuthOAuth2DB", oauth2_dir_conf, db, DIR_CONF,
               "libpq connection string of the token database"),
    AP_INIT_TAKE1("AuthOAuth2DBSchema", set_schema, NULL, DIR_CONF,
                  "the tables of the token database: dot "
                  "(django-oauth-toolkit, its layout detected; the default), "
                  "dot1/dot2 or dot3 (the layout of those versions)"),
    AC_INIT_SECONDS("AuthOAuth2DBTimeout", oauth2_dir_conf, db_timeout, 0,
                    3600, DIR_CONF,
                    "seconds a database lookup may take (default 2)"),
    AC_INIT_STRING("AuthOAuth2UserClaim", oauth2_dir_conf, user_claim,
                   check_user_claim, DIR_CONF,
                   "the claim that names the user (default sub)"),
    AC_INIT_FLAG("AuthOAuth2AcceptFormToken", oauth2_dir_conf, form_token,
                 DIR_CONF, "also read access_token from a form-encoded body "
                 "(RFC 6750 section 2.2; default Off)"),
    AC_INIT_ENUM("AuthOAuth2DPoP", oauth2_dir_conf, dpop, dpop_modes,
                 DIR_CONF, "whether the DPoP scheme (RFC 9449) is accepted: "
                 "off (default), optional or required"),
    AP_INIT_RAW_ARGS("AuthOAuth2DPoPAlgorithms", set_dpop_algorithms, NULL,
                     DIR_CONF, "the algorithms of DPoP proofs (default every "
                     "one with a public key)"),
    AC_INIT_INT("AuthOAuth2DPoPMaxAge", oauth2_dir_conf, dpop_max_age, 1,
                3600, DIR_CONF, "seconds a DPoP proof is good after its iat "
                "(default 60)"),
    AC_INIT_FLAG("AuthOAuth2DPoPNonce", oauth2_dir_conf, dpop_nonce,
                 DIR_CONF, "require server nonces in DPoP proofs (default "
                 "Off)"),
    AP_INIT_TAKE1("AuthOAuth2DPoPNonceSecret", set_nonce_secret, NULL,
                  RSRC_CONF, "base64url secret of DPoP nonces, the same on "
                  "every node (default: drawn at start-up)"),
    AC_INIT_STRING("AuthOAuth2ExternalURL", oauth2_dir_conf, external_url,
                   check_external_url, DIR_CONF,
                   "scheme://host[:port] that clients use, behind a proxy "
                   "(DPoP htu)"),
    AC_INIT_TOKEN("AuthOAuth2ClientCertHeader", oauth2_dir_conf,
                  cert_header, "an HTTP header name", DIR_CONF,
                  "the header in which a trusted proxy forwards the client "
                  "certificate (RFC 8705)"),
    AP_INIT_ITERATE("AuthOAuth2TrustedProxy", add_trusted_proxy, NULL,
                    DIR_CONF, "addresses or networks of the proxies whose "
                    "AuthOAuth2ClientCertHeader is believed"),
    AP_INIT_TAKE1("AuthOAuth2ResourceMetadata", set_resource_metadata, NULL,
                  ACCESS_CONF, "on: this <Location> is an OAuth 2.0 "
                  "protected resource with RFC 9728 metadata; off (default)"),
    AP_INIT_TAKE1("AuthOAuth2Cache", set_cache, NULL, RSRC_CONF,
                  "socache provider[:args] of the cache (default shmcb)"),
    AC_INIT_INT("AuthOAuth2CacheTTL", oauth2_dir_conf, cache_ttl, 0, 86400,
                DIR_CONF, "seconds a validated token is cached (default 60, "
                "0 = off)"),
    AP_INIT_TAKE23("AuthOAuth2ClaimHeader", oauth2_set_claim_header, NULL,
                   DIR_CONF, "a claim (dotted path), the request header "
                   "the backend gets it in, and 'encode' (RFC 8187, the "
                   "default) or 'refuse' for what a header cannot carry"),
    {NULL}
};

/* (after the table it reads) */
void *oauth2_merge_dir_config(apr_pool_t *p, void *basev, void *addv)
{
    oauth2_dir_conf *base = basev, *add = addv;
    oauth2_dir_conf *conf = apr_pcalloc(p, sizeof(*conf));

    ac_conf_merge(oauth2_cmds, conf, base, add);
    AC_MERGE(issuers);
    AC_MERGE(issuers_at);
    AC_MERGE(audiences);
    AC_MERGE(any_audience);
    AC_MERGE(algs);
    AC_MERGE(dpop_algs);
    AC_MERGE(trusted_proxies);
    AC_MERGE(resource_path);
    conf->claim_headers = oauth2_merge_claim_headers(p, base->claim_headers,
                                                     add->claim_headers);
    conf->claim_headers_set = add->claim_headers_set
                              || base->claim_headers_set;
    /* what the tables of AuthOAuth2DB are goes with it */
    conf->detected = add->db_set ? add->detected : base->detected;
    AC_MERGE(schema);
    conf->schema_at = add->schema_set ? add->schema_at : base->schema_at;
    return conf;
}

/* Whether a section names issuers or audiences. */
static int sets_issuers(const void *dconf)
{
    const oauth2_dir_conf *c = dconf;

    return c->issuers_set || c->audiences_set;
}

typedef struct {
    const void *server;         /* the server's own configuration */
    const oauth2_dir_conf *bad; /* the first with issuers, no audience */
} audience_walk;

/* One configuration a request can get (ac_conf_effective).  Issuers at
 * server level alone are checked at request time: the sections below may
 * each name their audience. */
static void audience_visit(void *baton, server_rec *s, const void *dconf)
{
    audience_walk *w = baton;
    const oauth2_dir_conf *c = dconf;

    if (w->bad == NULL && dconf != w->server && c->issuers_at_set
        && !c->audiences_set) {
        w->bad = c;
    }
}

static const char *check_audiences(apr_pool_t *p, server_rec *main_s)
{
    audience_walk w;
    server_rec *s;

    w.bad = NULL;
    for (s = main_s; s != NULL && w.bad == NULL; s = s->next) {
        w.server = ap_get_module_config(s->lookup_defaults,
                                        &authn_oauth2_module);
        ac_conf_effective(p, s, &authn_oauth2_module, sets_issuers,
                          audience_visit, &w);
    }
    if (w.bad == NULL) {
        return NULL;
    }
    return apr_psprintf(p, "AuthOAuth2Issuer/HMACKey at %s:%d has no "
                        "AuthOAuth2Audience: name the audience this server "
                        "is (the aud of its tokens), or "
                        "`AuthOAuth2Audience *` to accept any",
                        w.bad->issuers_at.file, w.bad->issuers_at.line);
}

/* check_config (runs for `httpd -t` too): refuse a section with issuers
 * but no audience. */
int oauth2_check_config(apr_pool_t *pconf, apr_pool_t *plog,
                               apr_pool_t *ptemp, server_rec *s)
{
    const char *err = check_audiences(ptemp, s);

    if (err != NULL) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, AC_LOGNO(0541) "%s", err);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

