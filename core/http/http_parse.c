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
    /* by length first: most names are settled by the switch, without a comparison */
    switch (name.len) {
    case 2:
        return mg_str_caseeq(name, MG_STR("TE"));
    case 7:
        return mg_str_caseeq(name, MG_STR("Trailer")) || mg_str_caseeq(name, MG_STR("Upgrade"));
    case 10:
        return mg_str_caseeq(name, MG_STR("Connection")) ||
               mg_str_caseeq(name, MG_STR("Keep-Alive"));
    case 16:
        return mg_str_caseeq(name, MG_STR("Proxy-Connection"));
    case 17:
        return mg_str_caseeq(name, MG_STR("Transfer-Encoding"));
    case 18:
        return mg_str_caseeq(name, MG_STR("Proxy-Authenticate"));
    case 19:
        return mg_str_caseeq(name, MG_STR("Proxy-Authorization"));
    default:
        return false;
    }
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

/* RFC 9110 tchar */
static bool tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

bool mg_http_valid_token(mg_str_t v)
{
    if (v.len == 0) {
        return false;
    }
    for (size_t i = 0; i < v.len; i++) {
        if (!tchar((unsigned char)v.p[i])) {
            return false;
        }
    }
    return true;
}

int mg_http_split_absolute(mg_str_t t, mg_str_t *authority, mg_str_t *rest)
{
    size_t i;
    if (t.len > 7 && mg_str_caseeq(mg_str(t.p, 7), MG_STR("http://"))) {
        i = 7;
    } else if (t.len > 8 && mg_str_caseeq(mg_str(t.p, 8), MG_STR("https://"))) {
        i = 8;
    } else {
        return MG_ERROR;
    }
    size_t a = i;
    while (i < t.len && t.p[i] != '/' && t.p[i] != '?') {
        if (t.p[i] == '@') {
            return MG_ERROR; /* userinfo: one more way to disagree on the host */
        }
        i++;
    }
    if (i == a) {
        return MG_ERROR;
    }
    *authority = mg_str(t.p + a, i - a);
    *rest = mg_str(t.p + i, t.len - i);
    return MG_OK;
}

int mg_http_method_error_status(const char *p, size_t len)
{
    size_t i = 0;
    while (i + 1 < len && p[i] == '\r' && p[i + 1] == '\n') {
        i += 2;
    }
    size_t start = i;
    while (i < len && tchar((unsigned char)p[i])) {
        i++;
    }
    return i > start && (i == len || p[i] == ' ') ? 501 : 400;
}

int mg_http_version_error_status(const char *p, size_t len)
{
    size_t i = 0, major = 0, minor = 0;
    while (i < len && p[i] >= '0' && p[i] <= '9') {
        i++;
        major++;
    }
    if (major == 0 || i == len || p[i++] != '.') {
        return 400;
    }
    while (i < len && p[i] >= '0' && p[i] <= '9') {
        i++;
        minor++;
    }
    if (minor == 0 || (i < len && p[i] != '\r' && p[i] != '\n' && p[i] != ' ')) {
        return 400;
    }
    bool spoken = i == 3 && p[0] == '1' && (p[2] == '0' || p[2] == '1');
    return spoken ? 400 : 505;
}

static bool framing_name(const char *p, size_t len)
{
    mg_str_t n = mg_str(p, len);
    return mg_str_caseeq(n, MG_STR("Content-Length")) ||
           mg_str_caseeq(n, MG_STR("Transfer-Encoding"));
}

