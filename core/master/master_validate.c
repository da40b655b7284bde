/*
 * master_validate.c -- everything a configuration must pass before it is used (start,
 * -t, -s reload, every reload): the routes build a router, every plugin in use is read,
 * a ticket_key_file holds keys of the right sizes, and the plugins load in a scratch Lua state with their configs checked against their
 * schemas.
 *
 * The master never runs plugin code itself. A plugin file's top level runs when it
 * loads: a loop there is stopped by the load time limit (lua_load.h), but a C function
 * that blocks (os.execute, io.read on a terminal) is out of reach of any hook. So the
 * Lua half of the check runs in a child process that writes its verdict to a pipe, and
 * the parent kills it when it overstays the load limit by a second; a page shared with
 * it says which line last called into C. The command line waits for the child
 * (mg_master_validate); the running master starts it and goes on serving signals,
 * reading the verdict from its loop (master_reload.c).
 */
#include "conf.h"
#include "log.h"
#include "lua_load.h"
#include "lua_runtime.h"
#include "master.h"
#include "master_int.h"
#include "router.h"
#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TRACE_SIZE 4096
/* the child's own limit fires first; this much later it is killed from outside */
#define KILL_GRACE 1.0

double mg__validation_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void warn_tls(const char *msg)
{
    mg_log_warn("%s", msg);
}

/* The part that runs no plugin code: the router, the plugin sources, the files and
 * what TLS makes of them (certificates, CAs, the ticket_key_file). */
static int check_static(mg_conf_t *conf, char *msg, size_t len)
{
    mg_router_t *r = mg_router_create(conf, msg, len);
    if (r == NULL) {
        char tmp[1024];
        snprintf(tmp, sizeof(tmp), "%s", msg);
        snprintf(msg, len, "%s: %s", conf->file, tmp);
        return MG_ERROR;
    }
    mg_router_destroy(r);
    char bundled[PATH_MAX + 16], real[PATH_MAX];
    snprintf(bundled, sizeof(bundled), "%s/../plugins", mg_runtime_lua_dir());
    if (realpath(bundled, real) != NULL) {
        /* the path plugin errors and tracebacks name: without the "lua/.." */
        snprintf(bundled, sizeof(bundled), "%s", real);
    }
    mg_conf_err_t cerr;
    if (mg_conf_read_plugins(conf, bundled, &cerr) != MG_OK ||
        mg_conf_read_files(conf, &cerr) != MG_OK) {
        mg_conf_err_format(&cerr, msg, len);
        return MG_ERROR;
    }
    /* certificates, keys and chains are checked here, where a reload can still say no;
     * an expired certificate is only worth a warning */
    mg_tls_server_t *tls = mg_tls_server_new(conf, &cerr, warn_tls);
    if (tls == NULL && cerr.msg[0] != '\0') {
        mg_conf_err_format(&cerr, msg, len);
        return MG_ERROR;
    }
    mg_tls_server_release(tls);
    for (size_t i = 0; i < conf->nupstreams; i++) {
        if (!conf->upstreams[i].tls.on) {
            continue;
        }
        mg_tls_client_t *cl = mg_tls_client_new(conf, &conf->upstreams[i].tls, &cerr);
        if (cl == NULL) {
            mg_conf_err_format(&cerr, msg, len);
            return MG_ERROR;
        }
        mg_tls_client_free(cl);
    }
    return mg__master_tickets_check(conf, msg, len);
}

static void write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return;
        }
        p += n;
        len -= (size_t)n;
    }
}

/* In the child: load the plugins, write '0' (valid) or '1' and the message. */
static void child_main(const mg_conf_t *conf, int fd, char *trace)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    /* the master's signal handling is not ours: a ^C or a stop kills us outright */
    int sigs[] = {SIGHUP, SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGCHLD};
    for (size_t i = 0; i < MG_NELEMS(sigs); i++) {
        signal(sigs[i], SIG_DFL);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    mg_lua_load_trace(trace, TRACE_SIZE);
    char msg[1400];
    msg[0] = '1';
    int rc = mg_lua_validate(conf, msg + 1, sizeof(msg) - 1);
    if (rc == MG_OK) {
        msg[0] = '0';
        msg[1] = '\0';
    }
    write_all(fd, msg, 1 + strlen(msg + 1));
    /* no exit handlers, no log flush: the buffers are the master's */
    _exit(0);
}

