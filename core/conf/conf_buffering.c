/*
 * conf_buffering.c -- a route's `buffering:` block (docs/buffering.md): whether the
 * proxy reads the upstream's answer ahead of the client, whether it reads the request
 * body whole before choosing a node, and how much of either it keeps in memory before
 * a temp file.
 *
 *   buffering: { response: true, request: false, memory: 64k, max_temp_file_size: 1g }
 */
#include "conf_int.h"

void mg__conf_buffering_defaults(mg_buffering_conf_t *b)
{
    *b = (mg_buffering_conf_t){
        .response = true,
        .request = false,
        .memory = 64u << 10,
        .max_temp_file_size = (size_t)1 << 30,
    };
}

static int on_response(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_bool(c, v, &((mg_buffering_conf_t *)obj)->response);
}

static int on_request(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_bool(c, v, &((mg_buffering_conf_t *)obj)->request);
}

static int on_memory(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_size(c, v, 4u << 10, (size_t)1 << 30, &((mg_buffering_conf_t *)obj)->memory);
}

static int on_max_temp_file_size(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_size(c, v, 0, (size_t)1 << 40,
                         &((mg_buffering_conf_t *)obj)->max_temp_file_size);
}

static const mg__conf_field_t buffering_fields[] = {
    {"response", on_response, NULL},
    {"request", on_request, NULL},
    {"memory", on_memory, NULL},
    {"max_temp_file_size", on_max_temp_file_size, NULL},
};

int mg__conf_on_rt_buffering(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    uint64_t seen;
    mg_buffering_conf_t *b = &((mg_route_conf_t *)obj)->buffering;
    return mg__conf_map(c, v, buffering_fields, MG_NELEMS(buffering_fields), b, &seen);
}
