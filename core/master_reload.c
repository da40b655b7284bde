/*
 * master_reload.c -- the master's start-up (directories, logs, pid file, listeners, the
 * shared zone) and its reloads: validate the new file, then either send it to the
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
    if (mg_log_open(conf) != MG_OK) {
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
    char zerr[300];
    if (rl_zones_create(conf, zerr, sizeof(zerr)) != MG_OK) {
        return start_fail("%s", zerr);
    }
    return shdicts_init(conf);
}

/* Reloads */

static char *read_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
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
    mg_ctl_hdr_t h = {MG_CTL_MAGIC,
                      MG_CTL_RELOAD,
                      M.gen_id,
                      (uint32_t)strlen(M.conf_path) + 1,
                      (uint32_t)strlen(M.prefix) + 1,
                      len + plen,
                      len};
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
    mg_log_open(nc);
    mg__master_watch_plugins(nc);
}

/* Listen addresses or the worker count changed: a new set of workers takes over. */
static void replace_workers(mg_conf_t *nc)
{
    int *fds, admin_fd;
    char err[512];
    if (mg__master_listeners_for(nc, &fds, &admin_fd, err, sizeof(err)) != MG_OK) {
        mg_log_err("reload failed, generation %llu keeps serving: %s", (unsigned long long)M.gen_id,
                   err);
        mg_conf_destroy(nc);
        mg__master_prune_later();
        return;
    }
    swap_conf(nc);
    mg__master_set_listeners(fds, nc->nlisten, admin_fd);
    for (int i = 0; i < MG_MAX_WORKER_SLOTS; i++) {
        M.wp[i].respawn = false;
    }
    M.set++;
    M.replacing = true;
    M.replace_deadline = ev_now(M.loop) + 10.0;
    mg_log_notice("configuration reloaded: generation %llu, replacing workers",
                  (unsigned long long)M.gen_id);
    mg__master_spawn_set();
}

void mg__master_reload(void)
{
    mg_log_notice("reloading configuration from %s", M.conf_path);
    size_t len;
    char *buf = read_file(M.conf_path, &len);
    if (buf == NULL) {
        mg_log_err("reload failed, generation %llu keeps serving: cannot read %s: %s",
                   (unsigned long long)M.gen_id, M.conf_path, strerror(errno));
        return;
    }
    mg_conf_err_t cerr;
    char msg[1400];
    mg_conf_t *nc = mg_conf_parse(buf, len, M.conf_path, M.prefix, &cerr);
    if (nc == NULL) {
        mg_log_err("reload failed, generation %llu keeps serving: %s", (unsigned long long)M.gen_id,
                   mg_conf_err_format(&cerr, msg, sizeof(msg)));
        free(buf);
        return;
    }
    if (mg_master_validate(nc, msg, sizeof(msg)) != MG_OK) {
        mg_log_err("reload failed, generation %llu keeps serving: %s", (unsigned long long)M.gen_id,
                   msg);
        mg_conf_destroy(nc);
        free(buf);
        return;
    }
    bool dicts = shdicts_changed(M.conf, nc);
    for (size_t i = 0; dicts && i < nc->nshdicts; i++) {
        if (mg_shdict_create(nc->shdicts[i].name, nc->shdicts[i].size) != MG_OK) {
            mg_log_err("reload failed, generation %llu keeps serving: cannot create shared "
                       "dict \"%s\": %s",
                       (unsigned long long)M.gen_id, nc->shdicts[i].name, strerror(errno));
            mg_conf_destroy(nc);
            free(buf);
            return;
        }
    }
    bool zones = rl_zones_changed(M.conf, nc);
    char zerr[300];
    if (zones && rl_zones_create(nc, zerr, sizeof(zerr)) != MG_OK) {
        mg_log_err("reload failed, generation %llu keeps serving: %s", (unsigned long long)M.gen_id,
                   zerr);
        mg_conf_destroy(nc);
        free(buf);
        return;
    }
    /* workers map dicts and zones only by being forked after they exist */
    if (mg_conf_needs_restart(M.conf, nc) || admin_changed(M.conf, nc) || dicts || zones) {
        replace_workers(nc);
    } else {
        swap_conf(nc);
        broadcast(buf, len);
        mg_log_notice("configuration reloaded: generation %llu, switched in place",
                      (unsigned long long)M.gen_id);
    }
    free(buf);
}

/* Validation */

int mg_master_validate(mg_conf_t *conf, char *msg, size_t len)
{
    mg_router_t *r = mg_router_create(conf, msg, len);
    if (r == NULL) {
        char tmp[1024];
        snprintf(tmp, sizeof(tmp), "%s", msg);
        snprintf(msg, len, "%s: %s", conf->file, tmp);
        return MG_ERROR;
    }
    mg_router_destroy(r);
    char bundled[PATH_MAX + 16];
    snprintf(bundled, sizeof(bundled), "%s/../plugins", mg_runtime_lua_dir());
    mg_conf_err_t cerr;
    if (mg_conf_read_plugins(conf, bundled, &cerr) != MG_OK) {
        mg_conf_err_format(&cerr, msg, len);
        return MG_ERROR;
    }
    if (conf->nplugin_srcs > 0 && mg_lua_validate(conf, msg, len) != MG_OK) {
        return MG_ERROR;
    }
    return MG_OK;
}

/* Runtime paths */

const char *mg_runtime_lua_dir(void)
{
    static char dir[PATH_MAX];
    char exe[PATH_MAX], cand[PATH_MAX + 8];
    struct stat st;

    if (dir[0] != '\0') {
        return dir;
    }
    snprintf(dir, sizeof(dir), "%s", MG_LUA_DIR_DEFAULT);
    if (realpath("/proc/self/exe", exe) == NULL) {
        return dir;
    }
    snprintf(cand, sizeof(cand), "%s/../lua", dirname(exe));
    if (stat(cand, &st) == 0 && S_ISDIR(st.st_mode) && realpath(cand, exe) != NULL) {
        snprintf(dir, sizeof(dir), "%s", exe);
    }
    return dir;
}