void mg_http_framing_tabs(char *head, size_t from, size_t len)
{
    if (from >= len || memchr(head + from, '\t', len - from) == NULL) {
        return;
    }
    /* empty lines before the request line are not the end of the head */
    size_t start = 0;
    while (start + 1 < len && head[start] == '\r' && head[start + 1] == '\n') {
        start += 2;
    }
    size_t ls = from;
    while (ls > start && head[ls - 1] != '\n') {
        ls--;
    }
    while (ls < len) {
        size_t e = ls;
        while (e < len && head[e] != '\n') {
            e++;
        }
        if (ls > start && e < len && (e == ls || (e == ls + 1 && head[ls] == '\r'))) {
            return; /* the empty line ending the head: what follows is body */
        }
        const char *colon = memchr(head + ls, ':', e - ls);
        if (colon != NULL && framing_name(head + ls, (size_t)(colon - (head + ls)))) {
            for (size_t k = MG_MAX((size_t)(colon - head) + 1, from); k < e; k++) {
                if (head[k] == '\t') {
                    head[k] = ' ';
                }
            }
        }
        ls = e + 1;
    }
}

/* ---- chunked bodies ---- */

enum {
    CK_OFF = 0,
    CK_SIZE0,    /* first hex digit of a size */
    CK_SIZE,     /* more digits, or what ends the size */
    CK_SIZE_BWS, /* BWS after the size: only ';' may follow */
    CK_SEMI,     /* after ';': BWS, then an extension name */
    CK_NAME,     /* extension name */
    CK_NAME_BWS, /* BWS after a name: '=' or ';' follows */
    CK_EQ,       /* after '=': BWS, then a token or a quoted string */
    CK_TOKEN,    /* token value */
    CK_QUOTED,   /* inside a quoted value */
    CK_ESCAPE,   /* after '\\' in a quoted value */
    CK_VAL_END,  /* right after a value: ';', BWS or CR */
    CK_VAL_BWS,  /* BWS after a value: only ';' may follow */
    CK_SIZE_LF,  /* CR ended the size line: LF */
    CK_DATA,
    CK_DATA_CR, /* the CRLF after a chunk's data */
    CK_DATA_LF,
    CK_TRAILER, /* start of a trailer line, or the CR of the last line */
    CK_TNAME,
    CK_TVALUE,
    CK_TLF,
    CK_END_LF,
};

static const mg_str_t framing_names[] = {MG_STR("content-length"), MG_STR("transfer-encoding")};

void mg_http_chunked_init(mg_http_chunked_t *ck, uint32_t max_ext, uint32_t max_line, uint32_t room)
{
    memset(ck, 0, sizeof(*ck));
    ck->max_ext = max_ext;
    ck->max_line = max_line;
    ck->room = room;
    ck->state = CK_SIZE0;
}

static bool ws(unsigned char c)
{
    return c == ' ' || c == '\t';
}

/* qdtext and the byte after '\\' (RFC 9110 §5.6.4), minus what ends or escapes */
static bool qdtext(unsigned char c)
{
    return c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) ||
           (c >= 0x5d && c <= 0x7e) || c >= 0x80;
}

