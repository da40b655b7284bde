/*
 * master_tickets.c -- the master's half of the session-ticket keys (sys/tls_ticket.h):
 * the shared area made at start-up before any fork, the timer that rotates generated
 * keys, the keys each reload asks for, and the rotation SIGUSR2 forces.
 *
 * Rotation is the master's job alone: workers only read the keys, so one timer here
 * moves every worker to a new key at the same moment.
 */
#include "conf.h"
#include "log.h"
#include "master_int.h"
#include "tls_ticket.h"

#include <errno.h>
#include <stdio.h>

static ev_timer rotation;
static double rotation_armed; /* the period the timer runs with, 0 when stopped */

/* Timed rotation applies to generated keys only: with a ticket_key_file the operator
 * owns rotation, and instances sharing the file must not drift apart. */
static double rotation_period(const mg_conf_t *conf)
{
    const mg_tls_conf_t *tls = &conf->tls;
    if (!tls->session_tickets || tls->ticket_key_file.data != NULL) {
        return 0;
    }
    return tls->ticket_key_rotation > 0 ? tls->ticket_key_rotation : MG_TLS_TICKET_ROTATION;
}

static void on_rotation(struct ev_loop *loop, ev_timer *t, int revents)
{
    int rc = mg_tls_tickets_rotate();
    if (rc == MG_ERROR) {
        mg_log_alert("cannot rotate the session ticket keys: no random bytes");
    } else if (rc == MG_OK) {
        mg_log_info("session ticket keys rotated");
    }
}

/* Re-arms only when the period changes: a reload must not push the next rotation
 * back, or frequent reloads would keep one key forever. */
static void rotation_arm(const mg_conf_t *conf)
{
    double period = rotation_period(conf);
    if (period == rotation_armed) {
        return;
    }
    ev_timer_stop(M.loop, &rotation);
    rotation_armed = period;
    if (period > 0) {
        ev_timer_init(&rotation, on_rotation, period, period);
        ev_timer_start(M.loop, &rotation);
    }
}

/* The keys conf names: its ticket_key_file's bytes, or generated ones. The file was
 * checked with the configuration, so a failure here is unexpected. */
static int keys_apply(const mg_conf_t *conf, char *err, size_t len)
{
    const mg_conf_file_t *f = &conf->tls.ticket_key_file;
    bool was_file = mg_tls_tickets_from_file();
    if (mg_tls_tickets_set_file(f->data, f->len, err, len) != MG_OK) {
        return MG_ERROR;
    }
    if (f->data != NULL) {
        mg_log_notice("session ticket keys from %s", f->path);
    } else if (was_file) {
        mg_log_notice("session ticket keys generated again (no ticket_key_file)");
    }
    return MG_OK;
}

int mg__master_tickets_start(const mg_conf_t *conf, char *msg, size_t len)
{
    if (mg_tls_tickets_init() != MG_OK) {
        snprintf(msg, len, "cannot create the session ticket key area: %s", strerror(errno));
        return MG_ERROR;
    }
    mg_tls_ticket_stats_t st;
    mg_tls_tickets_stats(&st);
    if (!st.locked) {
        mg_log_notice("session ticket keys are not locked in memory (RLIMIT_MEMLOCK), "
                      "the kernel may swap them out");
    }
    if (keys_apply(conf, msg, len) != MG_OK) {
        return MG_ERROR;
    }
    rotation_arm(conf);
    return MG_OK;
}

void mg__master_tickets_reload(const mg_conf_t *conf)
{
    char err[512];
    if (keys_apply(conf, err, sizeof(err)) != MG_OK) {
        mg_log_alert("session ticket keys unchanged: %s", err);
    }
    rotation_arm(conf);
}

void mg__master_tickets_rotate_now(void)
{
    int rc = mg_tls_tickets_rotate();
    if (rc == MG_DECLINED) {
        mg_log_warn("SIGUSR2: session ticket keys come from ticket_key_file, not rotated");
    } else if (rc == MG_ERROR) {
        mg_log_alert("SIGUSR2: cannot rotate the session ticket keys");
    } else {
        mg_log_notice("session ticket keys rotated (SIGUSR2)");
    }
}

void mg__master_tickets_forget(void)
{
    ev_timer_stop(M.loop, &rotation);
    rotation_armed = 0;
}

void mg__master_tickets_stop(void)
{
    mg__master_tickets_forget();
    mg_tls_tickets_dispose();
}

int mg__master_tickets_check(const mg_conf_t *conf, char *msg, size_t len)
{
    const mg_conf_file_t *f = &conf->tls.ticket_key_file;
    mg_conf_err_t err = {.line = f->line, .column = f->column};
    char why[400];
    if (f->data == NULL || mg_tls_tickets_check(f->data, f->len, why, sizeof(why)) == MG_OK) {
        return MG_OK;
    }
    snprintf(err.file, sizeof(err.file), "%s", conf->file);
    snprintf(err.key, sizeof(err.key), "%s", f->key != NULL ? f->key : "tls.ticket_key_file");
    snprintf(err.msg, sizeof(err.msg), "%s: %s", f->path != NULL ? f->path : "", why);
    mg_conf_err_format(&err, msg, len);
    return MG_ERROR;
}
