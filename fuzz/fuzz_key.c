/* Licensed under the Apache License, Version 2.0.
 *
 * fuzz_key -- ac_key_check(), the offline check of a presented API key
 * (prefix, length, base62, CRC-32 check digits), with the default prefix
 * and with another one.  Invariants: a key that passes has the prefix,
 * the exact length and only base62 after the prefix, and its check digits
 * are the CRC-32 of the rest (recomputed here from ac_crc32); a status is
 * one of the enum's and has a description; no byte past the key is read
 * (the input is not terminated).
 */

#include "fuzz.h"

#include "ac_key.h"

static const char base62[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static void check(const uint8_t *data, size_t size, const char *prefix)
{
    const char *key = (const char *)data;
    const char *want = prefix ? prefix : AC_KEY_DEFAULT_PREFIX;
    apr_size_t plen = strlen(want), i;
    ac_key_status st = ac_key_check(key, size, prefix);

    FUZZ_ASSERT(st >= AC_KEY_OK && st <= AC_KEY_BAD_CHECKSUM);
    FUZZ_ASSERT(ac_key_status_str(st) != NULL);
    if (size < plen || memcmp(key, want, plen) != 0) {
        FUZZ_ASSERT(st == AC_KEY_BAD_PREFIX);
        return;
    }
    if (size != plen + AC_KEY_SUFFIX_LEN) {
        FUZZ_ASSERT(st == AC_KEY_BAD_LENGTH);
        return;
    }
    for (i = plen; i < size; i++) {
        if (memchr(base62, key[i], 62) == NULL) {
            FUZZ_ASSERT(st == AC_KEY_BAD_CHARACTER);
            return;
        }
    }
    {
        /* the check digits: CRC-32 of prefix and body in 6 base62 digits,
         * most significant first */
        apr_uint32_t crc = ac_crc32(key, size - AC_KEY_CHECK_LEN);
        char digits[AC_KEY_CHECK_LEN];
        int k;

        for (k = AC_KEY_CHECK_LEN - 1; k >= 0; k--) {
            digits[k] = base62[crc % 62];
            crc /= 62;
        }
        FUZZ_ASSERT((st == AC_KEY_OK)
                    == (memcmp(digits, key + size - AC_KEY_CHECK_LEN,
                               AC_KEY_CHECK_LEN) == 0));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check(data, size, NULL);
    check(data, size, "acme_live_");
    return 0;
}