static bool field_vchar(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* One byte of a chunk-size line after its digits. Returns false when it is refused. */
static bool ext_byte(mg_http_chunked_t *ck, unsigned char c)
{
    uint8_t s = ck->state;
    if (c == '\r') {
        if (s != CK_SIZE && s != CK_NAME && s != CK_TOKEN && s != CK_VAL_END) {
            return false;
        }
        ck->state = CK_SIZE_LF;
        return true;
    }
    if (++ck->ext > ck->max_ext) {
        ck->why = "chunk extension too long";
        return false;
    }
    switch (s) {
    case CK_SIZE:
    case CK_NAME:
    case CK_TOKEN:
    case CK_VAL_END:
        if (c == ';') {
            ck->state = CK_SEMI;
        } else if (ws(c)) {
            ck->state = s == CK_SIZE ? CK_SIZE_BWS : s == CK_NAME ? CK_NAME_BWS : CK_VAL_BWS;
        } else if (s == CK_NAME && c == '=') {
            ck->state = CK_EQ;
        } else {
            return (s == CK_NAME || s == CK_TOKEN) && tchar(c);
        }
        return true;
    case CK_SIZE_BWS:
    case CK_VAL_BWS:
    case CK_NAME_BWS:
        if (c == ';') {
            ck->state = CK_SEMI;
        } else if (s == CK_NAME_BWS && c == '=') {
            ck->state = CK_EQ;
        } else {
            return ws(c);
        }
        return true;
    case CK_SEMI:
        if (tchar(c)) {
            ck->state = CK_NAME;
        }
        return tchar(c) || ws(c);
    case CK_EQ:
        if (c == '"') {
            ck->state = CK_QUOTED;
        } else if (tchar(c)) {
            ck->state = CK_TOKEN;
        }
        return c == '"' || tchar(c) || ws(c);
    case CK_QUOTED:
        if (c == '"' || c == '\\') {
            ck->state = c == '"' ? CK_VAL_END : CK_ESCAPE;
            return true;
        }
        return qdtext(c);
    case CK_ESCAPE:
        ck->state = CK_QUOTED;
        return c == '\t' || (c >= 0x20 && c != 0x7f);
    }
    return false;
}

/* One byte of the size itself, or the first byte after it. */
static bool size_byte(mg_http_chunked_t *ck, unsigned char c)
{
    int d = hexval(c);
    if (d >= 0) {
        if (ck->state == CK_SIZE && ((ck->left >> 56) != 0 || ++ck->digits > 32)) {
            ck->why = "chunk size too large";
            return false;
        }
        ck->left = ck->left << 4 | (uint64_t)d;
        ck->state = CK_SIZE;
        return true;
    }
    return ck->state == CK_SIZE && ext_byte(ck, c);
}

/* Counts one trailer byte against the limits; false (431) when over one. */
static bool trailer_room(mg_http_chunked_t *ck, bool in_line)
{
    if (ck->room == 0) {
        ck->why = "request headers too large";
        return false;
    }
    ck->room--;
    if (in_line && ++ck->line > ck->max_line) {
        ck->why = "header line too long";
        return false;
    }
    return true;
}

/* One byte of the trailer section. */
static bool trailer_byte(mg_http_chunked_t *ck, unsigned char c)
{
    switch (ck->state) {
    case CK_TRAILER:
        if (c == '\r') {
            ck->state = CK_END_LF;
            return true;
        }
        if (!tchar(c)) {
            ck->why = ws(c) ? "obs-fold in a trailer" : "invalid trailer field";
            return false;
        }
        ck->state = CK_TNAME;
        ck->name_len = 0;
        ck->framing = (1u << MG_NELEMS(framing_names)) - 1;
        /* fall through */
    case CK_TNAME:
        if (c == ':') {
            for (size_t i = 0; i < MG_NELEMS(framing_names); i++) {
                if ((ck->framing >> i & 1) && ck->name_len == framing_names[i].len) {
                    ck->why = "framing field in the trailer";
                    return false;
                }
            }
            ck->state = CK_TVALUE;
            return true;
        }
        if (!tchar(c)) {
            ck->why = "invalid trailer field name";
            return false;
        }
        for (size_t i = 0; i < MG_NELEMS(framing_names); i++) {
            if (ck->name_len >= framing_names[i].len ||
                (c | 0x20) != framing_names[i].p[ck->name_len]) {
                ck->framing &= (uint8_t) ~(1u << i);
            }
        }
        ck->name_len = ck->name_len < UINT16_MAX ? ck->name_len + 1 : UINT16_MAX;
        return true;
    case CK_TVALUE:
        if (c == '\r') {
            ck->state = CK_TLF;
            return true;
        }
        ck->why = "control character in a trailer";
        return field_vchar(c);
    case CK_TLF:
    case CK_END_LF:
        ck->why = "bare CR in a trailer";
        if (c != '\n') {
            return false;
        }
        ck->state = ck->state == CK_TLF ? CK_TRAILER : CK_OFF;
        ck->line = 0;
        return true;
    }
    return false;
}

/* One framing byte; false when refused (ck->why set, or a generic reason below). */
static bool framing_byte(mg_http_chunked_t *ck, unsigned char c)
{
    switch (ck->state) {
    case CK_SIZE0:
    case CK_SIZE:
        ck->why = "invalid chunk size";
        return size_byte(ck, c);
    case CK_SIZE_LF:
        ck->why = "bare CR in a chunk size line";
        if (c != '\n') {
            return false;
        }
        ck->state = ck->left > 0 ? CK_DATA : CK_TRAILER;
        return true;
    case CK_DATA_CR:
    case CK_DATA_LF:
        ck->why = "chunk data not followed by CRLF";
        if (c != (ck->state == CK_DATA_CR ? '\r' : '\n')) {
            return false;
        }
        if (ck->state == CK_DATA_CR) {
            ck->state = CK_DATA_LF;
        } else {
            ck->state = CK_SIZE0;
            ck->ext = ck->digits = 0;
        }
        return true;
    case CK_TRAILER:
    case CK_TNAME:
    case CK_TVALUE:
    case CK_TLF:
    case CK_END_LF:
        ck->status = 431;
        if (!trailer_room(ck, ck->state == CK_TNAME || ck->state == CK_TVALUE ||
                                  (ck->state == CK_TRAILER && c != '\r'))) {
            return false;
        }
        ck->status = 400;
        return trailer_byte(ck, c);
    default:
        ck->why = "invalid chunk extension";
        return ext_byte(ck, c);
    }
}

int mg_http_chunked_decode(mg_http_chunked_t *ck, const char *p, size_t len, size_t *used,
                           mg_str_t *data)
{
    size_t i = 0;
    while (i < len) {
        if (ck->state == CK_DATA) {
            size_t n = ck->left < len - i ? (size_t)ck->left : len - i;
            ck->left -= n;
            if (ck->left == 0) {
                ck->state = CK_DATA_CR;
            }
            *data = mg_str(p + i, n);
            *used = i + n;
            return MG_OK;
        }
        ck->status = 400;
        if (!framing_byte(ck, (unsigned char)p[i])) {
            ck->state = CK_OFF;
            *used = i;
            return MG_ERROR;
        }
        i++;
        if (ck->state == CK_OFF) {
            *used = i;
            return MG_DONE;
        }
    }
    *used = len;
    return MG_AGAIN;
}

/* The names of the IANA HTTP Status Code registry (RFC 9110 §15 and the RFCs it lists;
 * 510 is obsoleted but keeps its name; temporary entries are left out). */
const char *mg_http_reason(int status)
{
    /* clang-format off */
    switch (status) {
    case 100:
        return "Continue";
    case 101:
        return "Switching Protocols";
    case 102:
        return "Processing";
    case 103:
        return "Early Hints";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 203:
        return "Non-Authoritative Information";
    case 204:
        return "No Content";
    case 205:
        return "Reset Content";
    case 206:
        return "Partial Content";
    case 207:
        return "Multi-Status";
    case 208:
        return "Already Reported";
    case 226:
        return "IM Used";
    case 300:
        return "Multiple Choices";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 305:
        return "Use Proxy";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 402:
        return "Payment Required";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 406:
        return "Not Acceptable";
    case 407:
        return "Proxy Authentication Required";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 411:
        return "Length Required";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 416:
        return "Range Not Satisfiable";
    case 417:
        return "Expectation Failed";
    case 421:
        return "Misdirected Request";
    case 422:
        return "Unprocessable Content";
    case 423:
        return "Locked";
    case 424:
        return "Failed Dependency";
    case 425:
        return "Too Early";
    case 426:
        return "Upgrade Required";
    case 428:
        return "Precondition Required";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 451:
        return "Unavailable For Legal Reasons";
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
    case 506:
        return "Variant Also Negotiates";
    case 507:
        return "Insufficient Storage";
    case 508:
        return "Loop Detected";
    case 510:
        return "Not Extended";
    case 511:
        return "Network Authentication Required";
    default:
        /* 306 and 418 are reserved without a name, the others unassigned or private: an
         * empty phrase (RFC 9112 §4 allows it) rather than a made-up one */
        return "";
    }
    /* clang-format on */
}
