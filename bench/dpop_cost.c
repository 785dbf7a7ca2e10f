/* Licensed under the Apache License, Version 2.0.
 *
 * bench/dpop_cost -- where a DPoP proof check's time goes, outside httpd:
 * the steps of the oauth2 scheme's check (ac_dpop_parse, ac_dpop_check,
 * the proof id's digest and ac_seen_add) on real proofs, one after the
 * other in one process, beside the bare ES256 verification
 * (EVP_PKEY_verify of a SHA-256 digest with a context made once, what
 * `openssl speed ecdsap256` times) with the same key on the same input.
 *
 *   bench/dpop_cost PROOFS URL [ROUNDS]
 *
 * PROOFS: lines "DPoP <token>\t<proof>" (bench/dpop_proofs.py), all for
 * GET URL.  Each step runs over every proof, ROUNDS times (default 5), the
 * steps interleaved; the best round's CPU time per proof is printed (the
 * machine is shared: the best is the least disturbed).  Built by `make
 * bench/dpop_cost` (not installed); bench/oauth2 runs it beside its DPoP
 * case.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "apr_general.h"
#include "apr_strings.h"
#include "apr_tables.h"

#include "ac_common.h"
#include "ac_dpop.h"
#include "ac_jose.h"
#include "ac_key.h"
#include "ac_seen.h"

typedef struct {
    const char *token, *proof;
    apr_size_t token_len, proof_len;
} cred;

static apr_array_header_t *read_proofs(apr_pool_t *p, const char *path)
{
    apr_array_header_t *all = apr_array_make(p, 1024, sizeof(cred));
    FILE *f = fopen(path, "r");
    char line[16384];

    if (f == NULL) {
        perror(path);
        exit(2);
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        char *tab = strchr(line, '\t'), *nl = strchr(line, '\n');
        cred *c;

        if (tab == NULL || strncmp(line, "DPoP ", 5) != 0) {
            continue;
        }
        if (nl != NULL) {
            *nl = '\0';
        }
        *tab = '\0';
        c = apr_array_push(all);
        c->token = apr_pstrdup(p, line + 5);
        c->token_len = strlen(c->token);
        c->proof = apr_pstrdup(p, tab + 1);
        c->proof_len = strlen(c->proof);
    }
    fclose(f);
    return all;
}

static double cpu_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void die(const char *what, int i)
{
    fprintf(stderr, "dpop_cost: %s failed on proof %d\n", what, i);
    exit(1);
}

/* What every step shares. */
typedef struct {
    apr_pool_t *p;              /* cleared after each proof */
    apr_array_header_t *creds;
    const char *url, *jkt;
    ac_dpop_keys *keys;
    ac_seen *seen;
    const ac_jose_key *key;     /* the client's key */
    EVP_PKEY_CTX *bare;         /* verify context made once */
    unsigned char digest[32];   /* of the first proof's signing input */
    unsigned char der[80];
    size_t der_len;
    apr_int64_t now;
} bench;

typedef void step_fn(bench *b, const cred *c, int i);

/* EVP_PKEY_verify of one digest and signature, the context made once:
 * what `openssl speed ecdsap256` counts as one verification. */
static void step_bare(bench *b, const cred *c, int i)
{
    if (EVP_PKEY_verify(b->bare, b->der, b->der_len, b->digest, 32) != 1) {
        die("EVP_PKEY_verify", i);
    }
}

static ac_jose_jws *parse(bench *b, const cred *c, int i)
{
    ac_jose_jws *jws;

    if (ac_jose_jws_parse(b->p, c->proof, c->proof_len, AC_JOSE_ALG_ES256,
                          &jws) != AC_JOSE_OK) {
        die("ac_jose_jws_parse", i);
    }
    return jws;
}

static void step_jws_parse(bench *b, const cred *c, int i)
{
    parse(b, c, i);
}

/* ac_jose_verify of the proof's signature: SHA-256 of the signing input,
 * the signature to DER, the verification. */
static void step_jose_verify(bench *b, const cred *c, int i)
{
    const char *dot = strrchr(c->proof, '.');
    char *sig;
    apr_size_t sig_len;

    if (ac_b64url_decode(b->p, dot + 1, strlen(dot + 1), &sig, &sig_len) != 0
        || ac_jose_verify(b->key, AC_JOSE_ALG_ES256, c->proof,
                          (apr_size_t)(dot - c->proof),
                          (const unsigned char *)sig, sig_len)
           != AC_JOSE_OK) {
        die("ac_jose_verify", i);
    }
}

static void step_thumbprint(bench *b, const cred *c, int i)
{
    ac_jose_jws *jws = parse(b, c, i);

    if (ac_dpop_jwk_thumbprint(b->p, json_object_get(jws->header, "jwk"))
        == NULL) {
        die("ac_dpop_jwk_thumbprint", i);
    }
}

