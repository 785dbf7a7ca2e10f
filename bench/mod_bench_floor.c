/* Licensed under the Apache License, Version 2.0.
 *
 * mod_bench_floor -- bench/oauth2's "floor" cases: the least a module can
 * do to accept an RS256 or ES256 JWT on every request, and nothing more.
 * It takes the token from "Authorization: Bearer", checks its signature
 * with the one public key configured, by the oauth2 scheme's own code (its
 * base64url decoder and ac_jose_verify: SHA-256 and RSA PKCS#1 v1.5 for an
 * RSA key, ECDSA P-256 for an EC key, RFC 7518 sections 3.3 and 3.4), and
 * sets r->user.  No claim is read: not exp, not iss, not aud; the header
 * is not parsed.  So it is NOT an authentication module, only the measure
 * of what any uncached validation must spend: the throughput of this case
 * bounds every real one from above.  Its CPU time per request less that of
 * no authentication is one signature verification inside httpd.
 *
 *   BenchFloorKey /path/to/public.pem         (directory context)
 *   AuthType BenchFloor
 *   Require valid-user
 *
 * Built by bench/oauth2 with apxs against modules/common, never installed.
 */

#include <stdio.h>
#include <string.h>

#include "apr_strings.h"

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_protocol.h"
#include "http_request.h"

#include "ac_common.h"
#include "ac_jose.h"
#include "ac_key.h"

module AP_MODULE_DECLARE_DATA bench_floor_module;

typedef struct {
    ac_jose_key *key;
    ac_jose_alg alg;            /* RS256 (an RSA key) or ES256 (P-256) */
} floor_conf;

static void *create_floor_conf(apr_pool_t *p, char *dir)
{
    return apr_pcalloc(p, sizeof(floor_conf));
}

/* The key is read and checked by the oauth2 scheme's own code, which sets
 * up its verification context once. */
static const char *set_key(cmd_parms *cmd, void *dconf, const char *path)
{
    floor_conf *conf = dconf;
    const char *file = ap_server_root_relative(cmd->pool, path);
    FILE *f = file ? fopen(file, "r") : NULL;
    char pem[8192];
    size_t len = 0;

    if (f != NULL) {
        len = fread(pem, 1, sizeof(pem), f);
        fclose(f);
    }
    conf->alg = AC_JOSE_ALG_RS256;
    if (len == 0 || len == sizeof(pem)
        || (ac_jose_key_from_pem(cmd->pool, pem, len, NULL, conf->alg,
                                 &conf->key) != AC_JOSE_OK
            && ac_jose_key_from_pem(cmd->pool, pem, len, NULL,
                                    conf->alg = AC_JOSE_ALG_ES256,
                                    &conf->key) != AC_JOSE_OK)) {
        return apr_psprintf(cmd->pool, "BenchFloorKey: %s is neither an RSA "
                            "nor a P-256 public key in PEM", path);
    }
    return NULL;
}

/* The signature checked as the oauth2 scheme checks it (ac_b64url_decode,
 * ac_jose_verify), and nothing else. */
static int floor_check(request_rec *r)
{
    floor_conf *conf = ap_get_module_config(r->per_dir_config,
                                            &bench_floor_module);
    const char *auth = apr_table_get(r->headers_in, "Authorization");
    const char *token, *dot;
    char *sig;
    apr_size_t sig_len;

    if (conf->key == NULL || ap_auth_type(r) == NULL
        || strcasecmp(ap_auth_type(r), "BenchFloor") != 0) {
        return DECLINED;
    }
    if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0) {
        return HTTP_UNAUTHORIZED;
    }
    token = auth + 7;
    dot = strrchr(token, '.');
    if (dot == NULL || dot == token
        || ac_b64url_decode(r->pool, dot + 1, strlen(dot + 1), &sig,
                            &sig_len) != 0
        || ac_jose_verify(conf->key, conf->alg, token,
                          (apr_size_t)(dot - token),
                          (const unsigned char *)sig, sig_len)
           != AC_JOSE_OK) {
        return HTTP_UNAUTHORIZED;
    }
    r->user = "bench";
    return OK;
}

/* The digests fetched once, as the oauth2 scheme does. */
static int floor_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                             apr_pool_t *ptemp, server_rec *s)
{
    ac_digests_init(pconf);
    return OK;
}

static const command_rec floor_cmds[] = {
    AP_INIT_TAKE1("BenchFloorKey", set_key, NULL, OR_AUTHCFG,
                  "an RSA or P-256 public key (PEM) that RS256 or ES256 "
                  "tokens must be signed with"),
    { NULL }
};

static void register_hooks(apr_pool_t *p)
{
    ap_hook_post_config(floor_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_check_authn(floor_check, NULL, NULL, APR_HOOK_MIDDLE,
                        AP_AUTH_INTERNAL_PER_CONF);
}

AP_DECLARE_MODULE(bench_floor) = {
    STANDARD20_MODULE_STUFF,
    create_floor_conf,
    NULL,
    NULL,
    NULL,
    floor_cmds,
    register_hooks
};
