/* Licensed under the Apache License, Version 2.0. */

#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "apr_lib.h"
#include "apr_strings.h"

#include "ac_common.h"
#include "ac_dpop.h"
#include "ac_key.h"

const char *ac_dpop_strerror(ac_dpop_status st)
{
    switch (st) {
    case AC_DPOP_OK:
        return "ok";
    case AC_DPOP_ERR_JWS:
        return "proof is not a signed JWT";
    case AC_DPOP_ERR_TYP:
        return "proof typ is not dpop+jwt";
    case AC_DPOP_ERR_ALG:
        return "proof algorithm not allowed";
    case AC_DPOP_ERR_JWK:
        return "proof jwk is not a usable public key";
    case AC_DPOP_ERR_PRIVATE_KEY:
        return "proof jwk holds a private key";
    case AC_DPOP_ERR_SIGNATURE:
        return "proof signature does not verify";
    case AC_DPOP_ERR_CLAIMS:
        return "proof lacks jti, htm, htu or iat";
    case AC_DPOP_ERR_HTM:
        return "proof is not for this method";
    case AC_DPOP_ERR_HTU:
        return "proof is not for this URL";
    case AC_DPOP_ERR_IAT:
        return "proof is too old or from the future";
    case AC_DPOP_ERR_ATH:
        return "proof is not for this access token";
    case AC_DPOP_ERR_BINDING:
        return "proof key is not the key the token is bound to";
    case AC_DPOP_ERR_NONCE:
        return "proof has no current nonce";
    }
    return "invalid proof";
}

/* --- the thumbprint and the token hash -------------------------------- */

static const char *sha256_b64url(apr_pool_t *p, const void *data,
                                 apr_size_t len)
{
    unsigned char md[32];
    unsigned int n = 0;

    if (EVP_Digest(data, len, md, &n, ac_digest("SHA256"), NULL) != 1
        || n != 32) {
        return NULL;
    }
    return ac_b64url_encode(p, md, 32);
}

/* A member of the thumbprint: "name":"value", the value a string. */
static const char *member(apr_pool_t *p, const json_t *jwk, const char *name)
{
    const json_t *v = json_object_get(jwk, name);

    if (!json_is_string(v)) {
        return NULL;
    }
    return apr_pstrcat(p, "\"", name, "\":",
                       ac_json_stringn(p, json_string_value(v),
                                       json_string_length(v)), NULL);
}

/* The thumbprint's digest into md[32]: 1, or 0 for a JWK without its
 * required members. */
static int thumbprint_md(apr_pool_t *p, const json_t *jwk,
                         unsigned char md[32])
{
    /* RFC 7638 section 3.2: the required members only, in lexicographic
     * order, no whitespace */
    static const char *const rsa[] = { "e", "kty", "n", NULL };
    static const char *const ec[] = { "crv", "kty", "x", "y", NULL };
    static const char *const okp[] = { "crv", "kty", "x", NULL };
    const json_t *kty = json_object_get(jwk, "kty");
    const char *const *names;
    const char *text = "{", *m;
    unsigned int n = 0;
    int i;

    if (!json_is_string(kty)) {
        return 0;
    }
    if (strcmp(json_string_value(kty), "RSA") == 0) {
        names = rsa;
    }
    else if (strcmp(json_string_value(kty), "EC") == 0) {
        names = ec;
    }
    else if (strcmp(json_string_value(kty), "OKP") == 0) {
        names = okp;
    }
    else {
        return 0;
    }
    for (i = 0; names[i] != NULL; i++) {
        if ((m = member(p, jwk, names[i])) == NULL) {
            return 0;
        }
        text = apr_pstrcat(p, text, i ? "," : "", m, NULL);
    }
    text = apr_pstrcat(p, text, "}", NULL);
    return EVP_Digest(text, strlen(text), md, &n, ac_digest("SHA256"), NULL)
           == 1 && n == 32;
}

const char *ac_dpop_jwk_thumbprint(apr_pool_t *p, const json_t *jwk)
{
    unsigned char md[32];

    return thumbprint_md(p, jwk, md) ? ac_b64url_encode(p, md, 32) : NULL;
}

const char *ac_dpop_token_hash(apr_pool_t *p, const char *token,
                               apr_size_t len)
{
    return sha256_b64url(p, token, len);
}

