/* Licensed under the Apache License, Version 2.0.
 *
 * mod_authn_token -- the `token` scheme of AuthType Chain: Django REST
 * framework's TokenAuthentication, with keys kept as modern API keys
 * should be.  `Authorization: Token <key>`; the key is looked up in
 * PostgreSQL (our own table, where only its SHA-256 is stored, or the
 * tables of DRF's authtoken or django-rest-knox), and the answer is cached
 * across processes through socache, keyed by a hash of the key.  One
 * thread per node (a mod_watchdog singleton) LISTENs to the database and
 * drops the cached answer of a key the moment its row changes
 * (AuthTokenRevocationListen, sql/schema.sql).
 */

#include "apr_lib.h"
#include "apr_optional.h"
#include "apr_strings.h"
#include "apr_time.h"

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_main.h"
#include "http_protocol.h"
#include "http_request.h"
#include "ap_provider.h"
#include "mod_watchdog.h"

#include "mod_auth_chain.h"
#include "ac_metrics.h"
#include "ac_common.h"
#include "ac_cache.h"
#include "ac_conf.h"
#include "ac_key.h"
#include "ac_pg.h"
#include "ac_request.h"
#include "ac_verdict.h"

module AP_MODULE_DECLARE_DATA authn_token_module;

#define TOKEN_MUTEX_TYPE "authn-token-cache"
#define TOKEN_DEFAULT_KEYWORD "Token"
#define TOKEN_DEFAULT_TIMEOUT apr_time_from_sec(2)
#define TOKEN_DEFAULT_POOL_SIZE 8
#define TOKEN_DEFAULT_TOUCH 60
#define TOKEN_DEFAULT_CACHE_TTL 30
#define RETRY_AFTER 5
/* knox's token_key: the first 15 characters of the token */
#define KNOX_TOKEN_KEY_LENGTH 15
/* The revocation listener: its thread, its PostgreSQL channel (the
 * trigger of sql/schema.sql), and its rhythm: the watchdog calls it every
 * 100 ms, and each call waits up to 200 ms for a notification, so a
 * notification is acted on within about 0.1 s. */
#define TOKEN_WATCHDOG "authn-token-revocation"
#define TOKEN_CHANNEL "authchain_token"
#define TOKEN_LISTENER_APP "authchain-listener"
#define LISTEN_INTERVAL AP_WD_TM_SLICE
#define LISTEN_WAIT apr_time_from_msec(200)

typedef enum {
    SCHEMA_NATIVE = 0,
    SCHEMA_DRF,
    SCHEMA_KNOX,
    SCHEMA_CUSTOM
} token_schema;

/* Every query returns these columns, in this order (the AuthTokenQuery
 * contract, docs/mod_authn_token.md): user, id, name, scopes, expires
 * (epoch seconds or NULL; PostgreSQL's infinity is NULL, never, and
 * -infinity 1, long past: as numbers they are no bigint), revoked
 * (boolean), active (boolean), and the
 * stored secret to compare with: the SHA-256 hex of the key (native,
 * custom), the key itself (drf), the SHA-512 hex of the key (knox).
 * The native query adds last_used (epoch seconds or NULL).
 *
 * $1 is an array of keys: the lookups of concurrent requests share
 * statements (ac_pg_batch), and each request tells its row by its secret.
 * The array is text, cast to the column's type: key_hash is char(64), and
 * compared as text it could not use its index.  The same strings name the
 * cache entries (judging_settings). */
static const char *const schema_sql[] = {
    "SELECT user_name, id::text, name, scopes,"
    " CASE WHEN isfinite(expires) THEN date_part('epoch', expires)::bigint"
    " WHEN expires < now() THEN 1 END, revoked IS NOT NULL, true,"
    " key_hash, date_part('epoch', last_used)::bigint"
    " FROM authchain_token WHERE key_hash = ANY($1::bpchar[])",

    "SELECT u.username, NULL, '', '', NULL::bigint, false, u.is_active,"
    " t.key FROM authtoken_token t JOIN auth_user u ON u.id = t.user_id"
    " WHERE t.key = ANY($1::varchar[])",

    "SELECT u.username, 'sha512:' || left(t.digest, 8), '', '',"
    " CASE WHEN isfinite(t.expiry) THEN date_part('epoch', t.expiry)::bigint"
    " WHEN t.expiry < now() THEN 1 END, false, u.is_active, t.digest"
    " FROM knox_authtoken t JOIN auth_user u ON u.id = t.user_id"
    " WHERE t.token_key = ANY($1::varchar[])",
};

static const char touch_sql[] =
    "UPDATE authchain_token SET last_used = now() WHERE id = $1::bigint"
    " AND (last_used IS NULL"
    " OR last_used < now() - make_interval(secs => $2::integer))";

typedef struct {
    ac_cache *cache;            /* main server only */
    const char *cache_spec;             /* NULL: shmcb */
    int listen;                 /* AuthTokenRevocationListen: -1 unset */
} token_srv_conf;

