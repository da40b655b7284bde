/*
 * spool.c -- a FIFO of bytes in memory blocks, then in an unnamed temp file (spool.h).
 *
 * The segments are kept in order: a memory block holds up to MG_SPOOL_BLOCK bytes, a
 * file segment a range of the temp file. Bytes go to the tail block while it has room;
 * to the file once the memory bound is reached (and then on, while the tail is in the
 * file, so that the order holds); back to memory only when the file cannot take them.
 */
#include "spool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SPOOL_FREE_MAX 16 /* blocks kept for reuse per process: 256 KiB at most */

struct mg_spool_seg_s {
    mg_spool_seg_t *next;
    uint64_t off; /* a file segment: where its bytes are in the file */
    size_t len;   /* bytes in the segment */
    bool file;
    char data[]; /* a memory block: MG_SPOOL_BLOCK bytes */
};

static mg_spool_seg_t *free_blocks;
static int nfree;
static size_t mem_total;
static size_t mem_limit = 64u << 20;
static int files_open;

void mg_spool_set_limit(size_t bytes)
{
    mem_limit = bytes;
}

size_t mg_spool_memory(void)
{
    return mem_total;
}

int mg_spool_files(void)
{
    return files_open;
}

void mg_spool_init(mg_spool_t *s, size_t mem_max, uint64_t file_max, const char *dir)
{
    *s = (mg_spool_t){.mem_max = mem_max, .file_max = dir != NULL ? file_max : 0, .dir = dir};
    s->fd = -1;
}

static void seg_free(mg_spool_t *s, mg_spool_seg_t *g)
{
    if (g->file) {
        free(g);
        return;
    }
    s->mem -= MG_SPOOL_BLOCK;
    mem_total -= MG_SPOOL_BLOCK;
    if (nfree < SPOOL_FREE_MAX) {
        g->next = free_blocks;
        free_blocks = g;
        nfree++;
    } else {
        free(g);
    }
}

void mg_spool_dispose(mg_spool_t *s)
{
    mg_spool_seg_t *g = s->head;
    while (g != NULL) {
        mg_spool_seg_t *next = g->next;
        seg_free(s, g);
        g = next;
    }
    s->head = s->tail = NULL;
    s->len = 0;
    s->head_off = 0;
    if (s->fd >= 0) {
        close(s->fd);
        s->fd = -1;
        files_open--;
    }
    free(s->win);
    s->win = NULL;
    s->fend = 0;
}

static void seg_append(mg_spool_t *s, mg_spool_seg_t *g)
{
    g->next = NULL;
    if (s->tail != NULL) {
        s->tail->next = g;
    } else {
        s->head = g;
    }
    s->tail = g;
}

/* ---- the temp file ---- */

static int file_fail(mg_spool_t *s, const char *what, int err)
{
    s->file_failed = true;
    s->what = what;
    s->err = err;
    return MG_ERROR;
}

/* An unnamed file in s->dir: O_TMPFILE where the file system has it, else a name
 * unlinked at once. The directory is made when missing. */
static int file_open(mg_spool_t *s)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        int fd = open(s->dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
            char path[4096];
            int n = snprintf(path, sizeof(path), "%s/mg-spool.XXXXXX", s->dir);
            if (n < 0 || (size_t)n >= sizeof(path)) {
                return file_fail(s, "creating", ENAMETOOLONG);
            }
            fd = mkostemp(path, O_CLOEXEC); /* mode 0600 */
            if (fd >= 0) {
                unlink(path);
            }
        }
        if (fd >= 0) {
            s->fd = fd;
            files_open++;
            return MG_OK;
        }
        if (errno != ENOENT || attempt > 0 || mkdir(s->dir, 0700) != 0) {
            return file_fail(s, "creating", errno);
        }
    }
    return file_fail(s, "creating", ENOENT);
}

/* Appends to the file: all of it, or nothing (a short write is forgotten: the bytes
 * past fend are never read, and the next write overwrites them). */
static int file_append(mg_spool_t *s, const char *data, size_t len)
{
    if (s->fd < 0 && file_open(s) != MG_OK) {
        return MG_ERROR;
    }
    size_t done = 0;
    while (done < len) {
        ssize_t w = pwrite(s->fd, data + done, len - done, (off_t)(s->fend + done));
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return file_fail(s, "writing", w < 0 ? errno : ENOSPC);
        }
        done += (size_t)w;
    }
    mg_spool_seg_t *t = s->tail;
    if (t == NULL || !t->file || t->off + t->len != s->fend) {
        if ((t = malloc(sizeof(*t))) == NULL) {
            return MG_ERROR; /* the bytes past fend are overwritten by the next write */
        }
        *t = (mg_spool_seg_t){.off = s->fend, .file = true};
        seg_append(s, t);
    }
    t->len += len;
    s->fend += len;
    s->spilled += len;
    s->len += len;
    return MG_OK;
}

