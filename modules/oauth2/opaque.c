/* Licensed under the Apache License, Version 2.0.
 *
 * opaque.c -- the judgement of opaque tokens: asked of an RFC 7662
 * introspection endpoint, or looked up in django-oauth-toolkit's tables
 * (both of its layouts), with the start-up check of those tables.
 */

#include "apr_atomic.h"
#include "apr_hash.h"
#include "apr_strings.h"

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_main.h"

#include "ac_common.h"
#include "ac_http.h"
#include "ac_pg.h"
#include "oauth2.h"

APLOG_USE_MODULE(authn_oauth2);

/* an introspection answer is small; a JWK Set is bounded by ac_jose */
#define MAX_INTROSPECTION (64 * 1024)
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

/* The start-up check gives a database this long at most. */
#define DB_CHECK_TIMEOUT apr_time_from_sec(5)

/* ----------------------------------------------------------------------
 * RFC 7662 introspection
 */

/* 0 with *rec judged, or -1 when the endpoint cannot answer (logged). */
int oauth2_judge_introspection(request_rec *r, const oauth2_dir_conf *conf,
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
    req.url = strcmp(conf->introspect, OAUTH2_INTROSPECT_DISCOVER) == 0
              ? oauth2_discovered_introspect(r, conf) : conf->introspect;
    if (req.url == NULL) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AC_LOGNO(0590)
                      "oauth2: no introspection_endpoint has been discovered "
                      "(yet) for the issuer of this section");
        return -1;
    }
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
                      hash, req.url, err);
        return -1;
    }
    if (resp.status != 200) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AC_LOGNO(0511)
                      "oauth2: the introspection endpoint %s answered %ld%s",
                      req.url, resp.status,
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
                      req.url);
        json_decref(answer);
        return -1;
    }
    active = json_object_get(answer, "active");
    if (!json_is_boolean(active)) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, AC_LOGNO(0513)
                      "oauth2: the introspection answer of %s has no boolean "
                      "active member", req.url);
        json_decref(answer);
        return -1;
    }
    if (!json_is_true(active)) {
        rec->reason = "token inactive";
        json_decref(answer);
        return 0;
    }
    st = oauth2_check_times(answer, conf->leeway, 0, &claim);
    if (st != AC_JOSE_OK) {
        rec->reason = oauth2_jose_reason(r->pool, st, claim);
        json_decref(answer);
        return 0;
    }
    why = oauth2_grant_from_claims(r, conf, answer, "introspection", rec);
    if (why != NULL) {
        rec->verdict = VERDICT_DENIED;
        rec->reason = why;
    }
    rec->expires = oauth2_claim_exp(answer);
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
        return (oauth2_schema)conf->schema;
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
                                   OAUTH2_DB_POOL_SIZE),
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
                                      OAUTH2_DB_POOL_SIZE);
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
int oauth2_judge_db(request_rec *r, const oauth2_dir_conf *conf,
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
    why = oauth2_grant_from_claims(r, conf, claims, "db", rec);
    if (why != NULL) {
        rec->verdict = VERDICT_DENIED;
        rec->reason = why;
    }
    json_decref(claims);
    return 0;
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
        if (conf->schema != SCHEMA_DOT && conf->schema != (int)found) {
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

/* Check `conf` (a configuration a request can get) unless its database
 * and schema were checked already; counts the errors. */
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

/* Whether a section sets where or how tokens are looked up. */
static int sets_db(const void *dconf)
{
    const oauth2_dir_conf *c = dconf;

    return c->db_set || c->schema_set || c->db_timeout_set;
}

typedef struct {
    apr_pool_t *p;
    apr_hash_t *seen;
    int errors;
} db_walk;

static void db_visit(void *baton, server_rec *s, const void *dconf)
{
    db_walk *w = baton;

    check_db_once(w->p, s, w->seen, dconf, &w->errors);
}

/* check_config: the tables of every AuthOAuth2DB, where the database can
 * be reached within DB_CHECK_TIMEOUT; a layout that the lookups cannot
 * use stops httpd (a configuration error, which no request could get
 * past).  Made at a configuration test (httpd -t), at a start's first
 * reading of the configuration (whose failure the command that starts
 * httpd sees), and at each restart; not at a start's second reading.
 * Every configuration a request can get (ac_conf_effective): a section
 * that only names the schema is checked with the database it inherits. */
int oauth2_check_db(apr_pool_t *pconf, apr_pool_t *plog,
                    apr_pool_t *ptemp, server_rec *main_s)
{
    db_walk w;
    server_rec *s;

    if (ap_state_query(AP_SQ_MAIN_STATE) != AP_SQ_MS_CREATE_PRE_CONFIG
        && ap_state_query(AP_SQ_CONFIG_GEN) == 1) {
        return OK;
    }
    w.p = ptemp;
    w.seen = apr_hash_make(ptemp);
    w.errors = 0;
    for (s = main_s; s != NULL; s = s->next) {
        ac_conf_effective(ptemp, s, &authn_oauth2_module, sets_db, db_visit,
                          &w);
    }
    return w.errors == 0 ? OK : HTTP_INTERNAL_SERVER_ERROR;
}

