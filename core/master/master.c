/*
 * master.c -- the master process: owns the listening sockets and the shared zone, forks
 * and supervises workers, answers signals and runs reloads.
 *
 * Workers live in slots (their index in the shared stats table). Each fork belongs to a
 * "set": a reload that needs new workers (listen addresses, worker count) starts a new
 * set beside the old one and, once every new worker is serving, tells the old set to
 * drain. A reload that does not need that sends the validated file to the running
 * workers, which switch generation in place. All signal work happens in libev watchers
 * on the master's own loop, never inside a signal handler. SIGUSR2 rotates the
 * session-ticket keys (master_tickets.c).
 */
#include "master.h"

#include "conf.h"
#include "log.h"
#include "gen_build.h"
#include "listen.h"
#include "master_int.h"
#include "lua_runtime.h"
#include "metrics_store.h"
#include "watchdog.h"
#include "router.h"
#include "shm.h"
#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

mg_master_t M;

static void spawn(int slot);
static void spawn_owed(void);

/* Listening sockets */

static int lsock_find(const mg_addr_t *a)
{
    for (size_t i = 0; i < M.nlsocks; i++) {
        if (mg_listen_addr_eq((const struct sockaddr *)&M.lsocks[i].sa, M.lsocks[i].salen,
                              (const struct sockaddr *)&a->sa, a->salen)) {
            return M.lsocks[i].fd;
        }
    }
    return -1;
}