/* Each setting with its `_set` flag (ac_conf.h). */
typedef struct {
    const char *db;
    ac_conf_place db_at;        /* where AuthTokenDB was written */
    apr_interval_time_t timeout;
    int pool_size;
    int schema;                 /* token_schema */
    const char *query;
    const char *keyword;
    const char *prefix;
    int touch;
    int cache_ttl;
    unsigned char db_set, timeout_set, pool_size_set, schema_set,
        query_set, keyword_set, prefix_set, touch_set, cache_ttl_set;
} token_dir_conf;

/* A revocation listener: one per distinct AuthTokenDB string. */
typedef struct {
    token_srv_conf *sconf;
    const char *db;
    const char *where;          /* its first AuthTokenDB directive */
    apr_interval_time_t timeout;        /* connecting and LISTEN */
    int drf;                    /* also evict the drf schema's entries */
    ac_pg_listener *listener;
} token_listener;

/* What a key turned out to be, as cached. */
typedef enum {
    VERDICT_GRANTED = 0,
    VERDICT_INVALID,
    VERDICT_REVOKED,
    VERDICT_EXPIRED,
    VERDICT_INACTIVE
} token_verdict;

typedef struct {
    token_verdict verdict;
    apr_int64_t expires;        /* epoch seconds, 0 = never */
    apr_int64_t touched;        /* epoch seconds of our last last_used write */
    apr_time_t loaded;          /* when its database read began */
    apr_time_t known;           /* when this request began reading it (not
                                 * part of the cached record) */
    const char *user, *id, *name, *scopes;
} token_record;

/* A last_used write waiting for the end of the request. */
typedef struct {
    ac_pg_pool *pool;
    const char *id;
    int interval;
} token_touch;

static void *create_token_srv_config(apr_pool_t *p, server_rec *s)
{
    token_srv_conf *sconf = apr_pcalloc(p, sizeof(token_srv_conf));

    sconf->listen = -1;
    return sconf;
}

static void *create_token_dir_config(apr_pool_t *p, char *dir)
{
    token_dir_conf *conf = apr_pcalloc(p, sizeof(*conf));

    conf->timeout = TOKEN_DEFAULT_TIMEOUT;
    conf->pool_size = TOKEN_DEFAULT_POOL_SIZE;
    conf->schema = SCHEMA_NATIVE;
    conf->keyword = TOKEN_DEFAULT_KEYWORD;
    conf->prefix = AC_KEY_DEFAULT_PREFIX;
    conf->touch = TOKEN_DEFAULT_TOUCH;
    conf->cache_ttl = TOKEN_DEFAULT_CACHE_TTL;
    return conf;
}

/* ----------------------------------------------------------------------
 * Directives
 */

static const char *check_query(cmd_parms *cmd, const char *arg)
{
    return ap_strstr_c(arg, "$1") == NULL
           ? "AuthTokenQuery: the query must use $1 (the SHA-256 hex of the "
             "key)"
           : NULL;
}

static const char *check_prefix(cmd_parms *cmd, const char *arg)
{
    return ac_key_valid_prefix(arg)
           ? NULL
           : apr_psprintf(cmd->pool, "AuthTokenPrefix: '%s' must be 1 to 16 "
                          "characters of A-Z, a-z, 0-9 and _", arg);
}

static const char *set_cache(cmd_parms *cmd, void *dummy, const char *arg)
{
    token_srv_conf *sconf = ap_get_module_config(cmd->server->module_config,
                                                 &authn_token_module);

    return ac_cache_set_spec(cmd, arg, &sconf->cache_spec);
}

static const char *set_listen(cmd_parms *cmd, void *dummy, int flag)
{
    token_srv_conf *sconf = ap_get_module_config(cmd->server->module_config,
                                                 &authn_token_module);
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);

    if (err != NULL) {
        return err;
    }
    sconf->listen = flag;
    return NULL;
}

static const ac_conf_enum schemas[] = {
    { "native", SCHEMA_NATIVE }, { "drf", SCHEMA_DRF },
    { "knox", SCHEMA_KNOX }, { NULL, 0 }
};

#define DIR_CONF (RSRC_CONF | ACCESS_CONF)

