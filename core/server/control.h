/*
 * control.h -- the control messages a worker and its master exchange.
 */
#ifndef MG_CONTROL_H
#define MG_CONTROL_H

#include "mg_core.h"

/* Control channel: a socketpair per worker.
 *
 * Master -> worker: this header, then `name_len` bytes of the config file name,
 * `prefix_len` bytes of the prefix (both including their terminating NUL) and `body_len`
 * bytes.
 *   MG_CTL_RELOAD: the body is the config file (`yaml_len` bytes) then the plugin
 *     sources (mg_conf_plugins_pack), as the master validated them, so every worker
 *     parses and compiles exactly the same bytes. `generation` is the new one.
 *   MG_CTL_VERDICT: the answer to the worker's MG_CTL_RELOAD_ASK `request_id`: an HTTP
 *     `status` (202 accepted, 422 rejected, 503 not possible now), the `generation`
 *     serving after it, and the message as the body (no name, no prefix).
 * Worker -> master: mg_ctl_ask_t.
 *   MG_CTL_RELOAD_ASK: reload (POST /reload on the admin API) and answer `request_id`
 *     with a verdict once the master has decided. */
#define MG_CTL_MAGIC 0x6d67636cu /* "mgcl" */
#define MG_CTL_RELOAD 1u
#define MG_CTL_VERDICT 2u
#define MG_CTL_RELOAD_ASK 3u
#define MG_CTL_MAX_BODY (64u << 20)
#define MG_CTL_MAX_VERDICT 4096u

typedef struct {
    uint32_t magic;
    uint32_t type;       /* MG_CTL_RELOAD, MG_CTL_VERDICT */
    uint64_t generation; /* the new generation's id (RELOAD), the one serving (VERDICT) */
    uint32_t name_len;
    uint32_t prefix_len;
    uint64_t body_len;
    uint64_t yaml_len;
    uint32_t request_id; /* VERDICT: the ask it answers */
    int32_t status;      /* VERDICT: HTTP status */
} mg_ctl_hdr_t;

typedef struct {
    uint32_t magic;
    uint32_t type; /* MG_CTL_RELOAD_ASK */
    uint32_t request_id;
    uint32_t pad;
} mg_ctl_ask_t;

#endif
