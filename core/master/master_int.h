/*
 * master_int.h -- state shared by the master's files (master.c: supervision and
 * signals; master_reload.c: start-up and reloads). Not for other modules.
 */
#ifndef MG_MASTER_INT_H
#define MG_MASTER_INT_H

#include "mg_core.h"
#include "worker.h"

#include <ev.h>
#include <sys/socket.h>

#define MG_CRASH_WINDOW 5 /* crashes within 10 s that trigger the 1 s respawn delay */

enum { MG_MASTER_RUNNING = 0, MG_MASTER_STOP_FAST, MG_MASTER_STOP_GRACEFUL };

/* A worker slot as the master sees it. */
typedef struct {
    pid_t pid;         /* 0: no process in this slot */
    int ctl_fd;        /* master's end of the control channel, -1 when none */
    unsigned set;      /* worker set it was forked in */
    bool quit_sent;    /* told to drain: its exit is expected */
    bool stall_killed; /* killed by the stall watchdog */
    bool respawn;      /* a respawn is due at respawn_at */
    double respawn_at;
    double crashes[MG_CRASH_WINDOW]; /* times of the last crashes (ring) */
    unsigned ncrash;
} mg_wproc_t;

/* A listening socket held by the master. */
typedef struct {
    int fd;
    struct sockaddr_storage sa;
    socklen_t salen;
    char text[64];
} mg_lsock_t;

typedef struct {
    pid_t pid;
    struct ev_loop *loop;
    ev_signal sig_hup, sig_term, sig_int, sig_quit, sig_usr1, sig_chld;
    ev_timer tick;   /* 100 ms: respawns, replacement, stop deadline */
    mg_conf_t *conf; /* current generation's snapshot (owned) */
    uint64_t gen_id;
    char *conf_path; /* absolute path of the file reloads read */
    char *prefix;
    unsigned set; /* current worker set */
    int *fds;     /* listeners of conf->listen, same order */
    size_t nfds;
    int admin_fd;       /* -1 when the admin API is off */
    mg_lsock_t *lsocks; /* every listening socket held, current or not */
    size_t nlsocks;
    mg_wproc_t wp[MG_MAX_WORKER_SLOTS]; /* indexed by slot */
    mg_shm_zone_t *shm;
    mg_worker_stats_t *stats; /* MG_MAX_WORKER_SLOTS entries in shm */
    int state;
    double stop_deadline;
    bool replacing; /* a new set is starting; the old one drains once it is up */
    double replace_deadline;
    bool pid_written;
} mg_master_t;

extern mg_master_t M;

/* master_reload.c */
int mg__master_start(mg_conf_t *conf);
void mg__master_reload(void);

/* master_watch.c: (re)arms the plugins-dir watch for conf (off unless watch_plugins). */
void mg__master_watch_plugins(const mg_conf_t *conf);

/* master.c */
void mg__master_signal_all(int sig, bool old_sets_only);
void mg__master_spawn_set(void);
void mg__master_set_listeners(int *fds, size_t nfds, int admin_fd);
int mg__master_listeners_for(const mg_conf_t *conf, int **fds, int *admin_fd, char *err,
                             size_t errlen);
void mg__master_prune_later(void);

#endif
