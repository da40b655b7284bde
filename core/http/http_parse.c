/*
 * http_parse.c -- pure functions over HTTP/1.1 syntax: path normalisation, field value
 * checks, hop-by-hop names and reason phrases. No I/O, no allocation: each function
 * works on the bytes it is given and is unit-tested on its own.
 */
#include "http_parse.h"

#include "http.h"

/* RFC 3986 unreserved: decoding these never changes what a path means. */
static bool unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* First pass: checks every byte and decodes the escapes of unreserved characters, so
 * that "%2e%2e" is seen as ".." by the second pass. */
static int decode(const char *in, size_t len, char *out, size_t *outlen)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c <= 0x20 || c >= 0x7f || c == '#') {
            return MG_ERROR;
        }
        if (c != '%') {
            out[n++] = (char)c;
            continue;
        }
        if (i + 2 >= len) {
            return MG_ERROR;
        }
        int hi = hexval((unsigned char)in[i + 1]), lo = hexval((unsigned char)in[i + 2]);
        if (hi < 0 || lo < 0 || (hi | lo) == 0) {
            return MG_ERROR;
        }
        unsigned char d = (unsigned char)(hi << 4 | lo);
        if (unreserved(d)) {
            out[n++] = (char)d;
        } else {
            out[n++] = '%';
            out[n++] = hex[hi];
            out[n++] = hex[lo];
        }
        i += 2;
    }
    *outlen = n;
    return MG_OK;
}

int mg_http_normalize_path(const char *in, size_t len, char *out, size_t *outlen)
{
    size_t n;
    if (len == 0 || in[0] != '/' || decode(in, len, out, &n) != MG_OK) {
        return MG_ERROR;
    }
    /* Second pass, in place: the output is a run of "/segment" pieces and never gets
     * ahead of the input, so memmove forward is safe. */
    size_t o = 0, i = 0;
    while (i < n) {
        size_t j = i + 1;
        while (j < n && out[j] != '/') {
            j++;
        }
        size_t seglen = j - i - 1;
        const char *seg = out + i + 1;
        if (seglen == 1 && seg[0] == '.') {
            /* nothing */
        } else if (seglen == 2 && seg[0] == '.' && seg[1] == '.') {
            if (o == 0) {
                return MG_ERROR; /* would climb above the root */
            }
            while (out[--o] != '/') {
            }
        } else {
            memmove(out + o, out + i, j - i);
            o += j - i;
            i = j;
            continue;
        }
        if (j == n) {
            out[o++] = '/'; /* "/a/." and "/a/b/.." name a directory */
        }
        i = j;
    }
    if (o == 0) {
        out[o++] = '/';
    }
    *outlen = o;
    return MG_OK;
}

int mg_http_parse_content_length(mg_str_t v, int64_t *out)
{
    if (v.len == 0 || v.len > 19) {
        return MG_ERROR;
    }
    uint64_t n = 0;
    for (size_t i = 0; i < v.len; i++) {
        unsigned char c = (unsigned char)v.p[i];
        if (c < '0' || c > '9') {
            return MG_ERROR;
        }
        n = n * 10 + (uint64_t)(c - '0');
    }
    if (n > (UINT64_C(1) << 62)) {
        return MG_ERROR;
    }
    *out = (int64_t)n;
    return MG_OK;
}

/* reg-name characters (unreserved, pct-encoded, sub-delims); '@', '/', spaces are not */
static bool host_char(unsigned char c)
{
    return unreserved(c) || c == '%' || c == '!' || c == '$' || c == '&' || c == '\'' || c == '(' ||
           c == ')' || c == '*' || c == '+' || c == ',' || c == ';' || c == '=';
}

static int parse_port(const char *p, size_t len, int *port)
{
    if (len == 0 || len > 5) {
        return MG_ERROR;
    }
    int n = 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return MG_ERROR;
        }
        n = n * 10 + (p[i] - '0');
    }
    if (n < 1 || n > 65535) {
        return MG_ERROR;
    }
    *port = n;
    return MG_OK;
}

int mg_http_parse_host(mg_str_t v, mg_str_t *host, int *port)
{
    size_t end;
    *port = 0;
    if (v.len == 0) {
        return MG_ERROR;
    }
    if (v.p[0] == '[') {
        end = 1;
        while (end < v.len && v.p[end] != ']') {
            unsigned char c = (unsigned char)v.p[end];
            if (hexval(c) < 0 && c != ':' && c != '.') {
                return MG_ERROR;
            }
            end++;
        }
        if (end == v.len || end < 3) {
            return MG_ERROR;
        }
        end++; /* keep the brackets: the name as a client would write it */
    } else {
        end = 0;
        while (end < v.len && v.p[end] != ':') {
            if (!host_char((unsigned char)v.p[end])) {
                return MG_ERROR;
            }
            end++;
        }
        if (end == 0) {
            return MG_ERROR;
        }
    }
    if (end < v.len) {
        if (v.p[end] != ':' || parse_port(v.p + end + 1, v.len - end - 1, port) != MG_OK) {
            return MG_ERROR;
        }
    }
    *host = mg_str(v.p, end);
    return MG_OK;
}

bool mg_http_valid_request_id(mg_str_t v)
{
    if (v.len == 0 || v.len > 128) {
        return false;
    }
    for (size_t i = 0; i < v.len; i++) {
        unsigned char c = (unsigned char)v.p[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == ':' || c == '-';
        if (!ok) {
            return false;
        }
    }
    return true;
}

bool mg_http_is_hop_by_hop(mg_str_t name)
{
    static const mg_str_t hop[] = {
        MG_STR("Connection"),
        MG_STR("Keep-Alive"),
        MG_STR("Proxy-Connection"),
        MG_STR("TE"),
        MG_STR("Trailer"),
        MG_STR("Transfer-Encoding"),
        MG_STR("Upgrade"),
        MG_STR("Proxy-Authenticate"),
        MG_STR("Proxy-Authorization"),
    };
    for (size_t i = 0; i < MG_NELEMS(hop); i++) {
        if (mg_str_caseeq(name, hop[i])) {
            return true;
        }
    }
    return false;
}

size_t mg_http_list_count(mg_str_t list, mg_str_t token)
{
    size_t n = 0, i = 0;
    while (i < list.len) {
        size_t start = i;
        while (i < list.len && list.p[i] != ',') {
            i++;
        }
        n += mg_str_caseeq(mg_str_trim(mg_str(list.p + start, i - start)), token);
        i++; /* past the comma */
    }
    return n;
}

bool mg_http_connection_has(mg_str_t connection, mg_str_t name)
{
    return mg_http_list_count(connection, name) > 0;
}

bool mg_http_valid_token(mg_str_t v)
{
    if (v.len == 0) {
        return false;
    }
    for (size_t i = 0; i < v.len; i++) {
        unsigned char c = (unsigned char)v.p[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
        if (!ok) {
            return false;
        }
    }
    return true;
}

const char *mg_http_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 101:
        return "Switching Protocols";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 417:
        return "Expectation Failed";
    case 421:
        return "Misdirected Request";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}