static const command_rec token_cmds[] = {
    AC_INIT_DB("AuthTokenDB", token_dir_conf, db, DIR_CONF,
               "libpq connection string of the token database"),
    AC_INIT_SECONDS("AuthTokenDBTimeout", token_dir_conf, timeout, 0, 3600,
                    DIR_CONF, "seconds a lookup may take, connecting "
                    "included (default 2)"),
    AC_INIT_INT("AuthTokenDBPoolSize", token_dir_conf, pool_size, 1, 1024,
                DIR_CONF, "database connections per child process "
                "(default 8)"),
    AC_INIT_ENUM("AuthTokenSchema", token_dir_conf, schema, schemas,
                 DIR_CONF, "native (default), drf or knox"),
    AC_INIT_STRING("AuthTokenQuery", token_dir_conf, query, check_query,
                   DIR_CONF, "SQL returning user, id, name, scopes, "
                   "expires, revoked, active, key_sha256 for $1 = SHA-256 "
                   "hex of the key"),
    AC_INIT_TOKEN("AuthTokenKeyword", token_dir_conf, keyword,
                  "an HTTP authentication scheme name", OR_AUTHCFG,
                  "the Authorization scheme word (default Token)"),
    AC_INIT_STRING("AuthTokenPrefix", token_dir_conf, prefix, check_prefix,
                   OR_AUTHCFG, "the prefix of native keys (default act_)"),
    AC_INIT_INT("AuthTokenTouchInterval", token_dir_conf, touch, 0,
                86400 * 365, DIR_CONF, "seconds between last_used writes "
                "per token (default 60, 0 = never)"),
    AP_INIT_TAKE1("AuthTokenCache", set_cache, NULL, RSRC_CONF,
                  "socache provider[:args] of the cache (default shmcb)"),
    AC_INIT_INT("AuthTokenCacheTTL", token_dir_conf, cache_ttl, 0, 86400,
                OR_AUTHCFG, "seconds a verified key is cached (default 30, "
                "0 = off)"),
    AP_INIT_FLAG("AuthTokenRevocationListen", set_listen, NULL, RSRC_CONF,
                 "On: drop a key's cached answer when its row changes "
                 "(default On for every AuthTokenDB with the native schema)"),
    {NULL}
};

/* (after the table it reads) */
static void *merge_token_dir_config(apr_pool_t *p, void *basev, void *addv)
{
    token_dir_conf *base = basev, *add = addv;
    token_dir_conf *conf = apr_pcalloc(p, sizeof(*conf));

    ac_conf_merge(token_cmds, conf, base, add);
    return conf;
}

/* ----------------------------------------------------------------------
 * Records: what a key is, cached (ac_verdict.h) by a hash of the
 * database, the query and the key
 */

static const char *query_of(const token_dir_conf *conf)
{
    return conf->query ? conf->query : schema_sql[conf->schema];
}

/* What the verdict on a key depends on, and nothing else: the database
 * and the query (the key itself is named by the SHA-256 hex of it), so
 * that the listener finds the verdict of a key from the key_hash that the
 * database notifies (ac_verdict_id, ac_verdict_evict). */
static void judging_settings(ac_fp *fp, const char *db, const char *sql)
{
    ac_fp_begin(fp);
    ac_fp_str(fp, db);
    ac_fp_str(fp, sql);
}

/* A record as the cache holds it: the verdict, the expiry, our last
 * last_used write as its mark, then user, id, name, scopes. */
static void to_verdict(const token_record *rec, ac_verdict *v)
{
    memset(v, 0, sizeof(*v));
    v->verdict = (int)rec->verdict;
    v->expires = rec->expires;
    v->mark = rec->touched;
    v->loaded = rec->loaded;
    v->fields[0] = rec->user;
    v->fields[1] = rec->id;
    v->fields[2] = rec->name;
    v->fields[3] = rec->scopes;
}

static int from_verdict(const ac_verdict *v, token_record *rec)
{
    if (v->verdict > VERDICT_INACTIVE) {
        return 0;
    }
    rec->verdict = (token_verdict)v->verdict;
    rec->expires = v->expires;
    rec->touched = v->mark;
    rec->loaded = v->loaded;
    rec->user = v->fields[0];
    rec->id = v->fields[1];
    rec->name = v->fields[2];
    rec->scopes = v->fields[3];
    return 1;
}

/* The secret a row must hold for the presented key, per schema. */
static const char *expected_secret(request_rec *r, const token_dir_conf *conf,
                                   const char *key, apr_size_t keylen,
                                   const char *sha256hex)
{
    char *hex;

    if (conf->query == NULL && conf->schema == SCHEMA_DRF) {
        return key;
    }
    if (conf->query == NULL && conf->schema == SCHEMA_KNOX) {
        hex = apr_palloc(r->pool, 129);
        ac_sha512_hex(key, keylen, hex);
        return hex;
    }
    return sha256hex;
}

static int is_true(const char *v)
{
    return v != NULL && (v[0] == 't' || v[0] == 'T' || v[0] == '1');
}

/* Ask the database what the key is.  Returns 0, or -1 when the database
 * cannot answer. */
