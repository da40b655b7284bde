/*
 * balancer_key.c -- the value a request is balanced on: what `hash_on` names for chash
 * and ip_hash, the sticky cookie for sticky.
 *
 * Computed once per request, before the first pick, from the request as the plugins
 * left it (a rewrite plugin that sets a header changes the key). Values are hashed as
 * they came (see http_values.c).
 */
#include "balancer.h"

#include "conf.h"
#include "http.h"

mg_str_t mg_balancer_key(const mg_upstream_conf_t *u, const mg_request_t *r)
{
    if (u->balancer == MG_LB_STICKY) {
        const char *c = u->sticky.cookie != NULL ? u->sticky.cookie : "mg_node";
        return mg_http_cookie(r, mg_str(c, strlen(c)));
    }
    if (u->balancer != MG_LB_CHASH && u->balancer != MG_LB_IP_HASH) {
        return MG_NULL_STR;
    }
    mg_str_t name = mg_str(u->hash_on.name, u->hash_on.len);
    mg_str_t v = MG_NULL_STR;
    switch (u->hash_on.kind) {
    case MG_HASH_REMOTE_ADDR:
        break;
    case MG_HASH_HEADER:
        v = mg_http_header(r, name);
        break;
    case MG_HASH_COOKIE:
        v = mg_http_cookie(r, name);
        break;
    case MG_HASH_QUERY:
        v = mg_http_query_arg(r, name);
        break;
    case MG_HASH_PARAM:
        v = mg_http_param(r, name);
        break;
    }
    return v.len > 0 ? v : r->remote_addr;
}
