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
 */

#include "apr_atomic.h"
#include "apr_lib.h"
#include "apr_strings.h"
#include "apr_thread_cond.h"
#include "apr_thread_mutex.h"
#include "apr_time.h"

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_main.h"
#include "http_protocol.h"
#include "http_request.h"
#include "ap_provider.h"
#include "mod_request.h"

#include <openssl/evp.h>
#include <jansson.h>

#include "mod_auth_chain.h"
#include "ac_common.h"
#include "ac_cache.h"
#include "ac_http.h"
#include "ac_jose.h"
#include "ac_key.h"
#include "ac_pg.h"
#include "ac_request.h"
#include "ac_verdict.h"

module AP_MODULE_DECLARE_DATA authn_oauth2_module;

#define OAUTH2_MUTEX_TYPE "authn-oauth2-cache"
#define DEFAULT_LEEWAY 30
#define DEFAULT_JWKS_REFRESH 3600
#define OAUTH2_DEFAULT_TIMEOUT apr_time_from_sec(3)
#define OAUTH2_DEFAULT_DB_TIMEOUT apr_time_from_sec(2)
#define DEFAULT_DB_POOL_SIZE 8
#define DEFAULT_CACHE_TTL 60
/* an unknown kid makes a JWK Set refetch at most this often per issuer */
#define KID_REFETCH_INTERVAL apr_time_from_sec(60)
/* after a failed fetch with no keys at all, wait this long to try again */
#define FETCH_RETRY_NO_KEYS apr_time_from_sec(5)
/* after a failed refresh, keep the old keys this long before retrying */
#define FETCH_RETRY_MAX apr_time_from_sec(60)
#define RETRY_AFTER 5
/* an introspection answer is small; a JWK Set is bounded by ac_jose */
#define MAX_INTROSPECTION (64 * 1024)
/* The OAUTH2_CLAIM_* block of a granted request, for oauth2_fixups. */
#define ENV_NOTE "authn-oauth2-claim-env"
/* pairs and bytes of a form body read for AuthOAuth2AcceptFormToken */
#define FORM_MAX_PAIRS 64
#define FORM_MAX_SIZE (64 * 1024)

/* AuthOAuth2DBSchema: django-oauth-toolkit's tables, in the layout found
 * in the database (dot), or in the one written (dot1, dot3). */
typedef enum {
    SCHEMA_DOT = 0,     /* detected (DOT_DETECT_SQL); 0: not yet known */
    SCHEMA_DOT1,        /* 1.x and 2.x: token varchar(255) UNIQUE */
    SCHEMA_DOT3         /* 3.x: token_checksum, the hex SHA-256 of token */
} oauth2_schema;

/* django-oauth-toolkit: the tokens with their user and their
 * application's client_id, the lookups of concurrent requests batched
 * (ac_pg_batch).  3.x: by their checksums; each request picks its row by
 * the checksum, in constant time.  1.x and 2.x store nothing but the
 * token: by the token itself, and each request picks its row by the
 * token, in constant time (ac_sql_row_of).  Expiry and activity are judged
 * in C. */
static const char dot3_sql[] =
    "SELECT u.username, u.is_active, a.client_id, t.scope,"
    " date_part('epoch', t.expires)::bigint, t.id::text, t.token_checksum"
    " FROM oauth2_provider_accesstoken t"
    " LEFT JOIN auth_user u ON u.id = t.user_id"
    " LEFT JOIN oauth2_provider_application a ON a.id = t.application_id"
    " WHERE t.token_checksum = ANY($1::varchar[])";

static const char dot1_sql[] =
    "SELECT u.username, u.is_active, a.client_id, t.scope,"
    " date_part('epoch', t.expires)::bigint, t.id::text, t.token"
    " FROM oauth2_provider_accesstoken t"
    " LEFT JOIN auth_user u ON u.id = t.user_id"
    " LEFT JOIN oauth2_provider_application a ON a.id = t.application_id"
    " WHERE t.token = ANY($1::varchar[])";

/* The column of the lookups that the request's key is compared with. */
#define DOT_KEY_COLUMN 6

/* The longest token the 1.x/2.x column holds: a longer one is unknown. */
#define DOT1_TOKEN_MAX 255

/* Which layout the database has: one row, whether the access token table
 * has token_checksum; no row without the table.  The table is the one the
 * lookups' search_path finds (to_regclass). */
static const char dot_detect_sql[] =
    "SELECT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid"
    " AND a.attname = 'token_checksum' AND a.attnum > 0"
    " AND NOT a.attisdropped)"
    " FROM (SELECT to_regclass('oauth2_provider_accesstoken') AS oid) c"
    " WHERE c.oid IS NOT NULL";

/* A detected layout is asked again after this many seconds (the tables
 * may be migrated under a running server), and at once when the database
 * refuses a lookup. */
#define DOT_DETECT_INTERVAL 60

/* The layout detected for one AuthOAuth2DB, per child process (each child
 * has its own copy of the configuration); read and written atomically. */
typedef struct {
    apr_uint32_t layout;            /* an oauth2_schema; SCHEMA_DOT: none */
    apr_uint32_t since;             /* when it was detected, epoch seconds */
} dot_detected;

/* The start-up check gives a database this long at most. */
#define DB_CHECK_TIMEOUT apr_time_from_sec(5)

/* One generation of keys fetched from a JWK Set URL.  Requests hold a
 * reference while they verify with it; a replaced generation is freed by
 * the last one to let go. */
typedef struct {
    apr_pool_t *pool;
    ac_jose_keyset *keys;
    int refs;
    int retired;
} jwks_gen;

/* An issuer as configured.  The remote state below the line is per child
 * process (each child has its own copy of the configuration) and guarded
 * by `lock`. */
typedef struct {
    const char *iss;
    const char *source;             /* the file or URL, NULL: HMAC only */
    const char *url;                /* a JWK Set URL, or NULL */
    ac_jose_keyset *keys;           /* from the file, or NULL */
    ac_jose_keyset *hmac;           /* AuthOAuth2HMACKey keys, or NULL */
    unsigned char keys_fp[32];      /* a digest of all the key material */

    apr_thread_mutex_t *lock;
    apr_thread_cond_t *fetched;
    jwks_gen *current;
    apr_time_t fresh_until;         /* the refresh is due then */
    apr_time_t retry_at;            /* no fetch before (after a failure) */
    apr_time_t kid_refetch_at;      /* the last refetch for an unknown kid */
    int fetching;
} oauth2_issuer;

typedef struct {
    ac_cache *cache;                /* main server only */
    const char *cache_spec;             /* NULL: shmcb */
} oauth2_srv_conf;

typedef struct {
    apr_array_header_t *issuers;    /* oauth2_issuer * */
    apr_array_header_t *audiences;  /* const char *; NULL with any_audience */
    int any_audience;
    unsigned int algs;
    int leeway;
    int require_typ;
    int jwks_refresh;
    apr_interval_time_t timeout;
    const char *introspect;
    const char *client_id;
    const char *client_secret;
    const char *db;
    ac_conf_place db_at;            /* where AuthOAuth2DB was written */
    dot_detected *detected;         /* its tables' layout, per child */
    oauth2_schema schema;
    ac_conf_place schema_at;        /* where AuthOAuth2DBSchema was */
    apr_interval_time_t db_timeout;
    const char *user_claim;
    int form_token;
    int cache_ttl;
    ac_conf_place issuers_at;
    unsigned int issuers_set:1;
    unsigned int audiences_set:1;
    unsigned int any_audience_set:1;
    unsigned int algs_set:1;
    unsigned int leeway_set:1;
    unsigned int require_typ_set:1;
    unsigned int jwks_refresh_set:1;
    unsigned int timeout_set:1;
    unsigned int introspect_set:1;
    unsigned int client_id_set:1;
    unsigned int client_secret_set:1;
    unsigned int db_set:1;
    unsigned int schema_set:1;
    unsigned int db_timeout_set:1;
    unsigned int user_claim_set:1;
    unsigned int form_token_set:1;
    unsigned int cache_ttl_set:1;
    unsigned int issuers_at_set:1;
} oauth2_dir_conf;