/* Returns the fd listening on `a`, reusing one the master already holds. */
static int lsock_get(const mg_listen_conf_t *lc, char *err, size_t errlen)
{
    int fd = lsock_find(&lc->addr);
    if (fd >= 0) {
        return fd;
    }
    mg_lsock_t *grown = realloc(M.lsocks, (M.nlsocks + 1) * sizeof(*M.lsocks));
    if (grown == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    M.lsocks = grown;
    fd = mg_listen_open((const struct sockaddr *)&lc->addr.sa, lc->addr.salen, lc->backlog);
    if (fd < 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", lc->addr.text, strerror(-fd));
        return -1;
    }
    mg_lsock_t *l = &M.lsocks[M.nlsocks++];
    memset(l, 0, sizeof(*l));
    l->fd = fd;
    memcpy(&l->sa, &lc->addr.sa, sizeof(l->sa));
    l->salen = lc->addr.salen;
    snprintf(l->text, sizeof(l->text), "%s", lc->addr.text);
    return fd;
}

/* Resolves conf's listeners (and admin) to fds. On error, sockets opened here stay in
 * M.lsocks and are closed by lsocks_prune(). */
static int lsocks_for(const mg_conf_t *conf, int **fds_out, int *admin_out, char *err,
                      size_t errlen)
{
    int *fds = calloc(conf->nlisten ? conf->nlisten : 1, sizeof(int));
    if (fds == NULL) {
        snprintf(err, errlen, "out of memory");
        return MG_ERROR;
    }
    for (size_t i = 0; i < conf->nlisten; i++) {
        if ((fds[i] = lsock_get(&conf->listen[i], err, errlen)) < 0) {
            free(fds);
            return MG_ERROR;
        }
    }
    *admin_out = -1;
    if (conf->admin != NULL && (*admin_out = lsock_get(conf->admin, err, errlen)) < 0) {
        free(fds);
        return MG_ERROR;
    }
    *fds_out = fds;
    return MG_OK;
}

static bool fd_in_use(int fd)
{
    if (fd == M.admin_fd) {
        return true;
    }
    for (size_t i = 0; i < M.conf->nlisten; i++) {
        if (M.fds[i] == fd) {
            return true;
        }
    }
    return false;
}

/* Closes the sockets the current config no longer names. Only once no worker of an
 * older set runs, since those may still be accepting on them. */
static void lsocks_prune(void)
{
    size_t j = 0;
    for (size_t i = 0; i < M.nlsocks; i++) {
        if (fd_in_use(M.lsocks[i].fd)) {
            M.lsocks[j++] = M.lsocks[i];
        } else {
            mg_log_notice("closing listening socket %s", M.lsocks[i].text);
            close(M.lsocks[i].fd);
        }
    }
    M.nlsocks = j;
}

/* A stop closes the master's copies of the listening sockets. The workers close theirs
 * at once too (they drain, or stop), so new connections are refused instead of waiting
 * in a queue nobody accepts from any more. */
static void lsocks_close_all(void)
{
    for (size_t i = 0; i < M.nlsocks; i++) {
        close(M.lsocks[i].fd);
    }
    if (M.nlsocks > 0) {
        mg_log_notice("closed %zu listening socket(s)", M.nlsocks);
    }
    M.nlsocks = 0;
}

/* Workers */

static size_t live_workers(bool old_sets_only)
{
    size_t n = 0;
    for (int i = 0; i < MG_MAX_WORKER_SLOTS; i++) {
        if (M.wp[i].pid > 0 && (!old_sets_only || M.wp[i].set != M.set)) {
            n++;
        }
    }
    return n;
}

static int free_slot(void)
{
    for (int i = 0; i < MG_MAX_WORKER_SLOTS; i++) {
        if (M.wp[i].pid == 0 && !M.wp[i].respawn) {
            return i;
        }
    }
    return -1;
}

void mg__master_signal_all(int sig, bool old_sets_only)
{
    for (int i = 0; i < MG_MAX_WORKER_SLOTS; i++) {
        mg_wproc_t *p = &M.wp[i];
        if (p->pid > 0 && (!old_sets_only || p->set != M.set)) {
            if (sig == SIGQUIT) {
                p->quit_sent = true;
            }
            kill(p->pid, sig);
        }
    }
}

/* In the child: drop what belongs to the master, then become a worker. Never returns. */
static void child_main(int slot, int ctl_fd)
{
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != M.pid) {
        _exit(1);
    }
    mg_metrics_attach(-1); /* the master's region is not this process's */
    ev_signal *sigs[] = {&M.sig_hup,  &M.sig_term, &M.sig_int, &M.sig_quit,
                         &M.sig_usr1, &M.sig_usr2, &M.sig_chld};
    for (size_t i = 0; i < MG_NELEMS(sigs); i++) {
        ev_signal_stop(M.loop, sigs[i]);
    }
    ev_timer_stop(M.loop, &M.tick);
    mg__master_tickets_forget();
    ev_loop_destroy(M.loop);
    for (int i = 0; i < MG_MAX_WORKER_SLOTS; i++) {
        if (M.wp[i].ctl_fd >= 0 && M.wp[i].pid > 0) {
            close(M.wp[i].ctl_fd);
        }
    }
    for (size_t i = 0; i < M.nlsocks; i++) {
        if (!fd_in_use(M.lsocks[i].fd)) {
            close(M.lsocks[i].fd);
        }
    }
    free(M.lsocks);
    free(M.conf_path);
    free(M.prefix);
    mg__master_reload_forget();
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);

    char err[512];
    /* the conf is copied into this process by fork; the generation takes it */
    mg_gen_t *g = mg_gen_create(NULL, M.conf, M.gen_id, err, sizeof(err));
    int rc = 2;
    if (g == NULL) {
        mg_log_set_slot(slot);
        mg_log_crit("cannot build generation %llu: %s", (unsigned long long)M.gen_id, err);
    } else {
        rc = mg_worker_run(slot, g, M.shm, M.stats, M.fds, M.nfds, M.admin_fd, ctl_fd);
    }
    free(M.fds);
    mg_shm_zone_destroy(M.shm);
    mg_log_close();
    exit(rc);
}