static int lookup_record(request_rec *r, const token_dir_conf *conf,
                         const char *key, apr_size_t keylen,
                         const char *sha256hex, token_record *rec)
{
    const char *param;
    const char *want = expected_secret(r, conf, key, keylen, sha256hex);
    apr_size_t wantlen = strlen(want);
    ac_pg_pool *pool;
    ac_pg_status st;
    PGresult *res;
    int row;

    if (conf->query == NULL && conf->schema == SCHEMA_DRF) {
        param = key;
    }
    else if (conf->query == NULL && conf->schema == SCHEMA_KNOX) {
        param = apr_pstrmemdup(r->pool, key,
                               keylen < KNOX_TOKEN_KEY_LENGTH
                               ? keylen : KNOX_TOKEN_KEY_LENGTH);
    }
    else {
        param = sha256hex;
    }
    pool = ac_pg_pool_get(conf->db, conf->timeout, conf->pool_size);
    if (conf->query != NULL) {
        st = ac_pg_query(pool, r->server, r->pool, "AuthTokenDB",
                         conf->query, 1, &param, &res);
    }
    else {
        st = ac_pg_batch_query(ac_pg_batch_get(pool,
                                               schema_sql[conf->schema]),
                               r->server, r->pool, "AuthTokenDB", param,
                               &res);
    }
    if (st != AC_PG_OK) {
        return -1;
    }
    if (PQnfields(res) < 8) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AC_LOGNO(0101)
                      "token query returns %d columns, not the 8 of the "
                      "AuthTokenQuery contract", PQnfields(res));
        return -1;
    }
    memset(rec, 0, sizeof(*rec));
    rec->verdict = VERDICT_INVALID;
    /* the rows of other keys asked in the same batch, and several knox
     * rows that share a token_key: the secret decides, and every
     * candidate is compared in constant time */
    for (row = 0; row < PQntuples(res); row++) {
        const char *secret = PQgetvalue(res, row, 7);

        if (PQgetisnull(res, row, 7) || strlen(secret) != wantlen
            || !ac_ct_equal(secret, want, wantlen)) {
            continue;
        }
        rec->user = apr_pstrdup(r->pool, PQgetvalue(res, row, 0));
        rec->id = PQgetisnull(res, row, 1)
                  ? NULL : apr_pstrdup(r->pool, PQgetvalue(res, row, 1));
        rec->name = apr_pstrdup(r->pool, PQgetvalue(res, row, 2));
        rec->scopes = apr_pstrdup(r->pool, PQgetvalue(res, row, 3));
        rec->expires = PQgetisnull(res, row, 4)
                       ? 0 : apr_atoi64(PQgetvalue(res, row, 4));
        rec->touched = (PQnfields(res) > 8 && !PQgetisnull(res, row, 8))
                       ? apr_atoi64(PQgetvalue(res, row, 8)) : 0;
        if (is_true(PQgetvalue(res, row, 5))) {
            rec->verdict = VERDICT_REVOKED;
        }
        else if (rec->expires != 0
                 && rec->expires <= apr_time_sec(apr_time_now())) {
            rec->verdict = VERDICT_EXPIRED;
        }
        else if (!is_true(PQgetvalue(res, row, 6))) {
            rec->verdict = VERDICT_INACTIVE;
        }
        else {
            rec->verdict = VERDICT_GRANTED;
        }
        break;
    }
    return 0;
}

/* The node's cache, or NULL when this location caches nothing
 * (AuthTokenCacheTTL 0): then no cache id is even computed. */
static ac_cache *cache_of(const token_dir_conf *conf)
{
    token_srv_conf *sconf = ap_get_module_config(
        ap_server_conf->module_config, &authn_token_module);

    return conf->cache_ttl > 0 ? sconf->cache : NULL;
}

/* Cache a record for as long as this location's TTL allows, counted
 * from its database read: rewriting it (its last_used mark) must not
 * extend it, or a revoked key touched often enough would stay cached for
 * ever. */
static void cache_record(request_rec *r, const token_dir_conf *conf,
                         const unsigned char id[32], const token_record *rec)
{
    ac_verdict v;

    to_verdict(rec, &v);
    ac_verdict_put(cache_of(conf), r->server, id, conf->cache_ttl, rec->known,
                   &v, 4, r->pool);
}

/* The record of a key: from the cache when this location's TTL accepts
 * its age, else from the database (and then cached).  Returns 0, or -1
 * when the database cannot answer. */
static int find_record(request_rec *r, const token_dir_conf *conf,
                       const char *key, apr_size_t keylen,
                       const char *sha256hex, unsigned char id[32],
                       token_record *rec)
{
    ac_cache *cache = cache_of(conf);
    /* before the lookups: an eviction after this moment may concern what
     * they return, and then it is not cached again (ac_cache_put) */
    apr_time_t known = apr_time_now();
    ac_verdict v;
    ac_fp fp;

    if (cache != NULL) {
        judging_settings(&fp, conf->db, query_of(conf));
        ac_verdict_id(&fp, sha256hex, 64, id);
        if (ac_verdict_get(cache, r->server, id, conf->cache_ttl, 4, r->pool,
                           &v)
            && from_verdict(&v, rec)) {
            if (rec->verdict == VERDICT_GRANTED && rec->expires != 0
                && rec->expires <= apr_time_sec(known)) {
                rec->verdict = VERDICT_EXPIRED;
            }
            rec->known = known;
            return 0;
        }
    }
    if (lookup_record(r, conf, key, keylen, sha256hex, rec) != 0) {
        return -1;
    }
    rec->loaded = rec->known = known;
    cache_record(r, conf, id, rec);
    return 0;
}

/* ----------------------------------------------------------------------
 * last_used, written after the response
 */

static request_rec *initial_request(request_rec *r)
{
    while (r->main || r->prev) {
        r = r->main ? r->main : r->prev;
    }
    return r;
}

