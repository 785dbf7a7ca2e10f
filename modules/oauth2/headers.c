/* Licensed under the Apache License, Version 2.0.
 *
 * headers.c -- `AuthOAuth2ClaimHeader PATH NAME [encode|refuse]`: the claim
 * at PATH of the token that authenticated the request goes to the backend
 * as the request header NAME.  Whatever the client sent under that name
 * is removed first, on every request of the section, also when the claim
 * is absent or another scheme (or none) authenticated the request, so
 * that a client can never pass the header off as ours: also under the
 * spellings a backend may read as the same (case, `_` for `-`).
 *
 * The value: a string as it is; a number, true or false as JSON writes
 * them; an object as compact JSON; an array as its members so written,
 * joined with ", "; null or an empty array sends no header.  A value (a
 * member, in an array) that a header cannot carry as it is -- a control
 * character (CR, LF...), a byte outside ASCII, a space at either end, a
 * comma inside an array member, or the prefix `UTF-8''` itself -- is
 * written as an RFC 8187 ext-value, `UTF-8''` and the bytes
 * percent-encoded, with `encode` (the default); with `refuse` it refuses
 * the request (403) instead.  So is a value longer than the server's
 * LimitRequestFieldSize, whichever the choice.
 */

#include "apr_lib.h"
#include "apr_strings.h"

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "http_request.h"

#include "ac_common.h"
#include "oauth2.h"

APLOG_USE_MODULE(authn_oauth2);

#define EXT_PREFIX "UTF-8''"
#define EXT_PREFIX_LEN 7

/* Request headers a claim may not become: the message's framing and
 * connection, and the credentials the request came with. */
static const char *const reserved[] = {
    "Host", "Content-Length", "Transfer-Encoding", "Connection",
    "Keep-Alive", "Proxy-Connection", "TE", "Trailer", "Upgrade", "Expect",
    "Authorization", "Proxy-Authorization", "Cookie", "DPoP", NULL
};

/* Whether two header names are one to a backend: case aside, and `_`
 * as `-` (CGI, WSGI and others turn both into `_`). */
static int same_field(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = *a == '_' ? '-' : apr_tolower(*a);
        char y = *b == '_' ? '-' : apr_tolower(*b);

        if (x != y) {
            return 0;
        }
    }
    return *a == *b;
}

/* ----------------------------------------------------------------------
 * The directive
 */

const char *oauth2_set_claim_header(cmd_parms *cmd, void *dconf,
                                    const char *path, const char *name,
                                    const char *how)
{
    oauth2_dir_conf *conf = dconf;
    oauth2_claim_header *h;
    const char *err;
    int i;

    if ((err = oauth2_claim_path_error(cmd->temp_pool, path)) != NULL) {
        return apr_pstrcat(cmd->pool, "AuthOAuth2ClaimHeader: ", err, NULL);
    }
    if (!ac_is_http_token(name)) {
        return apr_psprintf(cmd->pool, "AuthOAuth2ClaimHeader: '%s' is not "
                            "an HTTP header name", name);
    }
    for (i = 0; reserved[i] != NULL; i++) {
        if (same_field(name, reserved[i])) {
            return apr_psprintf(cmd->pool, "AuthOAuth2ClaimHeader: a claim "
                                "cannot be sent as %s", reserved[i]);
        }
    }
    if (how != NULL && strcasecmp(how, "encode") != 0
        && strcasecmp(how, "refuse") != 0) {
        return apr_psprintf(cmd->pool, "AuthOAuth2ClaimHeader: the third "
                            "argument must be 'encode' (RFC 8187, the "
                            "default) or 'refuse', not '%s'", how);
    }
    if (!conf->claim_headers_set) {
        conf->claim_headers = apr_array_make(cmd->pool, 2, sizeof(*h));
        conf->claim_headers_set = 1;
    }
    for (i = 0; i < conf->claim_headers->nelts; i++) {
        h = &APR_ARRAY_IDX(conf->claim_headers, i, oauth2_claim_header);
        if (same_field(h->name, name)) {
            return apr_psprintf(cmd->pool, "AuthOAuth2ClaimHeader: the "
                                "header %s is already given the claim %s "
                                "in this section", name, h->path);
        }
    }
    h = apr_array_push(conf->claim_headers);
    h->path = path;
    h->name = name;
    h->refuse = how != NULL && strcasecmp(how, "refuse") == 0;
    return NULL;
}