/* A verdict, as cached. */
typedef enum {
    VERDICT_GRANTED = 0,
    VERDICT_DENIED
} oauth2_verdict;

typedef struct {
    oauth2_verdict verdict;
    apr_int64_t expires;            /* epoch seconds, 0 = none */
    const char *user, *scopes, *data, *reason;
    const char *env;                /* OAUTH2_CLAIM_*, see oauth2_fixups */
} oauth2_record;

static void *create_oauth2_srv_config(apr_pool_t *p, server_rec *s)
{
    return apr_pcalloc(p, sizeof(oauth2_srv_conf));
}

static void *create_oauth2_dir_config(apr_pool_t *p, char *dir)
{
    oauth2_dir_conf *conf = apr_pcalloc(p, sizeof(*conf));

    conf->algs = 0;                 /* 0: the per-issuer default */
    conf->leeway = DEFAULT_LEEWAY;
    conf->jwks_refresh = DEFAULT_JWKS_REFRESH;
    conf->timeout = OAUTH2_DEFAULT_TIMEOUT;
    conf->schema = SCHEMA_DOT;
    conf->db_timeout = OAUTH2_DEFAULT_DB_TIMEOUT;
    conf->user_claim = "sub";
    conf->cache_ttl = DEFAULT_CACHE_TTL;
    return conf;
}

static void *merge_oauth2_dir_config(apr_pool_t *p, void *basev, void *addv)
{
    oauth2_dir_conf *base = basev, *add = addv;
    oauth2_dir_conf *conf = apr_pcalloc(p, sizeof(*conf));

    AC_MERGE(issuers);
    AC_MERGE(issuers_at);
    AC_MERGE(audiences);
    AC_MERGE(any_audience);
    AC_MERGE(algs);
    AC_MERGE(leeway);
    AC_MERGE(require_typ);
    AC_MERGE(jwks_refresh);
    AC_MERGE(timeout);
    AC_MERGE(introspect);
    AC_MERGE(client_id);
    AC_MERGE(client_secret);
    AC_MERGE(db);
    /* where AuthOAuth2DB was written and what its tables are go with it */
    conf->db_at = add->db_set ? add->db_at : base->db_at;
    conf->detected = add->db_set ? add->detected : base->detected;
    AC_MERGE(schema);
    conf->schema_at = add->schema_set ? add->schema_at : base->schema_at;
    AC_MERGE(db_timeout);
    AC_MERGE(user_claim);
    AC_MERGE(form_token);
    AC_MERGE(cache_ttl);
    return conf;
}

/* ----------------------------------------------------------------------
 * Directives
 */

