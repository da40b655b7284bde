/*
 * nodestate.c -- the table of per-node and per-upstream shared state.
 *
 * One zone: a small header, then the node slots, the upstream slots and their names.
 * Lookups happen when a generation is built (never per request), so a linear scan of
 * the names under the zone lock is enough; requests then use the slot pointer directly
 * with atomics.
 */
#include "nodestate.h"

#include "log.h"
#include "shm.h"

#include <stdio.h>
#include <stdlib.h>

#define NAME_MAX_LEN 160 /* "upstream\naddress" */

typedef struct {
    size_t nnodes;
    size_t nupstreams;
    mg_node_state_t nodes[MG_NODESTATE_NODES];
    mg_upstream_state_t upstreams[MG_NODESTATE_UPSTREAMS];
    char node_names[MG_NODESTATE_NODES][NAME_MAX_LEN];
    char upstream_names[MG_NODESTATE_UPSTREAMS][NAME_MAX_LEN];
} table_t;

static mg_shm_zone_t *zone;
static table_t *table;

int mg_nodestate_init(void)
{
    if (table != NULL) {
        return MG_OK;
    }
    zone = mg_shm_zone_create("nodestate", sizeof(table_t) + 64 * 1024);
    if (zone == NULL) {
        return MG_ERROR;
    }
    table = mg_shm_alloc(zone, sizeof(table_t));
    if (table == NULL) {
        mg_shm_zone_destroy(zone);
        zone = NULL;
        return MG_ERROR;
    }
    memset(table, 0, sizeof(*table));
    return MG_OK;
}

/* A private zeroed slot for a process whose table is missing or full. */
static void *private_slot(size_t size, const char *what, const char *name)
{
    static bool logged;
    if (!logged) {
        logged = true;
        mg_log_warn("shared %s table full or missing: \"%s\" keeps its state per worker",
                    what, name);
    }
    void *p = calloc(1, size);
    if (p == NULL) {
        mg_log_crit("out of memory for the state of %s \"%s\"", what, name);
        abort();
    }
    return p;
}

/* Finds or adds `key` in names[0..*n) (capacity cap) under the zone lock; the index,
 * or -1 when full. A new slot's state is zeroed by the mapping itself. */
static long find_or_add(char (*names)[NAME_MAX_LEN], size_t *n, size_t cap, const char *key)
{
    long idx = -1;
    mg_shm_lock(zone);
    for (size_t i = 0; i < *n; i++) {
        if (strcmp(names[i], key) == 0) {
            idx = (long)i;
            break;
        }
    }
    if (idx < 0 && *n < cap) {
        idx = (long)(*n)++;
        snprintf(names[idx], NAME_MAX_LEN, "%s", key);
    }
    mg_shm_unlock(zone);
    return idx;
}

mg_node_state_t *mg_nodestate_node(const char *upstream, const char *addr)
{
    char key[NAME_MAX_LEN];
    int len = snprintf(key, sizeof(key), "%s\n%s", upstream, addr);
    long i = -1;
    if (table != NULL && len > 0 && len < (int)sizeof(key)) {
        i = find_or_add(table->node_names, &table->nnodes, MG_NODESTATE_NODES, key);
    }
    return i >= 0 ? &table->nodes[i] : private_slot(sizeof(mg_node_state_t), "node", addr);
}

mg_upstream_state_t *mg_nodestate_upstream(const char *name)
{
    long i = -1;
    if (table != NULL && strlen(name) < NAME_MAX_LEN) {
        i = find_or_add(table->upstream_names, &table->nupstreams, MG_NODESTATE_UPSTREAMS, name);
    }
    return i >= 0 ? &table->upstreams[i]
                  : private_slot(sizeof(mg_upstream_state_t), "upstream", name);
}

void mg_nodestate_release(void *slot)
{
    const char *p = slot, *lo = (const char *)table;
    if (slot != NULL && (table == NULL || p < lo || p >= lo + sizeof(*table))) {
        free(slot);
    }
}

size_t mg_nodestate_count(void)
{
    return table != NULL ? table->nnodes : 0;
}