static void step_token_hash(bench *b, const cred *c, int i)
{
    if (ac_dpop_token_hash(b->p, c->token, c->token_len) == NULL) {
        die("ac_dpop_token_hash", i);
    }
}

static void step_url(bench *b, const cred *c, int i)
{
    if (ac_dpop_url_normalize(b->p, b->url) == NULL
        || ac_dpop_url_normalize(b->p, b->url) == NULL) {
        die("ac_dpop_url_normalize", i);
    }
}

static ac_dpop_proof *dpop_parse(bench *b, const cred *c, int i)
{
    ac_dpop_proof *pr;
    ac_jose_status why;

    if (ac_dpop_parse(b->p, c->proof, c->proof_len, AC_JOSE_ALG_ES256,
                      b->keys, &pr, &why) != AC_DPOP_OK) {
        die("ac_dpop_parse", i);
    }
    return pr;
}

static void step_dpop_parse(bench *b, const cred *c, int i)
{
    dpop_parse(b, c, i);
}

static ac_dpop_status check(bench *b, const cred *c, const ac_dpop_proof *pr)
{
    ac_dpop_expect want;

    memset(&want, 0, sizeof(want));
    want.method = "GET";
    want.url = b->url;
    want.now = b->now;
    want.max_age = 3600;
    want.leeway = 30;
    want.token = c->token;
    want.token_len = c->token_len;
    want.jkt = b->jkt;
    return ac_dpop_check(b->p, pr, &want);
}

/* The proof id, as the scheme makes it (modules/oauth2/dpop.c), into the
 * lock-free table. */
static void proof_id(bench *b, const ac_dpop_proof *pr, int i, int round)
{
    unsigned char id[32];
    ac_fp fp;

    ac_fp_begin(&fp);
    ac_fp_str(&fp, "dpop-jti");
    ac_fp_str(&fp, pr->jkt);
    /* each round a new id: the rounds replay the same proofs */
    ac_fp_int(&fp, round);
    ac_fp_final(&fp, pr->jti, strlen(pr->jti), id);
    ac_fp_hex(b->p, id);
    if (ac_seen_add(b->seen, id, b->now + 3600, b->now) != AC_SEEN_NEW) {
        die("ac_seen_add", i);
    }
}

static void step_proof_id(bench *b, const cred *c, int i)
{
    static int round;
    ac_dpop_proof pr;

    if (i == 0) {
        round++;
    }
    memset(&pr, 0, sizeof(pr));
    pr.jkt = b->jkt;
    pr.jti = c->proof + c->proof_len - 20;
    proof_id(b, &pr, i, round + 128);
}

/* The whole check the scheme makes of a proof. */
static void step_all(bench *b, const cred *c, int i)
{
    static int round;
    ac_dpop_proof *pr = dpop_parse(b, c, i);

    if (i == 0) {
        round++;
    }
    if (check(b, c, pr) != AC_DPOP_OK) {
        die("ac_dpop_check", i);
    }
    proof_id(b, pr, i, round);
}

static void setup(bench *b)
{
    const cred *c = &APR_ARRAY_IDX(b->creds, 0, cred);
    ac_dpop_proof *pr = dpop_parse(b, c, 0);
    const char *dot = strrchr(c->proof, '.');
    char *sig;
    apr_size_t sig_len;
    unsigned int n = 0;
    ECDSA_SIG *es;
    BIGNUM *r, *s;
    unsigned char *d;
    EVP_PKEY *pkey = NULL;
    ac_jose_jws *jws = parse(b, c, 0);
    ac_jose_key *key;

    b->jkt = apr_pstrdup(apr_pool_parent_get(b->p), pr->jkt);
    if (ac_jose_jwk_parse(apr_pool_parent_get(b->p),
                          json_object_get(jws->header, "jwk"), &key)
        != AC_JOSE_OK) {
        die("ac_jose_jwk_parse", 0);
    }
    b->key = key;
    if (check(b, c, pr) != AC_DPOP_OK) {
        die("ac_dpop_check (is URL the proofs' htu?)", 0);
    }
    EVP_Digest(c->proof, (size_t)(dot - c->proof), b->digest, &n,
               EVP_sha256(), NULL);
    ac_b64url_decode(b->p, dot + 1, strlen(dot + 1), &sig, &sig_len);
    es = ECDSA_SIG_new();
    r = BN_bin2bn((unsigned char *)sig, 32, NULL);
    s = BN_bin2bn((unsigned char *)sig + 32, 32, NULL);
    ECDSA_SIG_set0(es, r, s);
    d = b->der;
    b->der_len = (size_t)i2d_ECDSA_SIG(es, &d);
    ECDSA_SIG_free(es);
    /* the same public key, as an OpenSSL key of its own */
    {
        const json_t *jwk = json_object_get(jws->header, "jwk");
        char *x, *y;
        apr_size_t xl, yl;
        unsigned char point[65];
        OSSL_PARAM params[3];
        EVP_PKEY_CTX *kc = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);

        ac_b64url_decode(b->p, json_string_value(json_object_get(jwk, "x")),
                         43, &x, &xl);
        ac_b64url_decode(b->p, json_string_value(json_object_get(jwk, "y")),
                         43, &y, &yl);
        point[0] = 4;
        memcpy(point + 1, x, 32);
        memcpy(point + 33, y, 32);
        params[0] = OSSL_PARAM_construct_utf8_string("group",
                                                     "prime256v1", 0);
        params[1] = OSSL_PARAM_construct_octet_string("pub", point, 65);
        params[2] = OSSL_PARAM_construct_end();
        if (EVP_PKEY_fromdata_init(kc) != 1
            || EVP_PKEY_fromdata(kc, &pkey, EVP_PKEY_PUBLIC_KEY, params)
               != 1) {
            die("EVP_PKEY_fromdata", 0);
        }
        EVP_PKEY_CTX_free(kc);
    }
    b->bare = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (b->bare == NULL || EVP_PKEY_verify_init(b->bare) != 1) {
        die("EVP_PKEY_verify_init", 0);
    }
    apr_pool_clear(b->p);
}