/* A worker's asks (mg_ctl_ask_t): POST /reload on its admin listener. */
static void on_ctl_read(struct ev_loop *loop, ev_io *io, int revents)
{
    mg_wproc_t *p = io->data;
    ssize_t n = read(p->ctl_fd, p->rbuf + p->rlen, sizeof(p->rbuf) - p->rlen);
    if (n <= 0) {
        if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
            ev_io_stop(loop, io); /* the worker is gone: on_child cleans up */
        }
        return;
    }
    p->rlen += (size_t)n;
    if (p->rlen < sizeof(p->rbuf)) {
        return;
    }
    mg_ctl_ask_t ask;
    memcpy(&ask, p->rbuf, sizeof(ask));
    p->rlen = 0;
    if (ask.magic != MG_CTL_MAGIC || ask.type != MG_CTL_RELOAD_ASK) {
        mg_log_alert("corrupt message from worker %d, ignoring its channel", (int)p->pid);
        ev_io_stop(loop, io);
        return;
    }
    mg__master_reload_ask((int)(p - M.wp), p->pid, ask.request_id);
}

static void spawn(int slot)
{
    mg_wproc_t *p = &M.wp[slot];
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        mg_log_alert("socketpair() failed: %s", strerror(errno));
        p->respawn = true;
        p->respawn_at = ev_now(M.loop) + 1.0;
        return;
    }
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    mg_log_flush();
    pid_t pid = fork();
    if (pid < 0) {
        mg_log_alert("fork() failed: %s", strerror(errno));
        close(sv[0]);
        close(sv[1]);
        p->respawn = true;
        p->respawn_at = ev_now(M.loop) + 1.0;
        return;
    }
    if (pid == 0) {
        close(sv[0]);
        child_main(slot, sv[1]);
    }
    close(sv[1]);
    struct timeval tv = {2, 0};
    setsockopt(sv[0], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    p->pid = pid;
    p->stall_killed = false;
    p->spawned_at = ev_now(M.loop);
    p->served = false;
    p->ctl_fd = sv[0];
    p->rlen = 0;
    ev_io_init(&p->ctl_io, on_ctl_read, sv[0], EV_READ);
    p->ctl_io.data = p;
    ev_io_start(M.loop, &p->ctl_io);
    p->set = M.set;
    p->quit_sent = false;
    p->cut = false;
    p->respawn = false;
    mg_log_notice("started worker %d (slot %d, generation %llu)", (int)pid, slot,
                  (unsigned long long)M.gen_id);
}

/* Spawns now, or later when this slot crashed 5 times in the last 10 s. */
static void schedule_respawn(int slot)
{
    mg_wproc_t *p = &M.wp[slot];
    double now = ev_now(M.loop);
    int recent = 0;
    p->crashes[p->ncrash++ % MG_CRASH_WINDOW] = now;
    if (M.restarts != NULL) {
        mg_metrics_add(M.restarts, 1);
    }
    for (int i = 0; i < MG_CRASH_WINDOW; i++) {
        recent += p->crashes[i] > 0 && now - p->crashes[i] < 10.0;
    }
    if (recent >= MG_CRASH_WINDOW) {
        mg_log_alert("worker slot %d crashed %d times in 10 s, respawning in 1 s", slot, recent);
        p->respawn = true;
        p->respawn_at = now + 1.0;
        return;
    }
    spawn(slot);
}

static void log_exit(const mg_wproc_t *p, int slot, int status)
{
    bool expected = p->quit_sent || M.state != MG_MASTER_RUNNING || p->set != M.set;
    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        bool calm = expected && (sig == SIGTERM || sig == SIGKILL || sig == SIGQUIT);
        mg_log_error(calm ? MG_LOG_NOTICE : MG_LOG_ALERT,
                     "worker %d (slot %d) killed by signal %d (%s)%s", (int)p->pid, slot, sig,
                     strsignal(sig), WCOREDUMP(status) ? " (core dumped)" : "");
    } else {
        int code = WEXITSTATUS(status);
        mg_log_error(expected && code == 0 ? MG_LOG_NOTICE : MG_LOG_ALERT,
                     "worker %d (slot %d) exited with status %d", (int)p->pid, slot, code);
    }
}

