/* Licensed under the Apache License, Version 2.0.
 *
 * ac_key.c -- API keys of the native schema (see ac_key.h): generation
 * from the CSPRNG, the offline format and checksum check, CRC-32 and the
 * hex digests under which keys are stored.
 */

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "apr_strings.h"

#include "ac_common.h"
#include "ac_key.h"

static const char base62_digits[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* CRC-32/ISO-HDLC (reflected polynomial 0xEDB88320), the table of zlib's
 * crc32, written out so that nothing is initialised at run time. */
static const apr_uint32_t crc32_table[256] = {
    0x00000000U, 0x77073096U, 0xee0e612cU, 0x990951baU,
    0x076dc419U, 0x706af48fU, 0xe963a535U, 0x9e6495a3U,
    0x0edb8832U, 0x79dcb8a4U, 0xe0d5e91eU, 0x97d2d988U,
    0x09b64c2bU, 0x7eb17cbdU, 0xe7b82d07U, 0x90bf1d91U,
    0x1db71064U, 0x6ab020f2U, 0xf3b97148U, 0x84be41deU,
    0x1adad47dU, 0x6ddde4ebU, 0xf4d4b551U, 0x83d385c7U,
    0x136c9856U, 0x646ba8c0U, 0xfd62f97aU, 0x8a65c9ecU,
    0x14015c4fU, 0x63066cd9U, 0xfa0f3d63U, 0x8d080df5U,
    0x3b6e20c8U, 0x4c69105eU, 0xd56041e4U, 0xa2677172U,
    0x3c03e4d1U, 0x4b04d447U, 0xd20d85fdU, 0xa50ab56bU,
    0x35b5a8faU, 0x42b2986cU, 0xdbbbc9d6U, 0xacbcf940U,
    0x32d86ce3U, 0x45df5c75U, 0xdcd60dcfU, 0xabd13d59U,
    0x26d930acU, 0x51de003aU, 0xc8d75180U, 0xbfd06116U,
    0x21b4f4b5U, 0x56b3c423U, 0xcfba9599U, 0xb8bda50fU,
    0x2802b89eU, 0x5f058808U, 0xc60cd9b2U, 0xb10be924U,
    0x2f6f7c87U, 0x58684c11U, 0xc1611dabU, 0xb6662d3dU,
    0x76dc4190U, 0x01db7106U, 0x98d220bcU, 0xefd5102aU,
    0x71b18589U, 0x06b6b51fU, 0x9fbfe4a5U, 0xe8b8d433U,
    0x7807c9a2U, 0x0f00f934U, 0x9609a88eU, 0xe10e9818U,
    0x7f6a0dbbU, 0x086d3d2dU, 0x91646c97U, 0xe6635c01U,
    0x6b6b51f4U, 0x1c6c6162U, 0x856530d8U, 0xf262004eU,
    0x6c0695edU, 0x1b01a57bU, 0x8208f4c1U, 0xf50fc457U,
    0x65b0d9c6U, 0x12b7e950U, 0x8bbeb8eaU, 0xfcb9887cU,
    0x62dd1ddfU, 0x15da2d49U, 0x8cd37cf3U, 0xfbd44c65U,
    0x4db26158U, 0x3ab551ceU, 0xa3bc0074U, 0xd4bb30e2U,
    0x4adfa541U, 0x3dd895d7U, 0xa4d1c46dU, 0xd3d6f4fbU,
    0x4369e96aU, 0x346ed9fcU, 0xad678846U, 0xda60b8d0U,
    0x44042d73U, 0x33031de5U, 0xaa0a4c5fU, 0xdd0d7cc9U,
    0x5005713cU, 0x270241aaU, 0xbe0b1010U, 0xc90c2086U,
    0x5768b525U, 0x206f85b3U, 0xb966d409U, 0xce61e49fU,
    0x5edef90eU, 0x29d9c998U, 0xb0d09822U, 0xc7d7a8b4U,
    0x59b33d17U, 0x2eb40d81U, 0xb7bd5c3bU, 0xc0ba6cadU,
    0xedb88320U, 0x9abfb3b6U, 0x03b6e20cU, 0x74b1d29aU,
    0xead54739U, 0x9dd277afU, 0x04db2615U, 0x73dc1683U,
    0xe3630b12U, 0x94643b84U, 0x0d6d6a3eU, 0x7a6a5aa8U,
    0xe40ecf0bU, 0x9309ff9dU, 0x0a00ae27U, 0x7d079eb1U,
    0xf00f9344U, 0x8708a3d2U, 0x1e01f268U, 0x6906c2feU,
    0xf762575dU, 0x806567cbU, 0x196c3671U, 0x6e6b06e7U,
    0xfed41b76U, 0x89d32be0U, 0x10da7a5aU, 0x67dd4accU,
    0xf9b9df6fU, 0x8ebeeff9U, 0x17b7be43U, 0x60b08ed5U,
    0xd6d6a3e8U, 0xa1d1937eU, 0x38d8c2c4U, 0x4fdff252U,
    0xd1bb67f1U, 0xa6bc5767U, 0x3fb506ddU, 0x48b2364bU,
    0xd80d2bdaU, 0xaf0a1b4cU, 0x36034af6U, 0x41047a60U,
    0xdf60efc3U, 0xa867df55U, 0x316e8eefU, 0x4669be79U,
    0xcb61b38cU, 0xbc66831aU, 0x256fd2a0U, 0x5268e236U,
    0xcc0c7795U, 0xbb0b4703U, 0x220216b9U, 0x5505262fU,
    0xc5ba3bbeU, 0xb2bd0b28U, 0x2bb45a92U, 0x5cb36a04U,
    0xc2d7ffa7U, 0xb5d0cf31U, 0x2cd99e8bU, 0x5bdeae1dU,
    0x9b64c2b0U, 0xec63f226U, 0x756aa39cU, 0x026d930aU,
    0x9c0906a9U, 0xeb0e363fU, 0x72076785U, 0x05005713U,
    0x95bf4a82U, 0xe2b87a14U, 0x7bb12baeU, 0x0cb61b38U,
    0x92d28e9bU, 0xe5d5be0dU, 0x7cdcefb7U, 0x0bdbdf21U,
    0x86d3d2d4U, 0xf1d4e242U, 0x68ddb3f8U, 0x1fda836eU,
    0x81be16cdU, 0xf6b9265bU, 0x6fb077e1U, 0x18b74777U,
    0x88085ae6U, 0xff0f6a70U, 0x66063bcaU, 0x11010b5cU,
    0x8f659effU, 0xf862ae69U, 0x616bffd3U, 0x166ccf45U,
    0xa00ae278U, 0xd70dd2eeU, 0x4e048354U, 0x3903b3c2U,
    0xa7672661U, 0xd06016f7U, 0x4969474dU, 0x3e6e77dbU,
    0xaed16a4aU, 0xd9d65adcU, 0x40df0b66U, 0x37d83bf0U,
    0xa9bcae53U, 0xdebb9ec5U, 0x47b2cf7fU, 0x30b5ffe9U,
    0xbdbdf21cU, 0xcabac28aU, 0x53b39330U, 0x24b4a3a6U,
    0xbad03605U, 0xcdd70693U, 0x54de5729U, 0x23d967bfU,
    0xb3667a2eU, 0xc4614ab8U, 0x5d681b02U, 0x2a6f2b94U,
    0xb40bbe37U, 0xc30c8ea1U, 0x5a05df1bU, 0x2d02ef8dU,
};

apr_uint32_t ac_crc32(const void *data, apr_size_t len)
{
    const unsigned char *s = data;
    apr_uint32_t crc = 0xffffffffU;
    apr_size_t i;

    for (i = 0; i < len; i++) {
        crc = crc32_table[(crc ^ s[i]) & 0xff] ^ (crc >> 8);
    }
    return crc ^ 0xffffffffU;
}

/* The value of one base62 digit, or -1 for any other byte. */
static int base62_value(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'A' && c <= 'Z') {
        return c - 'A' + 10;
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 36;
    }
    return -1;
}

