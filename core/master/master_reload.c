/*
 * master_reload.c -- the master's start-up (directories, logs, pid file, listeners, the
 * shared zone, the session-ticket keys) and its reloads: validate the new file, then either send it to the
 * running workers (in place) or start a new set of workers beside the old one.
 */
#include "conf.h"
#include "log.h"
#include "lua_runtime.h"
#include "listen.h"
#include "master.h"
#include "master_int.h"
#include "nodestate.h"
#include "router.h"
#include "ratelimit_zone.h"
#include "shdict.h"
#include "metrics_store.h"
#include "shm.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* Start-up */

/* Creates the directories above `path` (like mkdir -p on its dirname). */
static int mkdir_parents(const char *path)
{
    if (path == NULL || strcmp(path, "stderr") == 0 || strcmp(path, "stdout") == 0) {
        return MG_OK;
    }
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) {
        return MG_ERROR;
    }
    char *slash = strrchr(buf, '/');
    if (slash == NULL || slash == buf) {
        return MG_OK;
    }
    *slash = '\0';
    for (char *p = buf + 1; *p != '\0'; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0755) < 0 && errno != EEXIST) {
                return MG_ERROR;
            }
            *p = '/';
        }
    }
    return mkdir(buf, 0755) < 0 && errno != EEXIST ? MG_ERROR : MG_OK;
}

static int start_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A start-up error goes to standard error (the operator is watching) and the log. */
static int start_fail(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fprintf(stderr, "moongate: %s\n", msg);
    mg_log_err("%s", msg);
    return MG_ERROR;
}

/* Next to the pid file, the configuration file this master reloads, so that
 * `moongate -c FILE -s reload` can refuse when FILE is another one. */
static void pid_conf_write(const char *pid_path)
{
    char path[PATH_MAX], tmp[PATH_MAX + 8];
    if (snprintf(path, sizeof(path), "%s%s", pid_path, MG_PID_CONF_SUFFIX) >= (int)sizeof(path)) {
        return;
    }
    snprintf(tmp, sizeof(tmp), "%s.new", path);
    FILE *f = fopen(tmp, "w");
    bool ok = f != NULL && fprintf(f, "%s\n", M.conf_path) > 0;
    if (f != NULL && fclose(f) != 0) {
        ok = false;
    }
    if (!ok || rename(tmp, path) < 0) {
        mg_log_warn("cannot write %s: %s; `moongate -s reload` will not signal this master", path,
                    strerror(errno));
        unlink(tmp);
    }
}

static int pid_file_write(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f != NULL) {
        long pid = 0;
        int n = fscanf(f, "%ld", &pid);
        fclose(f);
        if (n == 1 && pid > 0 && pid != (long)getpid() &&
            (kill((pid_t)pid, 0) == 0 || errno == EPERM)) {
            return start_fail("another moongate (pid %ld) holds the pid file %s", pid, path);
        }
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        return start_fail("cannot write the pid file %s: %s", path, strerror(errno));
    }
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
    ssize_t w = write(fd, buf, (size_t)n);
    close(fd);
    if (w != n) {
        unlink(path);
        return start_fail("cannot write the pid file %s", path);
    }
    M.pid_written = true;
    pid_conf_write(path);
    return MG_OK;
}

static int shm_init(const mg_conf_t *conf)
{
    size_t table = MG_MAX_WORKER_SLOTS * sizeof(mg_worker_stats_t);
    size_t size = conf->shm_size > table * 2 ? conf->shm_size : table * 2;
    M.shm = mg_shm_zone_create("main", size);
    if (M.shm == NULL) {
        return start_fail("cannot create the shared zone (%zu bytes): %s", size, strerror(errno));
    }
    M.stats = mg_shm_alloc(M.shm, table);
    if (M.stats == NULL) {
        return start_fail("shared zone too small for the worker table");
    }
    memset(M.stats, 0, table);
    if (mg_nodestate_init() != MG_OK) {
        return start_fail("cannot create the node state zone: %s", strerror(errno));
    }
    /* a region per worker slot, and the last one the master's own */
    if (mg_metrics_init(MG_MAX_WORKER_SLOTS + 1) != MG_OK) {
        return start_fail("cannot map the metrics regions: %s", strerror(errno));
    }
    mg_metrics_attach(MG_MAX_WORKER_SLOTS);
    char key[32];
    int n = snprintf(key, sizeof(key), "m%creloads", MG_METRICS_SEP);
    M.reloads = mg_metrics_series(mg_str(key, (size_t)n), 2, 0);
    n = snprintf(key, sizeof(key), "m%crestarts", MG_METRICS_SEP);
    M.restarts = mg_metrics_series(mg_str(key, (size_t)n), 1, 0);
    return MG_OK;
}