static oauth2_issuer *find_issuer(const oauth2_dir_conf *conf,
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

/* The issuer `iss` of this section, created when new. */
static oauth2_issuer *section_issuer(cmd_parms *cmd, oauth2_dir_conf *conf,
                                     const char *iss)
{
    oauth2_issuer *is;

    if (conf->issuers == NULL) {
        conf->issuers = apr_array_make(cmd->pool, 2, sizeof(oauth2_issuer *));
    }
    if ((is = find_issuer(conf, iss)) != NULL) {
        return is;
    }
    is = apr_pcalloc(cmd->pool, sizeof(*is));
    is->iss = apr_pstrdup(cmd->pool, iss);
    APR_ARRAY_PUSH(conf->issuers, oauth2_issuer *) = is;
    if (!conf->issuers_set) {
        conf->issuers_at = ac_place_of(cmd);
        conf->issuers_at_set = 1;
    }
    conf->issuers_set = 1;
    return is;
}

/* Fold a digest of key material (`what`: its kind) into the issuer's:
 * cached verdicts are told apart by the keys that judged them (cache_id)
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

/* AuthOAuth2Issuer ISS SOURCE */
static const char *set_issuer(cmd_parms *cmd, void *dconf, const char *iss,
                              const char *source)
{
    oauth2_dir_conf *conf = dconf;
    oauth2_issuer *is;
    const char *err;

    if (*iss == '\0') {
        return "AuthOAuth2Issuer: the issuer must not be empty";
    }
    is = section_issuer(cmd, conf, iss);
    if (is->source != NULL) {
        return apr_psprintf(cmd->pool, "AuthOAuth2Issuer: the issuer %s is "
                            "given twice in this section", iss);
    }
    if (is_url(source)) {
        if ((err = ac_http_check_url(cmd->temp_pool, source)) != NULL) {
            return apr_psprintf(cmd->pool, "AuthOAuth2Issuer %s %s: %s", iss,
                                source, err);
        }
        is->url = apr_pstrdup(cmd->pool, source);
        if (apr_thread_mutex_create(&is->lock, APR_THREAD_MUTEX_DEFAULT,
                                    cmd->pool) != APR_SUCCESS
            || apr_thread_cond_create(&is->fetched, cmd->pool)
               != APR_SUCCESS) {
            return "AuthOAuth2Issuer: cannot create a mutex";
        }
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

static const char *set_algorithms(cmd_parms *cmd, void *dconf,
                                  const char *args)
{
    oauth2_dir_conf *conf = dconf;
    unsigned int algs = 0;
    const char *w;

    while (*(w = ap_getword_conf(cmd->temp_pool, &args)) != '\0') {
        ac_jose_alg a = ac_jose_alg_from_name(w);

        if (strcasecmp(w, "none") == 0) {
            return "AuthOAuth2Algorithms: none (unsigned tokens) is never "
                   "accepted";
        }
        if (a == 0) {
            return apr_psprintf(cmd->pool, "AuthOAuth2Algorithms: unknown "
                                "algorithm '%s' (known: RS256 RS384 RS512 "
                                "PS256 PS384 PS512 ES256 ES384 ES512 EdDSA "
                                "HS256 HS384 HS512)", w);
        }
        algs |= (unsigned int)a;
    }
    if (algs == 0) {
        return "AuthOAuth2Algorithms needs at least one algorithm";
    }
    conf->algs = algs;
    conf->algs_set = 1;
    return NULL;
}

static const char *parse_seconds(cmd_parms *cmd, const char *arg,
                                 apr_interval_time_t *out)
{
    return ac_parse_seconds(cmd->pool, cmd->cmd->name, arg, 0, 3600, out);
}

static const char *parse_int(cmd_parms *cmd, const char *arg, int min,
                             int max, int *out)
{
    return ac_parse_int(cmd->pool, cmd->cmd->name, arg, min, max, out);
}

static const char *set_leeway(cmd_parms *cmd, void *dconf, const char *arg)
{
    oauth2_dir_conf *conf = dconf;

    conf->leeway_set = 1;
    return parse_int(cmd, arg, 0, 3600, &conf->leeway);
}

static const char *set_jwks_refresh(cmd_parms *cmd, void *dconf,
                                    const char *arg)
{
    oauth2_dir_conf *conf = dconf;

    conf->jwks_refresh_set = 1;
    return parse_int(cmd, arg, 1, 86400 * 7, &conf->jwks_refresh);
}

static const char *set_cache_ttl(cmd_parms *cmd, void *dconf, const char *arg)
{
    oauth2_dir_conf *conf = dconf;

    conf->cache_ttl_set = 1;
    return parse_int(cmd, arg, 0, 86400, &conf->cache_ttl);
}

static const char *set_timeout(cmd_parms *cmd, void *dconf, const char *arg)
{
    oauth2_dir_conf *conf = dconf;

    conf->timeout_set = 1;
    return parse_seconds(cmd, arg, &conf->timeout);
}

static const char *set_db_timeout(cmd_parms *cmd, void *dconf,
                                  const char *arg)
{
    oauth2_dir_conf *conf = dconf;

    conf->db_timeout_set = 1;
    return parse_seconds(cmd, arg, &conf->db_timeout);
}

static const char *set_require_typ(cmd_parms *cmd, void *dconf, int on)
{
    oauth2_dir_conf *conf = dconf;

    conf->require_typ = on;
    conf->require_typ_set = 1;
    return NULL;
}

static const char *set_form_token(cmd_parms *cmd, void *dconf, int on)
{
    oauth2_dir_conf *conf = dconf;

    conf->form_token = on;
    conf->form_token_set = 1;
    return NULL;
}

static const char *set_introspect(cmd_parms *cmd, void *dconf,
                                  const char *arg)
{
    oauth2_dir_conf *conf = dconf;
    const char *err = ac_http_check_url(cmd->temp_pool, arg);

    if (err != NULL) {
        return apr_psprintf(cmd->pool, "AuthOAuth2Introspect %s: %s", arg,
                            err);
    }
    conf->introspect = arg;
    conf->introspect_set = 1;
    return NULL;
}

static const char *set_client_id(cmd_parms *cmd, void *dconf, const char *arg)
{
    oauth2_dir_conf *conf = dconf;

    if (*arg == '\0') {
        return "AuthOAuth2ClientID must not be empty";
    }
    conf->client_id = arg;
    conf->client_id_set = 1;
    return NULL;
}

static const char *set_client_secret(cmd_parms *cmd, void *dconf,
                                     const char *arg)
{
    oauth2_dir_conf *conf = dconf;

    conf->client_secret = arg;
    conf->client_secret_set = 1;
    return NULL;
}

static const char *set_db(cmd_parms *cmd, void *dconf, const char *arg)
{
    oauth2_dir_conf *conf = dconf;
    const char *err = ac_pg_check_conninfo(cmd->temp_pool, arg);

    if (err != NULL) {
        return apr_psprintf(cmd->pool, "AuthOAuth2DB: not a libpq connection "
                            "string: %s", err);
    }
    conf->db = arg;
    conf->db_at = ac_place_of(cmd);
    conf->detected = apr_pcalloc(cmd->pool, sizeof(*conf->detected));
    conf->db_set = 1;
    return NULL;
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

static const char *set_user_claim(cmd_parms *cmd, void *dconf,
                                  const char *arg)
{
    oauth2_dir_conf *conf = dconf;

    if (*arg == '\0' || strlen(arg) > 128) {
        return "AuthOAuth2UserClaim: a claim name of 1 to 128 characters";
    }
    conf->user_claim = arg;
    conf->user_claim_set = 1;
    return NULL;
}

static const char *set_cache(cmd_parms *cmd, void *dummy, const char *arg)
{
    oauth2_srv_conf *sconf = ap_get_module_config(cmd->server->module_config,
                                                  &authn_oauth2_module);

    return ac_cache_set_spec(cmd, arg, &sconf->cache_spec);
}

#define DIR_CONF (RSRC_CONF | ACCESS_CONF)

static const command_rec oauth2_cmds[] = {
    AP_INIT_TAKE2("AuthOAuth2Issuer", set_issuer, NULL, DIR_CONF,
                  "an issuer (iss) and its keys: a JWK Set or PEM file, or "
                  "a JWK Set https:// URL"),
    AP_INIT_TAKE2("AuthOAuth2HMACKey", set_hmac_key, NULL, DIR_CONF,
                  "an issuer and its base64url HMAC secret (HS256/384/512)"),
    AP_INIT_RAW_ARGS("AuthOAuth2Audience", set_audience, NULL, DIR_CONF,
                     "the audiences accepted in aud, or * for any"),
    AP_INIT_RAW_ARGS("AuthOAuth2Algorithms", set_algorithms, NULL, DIR_CONF,
                     "the JWS algorithms accepted (default RS*, PS*, ES*, "
                     "EdDSA, and HS* for issuers with an HMAC key)"),
    AP_INIT_TAKE1("AuthOAuth2Leeway", set_leeway, NULL, DIR_CONF,
                  "seconds of clock skew allowed on exp, nbf, iat "
                  "(default 30)"),
    AP_INIT_FLAG("AuthOAuth2RequireTyp", set_require_typ, NULL, DIR_CONF,
                 "require the JWT header typ at+jwt (default Off)"),
    AP_INIT_TAKE1("AuthOAuth2JWKSRefresh", set_jwks_refresh, NULL, DIR_CONF,
                  "seconds a fetched JWK Set is used before a refresh "
                  "(default 3600)"),
    AP_INIT_TAKE1("AuthOAuth2Timeout", set_timeout, NULL, DIR_CONF,
                  "seconds a JWK Set fetch or an introspection call may take "
                  "(default 3)"),
    AP_INIT_TAKE1("AuthOAuth2Introspect", set_introspect, NULL, DIR_CONF,
                  "the RFC 7662 introspection endpoint (https://)"),
    AP_INIT_TAKE1("AuthOAuth2ClientID", set_client_id, NULL, DIR_CONF,
                  "the client id for the introspection endpoint"),
    AP_INIT_TAKE1("AuthOAuth2ClientSecret", set_client_secret, NULL,
                  DIR_CONF,
                  "the client secret for the introspection endpoint"),
    AP_INIT_TAKE1("AuthOAuth2DB", set_db, NULL, DIR_CONF,
                  "libpq connection string of the token database"),
    AP_INIT_TAKE1("AuthOAuth2DBSchema", set_schema, NULL, DIR_CONF,
                  "the tables of the token database: dot "
                  "(django-oauth-toolkit, its layout detected; the default), "
                  "dot1/dot2 or dot3 (the layout of those versions)"),
    AP_INIT_TAKE1("AuthOAuth2DBTimeout", set_db_timeout, NULL, DIR_CONF,
                  "seconds a database lookup may take (default 2)"),
    AP_INIT_TAKE1("AuthOAuth2UserClaim", set_user_claim, NULL, DIR_CONF,
                  "the claim that names the user (default sub)"),
    AP_INIT_FLAG("AuthOAuth2AcceptFormToken", set_form_token, NULL,
                 DIR_CONF,
                 "also read access_token from a form-encoded body "
                 "(RFC 6750 section 2.2; default Off)"),
    AP_INIT_TAKE1("AuthOAuth2Cache", set_cache, NULL, RSRC_CONF,
                  "socache provider[:args] of the cache (default shmcb)"),
    AP_INIT_TAKE1("AuthOAuth2CacheTTL", set_cache_ttl, NULL, DIR_CONF,
                  "seconds a validated token is cached (default 60, "
                  "0 = off)"),
    {NULL}
};

/* ----------------------------------------------------------------------
 * JWK Sets fetched from a URL, per issuer and per process
 */

static void release_gen(oauth2_issuer *is, jwks_gen *gen)
{
    apr_thread_mutex_lock(is->lock);
    if (--gen->refs == 0 && gen->retired) {
        apr_pool_destroy(gen->pool);
    }
    apr_thread_mutex_unlock(is->lock);
}

typedef struct {
    oauth2_issuer *is;
    jwks_gen *gen;
} gen_ref;

static apr_status_t release_gen_cleanup(void *data)
{
    gen_ref *ref = data;

    release_gen(ref->is, ref->gen);
    return APR_SUCCESS;
}

typedef struct {
    request_rec *r;
    const oauth2_issuer *is;
} fetch_baton;

static void log_skipped_remote_key(void *baton, apr_size_t index,
                                   const char *kid, ac_jose_status why)
{
    fetch_baton *b = baton;

    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, b->r, AC_LOGNO(0502)
                  "oauth2: JWK Set of %s: key #%" APR_SIZE_T_FMT "%s%s%s "
                  "skipped: %s", b->is->url, index, kid ? " (kid " : "",
                  kid ? ap_escape_logitem(b->r->pool, kid) : "",
                  kid ? ")" : "", ac_jose_strerror(why));
}

/* Fetch and parse the issuer's JWK Set, with no lock held.  NULL on any
 * failure (logged). */
static jwks_gen *fetch_jwks(request_rec *r, const oauth2_dir_conf *conf,
                            const oauth2_issuer *is)
{
    ac_http_request req;
    ac_http_response resp;
    ac_http_status hs;
    ac_jose_status st;
    const char *err = NULL;
    apr_pool_t *gp;
    jwks_gen *gen;
    fetch_baton b;
    ac_jose_keyset *keys;

    memset(&req, 0, sizeof(req));
    req.url = is->url;
    req.accept = "application/jwk-set+json, application/json";
    req.timeout = conf->timeout;
    req.max_size = AC_JOSE_MAX_JWKS;
    hs = ac_http_fetch(r->pool, &req, &resp, &err);
    if (hs != AC_HTTP_OK) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AC_LOGNO(0503)
                      "oauth2: cannot fetch the JWK Set of %s from %s: %s",
                      is->iss, is->url, err);
        return NULL;
    }
    if (resp.status != 200) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AC_LOGNO(0504)
                      "oauth2: the JWK Set URL %s of %s answered %ld",
                      is->url, is->iss, resp.status);
        return NULL;
    }
    /* a pool of its own (the global pool's allocator is thread-safe): it
     * lives as long as requests use this generation */
    if (apr_pool_create(&gp, NULL) != APR_SUCCESS) {
        return NULL;
    }
    b.r = r;
    b.is = is;
    st = ac_jose_jwks_parse(gp, resp.body, resp.len, log_skipped_remote_key,
                            &b, &keys);
    if (st != AC_JOSE_OK) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AC_LOGNO(0505)
                      "oauth2: the JWK Set at %s of %s is refused: %s",
                      is->url, is->iss, ac_jose_strerror(st));
        apr_pool_destroy(gp);
        return NULL;
    }
    gen = apr_pcalloc(gp, sizeof(*gen));
    gen->pool = gp;
    gen->keys = keys;
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AC_LOGNO(0506)
                  "oauth2: fetched %d key(s) of %s from %s",
                  ac_jose_keyset_count(keys), is->iss, is->url);
    return gen;
}