/* --- parsing ------------------------------------------------------------ */

static int typ_is_dpop(const char *typ)
{
    return typ != NULL && (strcasecmp(typ, "dpop+jwt") == 0
                           || strcasecmp(typ, "application/dpop+jwt") == 0);
}

/* RFC 9449 section 4.3 point 7: the jwk holds no private key. */
static int has_private_members(const json_t *jwk)
{
    static const char *const names[] = {
        "d", "p", "q", "dp", "dq", "qi", "oth", "k", NULL
    };
    int i;

    for (i = 0; names[i] != NULL; i++) {
        if (json_object_get(jwk, names[i]) != NULL) {
            return 1;
        }
    }
    return 0;
}

static int optional_string(const json_t *claims, const char *name,
                           const char **out)
{
    ac_jose_status st = ac_jose_claim_string(claims, name, out);

    if (st == AC_JOSE_ERR_CLAIM_MISSING) {
        *out = NULL;
        return 1;
    }
    return st == AC_JOSE_OK;
}

/* --- the header cache ----------------------------------------------------- */

/* A client signs every proof with the same header (typ, alg, jwk): one
 * entry per header, by its bytes, holds what its checks found: its alg,
 * its jwk's key and thumbprint.  In a pool of its own, alive while it is
 * in its slot or a request still verifies with its key. */
typedef struct {
    apr_pool_t *pool;
    const char *header;         /* the proof's first part (its key) */
    apr_size_t header_len;
    ac_jose_alg alg;            /* the header's alg */
    unsigned char jkt[32];      /* the jwk's thumbprint's digest */
    ac_jose_key *key;
    int refs;                   /* the slot's, and each request's */
} cached_key;

struct ac_dpop_keys {
    apr_thread_mutex_t *lock;
    int slots;
    cached_key **slot;
};

/* The cache's pool goes: the slots let go of their entries. */
static apr_status_t keys_cleanup(void *data)
{
    ac_dpop_keys *k = data;
    int i;

    for (i = 0; i < k->slots; i++) {
        if (k->slot[i] != NULL && --k->slot[i]->refs == 0) {
            apr_pool_destroy(k->slot[i]->pool);
        }
        k->slot[i] = NULL;
    }
    return APR_SUCCESS;
}

ac_dpop_keys *ac_dpop_keys_make(apr_pool_t *p, int slots)
{
    ac_dpop_keys *k = apr_pcalloc(p, sizeof(*k));

    if (apr_thread_mutex_create(&k->lock, APR_THREAD_MUTEX_DEFAULT, p)
        != APR_SUCCESS) {
        return NULL;
    }
    k->slots = slots;
    k->slot = apr_pcalloc(p, sizeof(*k->slot) * (apr_size_t)slots);
    apr_pool_cleanup_register(p, k, keys_cleanup, apr_pool_cleanup_null);
    return k;
}

static void key_release(ac_dpop_keys *k, cached_key *e)
{
    apr_thread_mutex_lock(k->lock);
    if (--e->refs == 0) {
        apr_pool_destroy(e->pool);
    }
    apr_thread_mutex_unlock(k->lock);
}

typedef struct {
    ac_dpop_keys *k;
    cached_key *e;
} key_ref;

static apr_status_t key_ref_cleanup(void *data)
{
    key_ref *ref = data;

    key_release(ref->k, ref->e);
    return APR_SUCCESS;
}

/* Hold `e` for as long as `p` lives. */
static void key_hold(apr_pool_t *p, ac_dpop_keys *k, cached_key *e)
{
    key_ref *ref = apr_palloc(p, sizeof(*ref));

    e->refs++;                  /* under k->lock */
    ref->k = k;
    ref->e = e;
    apr_pool_cleanup_register(p, ref, key_ref_cleanup,
                              apr_pool_cleanup_null);
}

/* The header's slot: a hash of its bytes eight at a time (FNV-1a's
 * multiplier on 64-bit words, then folded), some ten times cheaper than
 * ac_crc32's table walk byte by byte (0.8 us a request in httpd for a
 * 200-byte header).  Only a slot: an entry is used when its bytes are the
 * header's, so a collision costs a parse, never a wrong key. */
