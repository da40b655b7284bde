/*
 * master.h -- the master process: supervision, signals, reload generations (the
 * control messages it sends its workers are in server/control.h).
 */
#ifndef MG_MASTER_H
#define MG_MASTER_H

#include "control.h"
#include "mg_core.h"


/* Runs the master in the foreground until it is stopped: opens logs, pid file,
 * listeners and the shared zone, forks conf->worker_processes workers, supervises them
 * and runs reloads. Takes `conf`. Returns the process exit status (0 after a stop
 * signal, 1 when it could not start; the reason is on standard error and in the error
 * log). */
int mg_master_run(mg_conf_t *conf);

/* Everything a configuration must pass before it is used (start, -t, reload): the
 * routes build a router, every plugin in use is read (from plugins_dir, then the bundled
 * plugins) and loads in a scratch Lua state with its configs checked against its
 * schema. MG_OK, or MG_ERROR with the message in msg. */
int mg_master_validate(mg_conf_t *conf, char *msg, size_t len);


#endif
