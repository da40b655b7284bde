/*
 * admin.h -- the admin API served on its own listener (off unless configured).
 */
#ifndef MG_ADMIN_H
#define MG_ADMIN_H

#include "mg_core.h"

/* Answers a request that arrived on the admin listener (GET /status, ...). */
void mg_admin_handle(mg_request_t *r);

/* The same as the admin listener's content handler (http_phase.h). */
int mg_admin_handler(mg_request_t *r, const void *data);

#endif
