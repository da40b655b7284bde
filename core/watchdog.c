/*
 * watchdog.c -- the CPU budget thread of a worker and the stall test the master runs
 * (see watchdog.h).
 */
#include "watchdog.h"

#include "lua_runtime.h"

extern int32_t mg__lua_where; /* lua_vm.c */

#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#define MG_WATCHDOG_SIGNAL SIGURG /* ignored by default: harmless if it ever arrives late */

static mg_worker_stats_t *slot;
static pthread_t loop_thread;
static volatile double budget_s;
static ev_timer heartbeat;
static pthread_t watcher;
static volatile int stopping;
static bool started;

static void on_signal(int sig)
{
    mg_lua_interrupt();
}

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Samples the slot; one signal per phase run that overstays its budget. */
static void *watch(void *arg)
{
    uint64_t last_seq = 0;
    double since = mono();
    bool fired = false;
    while (!stopping) {
        double b = budget_s;
        double step = b / 5 < 0.001 ? 0.001 : b / 5 > 0.02 ? 0.02 : b / 5;
        struct timespec ts = {0, (long)(step * 1e9)};
        nanosleep(&ts, NULL);
        uint64_t seq = __atomic_load_n(&slot->lua_seq, __ATOMIC_RELAXED);
        int64_t busy = __atomic_load_n(&slot->lua_busy, __ATOMIC_ACQUIRE);
        double now = mono();
        __atomic_store_n(&slot->lua_where, busy ? mg__lua_where : -1, __ATOMIC_RELAXED);
        if (!busy || seq != last_seq) {
            last_seq = seq;
            since = now;
            fired = false;
        } else if (!fired && now - since >= b) {
            fired = true;
            pthread_kill(loop_thread, MG_WATCHDOG_SIGNAL);
        }
    }
    return NULL;
}

static void on_heartbeat(struct ev_loop *loop, ev_timer *t, int revents)
{
    mg_worker_stats_t *ws = t->data;
    double now = ev_time();
    __atomic_store(&ws->heartbeat, &now, __ATOMIC_RELAXED);
}

int mg_watchdog_start(mg_worker_t *w, double budget)
{
    slot = w->stats;
    slot->lua_where = -1;
    budget_s = budget;
    loop_thread = pthread_self();
    ev_timer_init(&heartbeat, on_heartbeat, 0.25, 0.25);
    heartbeat.data = w->stats;
    ev_timer_start(w->loop, &heartbeat);
    ev_unref(w->loop); /* the heartbeat alone does not keep a draining loop alive */

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(MG_WATCHDOG_SIGNAL, &sa, NULL);

    /* the thread takes no signal meant for the process */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    stopping = 0;
    int rc = pthread_create(&watcher, &attr, watch, NULL);
    started = rc == 0;
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc == 0 ? MG_OK : MG_ERROR;
}

void mg_watchdog_stop(void)
{
    if (started) {
        stopping = 1;
        pthread_join(watcher, NULL); /* it reads the shared slot: gone before the unmap */
        started = false;
    }
}

void mg_watchdog_set_budget(double budget)
{
    budget_s = budget;
}

bool mg_watchdog_stalled(const mg_worker_stats_t *ws, double now, double limit, double *stalled_for)
{
    double hb;
    __atomic_load(&ws->heartbeat, &hb, __ATOMIC_RELAXED);
    if (hb <= 0) {
        return false;
    }
    *stalled_for = now - hb;
    return *stalled_for > limit;
}
