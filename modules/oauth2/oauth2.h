/* Licensed under the Apache License, Version 2.0.
 *
 * oauth2.h -- what the files of mod_authn_oauth2 share (private; not
 * installed).  The module is cut along its own seams:
 *
 *   mod_authn_oauth2.c  the scheme: where a token comes from, the answer,
 *                       the challenges, the claims for the backend, hooks
 *   config.c            the configuration: directives, merging, the
 *                       start-up check of audiences
 *   jwks.c              remote keys: JWK Set URLs and issuer discovery,
 *                       fetched by a watchdog into shared memory
 *   jwt.c               the judgement of a JWT, and of claims in general
 *   opaque.c            opaque tokens: RFC 7662 introspection, and
 *                       django-oauth-toolkit's tables (with their start-up
 *                       check)
 *   cache.c             the verdict cache (over ac_verdict)
 *   dpop.c              DPoP proofs (RFC 9449) of a request
 *   mtls.c              certificate-bound tokens (RFC 8705)
 *   metadata.c          the protected resource's metadata (RFC 9728)
 *   claims.c            the claims of the token that authenticated a
 *                       request, and paths into them
 *   authz.c             `Require auth-acr`, `auth-max-age` (RFC 9470
 *                       step-up) and `auth-claim`
 *   headers.c           AuthOAuth2ClaimHeader: claims to the backend
 *
 * The judges (oauth2_judge_*) take a request only for its pool, its
 * server and its log, and write an oauth2_record: tests/unit/test_oauth2.c
 * calls them with a bare request.
 */

#ifndef OAUTH2_H
#define OAUTH2_H

#include "httpd.h"
#include "http_config.h"

#include <jansson.h>

#include "mod_auth_chain.h"
#include "ac_cache.h"
#include "ac_jose.h"
#include "ac_key.h"
#include "ac_request.h"
#include "ac_verdict.h"
#include "ac_metrics.h"

extern module AP_MODULE_DECLARE_DATA authn_oauth2_module;

#define OAUTH2_MUTEX_TYPE "authn-oauth2-cache"
/* database connections per child and AuthOAuth2DB */
#define OAUTH2_DB_POOL_SIZE 8

/* AuthOAuth2DBSchema: django-oauth-toolkit's tables, in the layout found
 * in the database (dot), or in the one written (dot1, dot3). */
typedef enum {
    SCHEMA_DOT = 0,     /* detected (DOT_DETECT_SQL); 0: not yet known */
    SCHEMA_DOT1,        /* 1.x and 2.x: token varchar(255) UNIQUE */
    SCHEMA_DOT3         /* 3.x: token_checksum, the hex SHA-256 of token */
} oauth2_schema;

/* The layout detected for one AuthOAuth2DB, per child process (each child
 * has its own copy of the configuration); read and written atomically. */
typedef struct {
    apr_uint32_t layout;            /* an oauth2_schema; SCHEMA_DOT: none */
    apr_uint32_t since;             /* when it was detected, epoch seconds */
} dot_detected;

/* An issuer as configured.  Its remote keys (a JWK Set URL, or one found
 * by discovery) live in jwks.c's slot `slot`, assigned at post_config. */
typedef struct {
    const char *iss;
    const char *source;             /* the file, URL or "discover"; NULL:
                                     * HMAC only */
    const char *url;                /* a JWK Set URL, or NULL */
    int discover;                   /* keys found by issuer discovery */
    int slot;                       /* jwks.c's slot; -1: none */
    ac_jose_keyset *keys;           /* from the file, or NULL */
    ac_jose_keyset *hmac;           /* AuthOAuth2HMACKey keys, or NULL */
    unsigned char keys_fp[32];      /* a digest of all the key material */
} oauth2_issuer;

/* Whether an issuer's keys are fetched (a JWK Set URL, or discovery). */
#define OAUTH2_IS_REMOTE(is) ((is)->url != NULL || (is)->discover)