/* The Lua shared dicts, before any worker is forked (a dict that exists with the same
 * size keeps its entries across reloads). */
static int shdicts_init(const mg_conf_t *conf)
{
    for (size_t i = 0; i < conf->nshdicts; i++) {
        if (mg_shdict_create(conf->shdicts[i].name, conf->shdicts[i].size) != MG_OK) {
            return start_fail("cannot create shared dict \"%s\" (%zu bytes): %s",
                              conf->shdicts[i].name, conf->shdicts[i].size, strerror(errno));
        }
    }
    return MG_OK;
}

static bool shdicts_changed(const mg_conf_t *a, const mg_conf_t *b)
{
    if (a->nshdicts != b->nshdicts) {
        return true;
    }
    for (size_t i = 0; i < a->nshdicts; i++) {
        if (strcmp(a->shdicts[i].name, b->shdicts[i].name) != 0 ||
            a->shdicts[i].size != b->shdicts[i].size) {
            return true;
        }
    }
    return false;
}

/* The local rate-limit zones, before any worker is forked (a zone that exists with the
 * same size keeps its counters across reloads). MG_OK, or MG_ERROR naming the zone in
 * err. */
static int rl_zones_create(const mg_conf_t *conf, char *err, size_t len)
{
    for (size_t i = 0; i < conf->nrl_zones; i++) {
        if (mg_rl_zone_create(conf->rl_zones[i].name, conf->rl_zones[i].size) != MG_OK) {
            snprintf(err, len, "cannot create rate limit zone \"%s\" (%zu bytes): %s",
                     conf->rl_zones[i].name, conf->rl_zones[i].size, strerror(errno));
            return MG_ERROR;
        }
    }
    return MG_OK;
}

static bool rl_zones_changed(const mg_conf_t *a, const mg_conf_t *b)
{
    if (a->nrl_zones != b->nrl_zones) {
        return true;
    }
    for (size_t i = 0; i < a->nrl_zones; i++) {
        if (strcmp(a->rl_zones[i].name, b->rl_zones[i].name) != 0 ||
            a->rl_zones[i].size != b->rl_zones[i].size) {
            return true;
        }
    }
    return false;
}

int mg__master_start(mg_conf_t *conf)
{
    const char *paths[] = {conf->error_log_path, conf->access_log_path, conf->pid_file};
    for (size_t i = 0; i < MG_NELEMS(paths); i++) {
        if (mkdir_parents(paths[i]) != MG_OK) {
            return start_fail("cannot create the directory of %s: %s", paths[i], strerror(errno));
        }
    }
    mg_log_set_slot(-1);
    mg_log_conf_t lc = mg_conf_log(conf);
    if (mg_log_open(&lc) != MG_OK) {
        return start_fail("cannot open the logs of %s", conf->file);
    }
    if (pid_file_write(conf->pid_file) != MG_OK) {
        return MG_ERROR;
    }
    int *fds, admin_fd;
    char err[512];
    if (mg__master_listeners_for(conf, &fds, &admin_fd, err, sizeof(err)) != MG_OK) {
        return start_fail("%s", err);
    }
    mg__master_set_listeners(fds, conf->nlisten, admin_fd);
    if (shm_init(conf) != MG_OK) {
        return MG_ERROR;
    }
    char zerr[600];
    if (rl_zones_create(conf, zerr, sizeof(zerr)) != MG_OK) {
        return start_fail("%s", zerr);
    }
    if (mg__master_tickets_start(conf, zerr, sizeof(zerr)) != MG_OK) {
        return start_fail("%s", zerr);
    }
    return shdicts_init(conf);
}

/* Reloads */

/* The file's bytes (malloc'd), or NULL with errno. Never waits on a FIFO or a device:
 * the master must not block. */