static void on_child(struct ev_loop *loop, ev_signal *s, int revents)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        int slot = -1;
        for (int i = 0; i < MG_MAX_WORKER_SLOTS; i++) {
            if (M.wp[i].pid == pid) {
                slot = i;
            }
        }
        if (slot < 0) {
            mg__master_reload_reaped(pid, status);
            continue;
        }
        mg_wproc_t *p = &M.wp[slot];
        log_exit(p, slot, status);
        ev_io_stop(loop, &p->ctl_io);
        close(p->ctl_fd);
        p->ctl_fd = -1;
        memset(&M.stats[slot], 0, sizeof(M.stats[slot]));
        bool again = M.state == MG_MASTER_RUNNING && p->set == M.set && !p->quit_sent;
        p->pid = 0;
        if (again) {
            schedule_respawn(slot);
        }
    }
    if (M.state != MG_MASTER_RUNNING && live_workers(false) == 0) {
        ev_break(loop, EVBREAK_ALL);
    } else if (!M.replacing && live_workers(true) == 0) {
        lsocks_prune();
    }
}

/* A new set is up when each of its workers published its pid in the stats table. */
static bool new_set_up(void)
{
    if (M.owed > 0) {
        return false;
    }
    for (int i = 0; i < MG_MAX_WORKER_SLOTS; i++) {
        mg_wproc_t *p = &M.wp[i];
        if (p->pid > 0 && p->set == M.set &&
            __atomic_load_n(&M.stats[i].pid, __ATOMIC_ACQUIRE) != p->pid) {
            return false;
        }
    }
    return true;
}

/* A worker whose loop has not come round for lua.stall_timeout is stuck (plugin code
 * spinning inside a compiled trace, which no hook interrupts): kill it, say where it
 * was, and let the respawn replace it. */
static void check_stalls(void)
{
    double now = ev_time();
    for (int i = 0; i < MG_MAX_WORKER_SLOTS; i++) {
        mg_wproc_t *p = &M.wp[i];
        mg_worker_stats_t *ws = &M.stats[i];
        double stalled;
        if (p->pid > 0 && ws->pid == p->pid) {
            p->served = true; /* an exiting worker clears its slot before it is gone */
        }
        if (p->pid > 0 && !p->served && !p->stall_killed &&
            ev_now(M.loop) - p->spawned_at > M.conf->lua.stall_timeout + 1.0) {
            /* loading its plugins blocked outside Lua (a hook stops a loop) */
            mg_log_alert("worker %d did not start within %.1f s; killing it", (int)p->pid,
                         ev_now(M.loop) - p->spawned_at);
            p->stall_killed = true;
            kill(p->pid, SIGKILL);
            continue;
        }
        if (p->pid <= 0 || p->stall_killed || ws->pid != p->pid ||
            !mg_watchdog_stalled(ws, now, M.conf->lua.stall_timeout, &stalled)) {
            continue;
        }
        int32_t where = ws->lua_where;
        int idx = where >= 0 ? where / 8 : -1;
        const char *plugin =
            idx >= 0 && (size_t)idx < M.conf->nplugin_srcs ? M.conf->plugin_srcs[idx].name : NULL;
        mg_log_alert("worker %d stalled for %.1f s %s%s%s%s%s; killing it", (int)p->pid, stalled,
                     ws->lua_busy ? "in Lua" : "outside Lua", plugin ? ", plugin \"" : "",
                     plugin ? plugin : "", plugin ? "\" phase " : "",
                     plugin ? mg_lua_phase_name(where % 8) : "");
        mg_lua_metrics_stall_kill(M.conf, plugin);
        p->stall_killed = true;
        kill(p->pid, SIGKILL);
    }
}

static void on_tick(struct ev_loop *loop, ev_timer *t, int revents)
{
    double now = ev_now(loop);
    mg_log_flush();
    check_stalls();
    if (M.state == MG_MASTER_RUNNING) {
        for (int i = 0; i < MG_MAX_WORKER_SLOTS; i++) {
            if (M.wp[i].respawn && M.wp[i].pid == 0 && now >= M.wp[i].respawn_at) {
                spawn(i);
            }
        }
        if (M.owed > 0) {
            spawn_owed();
        }
    }
    if (M.replacing && (new_set_up() || now >= M.replace_deadline)) {
        M.replacing = false;
        mg_log_notice("generation %llu serving, old workers drain", (unsigned long long)M.gen_id);
        mg__master_signal_all(SIGQUIT, true);
        if (live_workers(true) == 0) {
            lsocks_prune();
        }
    }
    if (M.state != MG_MASTER_RUNNING && now >= M.stop_deadline && live_workers(false) > 0) {
        mg_log_warn("workers still running after the stop deadline, killing them");
        mg__master_signal_all(SIGKILL, false);
        M.stop_deadline = now + 5.0;
    }
}