int main(int argc, const char *const argv[])
{
    static const struct {
        const char *name;
        step_fn *fn;
        const char *what;
    } steps[] = {
        { "verify", step_bare,
          "EVP_PKEY_verify, context made once (openssl speed)" },
        { "ac_jose_verify", step_jose_verify,
          "SHA-256 of the input, signature to DER, verify" },
        { "jws_parse", step_jws_parse,
          "ac_jose_jws_parse: split, base64url, 2 JSON parses" },
        { "thumbprint", step_thumbprint,
          "jws_parse + RFC 7638 thumbprint of the jwk" },
        { "token_hash", step_token_hash, "ath: base64url(SHA-256(token))" },
        { "htu", step_url, "ac_dpop_url_normalize, twice" },
        { "proof_id", step_proof_id,
          "the proof id's digest, hex, ac_seen_add" },
        { "dpop_parse", step_dpop_parse,
          "ac_dpop_parse, its header met before: payload, verify, claims" },
        { "proof_check", step_all,
          "ac_dpop_parse + ac_dpop_check + proof id: the whole check" },
    };
#define NSTEPS (sizeof(steps) / sizeof(steps[0]))
    double best[NSTEPS];
    apr_pool_t *pool;
    bench b;
    int rounds = argc > 3 ? atoi(argv[3]) : 5, r, i;
    apr_size_t k;
    void *words;

    if (argc < 3 || rounds < 1 || rounds > 100) {
        fprintf(stderr, "usage: dpop_cost PROOFS URL [ROUNDS]\n");
        return 2;
    }
    apr_initialize();
    apr_pool_create(&pool, NULL);
    ac_digests_init(pool);
    memset(&b, 0, sizeof(b));
    apr_pool_create(&b.p, pool);
    b.creds = read_proofs(pool, argv[1]);
    b.url = argv[2];
    b.now = (apr_int64_t)time(NULL);
    b.keys = ac_dpop_keys_make(pool, 256);
    words = apr_pcalloc(pool, sizeof(apr_uint64_t) << 20);
    b.seen = ac_seen_make(pool, words, (apr_size_t)1 << 20);
    if (b.creds->nelts == 0) {
        fprintf(stderr, "dpop_cost: no proofs in %s\n", argv[1]);
        return 2;
    }
    setup(&b);
    for (k = 0; k < NSTEPS; k++) {
        best[k] = 1e99;
    }
    for (r = 0; r < rounds; r++) {
        for (k = 0; k < NSTEPS; k++) {
            double t0 = cpu_now(), us;

            for (i = 0; i < b.creds->nelts; i++) {
                steps[k].fn(&b, &APR_ARRAY_IDX(b.creds, i, cred), i);
                apr_pool_clear(b.p);
            }
            us = (cpu_now() - t0) / b.creds->nelts;
            if (us < best[k]) {
                best[k] = us;
            }
        }
    }
    printf("# %d proofs, best of %d rounds, CPU us per proof\n",
           b.creds->nelts, rounds);
    for (k = 0; k < NSTEPS; k++) {
        printf("%-15s %7.1f  %s\n", steps[k].name, best[k], steps[k].what);
    }
    printf("%-15s %7.1f  proof_check - verify: the cost around the "
           "verification\n", "overhead", best[NSTEPS - 1] - best[0]);
    apr_pool_destroy(pool);
    apr_terminate();
    return 0;
}