static char *read_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    if (fd < 0) {
        return NULL;
    }
    int bad = fstat(fd, &st) < 0 ? errno : !S_ISREG(st.st_mode) ? EINVAL : 0;
    if (bad != 0) {
        close(fd);
        errno = bad;
        return NULL;
    }
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        if (n == cap) {
            char *p = cap < MG_CTL_MAX_BODY ? realloc(buf, cap * 2) : NULL;
            if (p == NULL) {
                free(buf);
                buf = NULL;
                errno = EFBIG;
                break;
            }
            buf = p;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            free(buf);
            buf = NULL;
        } else if (r == 0) {
            break;
        }
        n += r > 0 ? (size_t)r : 0;
    }
    int e = errno;
    close(fd);
    errno = e;
    *len = n;
    return buf;
}

static int send_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Sends the validated bytes (the file, then the plugin sources) to every worker of the
 * current set. */
static void broadcast(const char *body, size_t len)
{
    size_t plen = mg_conf_plugins_pack(M.conf, NULL);
    mg_ctl_hdr_t h = {.magic = MG_CTL_MAGIC,
                      .type = MG_CTL_RELOAD,
                      .generation = M.gen_id,
                      .name_len = (uint32_t)strlen(M.conf_path) + 1,
                      .prefix_len = (uint32_t)strlen(M.prefix) + 1,
                      .body_len = len + plen,
                      .yaml_len = len};
    size_t total = sizeof(h) + h.name_len + h.prefix_len + len + plen;
    char *msg = malloc(total);
    if (msg == NULL) {
        mg_log_alert("reload: out of memory, workers keep their generation");
        return;
    }
    memcpy(msg, &h, sizeof(h));
    memcpy(msg + sizeof(h), M.conf_path, h.name_len);
    memcpy(msg + sizeof(h) + h.name_len, M.prefix, h.prefix_len);
    memcpy(msg + sizeof(h) + h.name_len + h.prefix_len, body, len);
    mg_conf_plugins_pack(M.conf, msg + sizeof(h) + h.name_len + h.prefix_len + len);
    for (int i = 0; i < MG_MAX_WORKER_SLOTS; i++) {
        mg_wproc_t *p = &M.wp[i];
        if (p->pid <= 0 || p->set != M.set || p->quit_sent || p->ctl_fd < 0) {
            continue;
        }
        int rc = send_all(p->ctl_fd, msg, total);
        if (rc < 0) {
            /* a worker that cannot follow must not serve an old generation forever */
            mg_log_alert("cannot send generation %llu to worker %d: %s, replacing it",
                         (unsigned long long)M.gen_id, (int)p->pid, strerror(-rc));
            kill(p->pid, SIGQUIT);
        }
    }
    free(msg);
}

static bool admin_changed(const mg_conf_t *a, const mg_conf_t *b)
{
    if ((a->admin == NULL) != (b->admin == NULL)) {
        return true;
    }
    return a->admin != NULL &&
           !mg_listen_addr_eq((const struct sockaddr *)&a->admin->addr.sa, a->admin->addr.salen,
                              (const struct sockaddr *)&b->admin->addr.sa, b->admin->addr.salen);
}

static void swap_conf(mg_conf_t *nc)
{
    if (nc->shm_size != M.conf->shm_size) {
        mg_log_warn("shm_size changes take effect only when moongate is restarted");
    }
    M.gen_id++;
    mg_conf_destroy(M.conf);
    M.conf = nc;
    mg_log_conf_t lc = mg_conf_log(nc);
    mg_log_open(&lc);
    mg__master_watch(nc);
    mg__master_tickets_reload(nc);
}

/* Listen addresses or the worker count changed: a new set of workers takes over.
 * Takes nc. MG_OK, or MG_ERROR with msg (then nc is gone and nothing changed). */
static int replace_workers(mg_conf_t *nc, char *msg, size_t len)
{
    int *fds, admin_fd;
    if (mg__master_listeners_for(nc, &fds, &admin_fd, msg, len) != MG_OK) {
        mg_conf_destroy(nc);
        mg__master_prune_later();
        return MG_ERROR;
    }
    swap_conf(nc);
    mg__master_set_listeners(fds, nc->nlisten, admin_fd);
    for (int i = 0; i < MG_MAX_WORKER_SLOTS; i++) {
        M.wp[i].respawn = false;
    }
    M.set++;
    M.replacing = true;
    M.replace_deadline = ev_now(M.loop) + 10.0;
    mg__master_spawn_set();
    return MG_OK;
}

/* Puts a validated configuration (nc, taken; buf: its bytes, borrowed) to work: in
 * place, or with new workers when the listeners, the worker count or the shared zones
 * change. MG_OK with how in msg, or MG_ERROR with why (nothing changed). */