static unsigned int header_slot(const ac_dpop_keys *k, const char *header,
                                apr_size_t len)
{
    apr_uint64_t h = APR_UINT64_C(0xcbf29ce484222325) ^ len, w;
    apr_size_t i;

    for (i = 0; i + 8 <= len; i += 8) {
        memcpy(&w, header + i, 8);
        h = (h ^ w) * APR_UINT64_C(0x100000001b3);
        h ^= h >> 29;
    }
    for (; i < len; i++) {
        h = (h ^ (unsigned char)header[i]) * APR_UINT64_C(0x100000001b3);
    }
    h ^= h >> 32;
    return (unsigned int)(h % (apr_uint64_t)k->slots);
}

/* The entry of this very header, held for as long as `p` lives, or NULL. */
static const cached_key *header_find(apr_pool_t *p, ac_dpop_keys *k,
                                     const char *header, apr_size_t len)
{
    unsigned int slot = header_slot(k, header, len);
    cached_key *e;

    apr_thread_mutex_lock(k->lock);
    e = k->slot[slot];
    if (e != NULL && e->header_len == len
        && memcmp(e->header, header, len) == 0) {
        key_hold(p, k, e);
    }
    else {
        e = NULL;
    }
    apr_thread_mutex_unlock(k->lock);
    return e;
}

/* The key of `jwk`, parsed in a pool of its own and cached as the entry
 * of `jws`'s header (its signing input up to the dot) when there is a
 * cache, else parsed in `p`. */
static ac_jose_status proof_key(apr_pool_t *p, ac_dpop_keys *k,
                                const ac_jose_jws *jws, const json_t *jwk,
                                const unsigned char id[32],
                                const ac_jose_key **out)
{
    const char *dot = memchr(jws->signing_input, '.',
                             jws->signing_input_len);
    apr_size_t header_len = (apr_size_t)(dot - jws->signing_input);
    cached_key *e, *old;
    unsigned int slot;
    apr_pool_t *kp;
    ac_jose_key *key;
    ac_jose_status st;

    if (k == NULL) {
        st = ac_jose_jwk_parse(p, jwk, &key);
        *out = key;
        return st;
    }
    /* parsed outside the lock */
    if (apr_pool_create(&kp, NULL) != APR_SUCCESS) {
        return AC_JOSE_ERR_INTERNAL;
    }
    st = ac_jose_jwk_parse(kp, jwk, &key);
    if (st != AC_JOSE_OK) {
        apr_pool_destroy(kp);
        return st;
    }
    e = apr_pcalloc(kp, sizeof(*e));
    e->pool = kp;
    e->header = apr_pmemdup(kp, jws->signing_input, header_len);
    e->header_len = header_len;
    e->alg = jws->alg;
    memcpy(e->jkt, id, 32);
    e->key = key;
    e->refs = 1;                /* the slot's */
    slot = header_slot(k, e->header, header_len);
    apr_thread_mutex_lock(k->lock);
    old = k->slot[slot];
    k->slot[slot] = e;
    key_hold(p, k, e);
    if (old != NULL && --old->refs == 0) {
        apr_pool_destroy(old->pool);
    }
    apr_thread_mutex_unlock(k->lock);
    *out = key;
    return AC_JOSE_OK;
}

/* --- parsing a proof ------------------------------------------------------ */

/* The checks of a header met for the first time: typ, a public jwk, its
 * thumbprint's digest into id[32], its key (cached with the header). */
static ac_dpop_status check_header(apr_pool_t *p, ac_dpop_keys *keys,
                                   const ac_jose_jws *jws,
                                   unsigned char id[32],
                                   const ac_jose_key **key)
{
    const json_t *jwk, *kty;

    if (!typ_is_dpop(jws->typ)) {
        return AC_DPOP_ERR_TYP;
    }
    jwk = json_object_get(jws->header, "jwk");
    if (!json_is_object(jwk)) {
        return AC_DPOP_ERR_JWK;
    }
    if (has_private_members(jwk)) {
        return AC_DPOP_ERR_PRIVATE_KEY;
    }
    kty = json_object_get(jwk, "kty");
    if (!json_is_string(kty) || strcmp(json_string_value(kty), "oct") == 0
        || !thumbprint_md(p, jwk, id)
        || proof_key(p, keys, jws, jwk, id, key) != AC_JOSE_OK) {
        return AC_DPOP_ERR_JWK;
    }
    return AC_DPOP_OK;
}

