/* Licensed under the Apache License, Version 2.0.
 *
 * Unit tests of modules/common/ac_key.c: CRC-32 and SHA-2 known answers,
 * the key format (generation, prefix, length, characters, checksum) and
 * the offline check on hostile input.  Prints TAP.
 */

#include <stdio.h>
#include <string.h>

#include "apr_general.h"
#include "apr_pools.h"

#include "ac_common.h"
#include "ac_key.h"
#include "tap.h"


static int is_base62(const char *s, apr_size_t len)
{
    apr_size_t i;

    for (i = 0; i < len; i++) {
        char c = s[i];

        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z')
              || (c >= 'a' && c <= 'z'))) {
            return 0;
        }
    }
    return 1;
}

static ac_key_status check(const char *key, const char *prefix)
{
    return ac_key_check(key, strlen(key), prefix);
}

static void test_known_answers(void)
{
    char h256[65], h512[129];

    ok(ac_crc32("123456789", 9) == 0xCBF43926U,
       "CRC-32 of \"123456789\" is 0xCBF43926 (the ISO-HDLC check value)");
    ok(ac_crc32("", 0) == 0, "CRC-32 of nothing is 0");
    ok(ac_crc32("The quick brown fox jumps over the lazy dog", 43)
       == 0x414FA339U, "CRC-32 of the quick brown fox is zlib's 0x414FA339");

    ac_sha256_hex("abc", 3, h256);
    ok(strcmp(h256, "ba7816bf8f01cfea414140de5dae2223"
                    "b00361a396177a9cb410ff61f20015ad") == 0,
       "SHA-256 of \"abc\" (FIPS 180-2 example), lowercase hex");
    ac_sha256_hex("", 0, h256);
    ok(strcmp(h256, "e3b0c44298fc1c149afbf4c8996fb924"
                    "27ae41e4649b934ca495991b7852b855") == 0,
       "SHA-256 of nothing");
    ac_sha512_hex("abc", 3, h512);
    ok(strcmp(h512, "ddaf35a193617abacc417349ae204131"
                    "12e6fa4e89a97ea20a9eeee64b55d39a"
                    "2192992a274fc1a836ba3c23a3feebbd"
                    "454d4423643ce80e2a9ac94fa54ca49f") == 0,
       "SHA-512 of \"abc\" (FIPS 180-2 example), lowercase hex");
    ac_sha512_hex("a\0b", 3, h512);
    ok(strlen(h512) == 128 && h512[128] == '\0',
       "SHA-512 hex is 128 characters and terminated, NUL bytes hashed");
}

static void test_prefix(void)
{
    ok(ac_key_valid_prefix("act_"), "the default prefix is valid");
    ok(ac_key_valid_prefix("a") && ac_key_valid_prefix("sk_live_")
       && ac_key_valid_prefix("ABCDEFGHIJKLMNOP"),
       "1 to 16 characters of [A-Za-z0-9_] are valid prefixes");
    ok(!ac_key_valid_prefix("") && !ac_key_valid_prefix(NULL),
       "an empty or missing prefix is not valid");
    ok(!ac_key_valid_prefix("ABCDEFGHIJKLMNOPQ"),
       "a 17-character prefix is not valid");
    ok(!ac_key_valid_prefix("my-co_") && !ac_key_valid_prefix("a b")
       && !ac_key_valid_prefix("caf\xc3\xa9") && !ac_key_valid_prefix("x:"),
       "a prefix with a character outside [A-Za-z0-9_] is not valid");
}

static void test_generate(apr_pool_t *p)
{
    char *k1 = NULL, *k2 = NULL, *k3 = NULL, *k4 = NULL;
    char hex[65];

    ok(ac_key_generate(p, NULL, &k1) == 0 && ac_key_generate(p, "act_", &k2) == 0,
       "keys are generated");
    ok(k1 && strlen(k1) == 4 + 49 && strncmp(k1, "act_", 4) == 0,
       "a default key is act_ and 49 characters");
    ok(k1 && is_base62(k1 + 4, 49), "after the prefix a key is base62");
    ok(k1 && k2 && strcmp(k1, k2) != 0, "two generated keys differ");
    ok(k1 && k2 && strncmp(k1 + 4, k2 + 4, 8) != 0,
       "two generated keys differ from their first body characters");
    ok(k1 && check(k1, NULL) == AC_KEY_OK && check(k1, "act_") == AC_KEY_OK
       && check(k2, NULL) == AC_KEY_OK,
       "generated keys pass the check (NULL prefix is act_)");

    ok(ac_key_generate(p, "sk_live_", &k3) == 0 && strlen(k3) == 8 + 49
       && strncmp(k3, "sk_live_", 8) == 0 && check(k3, "sk_live_") == AC_KEY_OK,
       "a key with a custom prefix passes the check with that prefix");
    ok(k3 && check(k3, NULL) == AC_KEY_BAD_PREFIX,
       "a key with a custom prefix fails the default prefix");
    ok(ac_key_generate(p, "bad-prefix", &k4) == -1 && k4 == NULL,
       "an invalid prefix generates nothing");
    /* The body is random: "PP" may match its first character 1 time in 62,
     * and then the length is what fails, so only "not OK" is certain. */
    ok(ac_key_generate(p, "P", &k4) == 0 && check(k4, "P") == AC_KEY_OK
       && check(k4, "Q") == AC_KEY_BAD_PREFIX && check(k4, "PP") != AC_KEY_OK,
       "a one-character prefix works and is compared exactly");

    ac_sha256_hex(k1, strlen(k1), hex);
    ok(strlen(hex) == 64 && strstr(hex, k1 + 4) == NULL,
       "the stored hash of a key is 64 hex characters");
}

