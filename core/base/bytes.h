/*
 * bytes.h -- a queue of bytes waiting to be written: [pos, len) of a malloc'd buffer of
 * cap bytes. Appending compacts what was written away and grows the buffer (doubling,
 * 16 KiB at least) only when the bytes do not fit; the owner frees it once drained.
 * Used by the client connections' output and the tunnels' upstream side.
 */
#ifndef MG_BYTES_H
#define MG_BYTES_H

#include "mg_core.h"

#include <stdlib.h>

/* Appends n bytes at p to the queue (*buf, *cap, *len, *pos). MG_OK, or MG_ERROR when
 * out of memory (the queue is unchanged). */
static inline int mg_bytes_append(char **buf, size_t *cap, size_t *len, size_t *pos, const char *p,
                                  size_t n)
{
    if (*pos > 0 && *len + n > *cap) {
        memmove(*buf, *buf + *pos, *len - *pos);
        *len -= *pos;
        *pos = 0;
    }
    if (*len + n > *cap) {
        size_t ncap = MG_MAX(*cap * 2, MG_MAX(*len + n, (size_t)16384));
        char *nb = realloc(*buf, ncap);
        if (nb == NULL) {
            return MG_ERROR;
        }
        *buf = nb;
        *cap = ncap;
    }
    memcpy(*buf + *len, p, n);
    *len += n;
    return MG_OK;
}

#endif
