/*
 * lua_socket.h -- the parts of mg.socket (lua_socket.c) that need no socket: how a
 * receive pattern cuts the bytes a socket has buffered. Kept apart so that the unit
 * tests can check every pattern against every way the bytes may arrive.
 */
#ifndef MG_LUA_SOCKET_H
#define MG_LUA_SOCKET_H

#include "mg_core.h"

#include <stdbool.h>
#include <stddef.h>

/* Most bytes a receive looks through for a line's end or a receiveuntil delimiter. */
#define MG_LUA_SOCK_LINE_MAX (64 * 1024)
/* Most bytes one receive returns (a size, "*a", receiveuntil without a size). */
#define MG_LUA_SOCK_DATA_MAX (16 * 1024 * 1024)

/* What a receive waits for (the numbers lua/moongate/socket.lua passes). */
typedef enum {
    MG_SOCK_LINE = 0,  /* up to LF; the LF and one CR before it dropped */
    MG_SOCK_ALL = 1,   /* everything until the peer closes */
    MG_SOCK_SIZE = 2,  /* exactly `size` bytes */
    MG_SOCK_UNTIL = 3, /* up to `pat`; with size > 0, chunks of at most size before it */
} mg_sock_mode_t;

typedef struct {
    int mode;       /* mg_sock_mode_t */
    size_t size;    /* SIZE: the count; UNTIL: the chunk size, 0 for none */
    const char *pat; /* UNTIL: the delimiter (borrowed), plen > 0 bytes */
    size_t plen;
    bool inclusive; /* UNTIL: the delimiter is part of the data returned */
    size_t max;     /* most bytes a LINE or UNTIL may buffer while looking */
} mg_sock_want_t;

/* Cuts what `w` asks for from the first `len` bytes of buf. Returns:
 *   MG_OK        buf[0..*take) is the data; *consume bytes (>= *take) are used up
 *   MG_DONE      UNTIL only: the same, and the delimiter was reached and consumed
 *   MG_AGAIN     more bytes are needed (ALL always: it ends at the peer's close)
 *   MG_DECLINED  LINE/UNTIL: w->max bytes are buffered and the end is not among them
 * Pure: buf is only read. */
int mg_lua_sock_scan(const mg_sock_want_t *w, const char *buf, size_t len, size_t *take,
                     size_t *consume);

#endif