static int apply(mg_conf_t *nc, const char *buf, size_t len, char *msg, size_t mlen)
{
    bool dicts = shdicts_changed(M.conf, nc);
    for (size_t i = 0; dicts && i < nc->nshdicts; i++) {
        if (mg_shdict_create(nc->shdicts[i].name, nc->shdicts[i].size) != MG_OK) {
            snprintf(msg, mlen, "cannot create shared dict \"%s\": %s", nc->shdicts[i].name,
                     strerror(errno));
            mg_conf_destroy(nc);
            return MG_ERROR;
        }
    }
    bool zones = rl_zones_changed(M.conf, nc);
    if (zones && rl_zones_create(nc, msg, mlen) != MG_OK) {
        mg_conf_destroy(nc);
        return MG_ERROR;
    }
    /* workers map dicts and zones only by being forked after they exist */
    if (mg_conf_needs_restart(M.conf, nc) || admin_changed(M.conf, nc) || dicts || zones) {
        if (replace_workers(nc, msg, mlen) != MG_OK) {
            return MG_ERROR;
        }
        snprintf(msg, mlen, "generation %llu, replacing workers", (unsigned long long)M.gen_id);
        return MG_OK;
    }
    swap_conf(nc);
    broadcast(buf, len);
    snprintf(msg, mlen, "generation %llu, switched in place", (unsigned long long)M.gen_id);
    return MG_OK;
}

/* The reload in progress while its plugins load in the validation child, and who
 * waits for its verdict: `now` for this run, `next` for the run asked for meanwhile
 * (the file may have changed since this one read it). */
#define MAX_WAITERS 32

typedef struct {
    int slot;
    pid_t pid;
    uint32_t id;
} waiter_t;

static struct {
    bool running;
    bool again;
    mg_validation_t v;
    mg_conf_t *nc;
    char *buf;
    size_t len;
    ev_io io;
    ev_timer timer;
    waiter_t now[MAX_WAITERS], next[MAX_WAITERS];
    size_t nnow, nnext;
} R = {.v = {.fd = -1}};

void mg__master_answer(int slot, pid_t pid, uint32_t id, int status, const char *text)
{
    mg_wproc_t *p = &M.wp[slot];
    if (p->pid != pid || p->ctl_fd < 0) {
        return; /* the worker that asked is gone */
    }
    size_t tlen = MG_MIN(strlen(text), (size_t)MG_CTL_MAX_VERDICT);
    mg_ctl_hdr_t h = {.magic = MG_CTL_MAGIC,
                      .type = MG_CTL_VERDICT,
                      .generation = M.gen_id,
                      .body_len = tlen,
                      .request_id = id,
                      .status = status};
    char msg[sizeof(h) + MG_CTL_MAX_VERDICT];
    memcpy(msg, &h, sizeof(h));
    memcpy(msg + sizeof(h), text, tlen);
    int rc = send_all(p->ctl_fd, msg, sizeof(h) + tlen);
    if (rc < 0) {
        mg_log_err("cannot answer worker %d's reload request: %s", (int)pid, strerror(-rc));
    }
}

static void begin(void);

/* The verdict of a reload: logged, and sent to whoever asked. */
static void finish(int rc, const char *msg)
{
    if (M.reloads != NULL) {
        mg_metrics_add(&M.reloads[rc == MG_OK ? 0 : 1], 1);
    }
    if (rc == MG_OK) {
        mg_log_notice("configuration reloaded: %s", msg);
    } else {
        mg_log_err("reload failed, generation %llu keeps serving: %s", (unsigned long long)M.gen_id,
                   msg);
    }
    for (size_t i = 0; i < R.nnow; i++) {
        mg__master_answer(R.now[i].slot, R.now[i].pid, R.now[i].id, rc == MG_OK ? 202 : 422, msg);
    }
    memcpy(R.now, R.next, R.nnext * sizeof(R.next[0]));
    R.nnow = R.nnext;
    R.nnext = 0;
    if (R.again) {
        R.again = false;
        begin();
    }
}

/* The configuration passed every check: put it to work and tell. Takes nc and buf. */
static void conclude(mg_conf_t *nc, char *buf, size_t len)
{
    char msg[1400];
    int rc = apply(nc, buf, len, msg, sizeof(msg));
    free(buf);
    finish(rc, msg);
}

