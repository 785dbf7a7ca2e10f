/* Licensed under the Apache License, Version 2.0.
 *
 * ac_common.h -- helpers shared by the authchain modules, built once into a
 * libtool convenience library that every module and the unit tests link.
 * Nothing here touches a request_rec: these are the pure parsers and
 * encoders, so that they can be tested (and fuzzed) on their own.
 *
 * One header for all of them: the topics have files of their own, included
 * here, and this file declares the small helpers that have no topic.
 *
 *   ac_b64.h       base64 and base64url
 *   ac_httpsyn.h   HTTP syntax: Authorization header, quoted-string,
 *                  token, scope lists, CSRF token values, origins
 *   ac_record.h    the bytes of a cache record (the verdict cache's)
 *   ac_sql.h       PostgreSQL helpers without a connection (ac_pg.h has
 *                  the connections)
 */

#ifndef AC_COMMON_H
#define AC_COMMON_H

#include "apr_pools.h"
#include "apr_strings.h"
#include "apr_time.h"

#include "ac_b64.h"
#include "ac_httpsyn.h"
#include "ac_record.h"
#include "ac_sql.h"

/* Our own log message numbers ("AC00nn: "), as httpd's APLOGNO() does for
 * the distribution's modules. */
#define AC_LOGNO(n) "AC" #n ": "

/* Compare two buffers of the same length in time that depends only on the
 * length.  Returns 1 when equal.  Use for anything derived from a secret. */
int ac_ct_equal(const void *a, const void *b, apr_size_t len);

/* `s` as a JSON string literal, quotes included (RFC 8259 section 7). */
const char *ac_json_string(apr_pool_t *p, const char *s);
/* The same for the `len` bytes at `s` (a NUL among them is \u0000). */
const char *ac_json_stringn(apr_pool_t *p, const char *s, apr_size_t len);

/* A directive's whole number from `min` to `max`: NULL and *out set, or
 * the message "<what>: '<arg>' must be a whole number from min to max". */
const char *ac_parse_int(apr_pool_t *p, const char *what, const char *arg,
                         int min, int max, int *out);

/* A directive's number of seconds, fractions allowed ("0.5"), above 0 (or
 * 0 itself when `allow_zero`) and at most `max`: NULL and *out set, or
 * the message. */
const char *ac_parse_seconds(apr_pool_t *p, const char *what,
                             const char *arg, int allow_zero, double max,
                             apr_interval_time_t *out);

/* The last second that authchain keeps or shows: 9999-12-31T23:59:59Z.
 * A time in seconds beyond it (a JWT's exp near 2^53, a key expiring in
 * PostgreSQL's year 294276) counts as that second, so that it fits
 * apr_time_t's microseconds and an ISO 8601 year of four digits. */
#define AC_EPOCH_MAX APR_INT64_C(253402300799)

/* Epoch seconds as apr_time_t, `sec` first clamped to
 * [-AC_EPOCH_MAX, AC_EPOCH_MAX] (no signed overflow). */
apr_time_t ac_time_from_epoch(apr_int64_t sec);

/* Epoch seconds as a JSON string "YYYY-MM-DDTHH:MM:SSZ" (UTC, clamped as
 * above), or null for 0 (no time). */
const char *ac_json_epoch(apr_pool_t *p, apr_int64_t sec);

/* 64-bit numbers in 8 bytes, big-endian (the cache's envelope). */
void ac_be64_put(unsigned char *out, apr_uint64_t v);
apr_uint64_t ac_be64_get(const unsigned char *in);

/* Whether `s` is exactly `len` characters of lowercase hex [0-9a-f] (a
 * SHA-256 hex is 64), NUL after them.  1 or 0 (NULL included). */
int ac_is_lower_hex(const char *s, apr_size_t len);

/* The wait before the next attempt after one that failed, having waited
 * `prev` (0: none yet): `min` first, then twice the last, at most `max`. */
apr_interval_time_t ac_backoff_next(apr_interval_time_t prev,
                                    apr_interval_time_t min,
                                    apr_interval_time_t max);

#endif /* AC_COMMON_H */