/* A graceful stop (QUIT) lets the workers drain for up to http.drain_timeout, an hour
 * by default; a second QUIT, like TERM, turns it into a fast stop. */
static void stop(int how)
{
    double now = ev_now(M.loop);
    if (how == MG_MASTER_STOP_GRACEFUL && M.state == MG_MASTER_STOP_GRACEFUL) {
        mg_log_notice("QUIT again during the graceful stop: closing what the workers hold");
        how = MG_MASTER_STOP_FAST;
    }
    if (how == MG_MASTER_STOP_FAST) {
        if (M.state == MG_MASTER_STOP_FAST) {
            return;
        }
        mg_log_notice("fast stop");
        M.state = MG_MASTER_STOP_FAST;
        M.stop_deadline = now + 5.0;
        mg__master_signal_all(SIGTERM, false);
    } else {
        if (M.state != MG_MASTER_RUNNING) {
            return;
        }
        mg_log_notice("graceful stop: workers drain for at most %.0f s (QUIT again or TERM "
                      "to stop at once)",
                      M.conf->http.drain_timeout);
        M.state = MG_MASTER_STOP_GRACEFUL;
        M.stop_deadline = now + M.conf->http.drain_timeout + 5.0;
        mg__master_signal_all(SIGQUIT, false);
    }
    M.replacing = false;
    M.owed = 0;
    mg__master_reload_cancel();
    lsocks_close_all();
    if (live_workers(false) == 0) {
        ev_break(M.loop, EVBREAK_ALL);
    }
}

static void on_signal(struct ev_loop *loop, ev_signal *s, int revents)
{
    switch (s->signum) {
    case SIGHUP:
        if (M.state == MG_MASTER_RUNNING) {
            mg__master_reload();
        }
        break;
    case SIGTERM:
    case SIGINT:
        stop(MG_MASTER_STOP_FAST);
        break;
    case SIGQUIT:
        stop(MG_MASTER_STOP_GRACEFUL);
        break;
    case SIGUSR1:
        mg_log_reopen();
        mg_log_notice("logs reopened");
        mg__master_signal_all(SIGUSR1, false);
        break;
    case SIGUSR2:
        mg__master_tickets_rotate_now();
        break;
    }
}

/* Every slot is taken, mostly by old workers still draining (long streams across many
 * worker-replacing reloads): the oldest of them, `n` at most, end their drains now, so
 * that the current set gets its slots once they are gone. A worker of the set being
 * replaced is not told to drain yet and is left alone. */
static void make_room(int n)
{
    for (int i = 0; i < MG_MAX_WORKER_SLOTS; i++) {
        n -= M.wp[i].pid > 0 && M.wp[i].cut; /* already on their way out */
    }
    while (n-- > 0) {
        mg_wproc_t *oldest = NULL;
        for (int i = 0; i < MG_MAX_WORKER_SLOTS; i++) {
            mg_wproc_t *p = &M.wp[i];
            if (p->pid > 0 && p->set != M.set && p->quit_sent && !p->cut &&
                (oldest == NULL || p->set < oldest->set)) {
                oldest = p;
            }
        }
        if (oldest == NULL) {
            return;
        }
        mg_log_warn("no free worker slot (at most %d): ending the drain of worker %d (slot %d) "
                    "early",
                    MG_MAX_WORKER_SLOTS, (int)oldest->pid, (int)(oldest - M.wp));
        oldest->cut = true;
        kill(oldest->pid, SIGTERM);
    }
}

/* Forks the workers the current set is owed, in the slots free now; makes room for
 * the others. */