/* AuthOAuth2Introspect discover: the endpoint of the discovered issuer */
#define OAUTH2_INTROSPECT_DISCOVER "discover"

typedef struct {
    ac_cache *cache;                /* main server only */
    const char *cache_spec;         /* NULL: shmcb */
    /* the secret of DPoP nonces: AuthOAuth2DPoPNonceSecret, or drawn at
     * start-up (each node its own) */
    unsigned char nonce_secret[32];
    int nonce_secret_set;
    /* DPoP proof ids seen on this node, when the cache is this node's
     * (shmcb): a lock-free table (ac_seen.h) instead of the cache's mutex */
    struct ac_seen *seen;
    /* remote keys, main server only (jwks.c): the bounds of a JWK Set's
     * refresh time, seconds between two reads of a discovery document */
    int jwks_refresh_min, jwks_refresh_max, discovery_refresh;
    unsigned char jwks_refresh_min_set, jwks_refresh_max_set,
        discovery_refresh_set;
} oauth2_srv_conf;

/* AuthOAuth2DPoP: whether the DPoP scheme (RFC 9449) is accepted */
typedef enum {
    DPOP_OFF = 0,       /* Bearer only; a DPoP-bound token is refused */
    DPOP_OPTIONAL,      /* Bearer, and DPoP with its proof */
    DPOP_REQUIRED       /* DPoP only */
} oauth2_dpop_mode;

/* The settings of a section, each with its `_set` flag (ac_conf.h). */
typedef struct {
    apr_array_header_t *issuers;    /* oauth2_issuer * */
    ac_conf_place issuers_at;       /* the first issuer of the section */
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
    int schema;                     /* oauth2_schema */
    ac_conf_place schema_at;        /* where AuthOAuth2DBSchema was */
    apr_interval_time_t db_timeout;
    const char *user_claim;
    int form_token;
    int cache_ttl;
    /* sender-constrained tokens (dpop.c, mtls.c) */
    int dpop;                       /* oauth2_dpop_mode */
    unsigned int dpop_algs;         /* of proofs */
    int dpop_max_age;               /* seconds a proof is good */
    int dpop_nonce;                 /* server nonces required */
    const char *external_url;       /* scheme://host[:port] clients use */
    const char *cert_header;        /* a proxy's client certificate */
    apr_array_header_t *trusted_proxies;    /* apr_ipsubnet_t * */
    /* AuthOAuth2ResourceMetadata on: the path of the <Location> that is
     * the resource (RFC 9728); NULL: off */
    const char *resource_path;
    apr_array_header_t *claim_headers;      /* oauth2_claim_header */
    unsigned char issuers_set, issuers_at_set, audiences_set,
        any_audience_set, algs_set, leeway_set, require_typ_set,
        jwks_refresh_set, timeout_set, introspect_set, client_id_set,
        client_secret_set, db_set, schema_set, db_timeout_set,
        user_claim_set, form_token_set, cache_ttl_set, dpop_set,
        dpop_algs_set, dpop_max_age_set, dpop_nonce_set, external_url_set,
        cert_header_set, trusted_proxies_set, resource_path_set,
        claim_headers_set;
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
    /* the token's confirmation (RFC 7800 cnf), NULL: unbound */
    const char *jkt;                /* DPoP key thumbprint (RFC 9449) */
    const char *x5t;                /* certificate thumbprint (RFC 8705) */
    /* all the claims, as compact JSON: `Require auth-claim`, step-up,
     * AuthOAuth2ClaimHeader (claims.c) */
    const char *claims;
} oauth2_record;

/* What a judge says besides the verdict. */
typedef enum {
    OAUTH2_JUDGED = 0,          /* *rec holds the verdict */
    OAUTH2_NO_KEYS,             /* a remote issuer without keys: UNAVAILABLE */
    OAUTH2_MISCONFIGURED        /* no audience: UNAVAILABLE, logged */
} oauth2_judgement;

