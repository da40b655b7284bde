/*
 * master_env.c -- the running master's environment, for `moongate -s reload`.
 *
 * `${NAME}` in the configuration is the master's environment variable NAME
 * (conf_secret.c), fixed when the master started. The command that asks for a reload
 * checks the file first so that its caller sees the error; to check it as the master
 * will, it takes the master's environment from /proc/PID/environ (readable by the same
 * user and by root) in place of its own. The command is short-lived and does nothing
 * else with its environment, so replacing it whole is simpler, and closer to what the
 * master does (plugin code checked in a child sees the same variables), than handing
 * a lookup to the expansion.
 */
#include "master.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* /proc/PID/environ is bounded by the kernel's argument space; past this it is not a
 * master's environment worth copying. */
#define ENV_MAX (16u << 20)

int mg_master_env_set(char *buf, size_t len)
{
    if (clearenv() != 0) {
        return MG_ERROR;
    }
    for (size_t i = 0; i < len;) {
        char *entry = buf + i;
        size_t n = strnlen(entry, len - i);
        if (n == len - i) {
            break; /* a last entry without its NUL was cut short: not trusted */
        }
        i += n + 1;
        char *eq = memchr(entry, '=', n);
        if (eq == NULL || eq == entry) {
            continue; /* not NAME=value: nothing getenv() could return */
        }
        *eq = '\0';
        int rc = setenv(entry, eq + 1, 1);
        *eq = '=';
        if (rc != 0) {
            return MG_ERROR;
        }
    }
    return MG_OK;
}

/* Reads /proc/PID/environ whole into malloc'd memory (*len bytes), or NULL with errno
 * set. */
static char *read_environ(long pid, size_t *len)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%ld/environ", pid);
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    size_t cap = 16384, n = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap || cap >= ENV_MAX) {
            break;
        }
        char *nb = realloc(buf, cap * 2);
        if (nb == NULL) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    int e = buf == NULL ? ENOMEM : ferror(f) ? (errno ? errno : EIO) : n == cap ? EFBIG : 0;
    fclose(f);
    if (e != 0) {
        free(buf);
        errno = e;
        return NULL;
    }
    *len = n;
    return buf;
}

int mg_master_env_adopt(long pid, char *why, size_t len)
{
    size_t n = 0;
    char *env = read_environ(pid, &n);
    if (env == NULL) {
        snprintf(why, len, "cannot read /proc/%ld/environ: %s", pid, strerror(errno));
        return MG_DECLINED;
    }
    int rc = mg_master_env_set(env, n);
    free(env);
    if (rc != MG_OK) {
        snprintf(why, len, "cannot take the environment of pid %ld: %s", pid, strerror(errno));
    }
    return rc;
}