static void spawn_owed(void)
{
    int slot;
    while (M.owed > 0 && (slot = free_slot()) >= 0) {
        M.wp[slot].ncrash = 0;
        memset(M.wp[slot].crashes, 0, sizeof(M.wp[slot].crashes));
        spawn(slot);
        M.owed--;
    }
    if (M.owed > 0) {
        make_room(M.owed);
    }
}

/* Starts a new set of workers on the current generation (start and replacement). */
void mg__master_spawn_set(void)
{
    M.owed = M.conf->worker_processes;
    spawn_owed();
    if (M.owed > 0) {
        mg_log_warn("no free worker slot (at most %d) for %d worker(s): they start as old "
                    "workers exit",
                    MG_MAX_WORKER_SLOTS, M.owed);
    }
}

/* Takes fds/admin_fd as the listeners of the current conf. */
void mg__master_set_listeners(int *fds, size_t nfds, int admin_fd)
{
    free(M.fds);
    M.fds = fds;
    M.nfds = nfds;
    M.admin_fd = admin_fd;
}

int mg__master_listeners_for(const mg_conf_t *conf, int **fds, int *admin_fd, char *err,
                             size_t errlen)
{
    return lsocks_for(conf, fds, admin_fd, err, errlen);
}

void mg__master_prune_later(void)
{
    if (live_workers(true) == 0) {
        lsocks_prune();
    }
}

static void loop_init(void)
{
    ev_signal *sigs[] = {&M.sig_hup,  &M.sig_term, &M.sig_int,
                         &M.sig_quit, &M.sig_usr1, &M.sig_usr2};
    int nums[] = {SIGHUP, SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2};
    for (size_t i = 0; i < MG_NELEMS(sigs); i++) {
        ev_signal_init(sigs[i], on_signal, nums[i]);
        ev_signal_start(M.loop, sigs[i]);
    }
    ev_signal_init(&M.sig_chld, on_child, SIGCHLD);
    ev_signal_start(M.loop, &M.sig_chld);
    signal(SIGPIPE, SIG_IGN);
    ev_timer_init(&M.tick, on_tick, 0.1, 0.1);
    ev_timer_start(M.loop, &M.tick);
}

static void master_cleanup(void)
{
    for (size_t i = 0; i < M.nlsocks; i++) {
        close(M.lsocks[i].fd);
    }
    free(M.lsocks);
    free(M.fds);
    if (M.pid_written) {
        char side[PATH_MAX];
        snprintf(side, sizeof(side), "%s%s", M.conf->pid_file, MG_PID_CONF_SUFFIX);
        unlink(side);
        unlink(M.conf->pid_file);
    }
    mg_log_notice("exit");
    mg_conf_destroy(M.conf);
    free(M.conf_path);
    free(M.prefix);
    mg_shm_zone_destroy(M.shm);
    mg__master_tickets_stop();
    ev_loop_destroy(M.loop);
    mg_log_close();
}

int mg_master_run(mg_conf_t *conf, const char *conf_path)
{
    memset(&M, 0, sizeof(M));
    M.pid = getpid();
    M.conf = conf;
    M.gen_id = 1;
    M.admin_fd = -1;
    for (int i = 0; i < MG_MAX_WORKER_SLOTS; i++) {
        M.wp[i].ctl_fd = -1;
    }
    M.conf_path = strdup(conf_path);
    M.prefix = strdup(conf->prefix);
    M.loop = ev_loop_new(EVFLAG_AUTO);
    if (M.conf_path == NULL || M.prefix == NULL || M.loop == NULL) {
        fprintf(stderr, "moongate: out of memory\n");
        return 1;
    }
    if (mg__master_start(conf) != MG_OK) {
        master_cleanup();
        return 1;
    }
    loop_init();
    mg__master_watch(conf);
    mg_log_notice("moongate %s started, %d worker(s), generation 1", MG_VERSION,
                  conf->worker_processes);
    mg__master_spawn_set();

    ev_run(M.loop, 0);

    master_cleanup();
    return 0;
}