/* The keys of a remote issuer for this request: the current generation,
 * fetched first when there is none, when the refresh is due, or when
 * `for_kid` asks for a refetch (an unknown kid) and none was made within
 * KID_REFETCH_INTERVAL.  One fetch at a time per issuer: meanwhile the
 * others keep using the keys they have, or, with none yet, wait for the
 * fetch.  *changed tells whether a new generation came in.  NULL when
 * there are no keys at all (the caller answers UNAVAILABLE). */
static const ac_jose_keyset *remote_keys(request_rec *r,
                                         const oauth2_dir_conf *conf,
                                         oauth2_issuer *is, int for_kid,
                                         int *changed)
{
    apr_time_t now = apr_time_now();
    jwks_gen *gen, *fresh;
    int want;
    gen_ref *ref;

    *changed = 0;
    apr_thread_mutex_lock(is->lock);
    gen = is->current;
    if (gen == NULL) {
        want = now >= is->retry_at;
    }
    else if (for_kid) {
        want = is->kid_refetch_at == 0
               || now - is->kid_refetch_at >= KID_REFETCH_INTERVAL;
    }
    else {
        want = now >= is->fresh_until;
    }
    if (want && !is->fetching) {
        is->fetching = 1;
        if (for_kid && gen != NULL) {
            is->kid_refetch_at = now;
        }
        apr_thread_mutex_unlock(is->lock);
        fresh = fetch_jwks(r, conf, is);
        apr_thread_mutex_lock(is->lock);
        is->fetching = 0;
        now = apr_time_now();
        if (fresh != NULL) {
            if (is->current != NULL) {
                is->current->retired = 1;
                if (is->current->refs == 0) {
                    apr_pool_destroy(is->current->pool);
                }
            }
            is->current = fresh;
            is->fresh_until = now + apr_time_from_sec(conf->jwks_refresh);
            *changed = 1;
        }
        else if (is->current != NULL) {
            /* keep the old keys; try again later */
            apr_interval_time_t wait = apr_time_from_sec(conf->jwks_refresh);

            is->fresh_until = now + (wait < FETCH_RETRY_MAX
                                     ? wait : FETCH_RETRY_MAX);
        }
        else {
            is->retry_at = now + FETCH_RETRY_NO_KEYS;
        }
        apr_thread_cond_broadcast(is->fetched);
    }
    else if (gen == NULL && is->fetching) {
        /* another request is fetching the first keys: wait for it */
        apr_time_t deadline = now + conf->timeout;

        while (is->fetching && is->current == NULL
               && (now = apr_time_now()) < deadline) {
            apr_thread_cond_timedwait(is->fetched, is->lock, deadline - now);
        }
    }
    gen = is->current;
    if (gen != NULL) {
        gen->refs++;
    }
    apr_thread_mutex_unlock(is->lock);
    if (gen == NULL) {
        return NULL;
    }
    ref = apr_palloc(r->pool, sizeof(*ref));
    ref->is = is;
    ref->gen = gen;
    apr_pool_cleanup_register(r->pool, ref, release_gen_cleanup,
                              apr_pool_cleanup_null);
    return gen->keys;
}

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

/* The error_description of a failed JOSE check; `claim` names the claim
 * that a CLAIM_MISSING or CLAIM_TYPE is about. */
/* The hex SHA-256 of the token, for the log and the lookups that need it:
 * computed into `hash` at the first call ("" before). */
static const char *token_hash(const char *token, apr_size_t len,
                              char hash[65])
{
    if (hash[0] == '\0') {
        ac_sha256_hex(token, len, hash);
    }
    return hash;
}

