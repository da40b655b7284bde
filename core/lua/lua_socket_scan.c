/*
 * lua_socket_scan.c -- the receive patterns of mg.socket (lua_socket.h): a line, a
 * count of bytes, or the data up to a delimiter (receiveuntil), cut from the bytes a
 * socket has buffered so far. No I/O: the caller reads more and asks again.
 */
#include "lua_socket.h"

#include <string.h>

/* Bytes at the end of buf[0..len) that may still become the start of pat once more
 * data arrives: the longest proper prefix of pat that buf ends with. */
static size_t prefix_tail(const char *buf, size_t len, const char *pat, size_t plen)
{
    size_t k = plen - 1 < len ? plen - 1 : len;
    for (; k > 0; k--) {
        if (memcmp(buf + len - k, pat, k) == 0) {
            return k;
        }
    }
    return 0;
}

static int scan_line(const mg_sock_want_t *w, const char *buf, size_t len, size_t *take,
                     size_t *consume)
{
    const char *nl = len > 0 ? memchr(buf, '\n', len) : NULL; /* buf may be NULL when empty */
    if (nl == NULL) {
        return len >= w->max ? MG_DECLINED : MG_AGAIN;
    }
    size_t i = (size_t)(nl - buf);
    if (i > w->max) {
        return MG_DECLINED;
    }
    *consume = i + 1;
    *take = i > 0 && buf[i - 1] == '\r' ? i - 1 : i;
    return MG_OK;
}

static int scan_until(const mg_sock_want_t *w, const char *buf, size_t len, size_t *take,
                      size_t *consume)
{
    const char *at = len >= w->plen ? memmem(buf, len, w->pat, w->plen) : NULL;
    if (at != NULL) {
        size_t i = (size_t)(at - buf);
        if (w->size > 0 && i > w->size) {
            *take = *consume = w->size; /* a chunk; the delimiter comes in a later one */
            return MG_OK;
        }
        *take = w->inclusive ? i + w->plen : i;
        *consume = i + w->plen;
        return MG_DONE;
    }
    size_t safe = len - prefix_tail(buf, len, w->pat, w->plen);
    if (w->size > 0 && safe >= w->size) {
        *take = *consume = w->size;
        return MG_OK;
    }
    return len >= w->max ? MG_DECLINED : MG_AGAIN;
}

int mg_lua_sock_scan(const mg_sock_want_t *w, const char *buf, size_t len, size_t *take,
                     size_t *consume)
{
    switch (w->mode) {
    case MG_SOCK_LINE:
        return scan_line(w, buf, len, take, consume);
    case MG_SOCK_SIZE:
        if (len < w->size) {
            return MG_AGAIN;
        }
        *take = *consume = w->size;
        return MG_OK;
    case MG_SOCK_UNTIL:
        return scan_until(w, buf, len, take, consume);
    default:
        return MG_AGAIN;
    }
}
