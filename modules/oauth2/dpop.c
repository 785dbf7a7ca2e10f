/* Licensed under the Apache License, Version 2.0.
 *
 * dpop.c -- the DPoP proof of a request (RFC 9449): a token presented as
 * `Authorization: DPoP <token>` comes with a `DPoP` header, a JWT signed
 * by the key the token is bound to (cnf.jkt).  ac_dpop checks the proof
 * itself; here is what needs the server: the request's method and URL as
 * the client saw them, the replay cache of proof ids (the node's cache,
 * shared by every node on redis or memcache), and server nonces.
 *
 * Nothing of the proof is cached: a cached verdict of the token (cache.c)
 * still needs a fresh proof on every request.
 */

#include "apr_shm.h"
#include "apr_strings.h"

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_main.h"
#include "http_protocol.h"

#include <openssl/rand.h>

#include "ac_common.h"
#include "ac_dpop.h"
#include "ac_seen.h"
#include "oauth2.h"

APLOG_USE_MODULE(authn_oauth2);

/* The DPoP proof ids a node remembers without a lock (ac_seen): 2^20
 * (8 MB of shared memory), some 900,000 proofs of the last 90 seconds
 * (AuthOAuth2DPoPMaxAge 60 and AuthOAuth2Leeway 30): 10,000 requests a
 * second.  A full neighbourhood sends its proof to the cache instead. */
#define PROOF_ID_SLOTS ((apr_size_t)1 << 20)

/* The proof keys this child has met (ac_dpop_keys): made in child_init. */
#define PROOF_KEY_SLOTS 256
static ac_dpop_keys *proof_keys;

void oauth2_dpop_child_init(apr_pool_t *pchild)
{
    proof_keys = ac_dpop_keys_make(pchild, PROOF_KEY_SLOTS);
}

/* The proof ids this client request has passed (the chain may ask the
 * scheme again after an internal redirect: the same proof is no replay
 * then), on the initial request. */
#define PASSED_NOTE "authn-oauth2-dpop-passed"

static request_rec *initial_request(request_rec *r)
{
    while (r->main || r->prev) {
        r = r->main ? r->main : r->prev;
    }
    return r;
}

static int count_proofs(void *baton, const char *key, const char *value)
{
    const char **only = baton;

    only[only[0] == NULL ? 0 : 1] = value;
    return 1;
}

/* The one DPoP header of the request, or NULL when there is none or more
 * than one (RFC 9449 section 4.3, point 1).  httpd joins repeated header
 * lines with ", ", and a JWT has no comma. */
static const char *proof_header(request_rec *r)
{
    const char *found[2] = { NULL, NULL };

    apr_table_do(count_proofs, found, r->headers_in, "DPoP", NULL);
    return found[1] == NULL && found[0] != NULL
           && strchr(found[0], ',') == NULL ? found[0] : NULL;
}

/* The URL the client sent the request to, as it saw it: its scheme, host
 * and port (AuthOAuth2ExternalURL behind a proxy, else this server's) and
 * the path of the client's request, before any internal redirect. */
static const char *request_url(request_rec *r, const oauth2_dir_conf *conf)
{
    request_rec *first = initial_request(r);
    const char *path = first->parsed_uri.path ? first->parsed_uri.path : "/";

    if (conf->external_url != NULL) {
        return apr_pstrcat(r->pool, conf->external_url, path, NULL);
    }
    return ap_construct_url(r->pool, path, first);
}

const char *oauth2_dpop_algs(apr_pool_t *p, const oauth2_dir_conf *conf)
{
    const char *out = "";
    unsigned int bit;

    for (bit = 1; bit != 0 && bit <= conf->dpop_algs; bit <<= 1) {
        if (conf->dpop_algs & bit) {
            out = apr_pstrcat(p, out, *out ? " " : "",
                              ac_jose_alg_name((ac_jose_alg)bit), NULL);
        }
    }
    return out;
}

static oauth2_srv_conf *srv_conf(void)
{
    return ap_get_module_config(ap_server_conf->module_config,
                                &authn_oauth2_module);
}

/* Whether a section accepts DPoP. */
static int sets_dpop(const void *dconf)
{
    return ((const oauth2_dir_conf *)dconf)->dpop_set;
}

static void dpop_visit(void *baton, server_rec *s, const void *dconf)
{
    *(int *)baton |= ((const oauth2_dir_conf *)dconf)->dpop != DPOP_OFF;
}

int oauth2_dpop_setup(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s,
                      oauth2_srv_conf *sconf)
{
    server_rec *vs;
    apr_shm_t *shm;
    apr_status_t rv;
    int used = 0;

    if (!sconf->nonce_secret_set
        && RAND_bytes(sconf->nonce_secret, sizeof(sconf->nonce_secret))
           != 1) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, AC_LOGNO(0550)
                     "oauth2: cannot draw the DPoP nonce secret");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    /* the proof ids of this node, when no other node shares the cache */
    sconf->seen = NULL;
    if (sconf->cache_spec != NULL && strncmp(sconf->cache_spec, "shmcb", 5)
                                     != 0) {
        return OK;
    }
    for (vs = s; vs != NULL; vs = vs->next) {
        ac_conf_effective(ptemp, vs, &authn_oauth2_module, sets_dpop,
                          dpop_visit, &used);
    }
    if (!used) {
        return OK;
    }
    rv = apr_shm_create(&shm, PROOF_ID_SLOTS * sizeof(apr_uint64_t), NULL,
                        pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s, AC_LOGNO(0552)
                     "oauth2: no shared memory for DPoP proof ids: they go "
                     "to the cache, under its mutex");
        return OK;
    }
    memset(apr_shm_baseaddr_get(shm), 0, PROOF_ID_SLOTS * sizeof(apr_uint64_t));
    sconf->seen = ac_seen_make(pconf, apr_shm_baseaddr_get(shm),
                               PROOF_ID_SLOTS);
    return OK;
}

