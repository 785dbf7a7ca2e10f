/* Licensed under the Apache License, Version 2.0.
 *
 * mod_bench_floor -- bench/oauth2's "floor" case: the least a module can do
 * to accept an RS256 JWT on every request, and nothing more.  It takes the
 * token from "Authorization: Bearer", checks its signature with the one RSA
 * public key configured (SHA-256 and RSA PKCS#1 v1.5 verification, as
 * RFC 7518 section 3.3 requires), and sets r->user.  No claim is read: not
 * exp, not iss, not aud; the header is not parsed.  So it is NOT an
 * authentication module, only the measure of what any uncached validation
 * must spend: the throughput of this case bounds every real one from above.
 *
 *   BenchFloorKey /path/to/rsa-public.pem     (directory context)
 *   AuthType BenchFloor
 *   Require valid-user
 *
 * Built by bench/oauth2 with apxs, never installed.
 */

#include <string.h>

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_protocol.h"
#include "http_request.h"

#include "apr_strings.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

module AP_MODULE_DECLARE_DATA bench_floor_module;

typedef struct {
    EVP_PKEY_CTX *verify;       /* set up once, duplicated per request */
} floor_conf;

static EVP_MD *sha256;          /* fetched once */

static void *create_floor_conf(apr_pool_t *p, char *dir)
{
    return apr_pcalloc(p, sizeof(floor_conf));
}

static apr_status_t free_ctx(void *ctx)
{
    EVP_PKEY_CTX_free(ctx);
    return APR_SUCCESS;
}

static const char *set_key(cmd_parms *cmd, void *dconf, const char *path)
{
    floor_conf *conf = dconf;
    const char *file = ap_server_root_relative(cmd->pool, path);
    FILE *f = file ? fopen(file, "r") : NULL;
    EVP_PKEY *pkey = f ? PEM_read_PUBKEY(f, NULL, NULL, NULL) : NULL;

    if (f != NULL) {
        fclose(f);
    }
    if (pkey == NULL || !EVP_PKEY_is_a(pkey, "RSA")) {
        EVP_PKEY_free(pkey);
        return apr_psprintf(cmd->pool, "BenchFloorKey: %s is not an RSA "
                            "public key in PEM", path);
    }
    if (sha256 == NULL) {
        sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    }
    conf->verify = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    EVP_PKEY_free(pkey);
    if (sha256 == NULL || conf->verify == NULL
        || EVP_PKEY_verify_init(conf->verify) != 1
        || EVP_PKEY_CTX_set_rsa_padding(conf->verify, RSA_PKCS1_PADDING) != 1
        || EVP_PKEY_CTX_set_signature_md(conf->verify, sha256) != 1) {
        return "BenchFloorKey: cannot set up RS256 verification";
    }
    apr_pool_cleanup_register(cmd->pool, conf->verify, free_ctx,
                              apr_pool_cleanup_null);
    return NULL;
}

/* The signature, base64url without padding: 342 characters for RSA 2048.
 * OpenSSL's decoder wants base64 with padding. */
static int decode_sig(apr_pool_t *p, const char *in, unsigned char **out,
                      int *out_len)
{
    apr_size_t len = strlen(in), i, pad = (4 - len % 4) % 4;
    unsigned char *b64;
    int n;

    if (len == 0 || len > 1024 || pad == 3) {
        return 0;
    }
    b64 = apr_palloc(p, len + pad + 1);
    for (i = 0; i < len; i++) {
        b64[i] = in[i] == '-' ? '+' : in[i] == '_' ? '/' : in[i];
    }
    memset(b64 + len, '=', pad);
    b64[len + pad] = '\0';
    *out = apr_palloc(p, (len + pad) / 4 * 3);
    n = EVP_DecodeBlock(*out, b64, (int)(len + pad));
    if (n < 0) {
        return 0;
    }
    *out_len = n - (int)pad;
    return 1;
}

static int floor_check(request_rec *r)
{
    floor_conf *conf = ap_get_module_config(r->per_dir_config,
                                            &bench_floor_module);
    const char *auth = apr_table_get(r->headers_in, "Authorization");
    const char *token, *dot;
    unsigned char digest[32];
    unsigned char *sig;
    int sig_len;
    EVP_PKEY_CTX *ctx;
    int ok;

    if (conf->verify == NULL || ap_auth_type(r) == NULL
        || strcasecmp(ap_auth_type(r), "BenchFloor") != 0) {
        return DECLINED;
    }
    if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0) {
        return HTTP_UNAUTHORIZED;
    }
    token = auth + 7;
    dot = strrchr(token, '.');
    if (dot == NULL || dot == token
        || !decode_sig(r->pool, dot + 1, &sig, &sig_len)
        || EVP_Digest(token, (size_t)(dot - token), digest, NULL,
                      sha256, NULL) != 1) {
        return HTTP_UNAUTHORIZED;
    }
    ctx = EVP_PKEY_CTX_dup(conf->verify);
    ok = ctx != NULL && EVP_PKEY_verify(ctx, sig, (size_t)sig_len,
                                        digest, sizeof(digest)) == 1;
    EVP_PKEY_CTX_free(ctx);
    if (!ok) {
        return HTTP_UNAUTHORIZED;
    }
    r->user = "bench";
    return OK;
}

static const command_rec floor_cmds[] = {
    AP_INIT_TAKE1("BenchFloorKey", set_key, NULL, OR_AUTHCFG,
                  "an RSA public key (PEM) that RS256 tokens must be "
                  "signed with"),
    { NULL }
};

static void register_hooks(apr_pool_t *p)
{
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
