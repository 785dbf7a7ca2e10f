/* Licensed under the Apache License, Version 2.0.
 *
 * ac_request.h -- helpers of the schemes that need httpd's structures:
 * a request_rec, or a directive's cmd_parms.
 */

#ifndef AC_REQUEST_H
#define AC_REQUEST_H

#include "httpd.h"
#include "http_config.h"

/* `<scheme> realm="<AuthName>"`, the server name standing in for a missing
 * AuthName.  (mod_authn_core stores AuthName with its quotes escaped.) */
const char *ac_challenge(request_rec *r, const char *scheme);

/* Where a directive was written, for start-up messages that name it. */
typedef struct {
    const char *file;               /* "?" when unknown */
    int line;
} ac_conf_place;

ac_conf_place ac_place_of(const cmd_parms *cmd);

/* In a merge_dir_config with locals `conf`, `base` and `add` of a struct
 * in which each `field` has a `field_set` bit: the nearer setting wins. */
#define AC_MERGE(field) \
    conf->field = add->field##_set ? add->field : base->field; \
    conf->field##_set = add->field##_set || base->field##_set

#endif /* AC_REQUEST_H */
