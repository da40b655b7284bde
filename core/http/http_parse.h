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

/* Splits an absolute-form request target (RFC 9112 §3.2.2): "http://" or "https://"
 * (scheme in any case), then the authority up to the first '/', '?' or the end, then the
 * rest. *authority is the host with its optional port, not checked here (see
 * mg_http_parse_host); *rest is empty or starts with '/' or '?'. A target in another
 * form, another scheme, an empty authority or one with userinfo ('@', RFC 9110 §4.2.4):
 * MG_ERROR (400). Pointers borrow from target. */
int mg_http_split_absolute(mg_str_t target, mg_str_t *authority, mg_str_t *rest);

/* The status for a request line llhttp refused at its method, given the bytes of the
 * request from its first byte (empty lines before it included): 501 when they begin
 * with a syntactically valid method (a token, then SP or the end of the bytes so far)
 * that llhttp does not know, such as "FOO" or "get"; 400 for anything else. */
int mg_http_method_error_status(const char *p, size_t len);

/* The status for a request line llhttp refused at its version, given the bytes after
 * "HTTP/": 505 for a well-formed version other than 1.0 and 1.1 ("1.2", "2.0", "01.1");
 * 400 when the version is 1.0 or 1.1 (the line is wrong after it, e.g. a bare CR) or is
 * not a version at all. */
int mg_http_version_error_status(const char *p, size_t len);

/* llhttp reads Content-Length and Transfer-Encoding values itself and takes only SP as
 * whitespace around them, although HTAB is just as valid there (OWS, RFC 9110 §5.6.3).
 * In a request head head[0, len), rewrites each HTAB after the colon of those two fields
 * into SP so that llhttp and moongate see the same value; no other field is touched.
 * Bytes before `from` were handled by an earlier call (pass the bytes not fed to llhttp
 * yet). Costs nothing when [from, len) holds no HTAB. */
void mg_http_framing_tabs(char *head, size_t from, size_t len);

/* ---- chunked request bodies (RFC 9112 §7.1) ----
 *
 * An incremental decoder with the strict grammar: hex size (no sign, prefix or padding,
 * at most 2^60), extensions as `*( BWS ";" BWS name [ BWS "=" BWS ( token /
 * quoted-string ) ] )`, CRLF after the size line and after each chunk's data, trailer
 * field lines as in a head (token name, ':' right after it, no obs-fold, no control
 * bytes), then CRLF. A bare CR or LF anywhere is an error. Trailer fields are checked,
 * counted and dropped; Content-Length and Transfer-Encoding among them are an error
 * (framing must never come from a trailer). */
typedef struct {
    uint64_t left;     /* data bytes left in the current chunk */
    uint32_t ext;      /* chunk-extension bytes of the current size line */
    uint32_t max_ext;  /* ... over this: error */
    uint32_t line;     /* bytes of the current trailer line */
    uint32_t max_line; /* ... over this: 431 */
    uint32_t room;     /* trailer bytes still allowed: over it, 431 */
    uint16_t digits;   /* hex digits of the current size */
    uint16_t name_len; /* bytes of the current trailer field name */
    uint8_t framing;   /* framing names the trailer name may still be (bit mask) */
    uint8_t state;     /* 0: not decoding; see http_parse.c */
    int status;        /* after MG_ERROR: 400, or 431 for a limit */
    const char *why;   /* after MG_ERROR: the reason (static string) */
} mg_http_chunked_t;

/* Starts decoding a chunked body: chunk extensions up to max_ext bytes per size line,
 * trailer lines up to max_line bytes, all trailer bytes up to room. */
void mg_http_chunked_init(mg_http_chunked_t *ck, uint32_t max_ext, uint32_t max_line,
                          uint32_t room);

/* Decodes from [p, p + len). Returns, with *used the bytes consumed:
 *   MG_AGAIN  all of them were framing (*used == len): more input is needed;
 *   MG_OK     *data is chunk data, a span of p ending at p + *used; call again for more;
 *   MG_DONE   the body ended, the final CRLF included; what follows is the next request;
 *   MG_ERROR  malformed or over a limit at p + *used: ck->status and ck->why say why.
 * After MG_DONE or MG_ERROR the decoder is back in state 0. */
int mg_http_chunked_decode(mg_http_chunked_t *ck, const char *p, size_t len, size_t *used,
                           mg_str_t *data);

#endif
