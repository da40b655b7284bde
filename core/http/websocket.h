/*
 * websocket.h -- the pure parts of a WebSocket opening handshake (RFC 6455 §4): what a
 * client's request must say, and the Sec-WebSocket-Accept an upstream must answer. No
 * sockets: unit-tested. The tunnel that follows is the proxy's (proxy/tunnel.c) over the
 * session's tunnel mode (http.h).
 */
#ifndef MG_WEBSOCKET_H
#define MG_WEBSOCKET_H

#include "mg_core.h"

/* Length of a Sec-WebSocket-Accept value: base64 of a SHA-1 digest. */
#define MG_WS_ACCEPT_LEN 28

/* What a client's handshake said (views borrowed from its head). */
typedef struct {
    int method; /* llhttp_method_t */
    int http_major, http_minor;
    mg_str_t upgrade;    /* Upgrade value */
    mg_str_t connection; /* Connection value */
    mg_str_t key;        /* Sec-WebSocket-Key */
    mg_str_t version;    /* Sec-WebSocket-Version */
    bool has_body;       /* Content-Length > 0 or chunked */
} mg_ws_handshake_t;

/* True when `key` is the base64 of 16 bytes (22 characters and "=="). */
bool mg_ws_key_ok(mg_str_t key);

/* True when an Upgrade value asks for "websocket" (case-insensitive, in a list). */
bool mg_ws_wanted(mg_str_t upgrade);

/* Checks a handshake a `websocket: true` route received: GET, HTTP/1.1 or later,
 * Upgrade naming websocket, Connection naming upgrade, a valid key, no body and
 * Sec-WebSocket-Version 13. Returns 0, 400, or 426 (another version: the answer names
 * 13 in Sec-WebSocket-Version, RFC 6455 §4.2.2), with the reason in *why (static). */
int mg_ws_handshake_check(const mg_ws_handshake_t *h, const char **why);

/* Writes base64(SHA-1(key + the RFC's GUID)) and a NUL into out
 * (MG_WS_ACCEPT_LEN + 1 bytes). */
void mg_ws_accept(mg_str_t key, char *out);

/* True when `accept` (trimmed) is the Sec-WebSocket-Accept that answers `key`. */
bool mg_ws_accept_ok(mg_str_t key, mg_str_t accept);

#endif