/* Every position after the prefix replaced by every other base62 digit,
 * and every prefix position by another character: none may pass. */
static void test_mutations(apr_pool_t *p)
{
    static const char digits[] =
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    char *key, buf[AC_KEY_MAX_LEN + 1];
    apr_size_t len, i, d;
    int body_bad = 0, prefix_bad = 0, swaps_bad = 0, tried = 0;

    ac_key_generate(p, NULL, &key);
    len = strlen(key);
    for (i = 4; i < len; i++) {
        for (d = 0; d < 62; d++) {
            if (digits[d] == key[i]) {
                continue;
            }
            memcpy(buf, key, len + 1);
            buf[i] = digits[d];
            tried++;
            if (ac_key_check(buf, len, NULL) != AC_KEY_BAD_CHECKSUM) {
                body_bad++;
            }
        }
    }
    ok(tried == 49 * 61 && body_bad == 0,
       "every single-digit change after the prefix fails the checksum");

    for (i = 0; i < 4; i++) {
        memcpy(buf, key, len + 1);
        buf[i] = buf[i] == 'x' ? 'y' : 'x';
        if (ac_key_check(buf, len, NULL) != AC_KEY_BAD_PREFIX) {
            prefix_bad++;
        }
    }
    ok(prefix_bad == 0, "every change in the prefix fails the prefix check");

    for (i = 4; i + 1 < len; i++) {
        if (key[i] == key[i + 1]) {
            continue;
        }
        memcpy(buf, key, len + 1);
        buf[i] = key[i + 1];
        buf[i + 1] = key[i];
        if (ac_key_check(buf, len, NULL) != AC_KEY_BAD_CHECKSUM) {
            swaps_bad++;
        }
    }
    ok(swaps_bad == 0, "every swap of two neighbours fails the checksum");

    for (i = 4; i < len; i++) {
        memcpy(buf, key, len + 1);
        buf[i] = '_';
        if (ac_key_check(buf, len, NULL) != AC_KEY_BAD_CHARACTER) {
            break;
        }
        buf[i] = '-';
        if (ac_key_check(buf, len, NULL) != AC_KEY_BAD_CHARACTER) {
            break;
        }
    }
    ok(i == len, "a non-base62 character anywhere after the prefix is refused");
}