/* The claims of a verified proof into pr. */
static ac_dpop_status proof_claims(const json_t *claims, ac_dpop_proof *pr)
{
    if (ac_jose_claim_string(claims, "jti", &pr->jti) != AC_JOSE_OK
        || *pr->jti == '\0' || strlen(pr->jti) > AC_DPOP_MAX_JTI
        || ac_jose_claim_string(claims, "htm", &pr->htm) != AC_JOSE_OK
        || ac_jose_claim_string(claims, "htu", &pr->htu) != AC_JOSE_OK
        || ac_jose_claim_time(claims, "iat", &pr->iat) != AC_JOSE_OK
        || !optional_string(claims, "ath", &pr->ath)
        || !optional_string(claims, "nonce", &pr->nonce)) {
        return AC_DPOP_ERR_CLAIMS;
    }
    return AC_DPOP_OK;
}

ac_dpop_status ac_dpop_parse(apr_pool_t *p, const char *proof,
                             apr_size_t len, unsigned int allowed_algs,
                             ac_dpop_keys *keys, ac_dpop_proof **out,
                             ac_jose_status *why)
{
    unsigned int algs = allowed_algs & AC_JOSE_ALGS_ASYMMETRIC;
    const char *dot = NULL;
    const cached_key *e = NULL;
    const ac_jose_key *key = NULL;
    ac_dpop_proof *pr;
    ac_jose_jws *jws;
    unsigned char md[32];
    ac_dpop_status ds;
    ac_jose_status st;

    *why = AC_JOSE_OK;
    if (len > AC_DPOP_MAX_PROOF) {
        *why = AC_JOSE_ERR_TOO_LARGE;
        return AC_DPOP_ERR_JWS;
    }
    if (keys != NULL && proof != NULL
        && (dot = memchr(proof, '.', len)) != NULL) {
        e = header_find(p, keys, proof, (apr_size_t)(dot - proof));
    }
    /* a header seen before passed its checks: only its alg may fail here */
    st = e != NULL ? ac_jose_jws_parse_known(p, proof, len, e->alg, algs,
                                             &jws)
                   : ac_jose_jws_parse(p, proof, len, algs, &jws);
    if (st == AC_JOSE_ERR_ALG_NONE || st == AC_JOSE_ERR_ALG_UNSUPPORTED
        || st == AC_JOSE_ERR_ALG_NOT_ALLOWED) {
        return AC_DPOP_ERR_ALG;
    }
    if (st != AC_JOSE_OK) {
        *why = st;
        return AC_DPOP_ERR_JWS;
    }
    if (e != NULL) {
        memcpy(md, e->jkt, 32);
        key = e->key;
    }
    else if ((ds = check_header(p, keys, jws, md, &key)) != AC_DPOP_OK) {
        return ds;
    }
    pr = apr_pcalloc(p, sizeof(*pr));
    pr->jkt = ac_b64url_encode(p, md, 32);
    st = ac_jose_verify(key, jws->alg, jws->signing_input,
                        jws->signing_input_len, jws->signature,
                        jws->signature_len);
    if (st == AC_JOSE_ERR_KEY_MISMATCH) {
        return AC_DPOP_ERR_JWK;         /* e.g. ES256 with an RSA key */
    }
    if (st != AC_JOSE_OK) {
        return AC_DPOP_ERR_SIGNATURE;
    }
    if ((ds = proof_claims(jws->claims, pr)) != AC_DPOP_OK) {
        return ds;
    }
    pr->alg = jws->alg;
    pr->key = key;
    *out = pr;
    return AC_DPOP_OK;
}

/* --- checking --------------------------------------------------------- */

static int same_text(const char *a, const char *b)
{
    apr_size_t n = strlen(a);

    return n == strlen(b) && ac_ct_equal(a, b, n);
}

