/*
 * spool.h -- a FIFO of bytes kept in memory blocks up to a bound, then in a temp file:
 * what the proxy buffers of a response (for a slow client) or of a request body (read
 * whole before a node is chosen).
 *
 * Bytes are written at the end and read from the front, in order: a spool is a list of
 * segments, each a memory block or a range of its temp file, so a file that stops
 * taking bytes (disk full) only means that the next ones stay in memory. Memory comes
 * in blocks of MG_SPOOL_BLOCK bytes from a small per-process free list; the bytes in
 * memory are bounded per spool and, over every spool of the process, by
 * mg_spool_set_limit(). The temp file is made when the memory is full: O_TMPFILE (or
 * created and unlinked at once), O_CLOEXEC, mode 0600, in the spool's directory
 * (made 0700 when missing). It has no name, so nothing is left behind whatever way the
 * process ends; it is truncated when its bytes were all read, closed by
 * mg_spool_dispose().
 *
 * Nothing here logs: the caller decides what a failure means (mg_spool_error()).
 * Reading the file is a pread on the event loop, as nginx's temp files are.
 */
#ifndef MG_SPOOL_H
#define MG_SPOOL_H

#include "mg_core.h"

#include <stdint.h>

#define MG_SPOOL_BLOCK 16384

typedef struct mg_spool_seg_s mg_spool_seg_t;

typedef struct {
    size_t mem_max;    /* bytes in memory before the file takes the next ones */
    uint64_t file_max; /* bytes the temp file may hold; 0: no temp file */
    const char *dir;   /* where the temp file goes (borrowed: the configuration's) */

    /* the rest is the spool's */
    mg_spool_seg_t *head, *tail;
    size_t head_off;   /* bytes of the head segment already consumed */
    uint64_t len;      /* bytes held: written and not consumed */
    size_t mem;        /* bytes of memory blocks held (their capacity) */
    int fd;            /* the temp file, -1 until needed */
    uint64_t fend;     /* the temp file's size: where the next bytes go */
    uint64_t spilled;  /* bytes that went to the file, over the spool's life */
    bool file_failed;  /* the file could not be made or written: memory only from then */
    int err;           /* the errno of that failure */
    const char *what;  /* ... and what failed ("creating", "writing", "reading") */
    char *win;         /* MG_SPOOL_BLOCK bytes read from the file, for mg_spool_peek() */
} mg_spool_t;

/* Sets up s (the caller's storage), holding nothing. `dir` is borrowed for s's life. */
void mg_spool_init(mg_spool_t *s, size_t mem_max, uint64_t file_max, const char *dir);

/* Gives back everything s holds: blocks to the free list, the temp file closed. s may
 * be used again after mg_spool_init(). Safe on a spool that holds nothing. */
void mg_spool_dispose(mg_spool_t *s);

/* Appends len bytes: to memory while under the bounds, else to the temp file; to
 * memory anyway when the file is off, full or failing (mg_spool_full() then says so
 * and the writer should stop). MG_OK, or MG_ERROR when out of memory (nothing was
 * appended). */
int mg_spool_write(mg_spool_t *s, const char *data, size_t len);

/* True when s holds as much as it may: the memory bound is reached (its own or the
 * process's) and the file cannot take more. */
bool mg_spool_full(const mg_spool_t *s);

/* Bytes held. */
static inline uint64_t mg_spool_len(const mg_spool_t *s)
{
    return s->len;
}

/* The bytes from `off` (counted from the first byte held) on, as one contiguous span:
 * *data, *len (0 at the end). Memory bytes are pointed at; file bytes are read into the
 * spool's window (valid until the next peek). MG_OK, or MG_ERROR when the file could
 * not be read (mg_spool_error()). */
int mg_spool_peek(mg_spool_t *s, uint64_t off, const char **data, size_t *len);

/* Drops the first n bytes (at most mg_spool_len()). Blocks go back as they empty; the
 * file is truncated once none of its bytes is held. */
void mg_spool_consume(mg_spool_t *s, uint64_t n);

/* "writing the temp file in DIR: No space left on device", for logs, in buf; NULL when
 * the file never failed. */
const char *mg_spool_error(const mg_spool_t *s, char *buf, size_t size);

/* Bytes the process's spools may hold in memory together (default 64 MiB); beyond it
 * new bytes go to temp files. */
void mg_spool_set_limit(size_t bytes);

/* Bytes the process's spools hold in memory now (blocks, not the free list). */
size_t mg_spool_memory(void);

/* Temp files the process's spools have open now. */
int mg_spool_files(void);

#endif