static const char *jose_reason(apr_pool_t *p, ac_jose_status st,
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

/* Which time claim check_times complained about. */
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
static ac_jose_status check_times(const json_t *claims, apr_int64_t leeway,
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

/* Fill a GRANTED record from validated claims: the user (UserClaim), the
 * scopes and the data.  Returns NULL, or the reason to refuse. */
static const char *grant_from_claims(request_rec *r,
                                     const oauth2_dir_conf *conf,
                                     const json_t *claims, const char *source,
                                     oauth2_record *rec)
{
    const json_t *user = json_object_get(claims, conf->user_claim);
    const char *scopes;
    ac_jose_status st;

    if (!json_is_string(user) || json_string_length(user) == 0) {
        return apr_psprintf(r->pool, "claim %s missing", conf->user_claim);
    }
    st = ac_jose_claim_scopes(r->pool, claims, &scopes);
    if (st != AC_JOSE_OK) {
        return jose_reason(r->pool, st,
                           json_object_get(claims, "scope") ? "scope"
                                                            : "scp");
    }
    rec->verdict = VERDICT_GRANTED;
    rec->user = apr_pstrmemdup(r->pool, json_string_value(user),
                               json_string_length(user));
    rec->scopes = scopes;
    rec->data = ac_jose_claims_data(r->pool, claims, source);
    if (rec->data == NULL) {
        return "malformed token: internal error";
    }
    rec->env = ac_jose_claims_env(r->pool, claims, source);
    return NULL;
}

static apr_int64_t claim_exp(const json_t *claims)
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

typedef enum {
    JUDGED = 0,         /* *rec holds the verdict */
    NO_KEYS,            /* a remote issuer without keys: UNAVAILABLE */
    MISCONFIGURED       /* no audience: UNAVAILABLE, logged */
} judge_status;

static judge_status judge_jwt(request_rec *r, const oauth2_dir_conf *conf,
                              const char *token, apr_size_t len,
                              oauth2_record *rec)
{
    char hash[65] = "";
    ac_jose_jws *jws;
    ac_jose_status st;
    const json_t *iss;
    oauth2_issuer *is;
    unsigned int algs;
    const char *claim = NULL, *why;
    int i;

    memset(rec, 0, sizeof(*rec));
    rec->verdict = VERDICT_DENIED;
    st = ac_jose_jws_parse(r->pool, token, len,
                           conf->algs_set ? conf->algs : AC_JOSE_ALGS_ALL,
                           &jws);
    if (st != AC_JOSE_OK) {
        rec->reason = jose_reason(r->pool, st, NULL);
        return JUDGED;
    }
    /* the unverified iss only picks the key set */
    iss = json_object_get(jws->claims, "iss");
    if (iss == NULL) {
        rec->reason = "claim iss missing";
        return JUDGED;
    }
    if (!json_is_string(iss)) {
        rec->reason = "claim iss has the wrong type";
        return JUDGED;
    }
    is = find_issuer(conf, json_string_value(iss));
    if (is == NULL) {
        rec->reason = "unknown issuer";
        return JUDGED;
    }
    algs = issuer_algs(conf, is);
    if (!(jws->alg & algs)) {
        rec->reason = "algorithm not allowed";
        return JUDGED;
    }

    if ((jws->alg & AC_JOSE_ALGS_HMAC) && is->hmac != NULL) {
        st = verify_hmac(jws, is->hmac);
    }
    else if (is->url != NULL) {
        int changed;
        const ac_jose_keyset *keys = remote_keys(r, conf, is, 0, &changed);

        if (keys == NULL) {
            return NO_KEYS;
        }
        st = ac_jose_jws_verify(jws, keys, algs, NULL);
        if (st == AC_JOSE_ERR_UNKNOWN_KID && !changed) {
            /* perhaps rotated: refetch (throttled) and try once more */
            keys = remote_keys(r, conf, is, 1, &changed);
            if (keys != NULL && changed) {
                st = ac_jose_jws_verify(jws, keys, algs, NULL);
            }
        }
    }
    else if (is->keys != NULL) {
        st = ac_jose_jws_verify(jws, is->keys, algs, NULL);
    }
    else {
        st = AC_JOSE_ERR_NO_KEY;     /* an HMAC-only issuer, another alg */
    }
    if (st != AC_JOSE_OK) {
        rec->reason = jose_reason(r->pool, st, NULL);
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, AC_LOGNO(0507)
                      "oauth2: token %.8s of %s: %s",
                      token_hash(token, len, hash),
                      ap_escape_logitem(r->pool, is->iss), rec->reason);
        return JUDGED;
    }

    /* the token is authentic: now its claims */
    st = check_times(jws->claims, conf->leeway, 1, &claim);
    if (st == AC_JOSE_OK) {
        st = ac_jose_check_issuer(jws->claims, is->iss);
        claim = "iss";
    }
    if (st == AC_JOSE_OK) {
        claim = "aud";
        if (!conf->any_audience) {
            if (conf->audiences == NULL || conf->audiences->nelts == 0) {
                ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AC_LOGNO(0508)
                              "oauth2: no AuthOAuth2Audience for %s: set "
                              "one, or * to accept any", r->uri);
                return MISCONFIGURED;
            }
            for (i = 0; i < conf->audiences->nelts; i++) {
                st = ac_jose_check_audience(jws->claims,
                                            APR_ARRAY_IDX(conf->audiences, i,
                                                          const char *));
                if (st != AC_JOSE_ERR_WRONG_AUDIENCE) {
                    break;
                }
            }
        }
    }
    if (st == AC_JOSE_OK && conf->require_typ) {
        st = ac_jose_jws_check_typ(jws);
    }
    if (st != AC_JOSE_OK) {
        rec->reason = jose_reason(r->pool, st, claim);
        rec->expires = claim_exp(jws->claims);
        return JUDGED;
    }
    why = grant_from_claims(r, conf, jws->claims, "jwt", rec);
    if (why != NULL) {
        rec->verdict = VERDICT_DENIED;
        rec->reason = why;
    }
    rec->expires = claim_exp(jws->claims);
    return JUDGED;
}

/* ----------------------------------------------------------------------
 * RFC 7662 introspection
 */

/* 0 with *rec judged, or -1 when the endpoint cannot answer (logged). */
static int judge_introspection(request_rec *r, const oauth2_dir_conf *conf,
                               const char *token, apr_size_t len,
                               const char *hash, oauth2_record *rec)
{
    ac_http_request req;
    ac_http_response resp;
    ac_http_status hs;
    const char *err = NULL, *claim = NULL, *why;
    json_t *answer, *active;
    json_error_t jerr;
    ac_jose_status st;

    memset(rec, 0, sizeof(*rec));
    rec->verdict = VERDICT_DENIED;
    memset(&req, 0, sizeof(req));
    req.url = conf->introspect;
    req.body = apr_pstrcat(r->pool, "token=",
                           ac_form_urlencode(r->pool, token, len),
                           "&token_type_hint=access_token", NULL);
    req.body_len = strlen(req.body);
    req.content_type = "application/x-www-form-urlencoded";
    req.accept = "application/json";
    if (conf->client_id != NULL) {
        req.authorization = ac_http_basic_credentials(
            r->pool, conf->client_id,
            conf->client_secret ? conf->client_secret : "");
    }
    req.timeout = conf->timeout;
    req.max_size = MAX_INTROSPECTION;
    hs = ac_http_fetch(r->pool, &req, &resp, &err);
    if (hs != AC_HTTP_OK) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AC_LOGNO(0510)
                      "oauth2: introspection of token %.8s at %s failed: %s",
                      hash, conf->introspect, err);
        return -1;
    }
    if (resp.status != 200) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AC_LOGNO(0511)
                      "oauth2: the introspection endpoint %s answered %ld%s",
                      conf->introspect, resp.status,
                      resp.status == 401 || resp.status == 403
                      ? " (check AuthOAuth2ClientID/ClientSecret)" : "");
        return -1;
    }
    answer = json_loadb(resp.body, resp.len,
                        JSON_REJECT_DUPLICATES,
                        &jerr);
    if (answer == NULL || !json_is_object(answer)) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AC_LOGNO(0512)
                      "oauth2: the introspection endpoint %s answered "
                      "something that is not a JSON object",
                      conf->introspect);
        json_decref(answer);
        return -1;
    }
    active = json_object_get(answer, "active");
    if (!json_is_boolean(active)) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AC_LOGNO(0513)
                      "oauth2: the introspection answer of %s has no boolean "
                      "active member", conf->introspect);
        json_decref(answer);
        return -1;
    }
    if (!json_is_true(active)) {
        rec->reason = "token inactive";
        json_decref(answer);
        return 0;
    }
    st = check_times(answer, conf->leeway, 0, &claim);
    if (st != AC_JOSE_OK) {
        rec->reason = jose_reason(r->pool, st, claim);
        json_decref(answer);
        return 0;
    }
    why = grant_from_claims(r, conf, answer, "introspection", rec);
    if (why != NULL) {
        rec->verdict = VERDICT_DENIED;
        rec->reason = why;
    }
    rec->expires = claim_exp(answer);
    json_decref(answer);
    return 0;
}

/* ----------------------------------------------------------------------
 * Tokens stored in PostgreSQL (django-oauth-toolkit)
 */

static int is_true(const char *v)
{
    return v != NULL && (v[0] == 't' || v[0] == 'T' || v[0] == '1');
}

/* "AuthOAuth2DB at FILE:LINE": names the directive in the log lines of
 * its database (the shared pool's included). */
static const char *db_named(apr_pool_t *p, const oauth2_dir_conf *conf)
{
    return apr_psprintf(p, "AuthOAuth2DB at %s:%d", conf->db_at.file,
                        conf->db_at.line);
}

static const char *layout_name(oauth2_schema layout)
{
    return layout == SCHEMA_DOT3 ? "3.x (with token_checksum)"
                                 : "1.x/2.x (without token_checksum)";
}

/* The layout of the tables of this AuthOAuth2DB: the one that
 * AuthOAuth2DBSchema names, or the one detected, remembered per child and
 * asked again after DOT_DETECT_INTERVAL, or at once when `again` (the
 * database refused a lookup).  SCHEMA_DOT when the database cannot
 * answer, or has no access token table (both logged). */
