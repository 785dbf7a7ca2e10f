/* Licensed under the Apache License, Version 2.0.
 *
 * metrics.h -- mod_auth_chain's side of the node's metrics
 * (modules/common/ac_metrics.h has the segment's layout and the counting
 * of the other modules): the shared memory segment, made in post_config
 * and kept across restarts; the decisions of the chain and their latency;
 * `AuthChainMetrics`; the handler `auth-chain-metrics`, which serves the
 * Prometheus text format (docs/operations.md).
 */

#ifndef CHAIN_METRICS_H
#define CHAIN_METRICS_H

#include "httpd.h"
#include "http_config.h"

#include "mod_auth_chain.h"

/* The directive, for mod_auth_chain's command table. */
const char *chain_metrics_set(cmd_parms *cmd, void *dummy, int flag);
#define CHAIN_METRICS_CMD \
    AP_INIT_FLAG("AuthChainMetrics", chain_metrics_set, NULL, RSRC_CONF, \
                 "On (default): count decisions, latency, caches and " \
                 "pools in shared memory for the auth-chain-metrics " \
                 "handler; Off: count nothing")

/* From register_hooks: the hooks, the handler, the optional function. */
void chain_metrics_register(apr_pool_t *p);

/* Before a scheme is asked: the time, or 0 when nothing is counted. */
apr_time_t chain_metrics_clock(void);

/* A scheme answered `status` with *res, asked at `start`
 * (chain_metrics_clock): one decision and its latency. */
void chain_metrics_decision(const char *scheme, auth_chain_status status,
                            const auth_chain_result *res, apr_time_t start);

/* AuthChainThrottle answered 429: the throttle that refused was of
 * kind `kind` (throttle.h's chain_throttle_kinds). */
void chain_metrics_throttled(int kind);

#endif /* CHAIN_METRICS_H */