/* RFC 9449 section 8: a nonce of the current time slot (AuthOAuth2
 * DPoPMaxAge seconds long); one of the previous slot still passes.  A
 * request without a current one gets use_dpop_nonce and a fresh nonce in
 * DPoP-Nonce; so does every answer of a location that wants nonces, so
 * that a client keeps a current one. */
static const char *check_nonce(request_rec *r, const oauth2_dir_conf *conf,
                               const ac_dpop_proof *pr,
                               auth_chain_result *res)
{
    oauth2_srv_conf *sconf = srv_conf();
    apr_int64_t slot = apr_time_sec(apr_time_now()) / conf->dpop_max_age;
    const char *fresh = ac_dpop_nonce_make(r->pool, sconf->nonce_secret,
                                           sizeof(sconf->nonce_secret), slot);

    if (fresh != NULL) {
        apr_table_setn(r->err_headers_out, "DPoP-Nonce", fresh);
    }
    if (ac_dpop_nonce_valid(pr->nonce, sconf->nonce_secret,
                            sizeof(sconf->nonce_secret), slot)) {
        return NULL;
    }
    res->reason = pr->nonce == NULL ? "a DPoP nonce is required"
                                    : "the DPoP nonce is not current";
    return "use_dpop_nonce";
}

/* Whether the proof is new: its id (the key's thumbprint and jti) is
 * remembered in the node's cache until the proof is too old anyway.  A
 * proof this client request passed already is not new, but no replay. */
static int proof_is_new(request_rec *r, const oauth2_dir_conf *conf,
                        const ac_dpop_proof *pr)
{
    request_rec *first = initial_request(r);
    const char *passed = apr_table_get(first->notes, PASSED_NOTE);
    oauth2_srv_conf *sconf = srv_conf();
    unsigned char id[32];
    const char *hex;
    apr_int64_t expiry;
    ac_fp fp;
    int added;

    ac_fp_begin(&fp);
    ac_fp_str(&fp, "dpop-jti");
    ac_fp_str(&fp, pr->jkt);
    ac_fp_final(&fp, pr->jti, strlen(pr->jti), id);
    hex = ac_fp_hex(r->pool, id);
    if (passed != NULL && strcmp(passed, hex) == 0) {
        return 1;
    }
    expiry = pr->iat + conf->dpop_max_age + conf->leeway + 1;
    added = sconf->seen == NULL ? AC_SEEN_FULL
            : ac_seen_add(sconf->seen, id, expiry,
                          apr_time_sec(apr_time_now()));
    if (added == AC_SEEN_FULL) {
        /* several nodes share the cache, or the table is full here */
        added = ac_cache_add(sconf->cache, r->server, id, sizeof(id),
                             ac_time_from_epoch(expiry), r->pool);
    }
    if (added < 0) {
        /* no cache to ask (it failed): the proof's age bounds a replay */
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, AC_LOGNO(0551)
                      "oauth2: the cache cannot say whether a DPoP proof "
                      "was seen before; accepted on its age alone");
    }
    if (added != 0) {
        apr_table_setn(first->notes, PASSED_NOTE,
                       apr_pstrdup(first->pool, hex));
    }
    return added != 0;
}

const char *oauth2_dpop_check(request_rec *r, const oauth2_dir_conf *conf,
                              const char *token, apr_size_t len,
                              const oauth2_record *rec,
                              auth_chain_result *res)
{
    const char *proof = proof_header(r), *err;
    request_rec *first = initial_request(r);
    ac_dpop_proof *pr;
    ac_dpop_expect want;
    ac_jose_status why;
    ac_dpop_status st;

    if (rec->jkt == NULL) {
        res->reason = "the token is not bound to a DPoP key";
        return "invalid_token";
    }
    if (proof == NULL) {
        res->reason = apr_table_get(r->headers_in, "DPoP") == NULL
                      ? "no DPoP proof" : "more than one DPoP proof";
        return "invalid_dpop_proof";
    }
    st = ac_dpop_parse(r->pool, proof, strlen(proof), conf->dpop_algs,
                       proof_keys, &pr, &why);
    if (st == AC_DPOP_OK) {
        memset(&want, 0, sizeof(want));
        want.method = first->method;
        want.url = request_url(r, conf);
        want.now = apr_time_sec(apr_time_now());
        want.max_age = conf->dpop_max_age;
        want.leeway = conf->leeway;
        want.token = token;
        want.token_len = len;
        want.jkt = rec->jkt;
        st = ac_dpop_check(r->pool, pr, &want);
    }
    if (st == AC_DPOP_ERR_BINDING) {
        res->reason = ac_dpop_strerror(st);
        return "invalid_token";
    }
    if (st != AC_DPOP_OK) {
        res->reason = st == AC_DPOP_ERR_JWS
                      ? apr_pstrcat(r->pool, ac_dpop_strerror(st), ": ",
                                    ac_jose_strerror(why), NULL)
                      : ac_dpop_strerror(st);
        return "invalid_dpop_proof";
    }
    if (conf->dpop_nonce && (err = check_nonce(r, conf, pr, res)) != NULL) {
        return err;
    }
    if (!proof_is_new(r, conf, pr)) {
        res->reason = "DPoP proof replayed (its jti was seen before)";
        return "invalid_dpop_proof";
    }
    return NULL;
}