/* Schedule a last_used write when this process-shared record was not
 * touched within the interval, and mark it touched so that concurrent
 * requests do not schedule it too.  The write belongs to the client's
 * request, which logs after the response: it lives in that request's
 * pool, not in r's, which may be a subrequest that ends long before
 * (mod_rewrite's look-ahead, an SSI include). */
static void maybe_touch(request_rec *r, const token_dir_conf *conf,
                        const unsigned char id[32], token_record *rec)
{
    apr_int64_t now = apr_time_sec(apr_time_now());
    request_rec *initial;
    token_touch *t;

    if (conf->query != NULL || conf->schema != SCHEMA_NATIVE
        || conf->touch == 0 || rec->id == NULL
        || now - rec->touched < conf->touch) {
        return;
    }
    rec->touched = now;
    cache_record(r, conf, id, rec);
    initial = initial_request(r);
    t = apr_palloc(initial->pool, sizeof(*t));
    /* the primary's pool when AuthTokenDB reads from a standby */
    t->pool = ac_pg_write_pool_get(conf->db, conf->timeout, conf->pool_size);
    t->id = apr_pstrdup(initial->pool, rec->id);
    t->interval = conf->touch;
    ap_set_module_config(initial->request_config, &authn_token_module, t);
}

/* log_transaction: the response is out; write last_used if scheduled. */
static int token_log_transaction(request_rec *r)
{
    token_touch *t = ap_get_module_config(r->request_config,
                                          &authn_token_module);
    const char *params[2];
    PGresult *res;

    if (t == NULL) {
        return DECLINED;
    }
    params[0] = t->id;
    params[1] = apr_itoa(r->pool, t->interval);
    ac_pg_query(t->pool, r->server, r->pool, "AuthTokenDB (last_used)",
                touch_sql, 2, params, &res);
    return DECLINED;
}

/* ----------------------------------------------------------------------
 * The scheme
 */

/* The space-separated `scopes` as a JSON array of strings, for the auth
 * data. */
static const char *json_scopes(apr_pool_t *p, const char *scopes)
{
    apr_array_header_t *items = apr_array_make(p, 4, sizeof(const char *));
    const char *s = scopes, *w;
    apr_size_t len;

    while (ac_scope_next(&s, &w, &len)) {
        APR_ARRAY_PUSH(items, const char *) = ac_json_stringn(p, w, len);
    }
    return apr_pstrcat(p, "[", apr_array_pstrcat(p, items, ','), "]", NULL);
}

static const char *json_id(apr_pool_t *p, const char *id)
{
    const char *c;

    if (id == NULL || *id == '\0') {
        return "null";
    }
    for (c = id; apr_isdigit(*c); c++) {
    }
    return (*c == '\0' && c - id < 16) ? id : ac_json_string(p, id);
}

static auth_chain_status refuse(request_rec *r, auth_chain_result *res,
                                const char *reason)
{
    res->error = "invalid_token";
    res->reason = reason;
    return AUTH_CHAIN_DENIED;
}

/* Whether every character is visible ASCII: DRF refuses keys it cannot
 * decode; we refuse what cannot be part of any key. */
static int printable_key(const char *key, apr_size_t len)
{
    apr_size_t i;

    for (i = 0; i < len; i++) {
        if (key[i] < 0x21 || key[i] > 0x7e) {
            return 0;
        }
    }
    return 1;
}

