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
/* The module whose copy of modules/common this is (each module links its
 * own): set by the module's register_hooks with AC_LOG_MODULE(name).  The
 * log lines of the shared code (ac_pg.c, ac_cache.c, after
 * AC_LOG_SHARED_CODE) carry its index, so that they name the module, as
 * in "[authn_token:error]", and "LogLevel authn_token:debug" applies to
 * them. */
extern const int *ac_log_module_index;
#define AC_LOG_MODULE(name) (ac_log_module_index = &name##_module.module_index)
#define AC_LOG_SHARED_CODE \
    (ac_log_module_index ? *ac_log_module_index : APLOG_NO_MODULE)

#define AC_MERGE(field) \
    conf->field = add->field##_set ? add->field : base->field; \
    conf->field##_set = add->field##_set || base->field##_set

#endif /* AC_REQUEST_H */