ac_dpop_status ac_dpop_check(apr_pool_t *p, const ac_dpop_proof *proof,
                             const ac_dpop_expect *want)
{
    const char *htu, *url;

    if (strcmp(proof->htm, want->method) != 0) {
        return AC_DPOP_ERR_HTM;
    }
    htu = ac_dpop_url_normalize(p, proof->htu);
    url = ac_dpop_url_normalize(p, want->url);
    if (htu == NULL || url == NULL || strcmp(htu, url) != 0) {
        return AC_DPOP_ERR_HTU;
    }
    if (proof->iat > want->now + want->leeway
        || proof->iat < want->now - want->max_age - want->leeway) {
        return AC_DPOP_ERR_IAT;
    }
    if (want->token != NULL) {
        const char *ath = ac_dpop_token_hash(p, want->token,
                                             want->token_len);

        if (proof->ath == NULL || ath == NULL
            || !same_text(proof->ath, ath)) {
            return AC_DPOP_ERR_ATH;
        }
    }
    if (want->jkt != NULL && !same_text(proof->jkt, want->jkt)) {
        return AC_DPOP_ERR_BINDING;
    }
    return AC_DPOP_OK;
}

/* --- URLs ------------------------------------------------------------- */

static int is_unreserved(unsigned char c)
{
    return apr_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/* RFC 3986 section 3.3 pchar and "/": unreserved, pct-encoded (checked by
 * the caller), sub-delims, ":" and "@" */
static int is_path_char(unsigned char c)
{
    return is_unreserved(c) || c == '/' || c == '%' || c == ':' || c == '@'
           || strchr("!$&'()*+,;=", c) != NULL;
}

static int hex_value(unsigned char c)
{
    return apr_isdigit(c) ? c - '0'
           : (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? (c | 0x20) - 'a' + 10
           : -1;
}

/* The path with its percent-encodings normalised, or NULL. */
static char *normalize_escapes(apr_pool_t *p, const char *s, apr_size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = apr_palloc(p, len + 1), *o = out;
    apr_size_t i;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        int hi, lo;

        if (!is_path_char(c)) {
            return NULL;
        }
        if (c != '%') {
            *o++ = (char)c;
            continue;
        }
        if (i + 2 >= len) {
            return NULL;
        }
        if ((hi = hex_value((unsigned char)s[i + 1])) < 0
            || (lo = hex_value((unsigned char)s[i + 2])) < 0) {
            return NULL;
        }
        c = (unsigned char)(hi * 16 + lo);
        if (is_unreserved(c)) {
            *o++ = (char)c;
        }
        else {
            *o++ = '%';
            *o++ = hex[hi];
            *o++ = hex[lo];
        }
        i += 2;
    }
    *o = '\0';
    return out;
}

/* RFC 3986 section 5.2.4 on a path that starts with "/". */
static char *remove_dot_segments(apr_pool_t *p, const char *in)
{
    char *out = apr_palloc(p, strlen(in) + 2);
    apr_size_t n = 0;

    while (*in != '\0') {
        if (strncmp(in, "/./", 3) == 0) {
            in += 2;
        }
        else if (strcmp(in, "/.") == 0) {
            in = "/";
        }
        else if (strncmp(in, "/../", 4) == 0 || strcmp(in, "/..") == 0) {
            in = in[3] == '\0' ? "/" : in + 3;
            while (n > 0 && out[--n] != '/') {
            }
        }
        else {
            do {
                out[n++] = *in++;
            } while (*in != '\0' && *in != '/');
        }
    }
    out[n] = '\0';
    return n == 0 ? apr_pstrdup(p, "/") : out;
}

const char *ac_dpop_url_normalize(apr_pool_t *p, const char *url)
{
    const char *s, *host, *host_end, *port = NULL, *end;
    char *path, *lower;
    apr_size_t hlen, i;
    long portnum = 0;
    int https;

    if (url == NULL) {
        return NULL;
    }
    if (strncasecmp(url, "https://", 8) == 0) {
        https = 1;
        s = url + 8;
    }
    else if (strncasecmp(url, "http://", 7) == 0) {
        https = 0;
        s = url + 7;
    }
    else {
        return NULL;
    }
    end = s + strcspn(s, "/?#");
    host = s;
    if (memchr(host, '@', (apr_size_t)(end - host)) != NULL) {
        return NULL;                    /* no user information */
    }
    if (*host == '[') {
        host_end = memchr(host, ']', (apr_size_t)(end - host));
        if (host_end == NULL) {
            return NULL;
        }
        host_end++;
        if (host_end < end && *host_end != ':') {
            return NULL;
        }
    }
    else {
        host_end = memchr(host, ':', (apr_size_t)(end - host));
        if (host_end == NULL) {
            host_end = end;
        }
    }
    if (host_end < end) {
        char *digits_end;

        port = host_end + 1;
        if (port == end) {
            port = NULL;                /* "host:" is the default port */
        }
        else {
            for (i = 0; port + i < end; i++) {
                if (!apr_isdigit(port[i]) || i >= 5) {
                    return NULL;
                }
            }
            portnum = strtol(port, &digits_end, 10);
            if (portnum > 65535) {
                return NULL;
            }
        }
    }
    hlen = (apr_size_t)(host_end - host);
    if (hlen == 0) {
        return NULL;
    }
    lower = apr_pstrmemdup(p, host, hlen);
    for (i = 0; i < hlen; i++) {
        unsigned char c = (unsigned char)lower[i];

        if (!(is_unreserved(c) || c == '[' || c == ']' || c == ':')) {
            return NULL;
        }
        lower[i] = (char)apr_tolower(c);
    }
    s = end;
    end = s + strcspn(s, "?#");
    path = normalize_escapes(p, s, (apr_size_t)(end - s));
    if (path == NULL) {
        return NULL;
    }
    path = *path == '\0' ? apr_pstrdup(p, "/") : remove_dot_segments(p, path);
    if (port != NULL && portnum != (https ? 443 : 80)) {
        return apr_psprintf(p, "%s://%s:%ld%s", https ? "https" : "http",
                            lower, portnum, path);
    }
    return apr_pstrcat(p, https ? "https://" : "http://", lower, path, NULL);
}

/* --- nonces ------------------------------------------------------------- */

#define NONCE_MAC 16

/* slot (8 bytes, big-endian) then the first NONCE_MAC bytes of
 * HMAC-SHA256(secret, slot) */
static int nonce_bytes(const unsigned char *secret, apr_size_t secret_len,
                       apr_int64_t slot, unsigned char out[8 + NONCE_MAC])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    ac_be64_put(out, (apr_uint64_t)slot);
    if (HMAC(EVP_sha256(), secret, (int)secret_len, out, 8, mac, &n) == NULL
        || n < NONCE_MAC) {
        return 0;
    }
    memcpy(out + 8, mac, NONCE_MAC);
    return 1;
}