static oauth2_schema db_layout(request_rec *r, const oauth2_dir_conf *conf,
                               int again)
{
    dot_detected *d = conf->detected;
    apr_uint32_t now = (apr_uint32_t)apr_time_sec(apr_time_now());
    apr_uint32_t layout, since, found;
    const char *what;
    PGresult *res;

    if (conf->schema != SCHEMA_DOT) {
        return conf->schema;
    }
    layout = apr_atomic_read32(&d->layout);
    since = apr_atomic_read32(&d->since);
    /* while one request of the child asks again, the others go on with
     * what it found before */
    if (layout != SCHEMA_DOT && !again
        && (now - since < DOT_DETECT_INTERVAL
            || apr_atomic_cas32(&d->since, now, since) != since)) {
        return (oauth2_schema)layout;
    }
    what = db_named(r->pool, conf);
    if (ac_pg_query(ac_pg_pool_get(conf->db, conf->db_timeout,
                                   DEFAULT_DB_POOL_SIZE),
                    r->server, r->pool, what, dot_detect_sql, 0, NULL, &res)
        != AC_PG_OK) {
        return SCHEMA_DOT;
    }
    if (PQntuples(res) == 0) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AC_LOGNO(0521)
                      "%s: configuration error, not an outage: no table "
                      "oauth2_provider_accesstoken where the connection's "
                      "search_path looks (AuthOAuth2DBSchema dot: "
                      "django-oauth-toolkit's tables)", what);
        return SCHEMA_DOT;
    }
    found = is_true(PQgetvalue(res, 0, 0)) ? SCHEMA_DOT3 : SCHEMA_DOT1;
    apr_atomic_set32(&d->layout, found);
    apr_atomic_set32(&d->since, now);
    if (found != layout) {
        ap_log_rerror(APLOG_MARK, layout == SCHEMA_DOT ? APLOG_DEBUG
                                                       : APLOG_NOTICE,
                      0, r, AC_LOGNO(0522)
                      "%s: django-oauth-toolkit %s tables%s", what,
                      layout_name((oauth2_schema)found),
                      layout == SCHEMA_DOT ? "" : " now (migrated)");
    }
    return (oauth2_schema)found;
}

/* Look the token up in the tables of `layout`: by its SHA-256 (3.x), or
 * by the token itself (1.x/2.x store nothing else).  On AC_PG_OK, *row
 * is its row of *res, or -1. */
static ac_pg_status lookup_dot(request_rec *r, const oauth2_dir_conf *conf,
                               oauth2_schema layout, const char *token,
                               apr_size_t len, const char *hash,
                               PGresult **res, int *row)
{
    ac_pg_pool *pool = ac_pg_pool_get(conf->db, conf->db_timeout,
                                      DEFAULT_DB_POOL_SIZE);
    const char *key = hash;
    apr_size_t keylen = 64;
    ac_pg_status st;

    *res = NULL;
    *row = -1;
    if (layout == SCHEMA_DOT1) {
        if (len > DOT1_TOKEN_MAX) {
            return AC_PG_OK;        /* the column cannot hold it */
        }
        key = apr_pstrmemdup(r->pool, token, len);
        keylen = len;
    }
    st = ac_pg_batch_query(ac_pg_batch_get(pool, layout == SCHEMA_DOT3
                                                 ? dot3_sql : dot1_sql),
                           r->server, r->pool, db_named(r->pool, conf), key,
                           res);
    if (st == AC_PG_OK) {
        /* the rows of the other tokens of the batch: each is compared */
        *row = ac_sql_row_of(*res, DOT_KEY_COLUMN, key, keylen);
    }
    return st;
}

/* 0 with *rec judged, or -1 when the database cannot answer, or refuses
 * the lookup (a configuration error: logged as one). */
static int judge_db(request_rec *r, const oauth2_dir_conf *conf,
                    const char *token, apr_size_t len, const char *hash,
                    oauth2_record *rec)
{
    oauth2_schema layout = db_layout(r, conf, 0), found;
    PGresult *res;
    json_t *claims;
    const char *why;
    apr_int64_t expires;
    ac_pg_status st;
    int row;

    memset(rec, 0, sizeof(*rec));
    rec->verdict = VERDICT_DENIED;
    if (layout == SCHEMA_DOT) {
        return -1;
    }
    st = lookup_dot(r, conf, layout, token, len, hash, &res, &row);
    if (st == AC_PG_REFUSED && conf->schema == SCHEMA_DOT
        && (found = db_layout(r, conf, 1)) != layout
        && found != SCHEMA_DOT) {
        /* the tables were migrated under the running server: once more,
         * the way they are now */
        st = lookup_dot(r, conf, found, token, len, hash, &res, &row);
    }
    if (st != AC_PG_OK) {
        return -1;
    }
    if (row < 0) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AC_LOGNO(0520)
                      "oauth2: no stored token with SHA-256 %.8s...", hash);
        rec->reason = "unknown token";
        return 0;
    }
    expires = PQgetisnull(res, row, 4)
              ? 0 : apr_atoi64(PQgetvalue(res, row, 4));
    rec->expires = expires;
    if (expires != 0 && expires <= apr_time_sec(apr_time_now())) {
        rec->reason = "token expired";
        return 0;
    }
    if (!PQgetisnull(res, row, 0) && !is_true(PQgetvalue(res, row, 1))) {
        rec->reason = "user inactive";
        return 0;
    }
    /* the row as claims, so that UserClaim and the data work as for the
     * other sources */
    claims = json_object();
    if (claims == NULL) {
        return -1;
    }
    if (!PQgetisnull(res, row, 0)) {
        json_object_set_new(claims, "sub",
                            json_string(PQgetvalue(res, row, 0)));
        json_object_set_new(claims, "username",
                            json_string(PQgetvalue(res, row, 0)));
    }
    if (!PQgetisnull(res, row, 2)) {
        json_object_set_new(claims, "client_id",
                            json_string(PQgetvalue(res, row, 2)));
    }
    json_object_set_new(claims, "scope",
                        json_string(PQgetisnull(res, row, 3)
                                    ? "" : PQgetvalue(res, row, 3)));
    if (expires != 0) {
        json_object_set_new(claims, "exp", json_integer(expires));
    }
    if (!PQgetisnull(res, row, 5)) {
        json_object_set_new(claims, "token_id",
                            json_string(PQgetvalue(res, row, 5)));
    }
    why = grant_from_claims(r, conf, claims, "db", rec);
    if (why != NULL) {
        rec->verdict = VERDICT_DENIED;
        rec->reason = why;
    }
    json_decref(claims);
    return 0;
}

/* ----------------------------------------------------------------------
 * The cache: verdicts by a hash of (the settings that judged, the token)
 */

/* The node's cache, or NULL when this location caches nothing
 * (AuthOAuth2CacheTTL 0): then no cache id is even computed. */
static ac_cache *cache_of(const oauth2_dir_conf *conf)
{
    oauth2_srv_conf *sconf = ap_get_module_config(
        ap_server_conf->module_config, &authn_oauth2_module);

    return conf->cache_ttl > 0 ? sconf->cache : NULL;
}

/* Every setting that a verdict depends on (ac_verdict.h): the issuers
 * with a digest of their keys, the audiences, the checks, the user claim,
 * the introspection endpoint and its client, the database. */
static void judging_settings(ac_fp *fp, const oauth2_dir_conf *conf)
{
    int i;

    for (i = 0; conf->issuers && i < conf->issuers->nelts; i++) {
        const oauth2_issuer *is = APR_ARRAY_IDX(conf->issuers, i,
                                                const oauth2_issuer *);

        ac_fp_str(fp, is->iss);
        ac_fp_str(fp, is->source);
        ac_fp_mem(fp, is->keys_fp, sizeof(is->keys_fp));
    }
    ac_fp_int(fp, conf->issuers ? conf->issuers->nelts : 0);
    for (i = 0; conf->audiences && i < conf->audiences->nelts; i++) {
        ac_fp_str(fp, APR_ARRAY_IDX(conf->audiences, i, const char *));
    }
    ac_fp_int(fp, conf->audiences ? conf->audiences->nelts : 0);
    ac_fp_int(fp, conf->any_audience);
    ac_fp_int(fp, conf->algs_set ? (apr_int64_t)conf->algs : 0);
    ac_fp_int(fp, conf->leeway);
    ac_fp_int(fp, conf->require_typ);
    ac_fp_str(fp, conf->user_claim);
    ac_fp_str(fp, conf->introspect);
    ac_fp_str(fp, conf->client_id);
    ac_fp_str(fp, conf->client_secret);
    ac_fp_str(fp, conf->db);
    ac_fp_int(fp, conf->schema);
}

/* The cache id: the judging settings, where the verdict came from
 * (`path`: jwt, introspection, db) and the token. */
