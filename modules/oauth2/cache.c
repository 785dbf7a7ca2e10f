/* Licensed under the Apache License, Version 2.0.
 *
 * cache.c -- the oauth2 scheme's verdicts in the node's cache
 * (ac_verdict.h): keyed by everything that judged them, key material
 * included, and the token; read within the reading location's TTL.
 */

#include "apr_strings.h"

#include "httpd.h"
#include "http_config.h"
#include "http_main.h"

#include "ac_verdict.h"
#include "oauth2.h"

/* ----------------------------------------------------------------------
 * The cache: verdicts by a hash of (the settings that judged, the token)
 */

/* The node's cache, or NULL when this location caches nothing
 * (AuthOAuth2CacheTTL 0): then no cache id is even computed. */
ac_cache *oauth2_cache_of(const oauth2_dir_conf *conf)
{
    oauth2_srv_conf *sconf = ap_get_module_config(
        ap_server_conf->module_config, &authn_oauth2_module);

    return conf->cache_ttl > 0 ? sconf->cache : NULL;
}

/* Every setting that a verdict depends on (ac_verdict.h): the issuers
 * with a digest of their keys, the audiences, the checks, the user claim,
 * the introspection endpoint and its client, the database. */
void oauth2_judging_settings(ac_fp *fp, const oauth2_dir_conf *conf)
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
void oauth2_cache_id(const oauth2_dir_conf *conf, const char *path,
                     const char *token, apr_size_t len, unsigned char id[32])
{
    ac_fp fp;

    ac_fp_begin(&fp);
    oauth2_judging_settings(&fp, conf);
    ac_fp_str(&fp, path);
    ac_verdict_id(&fp, token, len, id);
}

/* A record as the cache holds it: the verdict and expiry, then user,
 * scopes, data, reason, env, the binding: jkt, x5t#S256 ("" for
 * none), and the claims. */
#define RECORD_FIELDS 8

int oauth2_cache_get(request_rec *r, const oauth2_dir_conf *conf,
                     const unsigned char id[32], oauth2_record *rec)
{
    ac_verdict v;

    if (!ac_verdict_get(oauth2_cache_of(conf), r->server, id,
                        conf->cache_ttl, RECORD_FIELDS, r->pool, &v)
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
    rec->jkt = *v.fields[5] ? v.fields[5] : NULL;
    rec->x5t = *v.fields[6] ? v.fields[6] : NULL;
    rec->claims = *v.fields[7] ? v.fields[7] : NULL;
    return 1;
}

/* Cache a verdict reached from what the sources said at `asked`: a grant
 * (until the TTL or exp, whichever comes first); a refusal of an opaque
 * token (inactive, unknown) briefly, so that junk does not hammer the
 * endpoint or the database.  A refused JWT is not cached: judging it
 * again costs what a lookup would. */
void oauth2_cache_put(request_rec *r, const oauth2_dir_conf *conf,
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
    v.fields[5] = rec->jkt;
    v.fields[6] = rec->x5t;
    v.fields[7] = rec->claims;
    /* nothing evicts from this cache: `asked` will do as `known` */
    ac_verdict_put(oauth2_cache_of(conf), r->server, id, conf->cache_ttl,
                   asked, &v, RECORD_FIELDS, r->pool);
}

