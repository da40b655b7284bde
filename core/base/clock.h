/*
 * clock.h -- the monotonic clock every process shares.
 *
 * State kept in shared memory (health, breakers, limiters) stamps times with
 * CLOCK_MONOTONIC, which is common to the master and all workers and never jumps with
 * the wall clock. libev's ev_now() is per loop and may lag by one iteration, so
 * shared-state code uses this instead.
 */
#ifndef MG_CLOCK_H
#define MG_CLOCK_H

#include <time.h>

/* Seconds since an arbitrary origin common to all processes of the machine. */
static inline double mg_mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#endif
