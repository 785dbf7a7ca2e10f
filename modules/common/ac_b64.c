/* Licensed under the Apache License, Version 2.0. */

#include "ac_b64.h"

/* The value of a base64 digit; `c62` and `c63` are the alphabet's last
 * two characters ("+/" for base64, "-_" for base64url).  -1 otherwise. */
static int b64_digit(unsigned char c, unsigned char c62, unsigned char c63)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == c62) {
        return 62;
    }
    if (c == c63) {
        return 63;
    }
    return -1;
}

static int b64_value(unsigned char c)
{
    return b64_digit(c, '+', '/');
}

int ac_base64_decode(apr_pool_t *p, const char *in, apr_size_t len,
                     char **out, apr_size_t *outlen)
{
    apr_size_t i, pad = 0, n = 0;
    unsigned char *buf;

    if (len == 0 || len % 4 != 0) {
        return -1;
    }
    if (in[len - 1] == '=') {
        pad++;
        if (in[len - 2] == '=') {
            pad++;
        }
    }
    buf = apr_palloc(p, len / 4 * 3 + 1);
    for (i = 0; i < len; i += 4) {
        int v[4], k, quad_pad = (i + 4 == len) ? (int)pad : 0;
        unsigned long bits;

        for (k = 0; k < 4; k++) {
            if (k >= 4 - quad_pad) {
                v[k] = 0;
                continue;
            }
            v[k] = b64_value((unsigned char)in[i + k]);
            if (v[k] < 0) {
                return -1;
            }
        }
        bits = ((unsigned long)v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
        buf[n++] = (bits >> 16) & 0xff;
        if (quad_pad < 2) {
            buf[n++] = (bits >> 8) & 0xff;
        }
        else if (bits & 0xffff) {
            return -1;              /* non-zero pad bits: not canonical */
        }
        if (quad_pad < 1) {
            buf[n++] = bits & 0xff;
        }
        else if (quad_pad == 1 && (bits & 0xff)) {
            return -1;
        }
    }
    buf[n] = '\0';
    *out = (char *)buf;
    *outlen = n;
    return 0;
}

/* The value of each base64url digit (RFC 4648 section 5) by character
 * code, -1 for the other codes below 128 (no code from 128 up is a digit
 * either).  A table rather than b64_digit()'s comparisons: a JWT's parts
 * are hundreds of characters, decoded on every uncached request. */
static const signed char b64url_values[128] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
    -1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, 63,
    -1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
};

static int b64url_value(unsigned char c)
{
    return c < 128 ? b64url_values[c] : -1;
}

int ac_b64url_decode(apr_pool_t *p, const char *in, apr_size_t len,
                     char **out, apr_size_t *outlen)
{
    const unsigned char *s = (const unsigned char *)in;
    apr_size_t i, n = 0, rest = len % 4;
    unsigned char *buf;
    unsigned long v;
    int a, b, c, d;

    if (rest == 1) {
        return -1;              /* 6 bits cannot make a byte */
    }
    buf = apr_palloc(p, len / 4 * 3 + rest + 1);
    for (i = 0; i + 4 <= len; i += 4) {
        a = b64url_value(s[i]);
        b = b64url_value(s[i + 1]);
        c = b64url_value(s[i + 2]);
        d = b64url_value(s[i + 3]);
        if ((a | b | c | d) < 0) {          /* one test for the four */
            return -1;
        }
        v = ((unsigned long)a << 18) | ((unsigned long)b << 12)
            | ((unsigned long)c << 6) | (unsigned long)d;
        buf[n++] = (unsigned char)(v >> 16);
        buf[n++] = (unsigned char)(v >> 8);
        buf[n++] = (unsigned char)v;
    }
    if (rest > 0) {
        a = b64url_value(s[i]);
        b = b64url_value(s[i + 1]);
        c = rest == 3 ? b64url_value(s[i + 2]) : 0;
        if ((a | b | c) < 0) {
            return -1;
        }
        v = ((unsigned long)a << 18) | ((unsigned long)b << 12)
            | ((unsigned long)c << 6);
        /* The 2 or 4 bits left over must be zero, or two encodings would
         * decode to the same bytes (RFC 4648 section 3.5). */
        if ((v & (rest == 3 ? 0xffUL : 0xffffUL)) != 0) {
            return -1;
        }
        buf[n++] = (unsigned char)(v >> 16);
        if (rest == 3) {
            buf[n++] = (unsigned char)(v >> 8);
        }
    }
    buf[n] = '\0';
    *out = (char *)buf;
    *outlen = n;
    return 0;
}

const char *ac_b64url_encode(apr_pool_t *p, const void *in, apr_size_t len)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const unsigned char *s = in;
    char *buf = apr_palloc(p, (len + 2) / 3 * 4 + 1);
    apr_size_t i, n = 0;

    for (i = 0; i + 2 < len; i += 3) {
        unsigned long v = ((unsigned long)s[i] << 16) | (s[i + 1] << 8)
                          | s[i + 2];

        buf[n++] = alphabet[(v >> 18) & 0x3f];
        buf[n++] = alphabet[(v >> 12) & 0x3f];
        buf[n++] = alphabet[(v >> 6) & 0x3f];
        buf[n++] = alphabet[v & 0x3f];
    }
    if (len - i == 1) {
        buf[n++] = alphabet[s[i] >> 2];
        buf[n++] = alphabet[(s[i] & 0x03) << 4];
    }
    else if (len - i == 2) {
        buf[n++] = alphabet[s[i] >> 2];
        buf[n++] = alphabet[((s[i] & 0x03) << 4) | (s[i + 1] >> 4)];
        buf[n++] = alphabet[(s[i + 1] & 0x0f) << 2];
    }
    buf[n] = '\0';
    return buf;
}
