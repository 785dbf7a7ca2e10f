/* Licensed under the Apache License, Version 2.0.
 *
 * throttle.h -- Django REST framework's throttles for mod_auth_chain
 * (docs/mod_auth_chain.md, "Throttling"): `AuthChainThrottle anon|user|
 * credential RATE` and `AuthChainThrottle scope NAME RATE` per location,
 * counted per node in shared memory or across nodes in redis
 * (`AuthChainThrottleRedis`), with GCRA.  mod_auth_chain.c calls these
 * from a few places: its command table, its merge, register_hooks and the
 * fixups hook (after the chain and authorization decided).
 */

#ifndef CHAIN_THROTTLE_H
#define CHAIN_THROTTLE_H

#include "apr_tables.h"
#include "httpd.h"
#include "http_config.h"

/* The directives.  AuthChainThrottle's cmd->info is the offset of the
 * location's `apr_array_header_t *` list of throttles in the directory
 * configuration: NULL where no AuthChainThrottle was written (merge: the
 * nearer section's list, when it has one, replaces the other). */
const char *chain_throttle_set(cmd_parms *cmd, void *dconf, int argc,
                               char *const argv[]);
const char *chain_throttle_set_redis(cmd_parms *cmd, void *dummy,
                                     const char *arg);
const char *chain_throttle_set_timeout(cmd_parms *cmd, void *dummy,
                                       const char *arg);
const char *chain_throttle_set_slots(cmd_parms *cmd, void *dummy,
                                     const char *arg);

#define CHAIN_THROTTLE_CMDS(type, list) \
    AP_INIT_TAKE_ARGV("AuthChainThrottle", chain_throttle_set, \
                      (void *)APR_OFFSETOF(type, list), \
                      ACCESS_CONF | RSRC_CONF, \
                      "a throttle: 'anon|user|credential RATE', 'scope " \
                      "NAME RATE' (RATE as DRF writes it: 100/min), or " \
                      "'off'"), \
    AP_INIT_TAKE1("AuthChainThrottleRedis", chain_throttle_set_redis, \
                  NULL, RSRC_CONF, \
                  "host:port of the redis that the nodes share " \
                  "throttling counters in"), \
    AP_INIT_TAKE1("AuthChainThrottleRedisTimeout", \
                  chain_throttle_set_timeout, NULL, RSRC_CONF, \
                  "milliseconds to connect to redis and for each command " \
                  "(default 50)"), \
    AP_INIT_TAKE1("AuthChainThrottleSlots", chain_throttle_set_slots, NULL, \
                  RSRC_CONF, \
                  "counters in the node's shared memory (default 16384)")

/* The kinds of throttle, as AuthChainThrottle writes them (the metrics'
 * label values). */
#define CHAIN_THROTTLE_KINDS 4
extern const char *const chain_throttle_kinds[CHAIN_THROTTLE_KINDS];

/* The note of a client request that was throttled: DRF's message, for
 * the audit log. */
#define CHAIN_THROTTLED_NOTE "auth-chain-throttled"

/* Hooks: pre_config, post_config (the shared table), child_init. */
void chain_throttle_register_hooks(apr_pool_t *p);

/* Apply the throttles of the location (`throttles`, as the directive
 * built it; NULL or empty: none) to r, whose caller the chain identified
 * as `user` by `scheme` with the auth data `data` (all NULL: anonymous).
 * Every throttle counts the request (as DRF's check_throttles); returns
 * OK, or HTTP_TOO_MANY_REQUESTS with Retry-After set to the longest
 * wait, CHAIN_THROTTLED_NOTE set and the 429 counted in the metrics. */
int chain_throttle_check(request_rec *r, const apr_array_header_t *throttles,
                         const char *user, const char *scheme,
                         const char *data);

#endif /* CHAIN_THROTTLE_H */