static void test_hostile(apr_pool_t *p)
{
    char *key, buf[2 * AC_KEY_MAX_LEN];
    apr_size_t len, i;
    int bad = 0;

    ac_key_generate(p, NULL, &key);
    len = strlen(key);

    ok(ac_key_check(key, len - 1, NULL) == AC_KEY_BAD_LENGTH,
       "a key missing its last character has the wrong length");
    ok(ac_key_check(key, 4 + 43, NULL) == AC_KEY_BAD_LENGTH,
       "a key without its check digits has the wrong length");
    for (i = 0; i < len; i++) {
        ac_key_status st = ac_key_check(key, i, NULL);

        if (st != (i < 4 ? AC_KEY_BAD_PREFIX : AC_KEY_BAD_LENGTH)) {
            bad++;
        }
    }
    ok(bad == 0, "every truncation fails on prefix or length, never passes");

    memcpy(buf, key, len);
    buf[len] = '0';
    ok(ac_key_check(buf, len + 1, NULL) == AC_KEY_BAD_LENGTH,
       "a key with one more character has the wrong length");
    memcpy(buf + len, key, len);
    ok(ac_key_check(buf, 2 * len, NULL) == AC_KEY_BAD_LENGTH,
       "a key twice over has the wrong length");

    ok(ac_key_check("", 0, NULL) == AC_KEY_BAD_PREFIX
       && ac_key_check(NULL, 0, NULL) == AC_KEY_BAD_PREFIX,
       "an empty or NULL key has the wrong prefix");
    ok(check("Token act_x", NULL) == AC_KEY_BAD_PREFIX
       && check("ACT_", NULL) == AC_KEY_BAD_PREFIX,
       "the prefix compares case-sensitively and from the first byte");
    ok(ac_key_check(key, len, "act") == AC_KEY_BAD_LENGTH,
       "a key checked against a shorter prefix fails (length)");

    memcpy(buf, key, len);
    buf[10] = '\0';
    ok(ac_key_check(buf, len, NULL) == AC_KEY_BAD_CHARACTER,
       "a NUL byte inside the key is a bad character, not an end");
    memcpy(buf, key, len);
    buf[20] = (char)0xc3;
    buf[21] = (char)0xa9;
    ok(ac_key_check(buf, len, NULL) == AC_KEY_BAD_CHARACTER,
       "non-ASCII bytes are bad characters");
    memcpy(buf, key, len);
    buf[len - 1] = (char)0xff;
    ok(ac_key_check(buf, len, NULL) == AC_KEY_BAD_CHARACTER,
       "a 0xff byte in the check digits is a bad character");

    /* Bytes after len must not matter: the key is checked as the first len
     * bytes of a longer buffer. */
    memcpy(buf, key, len);
    memset(buf + len, 'z', sizeof(buf) - len);
    ok(ac_key_check(buf, len, NULL) == AC_KEY_OK,
       "only len bytes are read: a key inside a longer buffer passes");

    memcpy(buf, "act_", 4);
    memset(buf + 4, '0', AC_KEY_SUFFIX_LEN);
    ok(ac_key_check(buf, 4 + AC_KEY_SUFFIX_LEN, NULL) == AC_KEY_BAD_CHECKSUM,
       "a made-up key of zeros fails the checksum");
    ok(strcmp(ac_key_status_str(AC_KEY_BAD_CHECKSUM), "bad checksum") == 0
       && strcmp(ac_key_status_str(AC_KEY_OK), "well formed") == 0,
       "statuses have names for the logs");
}

/* The fingerprint of a list of strings (NULL ends it; "<null>" is NULL). */
static void fp_of(const char *const *items, const char *last,
                  unsigned char out[32])
{
    ac_fp fp;

    ac_fp_begin(&fp);
    for (; *items != NULL; items++) {
        ac_fp_str(&fp, strcmp(*items, "<null>") == 0 ? NULL : *items);
    }
    ac_fp_final(&fp, last, last ? strlen(last) : 0, out);
}

static int fp_same(const char *const *a, const char *const *b)
{
    unsigned char x[32], y[32];

    fp_of(a, "cred", x);
    fp_of(b, "cred", y);
    return memcmp(x, y, 32) == 0;
}

static void test_fingerprints(apr_pool_t *p)
{
    static const char *const ab_c[] = { "ab", "c", NULL };
    static const char *const a_bc[] = { "a", "bc", NULL };
    static const char *const abc[] = { "abc", NULL };
    static const char *const null_[] = { "<null>", NULL };
    static const char *const empty[] = { "", NULL };
    static const char *const none[] = { NULL };
    unsigned char x[32], y[32];
    ac_fp fp;

    ok(fp_same(ab_c, ab_c), "the same settings give the same fingerprint");
    ok(!fp_same(ab_c, a_bc) && !fp_same(ab_c, abc),
       "items are not concatenated: ab,c differs from a,bc and abc");
    ok(!fp_same(null_, empty) && !fp_same(empty, none),
       "an unset setting, an empty one and none at all differ");
    fp_of(ab_c, "cred1", x);
    fp_of(ab_c, "cred2", y);
    ok(memcmp(x, y, 32) != 0, "another credential, another id");
    ac_fp_begin(&fp);
    ac_fp_int(&fp, 1);
    ac_fp_final(&fp, NULL, 0, x);
    ac_fp_begin(&fp);
    ac_fp_mem(&fp, "\0\0\0\0\0\0\0\1", 8);
    ac_fp_final(&fp, NULL, 0, y);
    ok(memcmp(x, y, 32) != 0, "a number and bytes that spell it differ");
    ok(strlen(ac_fp_hex(p, x)) == 64
       && ac_is_lower_hex(ac_fp_hex(p, x), 64),
       "a fingerprint in hex is 64 lowercase hex digits");
}

int main(void)
{
    apr_pool_t *p;

    apr_initialize();
    apr_pool_create(&p, NULL);
    tap_plan(7 + 5 + 11 + 4 + 14 + 6);
    test_known_answers();
    test_prefix();
    test_generate(p);
    test_mutations(p);
    test_hostile(p);
    test_fingerprints(p);
    apr_pool_destroy(p);
    apr_terminate();
    return tap_done();
}
