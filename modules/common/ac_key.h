/* Licensed under the Apache License, Version 2.0.
 *
 * ac_key.h -- the format of the API keys of the native token schema, and
 * the hashes under which keys are stored.
 *
 * A key is <prefix><body><check>:
 *
 *   prefix  what the administrator chose, [A-Za-z0-9_]{1,16}, default "act_"
 *   body    32 bytes from the CSPRNG as one big-endian number written in
 *           base62 (0-9A-Za-z), always 43 digits (62^43 > 2^256)
 *   check   CRC-32 (ISO-HDLC, as zlib's crc32) of prefix and body, in
 *           base62, always 6 digits (62^6 > 2^32)
 *
 * so a key is strlen(prefix) + 49 characters.  The prefix lets secret
 * scanners find leaked keys; the checksum lets them, and the module, reject
 * a mistyped or made-up key offline, without asking the database.  Only the
 * SHA-256 of the whole key is stored (ac_sha256_hex).
 */

#ifndef AC_KEY_H
#define AC_KEY_H

#include "apr_pools.h"

#include <openssl/evp.h>

#define AC_KEY_DEFAULT_PREFIX "act_"
#define AC_KEY_PREFIX_MAX     16
#define AC_KEY_RANDOM_BYTES   32
#define AC_KEY_BODY_LEN       43
#define AC_KEY_CHECK_LEN      6
/* Characters after the prefix. */
#define AC_KEY_SUFFIX_LEN     (AC_KEY_BODY_LEN + AC_KEY_CHECK_LEN)
/* The longest key of any valid prefix. */
#define AC_KEY_MAX_LEN        (AC_KEY_PREFIX_MAX + AC_KEY_SUFFIX_LEN)

typedef enum {
    AC_KEY_OK = 0,
    AC_KEY_BAD_PREFIX,      /* does not start with the expected prefix */
    AC_KEY_BAD_LENGTH,      /* right prefix, wrong number of characters */
    AC_KEY_BAD_CHARACTER,   /* a character outside base62 after the prefix */
    AC_KEY_BAD_CHECKSUM     /* well formed, but the check digits disagree */
} ac_key_status;

/* Whether `prefix` is a valid key prefix: 1 to 16 characters of
 * [A-Za-z0-9_].  Returns 1 when it is, 0 otherwise (NULL included). */
int ac_key_valid_prefix(const char *prefix);

/* A new key with `prefix` (NULL: AC_KEY_DEFAULT_PREFIX), allocated from
 * `p`.  Returns 0, or -1 (and *key untouched) when the prefix is not valid
 * or the CSPRNG fails; never a key from a weaker source. */
int ac_key_generate(apr_pool_t *p, const char *prefix, char **key);

/* Check the format and the checksum of the `len` bytes at `key` against
 * `prefix` (NULL: AC_KEY_DEFAULT_PREFIX), without a database.  Reads no
 * byte past key[len - 1] and accepts any bytes, NUL included.  The checks
 * run in the order of the enum: a key with the wrong prefix is
 * AC_KEY_BAD_PREFIX whatever its length. */
ac_key_status ac_key_check(const char *key, apr_size_t len,
                           const char *prefix);

/* A short English description of a status ("bad checksum"), for logs. */
const char *ac_key_status_str(ac_key_status status);

/* CRC-32/ISO-HDLC of `len` bytes (zlib's crc32(0, data, len)). */
apr_uint32_t ac_crc32(const void *data, apr_size_t len);

/* The SHA-256 / SHA-512 of `len` bytes at `data` as lowercase hex,
 * NUL-terminated.  `out` is the empty string in the (theoretical) case that
 * OpenSSL cannot compute the digest, which matches no stored hash. */
void ac_sha256_hex(const void *data, apr_size_t len, char out[65]);
void ac_sha512_hex(const void *data, apr_size_t len, char out[129]);

/* Fetch SHA-256, SHA-384 and SHA-512 from OpenSSL's providers once, in
 * post_config (before any thread), until `pconf` is cleared.  Without it every digest fetches its
 * implementation again (EVP_sha256() and digest names do), under a lock
 * that the threads of a busy child contend for. */
void ac_digests_init(apr_pool_t *pconf);

/* The digest called `name` ("SHA256", "SHA384", "SHA512"), fetched once
 * when ac_digests_init() ran, else looked up now; NULL if unknown. */
const EVP_MD *ac_digest(const char *name);

/* Settings fingerprints (ac_verdict.h): SHA-256 over a sequence of typed,
 * length-prefixed items, so that no two sequences of settings hash alike
 * ("ab","c" is not "a","bc"; NULL is not ""). */
typedef struct {
    EVP_MD_CTX *ctx;
} ac_fp;

void ac_fp_begin(ac_fp *fp);
void ac_fp_str(ac_fp *fp, const char *s);
void ac_fp_mem(ac_fp *fp, const void *data, apr_size_t len);
void ac_fp_int(ac_fp *fp, apr_int64_t v);

/* Add `len` bytes of `last` (the credential, or nothing), write the
 * digest to out[32] and release the context. */
void ac_fp_final(ac_fp *fp, const void *last, apr_size_t len,
                 unsigned char out[32]);

/* The digest, as 64 lowercase hex characters (for a provider's settings
 * fingerprint, mod_auth_chain.h). */
const char *ac_fp_hex(apr_pool_t *p, const unsigned char fp[32]);

#endif /* AC_KEY_H */