/* A section below adds to the headers of the one above (a header it
 * names again takes its claim): a section never stops protecting a
 * header that an enclosing one sets. */
apr_array_header_t *oauth2_merge_claim_headers(apr_pool_t *p,
                                               const apr_array_header_t *base,
                                               const apr_array_header_t *add)
{
    apr_array_header_t *out;
    int i, j;

    if (base == NULL || add == NULL) {
        return (apr_array_header_t *)(add != NULL ? add : base);
    }
    out = apr_array_copy(p, add);
    for (i = 0; i < base->nelts; i++) {
        const oauth2_claim_header *b = &APR_ARRAY_IDX(base, i,
                                                      oauth2_claim_header);

        for (j = 0; j < add->nelts; j++) {
            if (same_field(APR_ARRAY_IDX(add, j, oauth2_claim_header).name,
                           b->name)) {
                break;
            }
        }
        if (j == add->nelts) {
            *(oauth2_claim_header *)apr_array_push(out) = *b;
        }
    }
    return out;
}

/* ----------------------------------------------------------------------
 * The values
 */

/* RFC 8187 attr-char */
static int is_attr_char(unsigned char c)
{
    return apr_isalnum(c) || (c != '\0' && strchr("!#$&+-.^_`|~", c));
}

/* Whether an item must be written as an ext-value (see the top). */
static int needs_encoding(const char *s, apr_size_t len, int member)
{
    apr_size_t i;

    if (len > 0 && (s[0] == ' ' || s[len - 1] == ' ')) {
        return 1;
    }
    if (len >= EXT_PREFIX_LEN
        && strncasecmp(s, EXT_PREFIX, EXT_PREFIX_LEN) == 0) {
        return 1;
    }
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c < 0x20 || c >= 0x7f || (member && c == ',')) {
            return 1;
        }
    }
    return 0;
}