static auth_chain_status token_authenticate(request_rec *r,
                                            auth_chain_result *res)
{
    token_dir_conf *conf = ap_get_module_config(r->per_dir_config,
                                                &authn_token_module);
    ac_auth_header h;
    const char *key;
    char sha256hex[65];
    unsigned char id[32];
    token_record rec;
    ac_key_status kst;

    ac_auth_header_split(apr_table_get(r->headers_in, "Authorization"), &h);
    if (!ac_auth_header_is(&h, conf->keyword)) {
        return AUTH_CHAIN_DECLINED;
    }
    if (h.nwords == 1) {
        return refuse(r, res, "Invalid token header. No credentials "
                              "provided.");
    }
    if (h.nwords > 2) {
        return refuse(r, res, "Invalid token header. Token string should "
                              "not contain spaces.");
    }
    if (h.credentials_len > AC_MAX_CREDENTIALS
        || !printable_key(h.credentials, h.credentials_len)) {
        return refuse(r, res, "Invalid token header. Token string should "
                              "not contain invalid characters.");
    }
    if (conf->db == NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AC_LOGNO(0102)
                      "the token scheme has no AuthTokenDB for %s", r->uri);
        res->reason = "The token store is not configured.";
        return AUTH_CHAIN_UNAVAILABLE;
    }
    key = apr_pstrmemdup(r->pool, h.credentials, h.credentials_len);
    /* a native key with a bad prefix or checksum never reaches the
     * database */
    if (conf->query == NULL && conf->schema == SCHEMA_NATIVE
        && (kst = ac_key_check(key, h.credentials_len, conf->prefix))
           != AC_KEY_OK) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AC_LOGNO(0103)
                      "token: malformed key (%s), refused without a lookup",
                      ac_key_status_str(kst));
        return refuse(r, res, "Invalid token.");
    }
    ac_sha256_hex(key, h.credentials_len, sha256hex);

    if (find_record(r, conf, key, h.credentials_len, sha256hex, id,
                    &rec) != 0) {
        res->reason = "The token store is unavailable.";
        res->retry_after = RETRY_AFTER;
        return AUTH_CHAIN_UNAVAILABLE;
    }
    if (rec.verdict != VERDICT_INVALID) {
        res->user = rec.user;
    }
    switch (rec.verdict) {
    case VERDICT_GRANTED:
        break;
    case VERDICT_REVOKED:
        return refuse(r, res, "Token revoked.");
    case VERDICT_EXPIRED:
        return refuse(r, res, "Token expired.");
    case VERDICT_INACTIVE:
        return refuse(r, res, "User inactive or deleted.");
    default:
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AC_LOGNO(0104)
                      "token: no key with SHA-256 %.8s...", sha256hex);
        return refuse(r, res, "Invalid token.");
    }
    res->scopes = rec.scopes;
    res->data = apr_pstrcat(r->pool,
                            "{\"id\":", json_id(r->pool, rec.id),
                            ",\"name\":", ac_json_string(r->pool, rec.name),
                            ",\"scopes\":", json_scopes(r->pool, rec.scopes),
                            ",\"expires\":", ac_json_epoch(r->pool, rec.expires),
                            "}", NULL);
    maybe_touch(r, conf, id, &rec);
    return AUTH_CHAIN_GRANTED;
}

static const char *token_challenge(request_rec *r)
{
    token_dir_conf *conf = ap_get_module_config(r->per_dir_config,
                                                &authn_token_module);

    return ac_challenge(r, conf->keyword);
}

/* The settings that decide the scheme's answer: where and how keys are
 * looked up, and which header words and keys it reads. */
static const char *token_settings(request_rec *r)
{
    token_dir_conf *conf = ap_get_module_config(r->per_dir_config,
                                                &authn_token_module);
    unsigned char fp[32];
    ac_fp f;

    ac_fp_begin(&f);
    ac_fp_str(&f, conf->db);
    ac_fp_str(&f, query_of(conf));
    ac_fp_str(&f, conf->keyword);
    ac_fp_str(&f, conf->prefix);
    ac_fp_final(&f, NULL, 0, fp);
    return ac_fp_hex(r->pool, fp);
}

static const auth_chain_provider token_provider = {
    "Token",
    token_authenticate,
    token_challenge,
    NULL,
    token_settings
};

/* ----------------------------------------------------------------------
 * Instant revocation: one listener per node and database
 *
 * The trigger of sql/schema.sql sends NOTIFY authchain_token with a row's
 * key_hash whenever something a verdict depends on changes.  For each
 * distinct AuthTokenDB string of the configuration (main server, virtual
 * hosts and sections alike), a mod_watchdog singleton thread (one child of
 * this node runs it) holds a connection of its own that LISTENs; on a
 * notification it removes the key's entry from the shared cache, and bumps
 * the node's cache epoch so that every child drops its front copy
 * (ac_cache.h).  While the connection is down, nothing is evicted: cached
 * answers live until AuthTokenCacheTTL, as without the listener, and the
 * log says so.  On every (re)connection the notifications of the gap are
 * lost, so the node stops trusting every entry read before it
 * (ac_cache_resync): simpler and surer than asking the database what
 * changed, at the price of one lookup per key in use.  A database is
 * listened to when one of its AuthTokenDB sections reads it with the
 * native schema (the default); with DRF's when asked (On), for an
 * administrator who gave authtoken_token a trigger that notifies the
 * SHA-256 hex of the key (docs/mod_authn_token.md).  knox stores no value
 * the key's SHA-256 can be derived from, and AuthTokenQuery tables are
 * unknown: there revocation waits for the TTL.
 */

/* A notification: `payload` is the SHA-256 hex of a key (the native
 * key_hash), or "*" when the table was truncated. */
static void revocation_notified(void *ctx, server_rec *s, const char *payload,
                                apr_pool_t *p)
{
    token_listener *tl = ctx;
    ac_fp fp;

    if (strcmp(payload, "*") == 0) {
        ac_cache_resync(tl->sconf->cache, apr_time_now());
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, AC_LOGNO(0106)
                     "AuthTokenRevocationListen: the token table of "
                     "AuthTokenDB at %s was emptied: no cached answer is "
                     "trusted any more", tl->where);
        return;
    }
    if (!ac_is_lower_hex(payload, 64)) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, AC_LOGNO(0107)
                     "AuthTokenRevocationListen: ignored a notification "
                     "of %" APR_SIZE_T_FMT " characters that is not a "
                     "key_hash", strlen(payload));
        return;
    }
    judging_settings(&fp, tl->db, schema_sql[SCHEMA_NATIVE]);
    ac_verdict_evict(tl->sconf->cache, s, &fp, payload, 64, p);
    if (tl->drf) {
        judging_settings(&fp, tl->db, schema_sql[SCHEMA_DRF]);
        ac_verdict_evict(tl->sconf->cache, s, &fp, payload, 64, p);
    }
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, AC_LOGNO(0108)
                 "AuthTokenRevocationListen: the key with SHA-256 %.8s... "
                 "changed in the database: its cached answer is dropped",
                 payload);
}

