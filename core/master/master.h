/*
 * master.h -- the master process: supervision, signals, reload generations (the
 * control messages it exchanges with its workers are in server/control.h).
 */
#ifndef MG_MASTER_H
#define MG_MASTER_H

#include "control.h"
#include "mg_core.h"

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

/* Replaces this process's environment with the one process `pid` started with
 * (/proc/PID/environ), for `moongate -s reload` to expand `${NAME}` as the running
 * master does. MG_OK; MG_DECLINED when it cannot be read (no /proc, another user's
 * process, gone), this process's own environment left as it was; MG_ERROR when out of
 * memory halfway, the environment then unusable. why (len bytes) says what failed. */
int mg_master_env_adopt(long pid, char *why, size_t len);

/* The replacing itself: buf (len bytes, modified and restored) holds NAME=value
 * entries each ended by a NUL, as /proc/PID/environ does; entries without a name are
 * skipped. MG_OK, or MG_ERROR (out of memory, the environment part set). */
int mg_master_env_set(char *buf, size_t len);

/* Everything a configuration must pass before it is used (start, -t, -s reload): the
 * routes build a router, every plugin in use is read (from plugins_dir, then the bundled
 * plugins) and loads in a scratch Lua state with its configs checked against its
 * schema. The Lua state lives in a child process, killed if plugin code keeps it
 * longer than the load time limit (lua_load.h); this waits for it. MG_OK, or MG_ERROR
 * with the message in msg. */
int mg_master_validate(mg_conf_t *conf, char *msg, size_t len);

#endif
