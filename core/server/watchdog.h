/*
 * watchdog.h -- two guards against plugin code that does not give the loop back.
 *
 *   CPU budget (in the worker): a thread samples the worker's slot every few
 *   milliseconds; when the loop stayed inside the same Lua phase longer than
 *   lua.cpu_budget it signals the loop thread, whose handler arms a hook that stops
 *   the plugin with an error (mg_lua_interrupt). Inside a compiled trace no hook runs.
 *   Stall (in the master): the loop refreshes its heartbeat four times a second; a
 *   worker whose heartbeat is older than lua.stall_timeout is killed and replaced, and
 *   the log names the plugin and phase it was in.
 */
#ifndef MG_WATCHDOG_H
#define MG_WATCHDOG_H

#include "mg_core.h"
#include "worker.h"

#include <ev.h>

/* Starts the worker's heartbeat timer and budget thread. `budget` in seconds.
 * MG_OK or MG_ERROR (no thread: the budget is not enforced, logged by the caller). */
int mg_watchdog_start(mg_worker_t *w, double budget);

/* Stops the budget thread (before the worker unmaps shared memory and exits). */
void mg_watchdog_stop(void);

/* Changes the budget (a reload). */
void mg_watchdog_set_budget(double budget);

/* Master: true when slot `ws` (a live worker) has not beaten for `limit` seconds at
 * wall time `now`; *stalled_for tells how long. */
bool mg_watchdog_stalled(const mg_worker_stats_t *ws, double now, double limit,
                         double *stalled_for);

#endif