/* Write the big-endian number in[0..inlen) as exactly outlen base62
 * digits, most significant first, by long division by 62.  The caller
 * makes outlen large enough (62^outlen > 256^inlen). */
static void base62_encode(const unsigned char *in, apr_size_t inlen,
                          char *out, apr_size_t outlen)
{
    unsigned char num[AC_KEY_RANDOM_BYTES];
    apr_size_t i, j;

    memcpy(num, in, inlen);
    for (i = outlen; i-- > 0;) {
        unsigned int rem = 0;

        for (j = 0; j < inlen; j++) {
            unsigned int cur = (rem << 8) | num[j];

            num[j] = (unsigned char)(cur / 62);
            rem = cur % 62;
        }
        out[i] = base62_digits[rem];
    }
    OPENSSL_cleanse(num, sizeof(num));
}

/* The six check digits of the first `len` characters of a key. */
static void key_checksum(const char *key, apr_size_t len,
                         char out[AC_KEY_CHECK_LEN])
{
    apr_uint32_t crc = ac_crc32(key, len);
    unsigned char be[4];

    be[0] = (unsigned char)(crc >> 24);
    be[1] = (unsigned char)(crc >> 16);
    be[2] = (unsigned char)(crc >> 8);
    be[3] = (unsigned char)crc;
    base62_encode(be, sizeof(be), out, AC_KEY_CHECK_LEN);
}

