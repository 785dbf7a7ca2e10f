/* Licensed under the Apache License, Version 2.0.
 *
 * ac_b64.h -- strict base64 (HTTP Basic credentials, certificates) and
 * base64url (JOSE, keys, CSRF tokens), RFC 4648.  Pure: no httpd, no
 * request, so that the unit tests and the fuzz targets link it alone.
 */

#ifndef AC_B64_H
#define AC_B64_H

#include "apr_pools.h"

/* Strict standard base64 (RFC 4648 section 4): padding required, no
 * whitespace, no characters outside the alphabet, zero pad bits.  On
 * success returns 0 and a NUL-terminated copy in *out (length *outlen);
 * -1 otherwise. */
int ac_base64_decode(apr_pool_t *p, const char *in, apr_size_t len,
                     char **out, apr_size_t *outlen);

/* Strict base64url (RFC 4648 section 5) without padding, as JOSE writes it
 * (RFC 7515 section 2): only [A-Za-z0-9_-], no '=', no whitespace, zero
 * unused bits in the last character, and never a length of 4n+1.  The
 * empty string decodes to zero bytes.  On success returns 0 and a
 * NUL-terminated copy in *out (length *outlen); -1 otherwise. */
int ac_b64url_decode(apr_pool_t *p, const char *in, apr_size_t len,
                     char **out, apr_size_t *outlen);

/* The `len` bytes at `in` in unpadded base64url, NUL-terminated. */
const char *ac_b64url_encode(apr_pool_t *p, const void *in, apr_size_t len);

#endif /* AC_B64_H */