static void cache_id(const oauth2_dir_conf *conf, const char *path,
                     const char *token, apr_size_t len, unsigned char id[32])
{
    ac_fp fp;

    ac_fp_begin(&fp);
    judging_settings(&fp, conf);
    ac_fp_str(&fp, path);
    ac_fp_final(&fp, token, len, id);
}

/* A record as the cache holds it: the verdict and expiry, then user,
 * scopes, data, reason, env. */
static int cache_get(request_rec *r, const oauth2_dir_conf *conf,
                     const unsigned char id[32], oauth2_record *rec)
{
    ac_verdict v;

    if (!ac_verdict_get(cache_of(conf), r->server, id, conf->cache_ttl, 5,
                        r->pool, &v)
        || (v.verdict != VERDICT_GRANTED && v.verdict != VERDICT_DENIED)) {
        return 0;
    }
    rec->verdict = (oauth2_verdict)v.verdict;
    rec->expires = v.expires;
    rec->user = v.fields[0];
    rec->scopes = v.fields[1];
    rec->data = v.fields[2];
    rec->reason = v.fields[3];
    rec->env = v.fields[4];
    return 1;
}

/* Cache a verdict reached from what the sources said at `asked`: a grant
 * (until the TTL or exp, whichever comes first); a refusal of an opaque
 * token (inactive, unknown) briefly, so that junk does not hammer the
 * endpoint or the database.  A refused JWT is not cached: judging it
 * again costs what a lookup would. */
static void cache_put(request_rec *r, const oauth2_dir_conf *conf,
                      const unsigned char id[32], const oauth2_record *rec,
                      int negative, apr_time_t asked)
{
    ac_verdict v;

    if (rec->verdict != VERDICT_GRANTED && !negative) {
        return;
    }
    memset(&v, 0, sizeof(v));
    v.verdict = (int)rec->verdict;
    v.expires = rec->expires;
    v.loaded = asked;
    v.fields[0] = rec->user;
    v.fields[1] = rec->scopes;
    v.fields[2] = rec->data;
    v.fields[3] = rec->reason;
    v.fields[4] = rec->env;
    /* nothing evicts from this cache: `asked` will do as `known` */
    ac_verdict_put(cache_of(conf), r->server, id, conf->cache_ttl, asked, &v,
                   5, r->pool);
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

/* Decide for this request: DECLINED without a Bearer token (or a form
 * token where allowed); DENIED invalid_request for a malformed one;
 * otherwise the verdict of the JWT checks, of the introspection endpoint
 * or of the database (cached), UNAVAILABLE when those cannot answer. */
static auth_chain_status oauth2_authenticate(request_rec *r,
                                             auth_chain_result *res)
{
    oauth2_dir_conf *conf = ap_get_module_config(r->per_dir_config,
                                                 &authn_oauth2_module);
    ac_auth_header h;
    const char *token = NULL, *form_token = NULL, *reason = NULL;
    apr_size_t len = 0, form_len = 0, i;
    char hash[65] = "";
    unsigned char id[32];
    oauth2_record rec;
    int dots = 0, have_issuers, negative = 0, cached = 0;
    apr_time_t asked = apr_time_now();

    ac_auth_header_split(apr_table_get(r->headers_in, "Authorization"), &h);
    if (ac_auth_header_is(&h, "Bearer")) {
        if (h.nwords == 1) {
            return deny(res, "invalid_request",
                        "malformed request: Bearer without a token");
        }
        if (h.nwords > 2) {
            return deny(res, "invalid_request",
                        "malformed request: the token contains spaces");
        }
        if (h.credentials_len > AC_JOSE_MAX_TOKEN) {
            return deny(res, "invalid_request",
                        "malformed token: longer than 16384 characters");
        }
        if (!is_b64token(h.credentials, h.credentials_len)) {
            return deny(res, "invalid_request",
                        "malformed token: characters outside RFC 6750 "
                        "b64token");
        }
        token = h.credentials;
        len = h.credentials_len;
    }
    if (conf->form_token) {
        if (read_form_token(r, &form_token, &form_len, &reason)) {
            return deny(res, "invalid_request", reason);
        }
        if (form_token != NULL) {
            if (token != NULL) {
                return deny(res, "invalid_request",
                            "malformed request: a token both in the header "
                            "and in the body");
            }
            if (!is_b64token(form_token, form_len)) {
                return deny(res, "invalid_request",
                            "malformed token: characters outside RFC 6750 "
                            "b64token");
            }
            token = form_token;
            len = form_len;
        }
    }
    if (token == NULL) {
        return AUTH_CHAIN_DECLINED;
    }

    for (i = 0; i < len; i++) {
        dots += token[i] == '.';
    }
    have_issuers = conf->issuers != NULL && conf->issuers->nelts > 0;
    if (!have_issuers && conf->introspect == NULL && conf->db == NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AC_LOGNO(0530)
                      "oauth2: %s has none of AuthOAuth2Issuer, "
                      "AuthOAuth2HMACKey, AuthOAuth2Introspect, "
                      "AuthOAuth2DB", r->uri);
        return unavailable(res, "The oauth2 scheme is not configured.");
    }

    if (cache_of(conf) != NULL) {
        cache_id(conf, have_issuers && (dots == 2 || dots == 4) ? "jwt"
                       : conf->introspect ? "introspection" : "db",
                 token, len, id);
        cached = cache_get(r, conf, id, &rec);
    }
    if (!cached) {
        if (have_issuers && (dots == 2 || dots == 4)) {
            switch (judge_jwt(r, conf, token, len, &rec)) {
            case NO_KEYS:
                return unavailable(res, "The token issuer's keys cannot be "
                                        "fetched.");
            case MISCONFIGURED:
                return unavailable(res, "The oauth2 scheme is not "
                                        "configured.");
            default:
                break;
            }
        }
        else if (conf->introspect != NULL) {
            if (judge_introspection(r, conf, token, len,
                                    token_hash(token, len, hash), &rec)
                != 0) {
                return unavailable(res, "The token introspection endpoint "
                                        "cannot answer.");
            }
            negative = 1;
        }
        else if (conf->db != NULL) {
            if (judge_db(r, conf, token, len, token_hash(token, len, hash),
                         &rec) != 0) {
                return unavailable(res, "The token store is unavailable.");
            }
            negative = 1;
        }
        else {
            memset(&rec, 0, sizeof(rec));
            rec.verdict = VERDICT_DENIED;
            rec.reason = "malformed token";
        }
        if (cache_of(conf) != NULL) {
            cache_put(r, conf, id, &rec, negative, asked);
        }
    }

    if (rec.verdict != VERDICT_GRANTED) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AC_LOGNO(0531)
                      "oauth2: token %.8s refused%s: %s",
                      token_hash(token, len, hash),
                      cached ? " (cached)" : "", rec.reason);
        return deny(res, "invalid_token", rec.reason);
    }
    res->user = rec.user;
    res->scopes = rec.scopes;
    res->data = rec.data;
    /* on the request that asked, for oauth2_fixups: "" hides an older
     * answer's claims from a request that asked again */
    apr_table_setn(r->notes, ENV_NOTE, rec.env ? rec.env : "");
    return AUTH_CHAIN_GRANTED;
}

static const char *oauth2_challenge(request_rec *r)
{
    return ac_challenge(r, "Bearer");
}