/* LISTEN is in place (again): what was cached before may be stale. */
static void revocation_listening(void *ctx, server_rec *s, apr_time_t since)
{
    token_listener *tl = ctx;

    ac_cache_resync(tl->sconf->cache, since);
}

/* The watchdog callback, on the listener's own thread. */
static apr_status_t revocation_watchdog(int state, void *data, apr_pool_t *p)
{
    token_listener *tl = data;

    if (state == AP_WATCHDOG_STATE_RUNNING) {
        ac_pg_listener_run(tl->listener, ap_server_conf, LISTEN_WAIT, p);
    }
    else if (state == AP_WATCHDOG_STATE_STOPPING
             && ac_pg_listener_close(tl->listener)) {
        /* The child exits (httpd stops or restarts, or the MPM retires
         * it): mod_watchdog gives the listener to another child, which
         * waits up to 10 s before it starts, then resynchronises. */
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, ap_server_conf, AC_LOGNO(0113)
                     "AuthTokenRevocationListen: the listener of AuthTokenDB "
                     "at %s stops with its child process; until another "
                     "child takes it over, a revoked key is refused only "
                     "when its cache entry expires (AuthTokenCacheTTL)",
                     tl->where);
    }
    return APR_SUCCESS;
}

/* Whether a section of the configuration sets where or how keys are
 * read. */
static int sets_lookup(const void *dconf)
{
    const token_dir_conf *c = dconf;

    return c->db_set || c->schema_set || c->query_set || c->timeout_set;
}

typedef struct {
    apr_pool_t *p;              /* the listeners' */
    token_srv_conf *sconf;
    int asked;                  /* AuthTokenRevocationListen On */
    apr_array_header_t *out;    /* token_listener */
} listen_walk;

/* One configuration a request can get (ac_conf_effective): its database
 * is listened to when it reads it with the native schema, or with DRF's
 * when asked. */
static void listen_visit(void *baton, server_rec *s, const void *dconf)
{
    listen_walk *w = baton;
    const token_dir_conf *c = dconf;
    token_listener *tl = NULL;
    int i;

    if (c->db == NULL || c->query != NULL || c->schema == SCHEMA_KNOX
        || (c->schema == SCHEMA_DRF && !w->asked)) {
        return;
    }
    for (i = 0; i < w->out->nelts && tl == NULL; i++) {
        if (strcmp(APR_ARRAY_IDX(w->out, i, token_listener).db, c->db) == 0) {
            tl = &APR_ARRAY_IDX(w->out, i, token_listener);
        }
    }
    if (tl == NULL) {
        tl = apr_array_push(w->out);
        memset(tl, 0, sizeof(*tl));
        tl->sconf = w->sconf;
        tl->db = c->db;
        tl->where = apr_psprintf(w->p, "%s:%d", c->db_at.file, c->db_at.line);
        tl->timeout = c->timeout;
    }
    tl->drf |= c->schema == SCHEMA_DRF;
}

/* The databases to listen to, one token_listener (listener not made yet)
 * per distinct AuthTokenDB string read somewhere with the native schema,
 * or with DRF's when `asked` (AuthTokenRevocationListen On): "somewhere"
 * is any configuration that a request can end up with, a section's own
 * settings merged with those it inherits. */
static apr_array_header_t *listen_targets(apr_pool_t *p, apr_pool_t *ptemp,
                                          server_rec *s,
                                          token_srv_conf *sconf, int asked)
{
    listen_walk w;
    server_rec *vs;

    w.p = p;
    w.sconf = sconf;
    w.asked = asked;
    w.out = apr_array_make(p, 2, sizeof(token_listener));
    for (vs = s; vs != NULL; vs = vs->next) {
        ac_conf_effective(ptemp, vs, &authn_token_module, sets_lookup,
                          listen_visit, &w);
    }
    return w.out;
}

/* check_config (also under httpd -t): AuthTokenRevocationListen On with
 * nothing to listen to, or without mod_watchdog, stops httpd. */
static int token_check_config(apr_pool_t *pconf, apr_pool_t *plog,
                              apr_pool_t *ptemp, server_rec *s)
{
    token_srv_conf *sconf = ap_get_module_config(s->module_config,
                                                 &authn_token_module);

    if (sconf->listen != 1) {
        return OK;
    }
    if (listen_targets(ptemp, ptemp, s, sconf, 1)->nelts == 0) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, AC_LOGNO(0109)
                     "AuthTokenRevocationListen On needs an AuthTokenDB "
                     "read with the native or the drf schema (not knox, "
                     "not AuthTokenQuery)");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_get_instance) == NULL) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, AC_LOGNO(0110)
                     "AuthTokenRevocationListen On needs mod_watchdog "
                     "(LoadModule watchdog_module)");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

