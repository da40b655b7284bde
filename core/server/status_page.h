/*
 * status_page.h -- the admin listener's live status page (GET /): one self-contained
 * HTML file, core/server/status_page.html, built into the binary as it is.
 */
#ifndef MG_STATUS_PAGE_H
#define MG_STATUS_PAGE_H

#include <stddef.h>

/* The page's bytes, static and read-only (never freed, never NUL-terminated: use
 * *len). Sets *len to the page's size and returns its first byte. */
const char *mg_status_page(size_t *len);

#endif