int ac_key_valid_prefix(const char *prefix)
{
    apr_size_t i;

    if (prefix == NULL || prefix[0] == '\0') {
        return 0;
    }
    for (i = 0; prefix[i]; i++) {
        unsigned char c = (unsigned char)prefix[i];

        if (i >= AC_KEY_PREFIX_MAX
            || !(c == '_' || base62_value(c) >= 0)) {
            return 0;
        }
    }
    return 1;
}

int ac_key_generate(apr_pool_t *p, const char *prefix, char **key)
{
    unsigned char random[AC_KEY_RANDOM_BYTES];
    apr_size_t plen;
    char *k;

    if (prefix == NULL) {
        prefix = AC_KEY_DEFAULT_PREFIX;
    }
    if (!ac_key_valid_prefix(prefix)) {
        return -1;
    }
    if (RAND_bytes(random, sizeof(random)) != 1) {
        OPENSSL_cleanse(random, sizeof(random));
        return -1;
    }
    plen = strlen(prefix);
    k = apr_palloc(p, plen + AC_KEY_SUFFIX_LEN + 1);
    memcpy(k, prefix, plen);
    base62_encode(random, sizeof(random), k + plen, AC_KEY_BODY_LEN);
    OPENSSL_cleanse(random, sizeof(random));
    key_checksum(k, plen + AC_KEY_BODY_LEN, k + plen + AC_KEY_BODY_LEN);
    k[plen + AC_KEY_SUFFIX_LEN] = '\0';
    *key = k;
    return 0;
}

ac_key_status ac_key_check(const char *key, apr_size_t len,
                           const char *prefix)
{
    char want[AC_KEY_CHECK_LEN];
    apr_size_t plen, i;

    if (prefix == NULL) {
        prefix = AC_KEY_DEFAULT_PREFIX;
    }
    plen = strlen(prefix);
    if (key == NULL || len < plen || memcmp(key, prefix, plen) != 0) {
        return AC_KEY_BAD_PREFIX;
    }
    if (len != plen + AC_KEY_SUFFIX_LEN) {
        return AC_KEY_BAD_LENGTH;
    }
    for (i = plen; i < len; i++) {
        if (base62_value((unsigned char)key[i]) < 0) {
            return AC_KEY_BAD_CHARACTER;
        }
    }
    /* Encoding is one-to-one on fixed-width digits, so comparing digits is
     * comparing values. */
    key_checksum(key, plen + AC_KEY_BODY_LEN, want);
    if (memcmp(want, key + plen + AC_KEY_BODY_LEN, AC_KEY_CHECK_LEN) != 0) {
        return AC_KEY_BAD_CHECKSUM;
    }
    return AC_KEY_OK;
}

const char *ac_key_status_str(ac_key_status status)
{
    switch (status) {
    case AC_KEY_OK:
        return "well formed";
    case AC_KEY_BAD_PREFIX:
        return "wrong prefix";
    case AC_KEY_BAD_LENGTH:
        return "wrong length";
    case AC_KEY_BAD_CHARACTER:
        return "character outside base62";
    case AC_KEY_BAD_CHECKSUM:
        return "bad checksum";
    }
    return "unknown status";
}

/* The digest of `data` by `md` as lowercase hex in out (2 * size + 1
 * bytes); the empty string if OpenSSL fails. */
