/*
 * master_int.h -- state shared by the master's files (master.c: supervision and
 * signals; master_reload.c: start-up and reloads). Not for other modules.
 */
#ifndef MG_MASTER_INT_H
#define MG_MASTER_INT_H

#include "master.h"
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
    bool cut;          /* its drain was ended early to free its slot */
    bool stall_killed; /* killed by the stall watchdog */
    bool respawn;      /* a respawn is due at respawn_at */
    double respawn_at;
    double crashes[MG_CRASH_WINDOW]; /* times of the last crashes (ring) */
    unsigned ncrash;
    double spawned_at; /* ev_now() of the fork: a worker must be serving soon after */
    bool served;       /* it published its pid in the stats table once */
    ev_io ctl_io;      /* reads the worker's asks (mg_ctl_ask_t) */
    char rbuf[sizeof(mg_ctl_ask_t)];
    size_t rlen;
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
    ev_signal sig_hup, sig_term, sig_int, sig_quit, sig_usr1, sig_usr2, sig_chld;
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
    uint64_t *reloads;        /* metrics: reloads ok, failed (master's region) */
    uint64_t *restarts;       /* metrics: workers started again after dying */
    int state;
    double stop_deadline;
    bool replacing; /* a new set is starting; the old one drains once it is up */
    double replace_deadline;
    int owed; /* workers of the current set not forked yet: every slot was taken */
    bool pid_written;
} mg_master_t;

extern mg_master_t M;

/* master_reload.c */
int mg__master_start(mg_conf_t *conf);
/* Reloads the file the master was started with (SIGHUP, the plugins watch). While the
 * plugins of a reload load in their child process, another request waits for it and
 * then runs once. */
void mg__master_reload(void);
/* Same, for worker `slot` (pid `pid`) that asked with `id` (POST /reload): the worker
 * gets the verdict (mg__master_answer). */
void mg__master_reload_ask(int slot, pid_t pid, uint32_t id);
/* The master stops: the reload in progress is dropped, whoever waits gets a 503. */
void mg__master_reload_cancel(void);
/* on_child: true when `pid` was the reload's validation child (its status is kept). */
bool mg__master_reload_reaped(pid_t pid, int status);
/* In a new worker: closes what belongs to a reload in progress. */
void mg__master_reload_forget(void);

/* master_validate.c: the child process that loads the plugins of a configuration. */
typedef struct {
    pid_t pid;       /* 0: none */
    int fd;          /* read end of its verdict pipe, -1 when none */
    double limit;    /* the load time limit it runs under, seconds */
    double deadline; /* mg__validation_now() when it is killed */
    char *trace;     /* page shared with it: FILE:LINE of its last call into C */
    char buf[1400];  /* the verdict read so far */
    size_t len;
    bool killed;
    bool reaped;
    int status; /* wait status, once reaped */
} mg_validation_t;

double mg__validation_now(void);
/* The checks that run no plugin code (router, reading the plugins). */
int mg__master_check_static(mg_conf_t *conf, char *msg, size_t len);
/* Forks the child loading conf's plugins. MG_OK, or MG_ERROR with msg. */
int mg__validation_start(mg_validation_t *v, const mg_conf_t *conf, char *msg, size_t len);
/* Reads the verdict: MG_AGAIN until the child is done, then MG_OK, or MG_ERROR with the
 * message (the plugin's error, or the time limit with where it blocked). Reaps it. */
int mg__validation_read(mg_validation_t *v, char *msg, size_t len);
void mg__validation_kill(mg_validation_t *v);
void mg__validation_reaped(mg_validation_t *v, int status);
void mg__validation_dispose(mg_validation_t *v);

/* master_watch.c: (re)arms the watches of conf: plugins dirs (watch_plugins), the
 * certificate files (tls.watch_certificates). */
void mg__master_watch(const mg_conf_t *conf);

/* master_tickets.c: the session-ticket keys (sys/tls_ticket.h) as the master runs
 * them. Start: makes the shared key area (before any fork), installs the keys conf
 * names and arms timed rotation; MG_OK, or MG_ERROR with msg. */
int mg__master_tickets_start(const mg_conf_t *conf, char *msg, size_t len);
/* A reload put conf to work: its ticket_key_file's keys, or generated ones again; the
 * rotation timer re-armed when its period changed. */
void mg__master_tickets_reload(const mg_conf_t *conf);
/* SIGUSR2: a new generated key now (refused while a ticket_key_file is in use). */
void mg__master_tickets_rotate_now(void);
/* In a new worker: stops the master's rotation timer (the keys stay readable). */
void mg__master_tickets_forget(void);
/* Master exit: stops the timer, wipes and unmaps the keys. */
void mg__master_tickets_stop(void);
/* A bad ticket_key_file content, as "file:line:column: key: path: what is wrong".
 * MG_OK when there is none or it is good. */
int mg__master_tickets_check(const mg_conf_t *conf, char *msg, size_t len);

/* master.c */
/* Sends worker `slot` the verdict on its ask `id`, if it is still process `pid`. */
void mg__master_answer(int slot, pid_t pid, uint32_t id, int status, const char *msg);
void mg__master_signal_all(int sig, bool old_sets_only);
void mg__master_spawn_set(void);
void mg__master_set_listeners(int *fds, size_t nfds, int admin_fd);
int mg__master_listeners_for(const mg_conf_t *conf, int **fds, int *admin_fd, char *err,
                             size_t errlen);
void mg__master_prune_later(void);

#endif