static void on_verdict(struct ev_loop *loop, ev_io *io, int revents)
{
    char msg[1400];
    int rc = mg__validation_read(&R.v, msg, sizeof(msg));
    if (rc == MG_AGAIN) {
        return;
    }
    ev_io_stop(loop, &R.io);
    ev_timer_stop(loop, &R.timer);
    mg__validation_dispose(&R.v);
    R.running = false;
    mg_conf_t *nc = R.nc;
    char *buf = R.buf;
    R.nc = NULL;
    R.buf = NULL;
    if (rc == MG_OK) {
        conclude(nc, buf, R.len);
        return;
    }
    mg_conf_destroy(nc);
    free(buf);
    finish(MG_ERROR, msg);
}

static void on_overdue(struct ev_loop *loop, ev_timer *t, int revents)
{
    mg__validation_kill(&R.v); /* the pipe then reaches its end: on_verdict */
}

/* Reads, parses and checks the file; the plugins load in a child process whose verdict
 * comes back through the loop, so signals are served meanwhile. */
static void begin(void)
{
    char msg[1400];
    size_t len;
    mg_log_notice("reloading configuration from %s", M.conf_path);
    char *buf = read_file(M.conf_path, &len);
    if (buf == NULL) {
        snprintf(msg, sizeof(msg), "cannot read %s: %s", M.conf_path, strerror(errno));
        finish(MG_ERROR, msg);
        return;
    }
    mg_conf_err_t cerr;
    mg_conf_t *nc = mg_conf_parse(buf, len, M.conf_path, M.prefix, &cerr);
    if (nc == NULL || mg__master_check_static(nc, msg, sizeof(msg)) != MG_OK) {
        if (nc == NULL) {
            mg_conf_err_format(&cerr, msg, sizeof(msg));
        }
        mg_conf_destroy(nc);
        free(buf);
        finish(MG_ERROR, msg);
        return;
    }
    if (nc->nplugin_srcs == 0) {
        conclude(nc, buf, len);
        return;
    }
    if (mg__validation_start(&R.v, nc, msg, sizeof(msg)) != MG_OK) {
        mg_conf_destroy(nc);
        free(buf);
        finish(MG_ERROR, msg);
        return;
    }
    R.running = true;
    R.nc = nc;
    R.buf = buf;
    R.len = len;
    ev_io_init(&R.io, on_verdict, R.v.fd, EV_READ);
    ev_io_start(M.loop, &R.io);
    ev_timer_init(&R.timer, on_overdue, MG_MAX(R.v.deadline - mg__validation_now(), 0.001), 0.);
    ev_timer_start(M.loop, &R.timer);
}

void mg__master_reload(void)
{
    if (R.running) {
        R.again = true;
        return;
    }
    begin();
}

void mg__master_reload_ask(int slot, pid_t pid, uint32_t id)
{
    if (M.state != MG_MASTER_RUNNING) {
        mg__master_answer(slot, pid, id, 503, "moongate is stopping");
        return;
    }
    waiter_t *list = R.running ? R.next : R.now;
    size_t *n = R.running ? &R.nnext : &R.nnow;
    if (*n == MAX_WAITERS) {
        mg__master_answer(slot, pid, id, 503, "too many reload requests waiting");
        return;
    }
    list[(*n)++] = (waiter_t){slot, pid, id};
    mg__master_reload();
}

void mg__master_reload_cancel(void)
{
    if (R.running) {
        ev_io_stop(M.loop, &R.io);
        ev_timer_stop(M.loop, &R.timer);
        mg__validation_kill(&R.v);
        mg__validation_dispose(&R.v);
        mg_conf_destroy(R.nc);
        free(R.buf);
        R.nc = NULL;
        R.buf = NULL;
        R.running = false;
    }
    R.again = false;
    for (size_t i = 0; i < R.nnow + R.nnext; i++) {
        waiter_t *w = i < R.nnow ? &R.now[i] : &R.next[i - R.nnow];
        mg__master_answer(w->slot, w->pid, w->id, 503, "moongate is stopping");
    }
    R.nnow = R.nnext = 0;
}

bool mg__master_reload_reaped(pid_t pid, int status)
{
    if (!R.running || pid != R.v.pid) {
        return false;
    }
    mg__validation_reaped(&R.v, status);
    return true;
}

void mg__master_reload_forget(void)
{
    if (R.v.fd >= 0) {
        close(R.v.fd);
        R.v.fd = -1;
    }
}
