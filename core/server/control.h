/*
 * control.h -- the control messages a worker receives from the master.
 */
#ifndef MG_CONTROL_H
#define MG_CONTROL_H

#include "mg_core.h"

/* Control channel (a socketpair per worker, master -> worker). A message is this header
 * followed by `name_len` bytes of the config file name, `prefix_len` bytes of the
 * prefix (both including their terminating NUL) and `body_len` bytes: the config file
 * (`yaml_len` bytes) then the plugin sources (mg_conf_plugins_pack), as the master
 * validated them, so every worker parses and compiles exactly the same bytes. */
#define MG_CTL_MAGIC 0x6d67636cu /* "mgcl" */
#define MG_CTL_RELOAD 1u
#define MG_CTL_MAX_BODY (64u << 20)

typedef struct {
    uint32_t magic;
    uint32_t type;       /* MG_CTL_RELOAD */
    uint64_t generation; /* the new generation's id */
    uint32_t name_len;
    uint32_t prefix_len;
    uint64_t body_len;
    uint64_t yaml_len;
} mg_ctl_hdr_t;

#endif
