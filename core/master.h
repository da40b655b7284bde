/*
 * master.h -- the master process (supervision, signals, reload generations) and the
 * control messages it sends to its workers.
 */
#ifndef MG_MASTER_H
#define MG_MASTER_H

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

/* Runs the master in the foreground until it is stopped: opens logs, pid file,
 * listeners and the shared zone, forks conf->worker_processes workers, supervises them
 * and runs reloads. Takes `conf`; `conf_path` (borrowed) is the absolute path reloads
 * read, as given (a symlink is followed anew at each reload). Returns the process exit
 * status (0 after a stop signal, 1 when it could not start; the reason is on standard
 * error and in the error log). */
int mg_master_run(mg_conf_t *conf, const char *conf_path);

/* The file next to the pid file (its name plus this) that names the configuration file
 * the running master reloads, for `moongate -s reload`. */
#define MG_PID_CONF_SUFFIX ".conf"

/* Everything a configuration must pass before it is used (start, -t, -s reload): the
 * routes build a router, every plugin in use is read (from plugins_dir, then the bundled
 * plugins) and loads in a scratch Lua state with its configs checked against its
 * schema. The Lua state lives in a child process, killed if plugin code keeps it
 * longer than the load time limit (lua_load.h); this waits for it. MG_OK, or MG_ERROR
 * with the message in msg. */
int mg_master_validate(mg_conf_t *conf, char *msg, size_t len);

/* Directory of the Lua side of the runtime: <dir of the real executable>/../lua when it
 * exists (a source tree: build/moongate next to lua/), else the install location
 * MG_LUA_DIR_DEFAULT. The string is static. */
const char *mg_runtime_lua_dir(void);

#endif
