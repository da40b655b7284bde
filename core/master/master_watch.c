/*
 * master_watch.c -- `watch_plugins: true`: the master reloads by itself when a file in
 * a plugins directory is written, created, renamed or removed (inotify). Events are
 * gathered for 200 ms first, so that an editor's or a deploy's burst of writes makes
 * one reload, not ten.
 */
#include "conf.h"
#include "log.h"
#include "master_int.h"

#include <errno.h>
#include <stdio.h>
#include <sys/inotify.h>
#include <unistd.h>

#define WATCH_SETTLE 0.2

static int ifd = -1;
static ev_io io;
static ev_timer settle;

static void on_settle(struct ev_loop *loop, ev_timer *t, int revents)
{
    mg_log_notice("plugins changed on disk, reloading");
    mg__master_reload();
}

static void on_events(struct ev_loop *loop, ev_io *w, int revents)
{
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    bool any = false;
    for (;;) {
        ssize_t n = read(ifd, buf, sizeof(buf));
        if (n <= 0) {
            break;
        }
        any = true;
    }
    if (any) {
        ev_timer_stop(loop, &settle);
        ev_timer_set(&settle, WATCH_SETTLE, 0.);
        ev_timer_start(loop, &settle);
    }
}

void mg__master_watch_plugins(const mg_conf_t *conf)
{
    if (ifd >= 0) {
        ev_io_stop(M.loop, &io);
        ev_timer_stop(M.loop, &settle);
        close(ifd);
        ifd = -1;
    }
    if (!conf->watch_plugins) {
        return;
    }
    ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (ifd < 0) {
        mg_log_err("watch_plugins: inotify: %s", strerror(errno));
        return;
    }
    for (size_t i = 0; i < conf->nplugins_dirs; i++) {
        if (inotify_add_watch(ifd, conf->plugins_dirs[i],
                              IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE |
                                  IN_MOVED_FROM) < 0) {
            mg_log_warn("watch_plugins: cannot watch %s: %s", conf->plugins_dirs[i],
                        strerror(errno));
        }
    }
    ev_io_init(&io, on_events, ifd, EV_READ);
    ev_io_start(M.loop, &io);
    ev_timer_init(&settle, on_settle, WATCH_SETTLE, 0.);
}