/* mod_authn_oauth2.c: the `scheme` challenge of the location (Bearer or
 * DPoP, realm, and resource_metadata when the location has metadata),
 * before any error attribute. */
const char *oauth2_challenge_of(request_rec *r, const oauth2_dir_conf *conf,
                                const char *scheme);

/* config.c */
void *oauth2_create_srv_config(apr_pool_t *p, server_rec *s);
void *oauth2_create_dir_config(apr_pool_t *p, char *dir);
void *oauth2_merge_dir_config(apr_pool_t *p, void *basev, void *addv);
extern const command_rec oauth2_cmds[];
int oauth2_check_config(apr_pool_t *pconf, apr_pool_t *plog,
                        apr_pool_t *ptemp, server_rec *s);

/* jwks.c: remote keys.  One watchdog (mod_watchdog, a singleton among
 * the children) fetches every JWK Set and discovery document and
 * publishes them in shared memory; requests only read them.
 *
 * post_config: a slot for each JWK Set URL and discovered issuer of the
 * configuration, the shared memory, the watchdog; not OK (logged) when
 * it cannot be had. */
int oauth2_remote_setup(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s);
void oauth2_remote_child_init(apr_pool_t *pchild);
/* The keys of a remote issuer for this request (NULL: none at all).
 * With `kid` (a kid the keys did not have), a refetch is asked for
 * first, at most once per AuthOAuth2JWKSRefreshMin per node, and not for
 * a kid already known to be missing from these keys; *changed tells
 * whether the keys returned are newer than those the request had. */
const ac_jose_keyset *oauth2_remote_keys(request_rec *r,
                                         const oauth2_dir_conf *conf,
                                         oauth2_issuer *is, const char *kid,
                                         int *changed);
/* The introspection endpoint of the section's discovered issuer, NULL
 * when none is known (yet). */
const char *oauth2_discovered_introspect(request_rec *r,
                                         const oauth2_dir_conf *conf);

/* jwt.c: the judgement of a JWT, and what every judge shares */
oauth2_issuer *oauth2_find_issuer(const oauth2_dir_conf *conf,
                                  const char *iss);
oauth2_judgement oauth2_judge_jwt(request_rec *r,
                                  const oauth2_dir_conf *conf,
                                  const char *token, apr_size_t len,
                                  oauth2_record *rec);
const char *oauth2_token_hash(const char *token, apr_size_t len,
                              char hash[65]);
const char *oauth2_jose_reason(apr_pool_t *p, ac_jose_status st,
                               const char *claim);
ac_jose_status oauth2_check_times(const json_t *claims, apr_int64_t leeway,
                                  int need_exp, const char **claim);
const char *oauth2_grant_from_claims(request_rec *r,
                                     const oauth2_dir_conf *conf,
                                     const json_t *claims,
                                     const char *source,
                                     oauth2_record *rec);
apr_int64_t oauth2_claim_exp(const json_t *claims);

/* opaque.c: 0 with *rec judged, or -1 when the endpoint or the
 * database cannot answer (logged) */
int oauth2_judge_introspection(request_rec *r, const oauth2_dir_conf *conf,
                               const char *token, apr_size_t len,
                               const char *hash, oauth2_record *rec);
int oauth2_judge_db(request_rec *r, const oauth2_dir_conf *conf,
                    const char *token, apr_size_t len, const char *hash,
                    oauth2_record *rec);
int oauth2_check_db(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                    server_rec *main_s);

/* dpop.c: the DPoP proof of a request that presented `token` with the
 * DPoP scheme, bound to rec->jkt.  NULL when it holds; else the RFC 6750 /
 * 9449 error (invalid_dpop_proof, use_dpop_nonce, invalid_token) with
 * res->reason set (and a DPoP-Nonce header for use_dpop_nonce). */
const char *oauth2_dpop_check(request_rec *r, const oauth2_dir_conf *conf,
                              const char *token, apr_size_t len,
                              const oauth2_record *rec,
                              auth_chain_result *res);