/* post_config: start a listener thread per database when wanted and
 * possible.  Returns OK, or an error that stops httpd when a thread
 * cannot be registered. */
static int revocation_setup(apr_pool_t *pconf, apr_pool_t *ptemp,
                            server_rec *s, token_srv_conf *sconf)
{
    APR_OPTIONAL_FN_TYPE(ap_watchdog_get_instance) *get_instance;
    APR_OPTIONAL_FN_TYPE(ap_watchdog_register_callback) *register_callback;
    apr_array_header_t *targets;
    int i;

    if (sconf->listen == 0 || sconf->cache == NULL) {
        return OK;
    }
    targets = listen_targets(pconf, ptemp, s, sconf, sconf->listen == 1);
    if (targets->nelts == 0) {
        return OK;
    }
    get_instance = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_get_instance);
    register_callback = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_register_callback);
    if (get_instance == NULL || register_callback == NULL) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, AC_LOGNO(0111)
                     "AuthTokenRevocationListen: mod_watchdog is not "
                     "loaded: a revoked key is refused only when its cache "
                     "entry expires (AuthTokenCacheTTL)");
        return OK;
    }
    for (i = 0; i < targets->nelts; i++) {
        token_listener *tl = &APR_ARRAY_IDX(targets, i, token_listener);
        ac_pg_listen_spec spec;
        ap_watchdog_t *wd;

        memset(&spec, 0, sizeof(spec));
        spec.conninfo = tl->db;
        spec.app = TOKEN_LISTENER_APP;
        spec.channel = TOKEN_CHANNEL;
        spec.what = apr_psprintf(pconf, "AuthTokenRevocationListen "
                                 "(AuthTokenDB at %s)", tl->where);
        spec.fallback = "a revoked key is refused only when its cache entry "
                        "expires (AuthTokenCacheTTL)";
        spec.timeout = tl->timeout;
        spec.notified = revocation_notified;
        spec.listening = revocation_listening;
        spec.ctx = tl;
        spec.index = i;
        /* a watchdog (a thread) per database: each waits on its own
         * connection */
        if ((tl->listener = ac_pg_listener_create(pconf, &spec)) == NULL
            || get_instance(&wd, apr_psprintf(pconf, "%s-%d",
                                              TOKEN_WATCHDOG, i),
                            0, 1, pconf) != APR_SUCCESS
            || register_callback(wd, LISTEN_INTERVAL, tl,
                                 revocation_watchdog) != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, AC_LOGNO(0112)
                         "AuthTokenRevocationListen: cannot start the "
                         "listener thread (mod_watchdog) of AuthTokenDB "
                         "at %s", tl->where);
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    return OK;
}

/* ----------------------------------------------------------------------
 * Hooks
 */

static int token_pre_config(apr_pool_t *pconf, apr_pool_t *plog,
                            apr_pool_t *ptemp)
{
    ac_cache_register_mutex(pconf, TOKEN_MUTEX_TYPE);
    return OK;
}

/* post_config: create the shared cache (AuthTokenCache, default shmcb)
 * and the revocation listener.  A missing provider stops httpd: the cache
 * is what makes the scheme fast, and `AuthTokenCacheTTL 0` is the way to
 * run without it. */
static int token_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                             apr_pool_t *ptemp, server_rec *s)
{
    token_srv_conf *sconf = ap_get_module_config(s->module_config,
                                                 &authn_token_module);

    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }
    ac_digests_init(pconf);
    if (ac_cache_setup(s, pconf, ptemp, "AuthTokenCache", sconf->cache_spec,
                       TOKEN_MUTEX_TYPE, "authn_token", &sconf->cache) != OK) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return revocation_setup(pconf, ptemp, s, sconf);
}

static void token_child_init(apr_pool_t *pchild, server_rec *s)
{
    token_srv_conf *sconf = ap_get_module_config(s->module_config,
                                                 &authn_token_module);

    ac_metrics_child_init();
    ac_pg_child_init(pchild, s);
    ac_cache_child_init(sconf->cache, pchild, s);
}

static void register_hooks(apr_pool_t *p)
{
    AC_LOG_MODULE(authn_token);
    ac_metrics_count_for("token");     /* what modules/common counts */
    ap_hook_pre_config(token_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_check_config(token_check_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(token_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(token_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_log_transaction(token_log_transaction, NULL, NULL,
                            APR_HOOK_LAST);
    ap_register_provider(p, AUTH_CHAIN_PROVIDER_GROUP, "token",
                         AUTH_CHAIN_PROVIDER_VERSION, &token_provider);
}

AP_DECLARE_MODULE(authn_token) = {
    STANDARD20_MODULE_STUFF,
    create_token_dir_config,
    merge_token_dir_config,
    create_token_srv_config,
    NULL,
    token_cmds,
    register_hooks
};