static bool file_room(const mg_spool_t *s, size_t len)
{
    return !s->file_failed && s->file_max > 0 && s->fend + len <= s->file_max;
}

static bool mem_over(const mg_spool_t *s)
{
    return s->mem >= s->mem_max || mem_total >= mem_limit;
}

/* ---- memory ---- */

/* Copies what the tail block (or a new one) has room for. Returns the bytes copied,
 * 0 when out of memory. */
static size_t mem_append(mg_spool_t *s, const char *data, size_t len)
{
    mg_spool_seg_t *t = s->tail;
    if (t == NULL || t->file || t->len == MG_SPOOL_BLOCK) {
        if ((t = free_blocks) != NULL) {
            free_blocks = t->next;
            nfree--;
        } else if ((t = malloc(sizeof(*t) + MG_SPOOL_BLOCK)) == NULL) {
            return 0;
        }
        t->len = 0;
        t->file = false;
        t->off = 0;
        seg_append(s, t);
        s->mem += MG_SPOOL_BLOCK;
        mem_total += MG_SPOOL_BLOCK;
    }
    size_t n = MG_MIN(len, MG_SPOOL_BLOCK - t->len);
    memcpy(t->data + t->len, data, n);
    t->len += n;
    s->len += n;
    return n;
}

int mg_spool_write(mg_spool_t *s, const char *data, size_t len)
{
    while (len > 0) {
        bool tail_in_file = s->tail != NULL && s->tail->file;
        bool room = s->tail != NULL && !s->tail->file && s->tail->len < MG_SPOOL_BLOCK;
        if ((tail_in_file || (!room && mem_over(s))) && file_room(s, len) &&
            file_append(s, data, len) == MG_OK) {
            return MG_OK;
        }
        size_t n = mem_append(s, data, len);
        if (n == 0) {
            return MG_ERROR;
        }
        data += n;
        len -= n;
    }
    return MG_OK;
}

bool mg_spool_full(const mg_spool_t *s)
{
    return mem_over(s) && !file_room(s, 1);
}

int mg_spool_peek(mg_spool_t *s, uint64_t off, const char **data, size_t *len)
{
    off += s->head_off;
    mg_spool_seg_t *g = s->head;
    while (g != NULL && off >= g->len) {
        off -= g->len;
        g = g->next;
    }
    if (g == NULL) {
        *data = NULL;
        *len = 0;
        return MG_OK;
    }
    size_t n = (size_t)(g->len - off);
    if (!g->file) {
        *data = g->data + off;
        *len = n;
        return MG_OK;
    }
    if (s->win == NULL && (s->win = malloc(MG_SPOOL_BLOCK)) == NULL) {
        return MG_ERROR;
    }
    n = MG_MIN(n, (size_t)MG_SPOOL_BLOCK);
    ssize_t r;
    do {
        r = pread(s->fd, s->win, n, (off_t)(g->off + off));
    } while (r < 0 && errno == EINTR);
    if (r <= 0) {
        file_fail(s, "reading", r < 0 ? errno : EIO);
        return MG_ERROR;
    }
    *data = s->win;
    *len = (size_t)r;
    return MG_OK;
}

void mg_spool_consume(mg_spool_t *s, uint64_t n)
{
    n = MG_MIN(n, s->len);
    s->len -= n;
    while (n > 0 && s->head != NULL) {
        mg_spool_seg_t *g = s->head;
        uint64_t left = g->len - s->head_off;
        if (n < left) {
            s->head_off += (size_t)n;
            return;
        }
        n -= left;
        s->head = g->next;
        if (s->head == NULL) {
            s->tail = NULL;
        }
        s->head_off = 0;
        seg_free(s, g);
    }
    bool file_held = false;
    for (mg_spool_seg_t *g = s->head; g != NULL; g = g->next) {
        file_held = file_held || g->file;
    }
    if (!file_held && s->fend > 0 && s->fd >= 0) {
        /* nothing of the file is held: give the disk back and start over at 0 */
        if (ftruncate(s->fd, 0) == 0) {
            s->fend = 0;
        }
    }
    if (s->head == NULL && s->len == 0) {
        free(s->win);
        s->win = NULL;
    }
}

const char *mg_spool_error(const mg_spool_t *s, char *buf, size_t size)
{
    if (!s->file_failed) {
        return NULL;
    }
    snprintf(buf, size, "%s a temp file in %s: %s", s->what, s->dir, strerror(s->err));
    return buf;
}