static void digest_hex(const EVP_MD *md, const void *data, apr_size_t len,
                       char *out, unsigned int size)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char buf[EVP_MAX_MD_SIZE];
    unsigned int n = 0, i;

    if (md == NULL || EVP_Digest(data, len, buf, &n, md, NULL) != 1
        || n != size) {
        out[0] = '\0';
        return;
    }
    for (i = 0; i < n; i++) {
        out[2 * i] = hex[buf[i] >> 4];
        out[2 * i + 1] = hex[buf[i] & 0xf];
    }
    out[2 * n] = '\0';
    OPENSSL_cleanse(buf, sizeof(buf));
}

static const char *const digest_names[] = { "SHA256", "SHA384", "SHA512" };
static EVP_MD *digests[3];

static apr_status_t digests_free(void *unused)
{
    int i;

    for (i = 0; i < 3; i++) {
        EVP_MD_free(digests[i]);
        digests[i] = NULL;
    }
    return APR_SUCCESS;
}

void ac_digests_init(apr_pool_t *pconf)
{
    int i;

    if (digests[0] != NULL) {
        return;
    }
    for (i = 0; i < 3; i++) {
        digests[i] = EVP_MD_fetch(NULL, digest_names[i], NULL);
    }
    apr_pool_cleanup_register(pconf, NULL, digests_free,
                              apr_pool_cleanup_null);
}

const EVP_MD *ac_digest(const char *name)
{
    int i;

    for (i = 0; i < 3; i++) {
        if (strcmp(name, digest_names[i]) == 0 && digests[i] != NULL) {
            return digests[i];
        }
    }
    return EVP_get_digestbyname(name);
}

void ac_sha256_hex(const void *data, apr_size_t len, char out[65])
{
    digest_hex(ac_digest("SHA256"), data, len, out, 32);
}

void ac_sha512_hex(const void *data, apr_size_t len, char out[129])
{
    digest_hex(ac_digest("SHA512"), data, len, out, 64);
}

/* --- settings fingerprints (ac_verdict.h) ---------------------------------- */

void ac_fp_begin(ac_fp *fp)
{
    fp->ctx = EVP_MD_CTX_new();
    if (fp->ctx != NULL
        && EVP_DigestInit_ex(fp->ctx, ac_digest("SHA256"), NULL) != 1) {
        EVP_MD_CTX_free(fp->ctx);
        fp->ctx = NULL;
    }
}

/* an item: its kind, its length (8 bytes), its bytes */
static void fp_item(ac_fp *fp, char kind, const void *data, apr_size_t len)
{
    unsigned char head[9];

    if (fp->ctx == NULL) {
        return;
    }
    head[0] = (unsigned char)kind;
    ac_be64_put(head + 1, (apr_uint64_t)len);
    EVP_DigestUpdate(fp->ctx, head, sizeof(head));
    EVP_DigestUpdate(fp->ctx, data, len);
}

void ac_fp_str(ac_fp *fp, const char *s)
{
    if (s == NULL) {
        fp_item(fp, 'n', "", 0);
    }
    else {
        fp_item(fp, 's', s, strlen(s));
    }
}

void ac_fp_mem(ac_fp *fp, const void *data, apr_size_t len)
{
    fp_item(fp, 'm', data, len);
}

void ac_fp_int(ac_fp *fp, apr_int64_t v)
{
    unsigned char b[8];

    ac_be64_put(b, (apr_uint64_t)v);
    fp_item(fp, 'i', b, sizeof(b));
}

void ac_fp_final(ac_fp *fp, const void *last, apr_size_t len,
                 unsigned char out[32])
{
    unsigned int n = 32;

    if (fp->ctx == NULL) {
        /* OpenSSL could not hash: an id that nothing else has, so that
         * nothing is shared (each such lookup misses) */
        memset(out, 0, 32);
        return;
    }
    fp_item(fp, 'c', last, len);
    if (EVP_DigestFinal_ex(fp->ctx, out, &n) != 1) {
        memset(out, 0, 32);
    }
    EVP_MD_CTX_free(fp->ctx);
    fp->ctx = NULL;
}

const char *ac_fp_hex(apr_pool_t *p, const unsigned char fp[32])
{
    static const char hex[] = "0123456789abcdef";
    char *out = apr_palloc(p, 65);
    int i;

    for (i = 0; i < 32; i++) {
        out[2 * i] = hex[fp[i] >> 4];
        out[2 * i + 1] = hex[fp[i] & 0xf];
    }
    out[64] = '\0';
    return out;
}