/* The names of the allowed proof algorithms, space-separated. */
const char *oauth2_dpop_algs(apr_pool_t *p, const oauth2_dir_conf *conf);
/* post_config: the nonce secret, drawn when none was configured; the
 * table of proof ids when a location accepts DPoP and the cache is
 * shmcb. */
int oauth2_dpop_setup(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s,
                      oauth2_srv_conf *sconf);
/* child_init: the cache of proof keys. */
void oauth2_dpop_child_init(apr_pool_t *pchild);

/* metadata.c: the URL of the resource's metadata document for
 * `resource_metadata` in challenges, NULL when it has none; the quick
 * handler that serves the document; optional_fn_retrieve. */
const char *oauth2_resource_metadata_url(request_rec *r,
                                         const oauth2_dir_conf *conf);
int oauth2_metadata_handler(request_rec *r, int lookup);
void oauth2_metadata_retrieve(void);

/* mtls.c: NULL when the request's client certificate is the one
 * rec->x5t names (RFC 8705), else the reason to refuse the token. */
const char *oauth2_mtls_check(request_rec *r, const oauth2_dir_conf *conf,
                              const oauth2_record *rec);

/* claims.c: the request note that holds the claims of the token that
 * authenticated the request (set by the scheme, read by claims.c) */
#define OAUTH2_CLAIMS_NOTE "authn-oauth2-claims"
/* The note `name` of the request that asked the oauth2 scheme for r's
 * answer (r, or the main request or the one before an internal redirect
 * whose answer the chain reused), or NULL when the oauth2 scheme did not
 * authenticate r. */
const char *oauth2_granted_note(request_rec *r, const char *name);
/* The claims of the token that authenticated r (an empty object when its
 * source had none), or NULL when the oauth2 scheme did not authenticate
 * r.  Parsed once per request; owned by the request. */
const json_t *oauth2_request_claims(request_rec *r);
/* The member at a dotted path (`realm_access.roles`): at each level the
 * longest name that the object has, so that a claim named with dots
 * (`https://example.com/roles`) is found too.  NULL when absent. */
const json_t *oauth2_claim_at(const json_t *claims, const char *path);
/* NULL, or why `path` is not a claim path (empty, an empty segment). */
const char *oauth2_claim_path_error(apr_pool_t *p, const char *path);

/* authz.c: the authorization providers; the oauth2 challenge with what
 * step-up authentication (RFC 9470) this request needs, when it needs it
 * (`c`: the challenges, one a line; the attributes go to the first). */
void oauth2_register_authz(apr_pool_t *p);
const char *oauth2_step_up_challenge(request_rec *r, const char *c);

/* headers.c: AuthOAuth2ClaimHeader and the fixup that sets the headers */
typedef struct {
    const char *path;               /* the claim */
    const char *name;               /* the request header */
    int refuse;                     /* 1: refuse what needs encoding */
} oauth2_claim_header;
const char *oauth2_set_claim_header(cmd_parms *cmd, void *dconf,
                                    const char *path, const char *name,
                                    const char *how);
apr_array_header_t *oauth2_merge_claim_headers(apr_pool_t *p,
                                               const apr_array_header_t *base,
                                               const apr_array_header_t *add);
void oauth2_register_claim_headers(apr_pool_t *p);

/* cache.c */
ac_cache *oauth2_cache_of(const oauth2_dir_conf *conf);
void oauth2_judging_settings(ac_fp *fp, const oauth2_dir_conf *conf);
void oauth2_cache_id(const oauth2_dir_conf *conf, const char *path,
                     const char *token, apr_size_t len,
                     unsigned char id[32]);
int oauth2_cache_get(request_rec *r, const oauth2_dir_conf *conf,
                     const unsigned char id[32], oauth2_record *rec);
void oauth2_cache_put(request_rec *r, const oauth2_dir_conf *conf,
                      const unsigned char id[32], const oauth2_record *rec,
                      int negative, apr_time_t asked);

#endif /* OAUTH2_H */