static const char *oauth2_scope_challenge(request_rec *r, const char *scopes)
{
    return apr_pstrcat(r->pool, ac_challenge(r, "Bearer"),
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
    judging_settings(&f, conf);
    ac_fp_int(&f, conf->form_token);
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
    const char *data = apr_table_get(r->notes, AUTH_CHAIN_DATA_NOTE);
    const request_rec *rr;
    const char *env = NULL, *name, *value;
    apr_size_t name_len, value_len;

    if (data == NULL || r->ap_auth_type == NULL
        || strcmp(r->ap_auth_type, "Bearer") != 0
        || ap_strstr_c(data, "\"scheme\":\"oauth2\"") == NULL) {
        return DECLINED;
    }
    for (rr = r; rr != NULL && env == NULL;
         rr = rr->main != NULL ? rr->main : rr->prev) {
        env = apr_table_get(rr->notes, ENV_NOTE);
    }
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
static int oauth2_check_config(apr_pool_t *pconf, apr_pool_t *plog,
                               apr_pool_t *ptemp, server_rec *s)
{
    const char *err = check_audiences(ptemp, s);

    if (err != NULL) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, AC_LOGNO(0541) "%s", err);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

/* --- the start-up check: the tables of each AuthOAuth2DB ----------------- */

/* Whether the tables of `conf`'s database fit the lookups: NULL when they
 * do, or when the database cannot be reached now (a warning: requests
 * answer 503 until it can, and each lookup finds out); else the error
 * that stops httpd. */
static const char *check_db(apr_pool_t *p, server_rec *s,
                            const oauth2_dir_conf *conf)
{
    const char *what = db_named(p, conf), *err, *empty = "{}";
    apr_interval_time_t timeout = conf->db_timeout < DB_CHECK_TIMEOUT
                                  ? conf->db_timeout : DB_CHECK_TIMEOUT;
    oauth2_schema found = SCHEMA_DOT;
    ac_pg_probe *probe;
    ac_pg_status st;
    PGresult *res;

    st = ac_pg_probe_open(p, conf->db, timeout, &probe, &err);
    if (st == AC_PG_OK) {
        st = ac_pg_probe_query(probe, dot_detect_sql, 0, NULL, &res, &err);
    }
    if (st == AC_PG_OK && PQntuples(res) == 0) {
        return apr_psprintf(p, "%s: no table oauth2_provider_accesstoken "
                            "where the connection's search_path looks: "
                            "these are not django-oauth-toolkit's tables",
                            what);
    }
    if (st == AC_PG_OK) {
        found = is_true(PQgetvalue(res, 0, 0)) ? SCHEMA_DOT3 : SCHEMA_DOT1;
        if (conf->schema != SCHEMA_DOT && conf->schema != found) {
            return apr_psprintf(p, "AuthOAuth2DBSchema %s at %s:%d does not "
                                "fit the tables of %s: they are "
                                "django-oauth-toolkit %s tables; write "
                                "AuthOAuth2DBSchema %s, or dot to have the "
                                "layout detected",
                                conf->schema == SCHEMA_DOT3 ? "dot3" : "dot1",
                                conf->schema_at.file, conf->schema_at.line,
                                what, layout_name(found),
                                found == SCHEMA_DOT3 ? "dot3" : "dot1");
        }
        /* the lookup itself, of no token: every table, column and
         * privilege it needs */
        st = ac_pg_probe_query(probe, found == SCHEMA_DOT3 ? dot3_sql
                                                           : dot1_sql,
                               1, &empty, &res, &err);
    }
    if (st == AC_PG_REFUSED) {
        return apr_psprintf(p, "%s: the database refuses the lookup of "
                            "django-oauth-toolkit's tokens: %s", what, err);
    }
    if (st != AC_PG_OK) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, AC_LOGNO(0543)
                     "%s: cannot check its tables now (%s): each lookup "
                     "will, answering 503 while the database cannot",
                     what, err);
        return NULL;
    }
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, AC_LOGNO(0544)
                 "%s: django-oauth-toolkit %s tables", what,
                 layout_name(found));
    return NULL;
}

/* Check `conf` (a section merged over its server's settings) unless its
 * database and schema were checked already; counts the errors. */
static void check_db_once(apr_pool_t *p, server_rec *s, apr_hash_t *seen,
                          const oauth2_dir_conf *conf, int *errors)
{
    const char *key, *err;

    if (conf == NULL || conf->db == NULL) {
        return;
    }
    key = apr_psprintf(p, "%d %s", (int)conf->schema, conf->db);
    if (apr_hash_get(seen, key, APR_HASH_KEY_STRING) != NULL) {
        return;
    }
    apr_hash_set(seen, key, APR_HASH_KEY_STRING, key);
    if ((err = check_db(p, s, conf)) != NULL) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, AC_LOGNO(0542)
                     "configuration error: %s", err);
        ++*errors;
    }
}

static void check_sections_db(apr_pool_t *p, server_rec *s,
                              apr_hash_t *seen, apr_array_header_t *secs,
                              const oauth2_dir_conf *base, int *errors)
{
    int i;

    for (i = 0; secs != NULL && i < secs->nelts; i++) {
        const oauth2_dir_conf *c = ap_get_module_config(
            APR_ARRAY_IDX(secs, i, ap_conf_vector_t *), &authn_oauth2_module);

        if (c != NULL && (c->db_set || c->schema_set)) {
            check_db_once(p, s, seen,
                          merge_oauth2_dir_config(p, (void *)base, (void *)c),
                          errors);
        }
    }
}

/* check_config: the tables of every AuthOAuth2DB, where the database can
 * be reached within DB_CHECK_TIMEOUT; a layout that the lookups cannot
 * use stops httpd (a configuration error, which no request could get
 * past).  Each server's settings, and each <Location>/<Directory> merged
 * over them.  Made at a configuration test (httpd -t), at a start's first
 * reading of the configuration (whose failure the command that starts
 * httpd sees), and at each restart; not at a start's second reading. */
static int oauth2_check_db(apr_pool_t *pconf, apr_pool_t *plog,
                           apr_pool_t *ptemp, server_rec *main_s)
{
    apr_hash_t *seen = apr_hash_make(ptemp);
    server_rec *s;
    int errors = 0;

    if (ap_state_query(AP_SQ_MAIN_STATE) != AP_SQ_MS_CREATE_PRE_CONFIG
        && ap_state_query(AP_SQ_CONFIG_GEN) == 1) {
        return OK;
    }
    for (s = main_s; s != NULL; s = s->next) {
        core_server_config *sconf =
            ap_get_core_module_config(s->module_config);
        const oauth2_dir_conf *base = ap_get_module_config(
            s->lookup_defaults, &authn_oauth2_module);

        check_db_once(ptemp, s, seen, base, &errors);
        check_sections_db(ptemp, s, seen, sconf->sec_url, base, &errors);
        check_sections_db(ptemp, s, seen, sconf->sec_dir, base, &errors);
    }
    return errors == 0 ? OK : HTTP_INTERNAL_SERVER_ERROR;
}

/* post_config: libcurl's global set-up and the
 * shared cache (AuthOAuth2Cache, default shmcb; `AuthOAuth2CacheTTL 0` is
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
    return ac_cache_setup(s, pconf, ptemp, "AuthOAuth2Cache",
                          sconf->cache_spec, OAUTH2_MUTEX_TYPE, "authn_oauth2",
                          &sconf->cache);
}

static void oauth2_child_init(apr_pool_t *pchild, server_rec *s)
{
    oauth2_srv_conf *sconf = ap_get_module_config(s->module_config,
                                                  &authn_oauth2_module);

    ac_pg_child_init(pchild, s);
    ac_cache_child_init(sconf->cache, pchild, s);
}

static void oauth2_retrieve_functions(void)
{
    insert_keep_filter = APR_RETRIEVE_OPTIONAL_FN(ap_request_insert_filter);
}

static void register_hooks(apr_pool_t *p)
{
    static const char *const after_chain[] = { "mod_auth_chain.c", NULL };

    AC_LOG_MODULE(authn_oauth2);
    ap_hook_pre_config(oauth2_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_check_config(oauth2_check_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_check_config(oauth2_check_db, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(oauth2_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(oauth2_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_optional_fn_retrieve(oauth2_retrieve_functions, NULL, NULL,
                                 APR_HOOK_MIDDLE);
    ap_hook_fixups(oauth2_fixups, after_chain, NULL, APR_HOOK_MIDDLE);
    ap_register_provider(p, AUTH_CHAIN_PROVIDER_GROUP, "oauth2",
                         AUTH_CHAIN_PROVIDER_VERSION, &oauth2_provider);
}

AP_DECLARE_MODULE(authn_oauth2) = {
    STANDARD20_MODULE_STUFF,
    create_oauth2_dir_config,
    merge_oauth2_dir_config,
    create_oauth2_srv_config,
    NULL,
    oauth2_cmds,
    register_hooks
};