int mg__validation_start(mg_validation_t *v, const mg_conf_t *conf, char *msg, size_t len)
{
    memset(v, 0, sizeof(*v));
    v->fd = -1;
    v->limit = mg_lua_load_limit(conf);
    v->trace = mmap(NULL, TRACE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (v->trace == MAP_FAILED) {
        v->trace = NULL;
        snprintf(msg, len, "cannot check the plugins: mmap: %s", strerror(errno));
        return MG_ERROR;
    }
    v->trace[0] = '\0';
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        snprintf(msg, len, "cannot check the plugins: pipe: %s", strerror(errno));
        mg__validation_dispose(v);
        return MG_ERROR;
    }
    mg_log_flush();
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(msg, len, "cannot check the plugins: fork: %s", strerror(errno));
        close(p[0]);
        close(p[1]);
        mg__validation_dispose(v);
        return MG_ERROR;
    }
    if (pid == 0) {
        close(p[0]);
        child_main(conf, p[1], v->trace);
    }
    close(p[1]);
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    v->pid = pid;
    v->fd = p[0];
    v->deadline = mg__validation_now() + v->limit + KILL_GRACE;
    return MG_OK;
}

void mg__validation_kill(mg_validation_t *v)
{
    if (v->pid > 0 && !v->killed) {
        v->killed = true;
        kill(v->pid, SIGKILL);
    }
}

void mg__validation_reaped(mg_validation_t *v, int status)
{
    v->reaped = true;
    v->status = status;
}

/* The verdict once the pipe is at its end: the child's message, or why there is none. */
static int verdict(mg_validation_t *v, char *msg, size_t len)
{
    if (!v->reaped) {
        int status;
        pid_t r;
        while ((r = waitpid(v->pid, &status, 0)) < 0 && errno == EINTR) {
        }
        if (r == v->pid) {
            mg__validation_reaped(v, status);
        }
    }
    if (v->len > 0 && v->buf[0] == '0') {
        return MG_OK;
    }
    if (v->len > 1 && v->buf[0] == '1') {
        snprintf(msg, len, "%.*s", (int)(v->len - 1), v->buf + 1);
        return MG_ERROR;
    }
    if (v->killed) {
        snprintf(msg, len,
                 "%s%splugin code did not finish loading within %.1f s (half of "
                 "lua.stall_timeout), blocked outside Lua (in a C function)",
                 v->trace[0] != '\0' ? v->trace : "", v->trace[0] != '\0' ? ": " : "", v->limit);
    } else if (v->reaped && WIFSIGNALED(v->status)) {
        snprintf(msg, len, "the process checking the plugins was killed by signal %d (%s)",
                 WTERMSIG(v->status), strsignal(WTERMSIG(v->status)));
    } else {
        snprintf(msg, len, "the process checking the plugins ended without a verdict");
    }
    return MG_ERROR;
}

int mg__validation_read(mg_validation_t *v, char *msg, size_t len)
{
    for (;;) {
        char tmp[512];
        ssize_t n = read(v->fd, tmp, sizeof(tmp));
        if (n > 0) {
            size_t room = sizeof(v->buf) - 1 - v->len;
            size_t take = (size_t)n < room ? (size_t)n : room;
            memcpy(v->buf + v->len, tmp, take);
            v->len += take;
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            return MG_AGAIN;
        }
        return verdict(v, msg, len);
    }
}

void mg__validation_dispose(mg_validation_t *v)
{
    if (v->fd >= 0) {
        close(v->fd);
        v->fd = -1;
    }
    if (v->trace != NULL) {
        munmap(v->trace, TRACE_SIZE);
        v->trace = NULL;
    }
    v->pid = 0;
}

int mg__master_check_static(mg_conf_t *conf, char *msg, size_t len)
{
    return check_static(conf, msg, len);
}

int mg_master_validate(mg_conf_t *conf, char *msg, size_t len)
{
    if (check_static(conf, msg, len) != MG_OK) {
        return MG_ERROR;
    }
    if (conf->nplugin_srcs == 0) {
        return MG_OK;
    }
    mg_validation_t v;
    if (mg__validation_start(&v, conf, msg, len) != MG_OK) {
        return MG_ERROR;
    }
    int rc;
    while ((rc = mg__validation_read(&v, msg, len)) == MG_AGAIN) {
        double left = v.deadline - mg__validation_now();
        if (left <= 0) {
            mg__validation_kill(&v);
            left = 1;
        }
        struct pollfd pfd = {v.fd, POLLIN, 0};
        poll(&pfd, 1, (int)(left * 1000) + 1);
    }
    mg__validation_dispose(&v);
    return rc;
}
