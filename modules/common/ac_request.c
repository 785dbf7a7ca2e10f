/* Licensed under the Apache License, Version 2.0. */

#include "apr_strings.h"

#include "httpd.h"
#include "http_core.h"

#include "ac_common.h"
#include "ac_request.h"

const int *ac_log_module_index;

const char *ac_challenge(request_rec *r, const char *scheme)
{
    const char *realm = ap_auth_name(r);

    if (realm == NULL) {
        return apr_pstrcat(r->pool, scheme, " realm=",
                           ac_http_quote(r->pool, ap_get_server_name(r)),
                           NULL);
    }
    return apr_pstrcat(r->pool, scheme, " realm=\"", realm, "\"", NULL);
}

const char *ac_settings_of_config(request_rec *r)
{
    return apr_psprintf(r->pool, "%pp", (void *)r->per_dir_config);
}

ac_conf_place ac_place_of(const cmd_parms *cmd)
{
    ac_conf_place at;

    at.file = cmd->directive ? cmd->directive->filename : NULL;
    at.line = cmd->directive ? cmd->directive->line_num : 0;
    if (at.file == NULL && cmd->config_file != NULL) {
        at.file = cmd->config_file->name;
        at.line = cmd->config_file->line_number;
    }
    if (at.file == NULL) {
        at.file = "?";
    }
    return at;
}

int ac_section_is_plain(ap_conf_vector_t *section)
{
    const core_dir_config *c = ap_get_core_module_config(section);

    return c != NULL && c->d != NULL && c->r == NULL && !c->d_is_fnmatch;
}

int ac_location_covers(const char *outer, const char *inner)
{
    apr_size_t len = strlen(outer);

    return strncmp(outer, inner, len) == 0
           && (len == 0 || outer[len - 1] == '/' || inner[len] == '/'
               || inner[len] == '\0');
}

/* The kinds of sections, for what covers what: directory paths,
 * <Location> paths, and <Files> names (each taken alone). */
enum { KIND_DIR, KIND_URL, KIND_ALONE };

/* Whether the plain section `outer` applies wherever the plain section
 * `inner` does (<Location> paths when `url`, directory paths otherwise). */
static int section_covers(ap_conf_vector_t *outer, ap_conf_vector_t *inner,
                          int url)
{
    const char *o = ((const core_dir_config *)
                     ap_get_core_module_config(outer))->d;
    const char *i = ((const core_dir_config *)
                     ap_get_core_module_config(inner))->d;

    return url ? ac_location_covers(o, i) : strncmp(o, i, strlen(o)) == 0;
}

/* The configuration of m for a request that section k of `secs` matches,
 * over `base`: the sections of the array that apply with it, in order. */
static void *section_effective(apr_pool_t *p, module *m,
                               apr_array_header_t *secs, int k, int kind,
                               int (*touches)(const void *), void *base)
{
    ap_conf_vector_t **v = (ap_conf_vector_t **)secs->elts;
    int plain = kind != KIND_ALONE && ac_section_is_plain(v[k]), j;
    void *conf = base;

    for (j = 0; j < secs->nelts; j++) {
        void *c = ap_get_module_config(v[j], m);

        if (c == NULL
            || (j != k && (!plain || !ac_section_is_plain(v[j])
                           || !touches(c)
                           || !section_covers(v[j], v[k],
                                              kind == KIND_URL)))) {
            continue;
        }
        conf = m->merge_dir_config(p, conf, c);
    }
    return conf;
}

/* Visit section k of `secs` over each base, when it touches m. */
static void visit_sections(apr_pool_t *p, server_rec *s, module *m,
                           apr_array_header_t *secs, int kind,
                           int (*touches)(const void *),
                           apr_array_header_t *bases, apr_array_header_t *out,
                           ac_conf_visit_fn *visit, void *baton)
{
    int k, b;

    for (k = 0; secs != NULL && k < secs->nelts; k++) {
        void *c = ap_get_module_config(APR_ARRAY_IDX(secs, k,
                                                     ap_conf_vector_t *), m);

        if (c == NULL || !touches(c)) {
            continue;
        }
        for (b = 0; b < bases->nelts; b++) {
            void *conf = section_effective(p, m, secs, k, kind, touches,
                                           APR_ARRAY_IDX(bases, b, void *));

            visit(baton, s, conf);
            if (out != NULL) {
                APR_ARRAY_PUSH(out, void *) = conf;
            }
        }
    }
}

void ac_conf_effective(apr_pool_t *p, server_rec *s, module *m,
                       int (*touches)(const void *conf),
                       ac_conf_visit_fn *visit, void *baton)
{
    core_server_config *core = ap_get_core_module_config(s->module_config);
    core_dir_config *top = ap_get_core_module_config(s->lookup_defaults);
    void *server = ap_get_module_config(s->lookup_defaults, m);
    apr_array_header_t *bases = apr_array_make(p, 4, sizeof(void *));
    apr_array_header_t *dirs = apr_array_make(p, 4, sizeof(void *));

    if (server == NULL || m->merge_dir_config == NULL) {
        return;
    }
    visit(baton, s, server);
    APR_ARRAY_PUSH(dirs, void *) = server;
    APR_ARRAY_PUSH(bases, void *) = server;
    /* <Directory> (and <Files> at server level) over the server's;
     * <Location> over the server's and over each of those */
    visit_sections(p, s, m, core->sec_dir, KIND_DIR, touches, bases, dirs,
                   visit, baton);
    visit_sections(p, s, m, top ? top->sec_file : NULL, KIND_ALONE, touches,
                   bases, NULL, visit, baton);
    visit_sections(p, s, m, core->sec_url, KIND_URL, touches, dirs, NULL,
                   visit, baton);
}