const char *ac_dpop_nonce_make(apr_pool_t *p, const unsigned char *secret,
                               apr_size_t secret_len, apr_int64_t slot)
{
    unsigned char b[8 + NONCE_MAC];

    if (!nonce_bytes(secret, secret_len, slot, b)) {
        return NULL;
    }
    return ac_b64url_encode(p, b, sizeof(b));
}

int ac_dpop_nonce_valid(const char *nonce, const unsigned char *secret,
                        apr_size_t secret_len, apr_int64_t slot)
{
    unsigned char want[8 + NONCE_MAC];
    char buf[8 + NONCE_MAC + 1];
    apr_int64_t made;
    apr_size_t i, len;
    int v;

    /* decoded by hand into a fixed buffer: no pool needed */
    if (nonce == NULL || strlen(nonce) != 32) {
        return 0;
    }
    for (i = 0, len = 0; i < 32; i += 4) {
        apr_uint32_t bits = 0;
        int j;

        for (j = 0; j < 4; j++) {
            unsigned char c = (unsigned char)nonce[i + j];

            v = apr_isupper(c) ? c - 'A' : apr_islower(c) ? c - 'a' + 26
                : apr_isdigit(c) ? c - '0' + 52 : c == '-' ? 62
                : c == '_' ? 63 : -1;
            if (v < 0) {
                return 0;
            }
            bits = (bits << 6) | (apr_uint32_t)v;
        }
        buf[len++] = (char)(bits >> 16);
        buf[len++] = (char)(bits >> 8);
        buf[len++] = (char)bits;
    }
    made = (apr_int64_t)ac_be64_get((const unsigned char *)buf);
    if ((made != slot && made != slot - 1)
        || !nonce_bytes(secret, secret_len, made, want)) {
        return 0;
    }
    return ac_ct_equal(buf + 8, want + 8, NONCE_MAC);
}
