/*
 * master_watch.c -- reloads the master makes by itself when files change on disk
 * (inotify):
 *
 *  - `watch_plugins: true`: a file in a plugins directory, or in a directory of Lua
 *    modules under `lua_path`, is written, created, renamed or removed;
 *  - `tls.watch_certificates: true`: a certificate, key, CA, CRL or OCSP file the `tls:`
 *    block names is rewritten or replaced (a renewal). The directories are watched, not
 *    the files, so that a file replaced by a rename (certbot's symlinks, an atomic
 *    deploy) is seen; events for other names in them are ignored.
 *
 * Events are gathered for a moment first (WATCH_SETTLE), so that a burst of writes
 * makes one reload. A renewal that writes the certificate and then the key is safe
 * either way: the reload reads both together and refuses a key that does not match its
 * certificate, so the old pair keeps serving until the second write's reload.
 */
#include "conf.h"
#include "log.h"
#include "master_int.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#define WATCH_SETTLE 0.2
#define WATCH_MAX_FILES 128

/* A watched certificate-side file: its directory's watch and its name in it. */
typedef struct {
    int wd;
    char name[NAME_MAX + 1];
} watched_file_t;

static int ifd = -1;
static ev_io io;
static ev_timer settle;
static int plugin_wds[128];
static size_t nplugin_wds;
static watched_file_t files[WATCH_MAX_FILES];
static size_t nfiles;
static bool changed_plugins, changed_certs;

static void on_settle(struct ev_loop *loop, ev_timer *t, int revents)
{
    mg_log_notice("%s changed on disk, reloading",
                  changed_certs && changed_plugins ? "plugins and certificates"
                  : changed_certs                  ? "certificates"
                                                   : "plugins");
    changed_plugins = changed_certs = false;
    mg__master_reload();
}

/* What an event is about: a plugins directory, a watched certificate file, or neither. */
static void classify(const struct inotify_event *ev)
{
    for (size_t i = 0; i < nplugin_wds; i++) {
        if (plugin_wds[i] == ev->wd) {
            changed_plugins = true;
            return;
        }
    }
    for (size_t i = 0; ev->len > 0 && i < nfiles; i++) {
        if (files[i].wd == ev->wd && strcmp(files[i].name, ev->name) == 0) {
            changed_certs = true;
            return;
        }
    }
}

static void on_events(struct ev_loop *loop, ev_io *w, int revents)
{
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    bool before = changed_plugins || changed_certs;
    for (;;) {
        ssize_t n = read(ifd, buf, sizeof(buf));
        if (n <= 0) {
            break;
        }
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            classify(ev);
            p += sizeof(*ev) + ev->len;
        }
    }
    if (!before && (changed_plugins || changed_certs)) {
        ev_timer_stop(loop, &settle);
        ev_timer_set(&settle, WATCH_SETTLE, 0.);
        ev_timer_start(loop, &settle);
    }
}

#define WATCH_MASK (IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_MOVED_FROM)

static void watch_file(const mg_conf_file_t *f)
{
    if (f->path == NULL || nfiles == WATCH_MAX_FILES) {
        return;
    }
    char dir[PATH_MAX], base[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", f->path);
    snprintf(base, sizeof(base), "%s", f->path);
    int wd = inotify_add_watch(ifd, dirname(dir), WATCH_MASK);
    if (wd < 0) {
        mg_log_warn("watch_certificates: cannot watch %s: %s", dir, strerror(errno));
        return;
    }
    files[nfiles].wd = wd;
    snprintf(files[nfiles].name, sizeof(files[nfiles].name), "%s", basename(base));
    nfiles++;
}

static void watch_plugin_dir(const char *dir)
{
    int wd = inotify_add_watch(ifd, dir, WATCH_MASK);
    if (wd < 0) {
        mg_log_warn("watch_plugins: cannot watch %s: %s", dir, strerror(errno));
    } else if (nplugin_wds < MG_NELEMS(plugin_wds)) {
        plugin_wds[nplugin_wds++] = wd;
    }
}

void mg__master_watch(const mg_conf_t *conf)
{
    if (ifd >= 0) {
        ev_io_stop(M.loop, &io);
        ev_timer_stop(M.loop, &settle);
        close(ifd);
        ifd = -1;
    }
    nplugin_wds = nfiles = 0;
    changed_plugins = changed_certs = false;
    if (!conf->watch_plugins && !conf->tls.watch_certificates) {
        return;
    }
    ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (ifd < 0) {
        mg_log_err("watch: inotify: %s", strerror(errno));
        return;
    }
    for (size_t i = 0; conf->watch_plugins && i < conf->nplugins_dirs; i++) {
        watch_plugin_dir(conf->plugins_dirs[i]);
    }
    for (size_t i = 0; conf->watch_plugins && i < conf->nlua_dirs; i++) {
        watch_plugin_dir(conf->lua_dirs[i]);
    }
    for (size_t i = 0; conf->tls.watch_certificates && i < conf->tls.ncerts; i++) {
        const mg_tls_cert_conf_t *c = &conf->tls.certs[i];
        watch_file(&c->cert);
        watch_file(&c->key);
        watch_file(&c->client_ca);
        watch_file(&c->crl);
        watch_file(&c->ocsp_file);
    }
    ev_io_init(&io, on_events, ifd, EV_READ);
    ev_io_start(M.loop, &io);
    ev_timer_init(&settle, on_settle, WATCH_SETTLE, 0.);
}
