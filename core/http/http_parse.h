/*
 * http_parse.h -- pure functions over HTTP/1.1 syntax, shared by the client side and
 * the upstream side. No I/O, no allocation; each is unit-tested.
 */
#ifndef MG_HTTP_PARSE_H
#define MG_HTTP_PARSE_H

#include "mg_core.h"

/* Normalises a request-target path (the part before '?'): rejects control bytes, bytes
 * >= 0x80, '#', bad or NUL %-escapes; decodes %XX of unreserved characters; upper-cases
 * other escapes; resolves "." and ".." segments (also written as %2e). A ".." that
 * would climb above the root is an error. `out` must hold `len` bytes. Returns MG_OK
 * and sets *outlen, or MG_ERROR (answer 400). */
int mg_http_normalize_path(const char *in, size_t len, char *out, size_t *outlen);

/* Parses a Content-Length value: 1*DIGIT only, no sign, no list, at most 2^62.
 * MG_OK or MG_ERROR (400). */
int mg_http_parse_content_length(mg_str_t v, int64_t *out);

/* Checks a Host value: reg-name / IPv4 / [IPv6] with an optional port 1..65535, no '/',
 * no '@', no whitespace inside. On MG_OK *host is the name without port. MG_ERROR = 400. */
int mg_http_parse_host(mg_str_t v, mg_str_t *host, int *port);

/* True for a usable client X-Request-Id: 1..128 bytes of [A-Za-z0-9._:-]. */
bool mg_http_valid_request_id(mg_str_t v);

/* True for headers that never cross a proxy: Connection, Keep-Alive, Proxy-Connection,
 * TE, Trailer, Transfer-Encoding, Upgrade, Proxy-Authenticate, Proxy-Authorization. */
bool mg_http_is_hop_by_hop(mg_str_t name);

/* How many items of the comma-separated `list` equal `token` (case-insensitive; spaces
 * around items ignored). */
size_t mg_http_list_count(mg_str_t list, mg_str_t token);

/* True when the comma-separated `connection` value lists `name` (case-insensitive). */
bool mg_http_connection_has(mg_str_t connection, mg_str_t name);

/* True for a valid header field name (RFC 9110 token). */
bool mg_http_valid_token(mg_str_t v);

#endif
