/* Licensed under the Apache License, Version 2.0.
 *
 * ac_request.h -- helpers of the schemes that need httpd's structures:
 * a request_rec, or a directive's cmd_parms.
 */

#ifndef AC_REQUEST_H
#define AC_REQUEST_H

#include "apr_optional.h"

#include "httpd.h"
#include "http_config.h"

/* mod_auth_chain's, for RFC 9728's scopes_supported (mod_authn_oauth2):
 * the scopes that `Require auth-scope` lines name in the <Location>
 * sections of `path` in server s (space-separated, each once), or NULL;
 * p for the look-up's own use. */
APR_DECLARE_OPTIONAL_FN(const char *, auth_chain_scopes_at,
                        (apr_pool_t *p, server_rec *s, const char *path));

/* `<scheme> realm="<AuthName>"`, the server name standing in for a missing
 * AuthName.  (mod_authn_core stores AuthName with its quotes escaped.) */
const char *ac_challenge(request_rec *r, const char *scheme);

/* The `settings` of a scheme (mod_auth_chain.h) whose answer depends on
 * other modules' configuration, which it cannot read (AuthUserFile,
 * mod_session's cookie): r's per-directory configuration itself, so that
 * the scheme is asked again in every other configuration. */
const char *ac_settings_of_config(request_rec *r);

/* Where a directive was written, for start-up messages that name it. */
typedef struct {
    const char *file;               /* "?" when unknown */
    int line;
} ac_conf_place;

ac_conf_place ac_place_of(const cmd_parms *cmd);

/* Whether a <Directory>/<Location>/<Files> section (its per-directory
 * configuration vector) has a plain path: no regex, no wildcard. */
int ac_section_is_plain(ap_conf_vector_t *section);

/* Whether the <Location> path `outer` applies to the URL path `inner`. */
int ac_location_covers(const char *outer, const char *inner);

/* Every per-directory configuration of module `m` that a request to the
 * server `s` can end up with, as far as start-up can tell, each passed to
 * `visit`: the server's own (s->lookup_defaults), and for each section
 * that `touches` (a predicate on m's configuration of the section, so
 * that sections that set nothing of m's cost nothing) its configuration
 * merged with m->merge_dir_config as httpd merges it for a request that
 * the section matches: over the server's, with the plain sections of its
 * kind that cover it, in httpd's order; a <Location> also over each such
 * <Directory>.  A regex or wildcard section is merged alone over those
 * bases (it may apply to anything).  The merges are made in `p`. */
typedef void ac_conf_visit_fn(void *baton, server_rec *s, const void *conf);
void ac_conf_effective(apr_pool_t *p, server_rec *s, module *m,
                       int (*touches)(const void *conf),
                       ac_conf_visit_fn *visit, void *baton);

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
