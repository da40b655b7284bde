/*
 * metrics_store.h -- the counters behind GET /metrics: per-worker regions of shared memory,
 * written without locks, summed by a scrape.
 *
 * The master maps one region per worker slot before the first fork. The worker in a
 * slot is the only writer of its region: it finds or adds a series by key when a
 * generation is built, keeps the pointer to the series' cells, and bumps them on the
 * request path with plain relaxed stores (no lock, no atomic read-modify-write, nothing
 * shared with another worker). A scrape, in any worker, looks the same key up in every
 * region and sums; it takes no lock either, so it never makes a request wait.
 *
 * A region outlives its worker: the next worker in the slot (a restart, a replacement)
 * goes on from its counts, so a sum never goes down. Keys are built from configured
 * names only ("route\x1fupstream"), so a series whose names stay across a reload keeps
 * its counts, and the number of series has a ceiling: MG_METRICS_SERIES per region.
 * When a region is full, mg_metrics_series() returns NULL and the caller folds the
 * figure into its `_other` series (added first, so it always exists).
 *
 * Series flagged MG_METRICS_GAUGE are zeroed when a new worker takes the slot: they
 * hold the current state of a live worker, not a history.
 */
#ifndef MG_METRICS_STORE_H
#define MG_METRICS_STORE_H

#include "mg_core.h"

/* Series per region (the open-addressing index has twice as many entries). */
#define MG_METRICS_SERIES 8192
/* Bytes per region for keys and cells. */
#define MG_METRICS_REGION (2u << 20)
/* Most cells one series may have. */
#define MG_METRICS_MAX_CELLS 256

#define MG_METRICS_GAUGE 1u

/* Separates the names inside a key. */
#define MG_METRICS_SEP '\x1f'

/* Maps `slots` regions. Master, once, before the first fork. MG_OK, or MG_ERROR (errno
 * set). Without it every call below is a no-op returning NULL/0. */
int mg_metrics_init(int slots);

/* The worker in `slot` takes its region: from now on mg_metrics_series() adds to it.
 * Zeroes the region's gauges. A slot out of range (-1) leaves every region alone: a
 * process just forked from the one that had one. */
void mg_metrics_attach(int slot);

/* This worker's cells of series `key` with `ncells` cells (zero on creation), found or
 * added. A key with another number of cells is another series. NULL when there is no
 * region, the region is full, or the arguments are out of range. */
uint64_t *mg_metrics_series(mg_str_t key, uint32_t ncells, unsigned flags);

/* This worker's cells of series `key`, or NULL when it has none: a lookup that never
 * adds (a bound on the series of a family needs to tell the two apart). */
uint64_t *mg_metrics_lookup(mg_str_t key, uint32_t ncells);

/* Adds `v` to one cell of this worker's series (single writer: a relaxed store). */
static inline void mg_metrics_add(uint64_t *cell, uint64_t v)
{
    __atomic_store_n(cell, __atomic_load_n(cell, __ATOMIC_RELAXED) + v, __ATOMIC_RELAXED);
}

static inline void mg_metrics_set(uint64_t *cell, uint64_t v)
{
    __atomic_store_n(cell, v, __ATOMIC_RELAXED);
}

/* Sums series `key` (`ncells` cells) over the regions in use into out[0..ncells),
 * skipping regions whose slot `skip(slot, arg)` says to skip (NULL: none), e.g. gauges
 * of a slot whose worker is gone. Returns the number of regions that had the series. */
size_t mg_metrics_sum(mg_str_t key, uint32_t ncells, bool (*skip)(int slot, void *arg), void *arg,
                      uint64_t *out);

/* mg_metrics_sum() for series whose cells hold doubles (the plugins' own, which count
 * in any unit): the same regions, summed as doubles. */
size_t mg_metrics_sum_f(mg_str_t key, uint32_t ncells, bool (*skip)(int slot, void *arg), void *arg,
                        double *out);

/* Calls fn for every distinct key starting with `prefix` in the regions in use (each
 * key once, with its cell count and flags). For series not known from the
 * configuration: the plugins' own. Returns the number of keys seen (never -1: it
 * allocates nothing). */
long mg_metrics_each(mg_str_t prefix, void (*fn)(mg_str_t key, uint32_t ncells, unsigned flags,
                                                 void *arg),
                     void *arg);

/* Series in this worker's region, and the ceiling (MG_METRICS_SERIES). */
size_t mg_metrics_count(void);

/* Histograms: cells [0, nbounds] count observations per bucket (the last one above
 * every bound), cell nbounds + 1 the sum in nanoseconds. */
#define MG_METRICS_HIST_CELLS(nbounds) ((nbounds) + 2)

/* Adds one observation of `secs` to histogram cells `h` with `nbounds` increasing
 * upper bounds. */
void mg_metrics_observe(uint64_t *h, const double *bounds, uint32_t nbounds, double secs);

#endif