static const char *ext_value(apr_pool_t *p, const char *s, apr_size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = apr_palloc(p, EXT_PREFIX_LEN + 3 * len + 1), *o;
    apr_size_t i;

    memcpy(out, EXT_PREFIX, EXT_PREFIX_LEN);
    o = out + EXT_PREFIX_LEN;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (is_attr_char(c)) {
            *o++ = (char)c;
        }
        else {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o = '\0';
    return out;
}

/* One item of the value, as the header carries it, or NULL when `refuse`
 * forbids what it would need. */
static const char *item_of(apr_pool_t *p, const json_t *v, int member,
                           int refuse)
{
    const char *s;
    char *text = NULL;
    apr_size_t len;

    if (json_is_string(v)) {
        s = json_string_value(v);
        len = json_string_length(v);
    }
    else {
        text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        s = text ? apr_pstrdup(p, text) : "";
        len = strlen(s);
        free(text);
    }
    if (!needs_encoding(s, len, member)) {
        return apr_pstrmemdup(p, s, len);
    }
    return refuse ? NULL : ext_value(p, s, len);
}

/* The header's value for the claim `v` into *value (NULL: no header), or
 * the reason to refuse the request. */
static const char *value_of(request_rec *r, const json_t *v, int refuse,
                            const char **value)
{
    static const char *const cannot = "it holds what a header cannot carry "
        "as it is (a control or non-ASCII character, a space at an end, a "
        "comma in an array member), and the header is set to refuse that";
    apr_array_header_t *parts;
    const json_t *m;
    size_t i;

    *value = NULL;
    if (v == NULL || json_is_null(v)
        || (json_is_array(v) && json_array_size(v) == 0)) {
        return NULL;
    }
    if (!json_is_array(v)) {
        *value = item_of(r->pool, v, 0, refuse);
        if (*value == NULL) {
            return cannot;
        }
    }
    else {
        /* the members, with ", " between them */
        parts = apr_array_make(r->pool, 2 * (int)json_array_size(v),
                               sizeof(const char *));
        json_array_foreach(v, i, m) {
            const char *item = item_of(r->pool, m, 1, refuse);

            if (item == NULL) {
                return cannot;
            }
            if (i > 0) {
                APR_ARRAY_PUSH(parts, const char *) = ", ";
            }
            APR_ARRAY_PUSH(parts, const char *) = item;
        }
        *value = apr_array_pstrcat(r->pool, parts, 0);
    }
    if (strlen(*value) > (apr_size_t)r->server->limit_req_fieldsize) {
        *value = NULL;
        return apr_psprintf(r->pool, "it is longer than "
                            "LimitRequestFieldSize (%d bytes)",
                            r->server->limit_req_fieldsize);
    }
    return NULL;
}

/* ----------------------------------------------------------------------
 * The fixup
 */

typedef struct {
    const apr_array_header_t *headers;
    apr_array_header_t *found;      /* const char *: the names to remove */
} strip_baton;

static int collect_spoofed(void *baton, const char *key, const char *value)
{
    strip_baton *b = baton;
    int i;

    for (i = 0; i < b->headers->nelts; i++) {
        if (same_field(key, APR_ARRAY_IDX(b->headers, i,
                                          oauth2_claim_header).name)) {
            APR_ARRAY_PUSH(b->found, const char *) = key;
            break;
        }
    }
    return 1;
}

/* fixups: remove the client's headers of the names of
 * AuthOAuth2ClaimHeader, then set them from the claims of the oauth2
 * token that authenticated the request.  DECLINED, or 403 when a claim
 * cannot be passed as its header is set to. */
static int claim_headers_fixup(request_rec *r)
{
    oauth2_dir_conf *conf = ap_get_module_config(r->per_dir_config,
                                                 &authn_oauth2_module);
    const json_t *claims;
    strip_baton b;
    int i;

    if (conf->claim_headers == NULL || conf->claim_headers->nelts == 0) {
        return DECLINED;
    }
    b.headers = conf->claim_headers;
    b.found = apr_array_make(r->pool, 2, sizeof(const char *));
    apr_table_do(collect_spoofed, &b, r->headers_in, NULL);
    for (i = 0; i < b.found->nelts; i++) {
        apr_table_unset(r->headers_in,
                        APR_ARRAY_IDX(b.found, i, const char *));
    }
    if ((claims = oauth2_request_claims(r)) == NULL) {
        return DECLINED;
    }
    for (i = 0; i < conf->claim_headers->nelts; i++) {
        const oauth2_claim_header *h = &APR_ARRAY_IDX(conf->claim_headers, i,
                                                      oauth2_claim_header);
        const char *value, *why;

        why = value_of(r, oauth2_claim_at(claims, h->path), h->refuse,
                       &value);
        if (why != NULL) {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, AC_LOGNO(0575)
                          "oauth2: user '%s': the claim %s cannot be passed "
                          "as %s: %s; refusing the request",
                          ap_escape_logitem(r->pool, r->user),
                          ap_escape_logitem(r->pool, h->path), h->name, why);
            return HTTP_FORBIDDEN;
        }
        if (value != NULL) {
            apr_table_setn(r->headers_in, h->name, value);
        }
    }
    return DECLINED;
}

void oauth2_register_claim_headers(apr_pool_t *p)
{
    static const char *const after_chain[] = { "mod_auth_chain.c", NULL };

    ap_hook_fixups(claim_headers_fixup, after_chain, NULL, APR_HOOK_MIDDLE);
}
