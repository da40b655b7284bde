/*
 * websocket.c -- the WebSocket opening handshake's checks (websocket.h). SHA-1 and
 * base64 come from OpenSSL.
 */
#include "websocket.h"

#include "http_parse.h"

#include "llhttp.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

bool mg_ws_key_ok(mg_str_t k)
{
    if (k.len != 24 || k.p[22] != '=' || k.p[23] != '=') {
        return false;
    }
    for (size_t i = 0; i < 22; i++) {
        unsigned char ch = (unsigned char)k.p[i];
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '+' || ch == '/')) {
            return false;
        }
    }
    return true;
}

bool mg_ws_wanted(mg_str_t upgrade)
{
    return upgrade.len > 0 && mg_http_connection_has(upgrade, MG_STR("websocket"));
}

int mg_ws_handshake_check(const mg_ws_handshake_t *h, const char **why)
{
    *why = "a WebSocket handshake must be a GET";
    if (h->method != HTTP_GET) {
        return 400;
    }
    *why = "a WebSocket handshake needs HTTP/1.1";
    if (h->http_major != 1 || h->http_minor < 1) {
        return 400;
    }
    *why = "a WebSocket handshake without \"Connection: upgrade\"";
    if (!mg_ws_wanted(h->upgrade) || !mg_http_connection_has(h->connection, MG_STR("upgrade"))) {
        return 400;
    }
    *why = "invalid Sec-WebSocket-Key";
    if (!mg_ws_key_ok(h->key)) {
        return 400;
    }
    *why = "a WebSocket handshake with a body";
    if (h->has_body) {
        return 400;
    }
    *why = "unsupported Sec-WebSocket-Version";
    if (!mg_str_caseeq(h->version, MG_STR("13"))) {
        return 426;
    }
    *why = NULL;
    return 0;
}

void mg_ws_accept(mg_str_t key, char *out)
{
    unsigned char md[SHA_DIGEST_LENGTH];
    char in[64 + sizeof(ws_guid)];
    size_t n = MG_MIN(key.len, (size_t)64); /* a valid key has 24 */
    memcpy(in, key.p, n);
    memcpy(in + n, ws_guid, sizeof(ws_guid) - 1);
    SHA1((const unsigned char *)in, n + sizeof(ws_guid) - 1, md);
    EVP_EncodeBlock((unsigned char *)out, md, SHA_DIGEST_LENGTH); /* 28 characters, NUL */
}

bool mg_ws_accept_ok(mg_str_t key, mg_str_t accept)
{
    char want[MG_WS_ACCEPT_LEN + 1];
    accept = mg_str_trim(accept);
    if (accept.len != MG_WS_ACCEPT_LEN) {
        return false;
    }
    mg_ws_accept(key, want);
    return memcmp(want, accept.p, MG_WS_ACCEPT_LEN) == 0;
}
