/*
 * master.h -- the master process (supervision, signals, reload generations) and the
 * control messages it sends to its workers.
 */
#ifndef MG_MASTER_H
#define MG_MASTER_H

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

/* Everything a configuration must pass before it is used (start, -t, reload): the
 * routes build a router, every plugin in use is read (from plugins_dir, then the bundled
 * plugins) and loads in a scratch Lua state with its configs checked against its
 * schema. MG_OK, or MG_ERROR with the message in msg. */
int mg_master_validate(mg_conf_t *conf, char *msg, size_t len);

/* Directory of the Lua side of the runtime: <dir of the real executable>/../lua when it
 * exists (a source tree: build/moongate next to lua/), else the install location
 * MG_LUA_DIR_DEFAULT. The string is static. */
const char *mg_runtime_lua_dir(void);

#endif
