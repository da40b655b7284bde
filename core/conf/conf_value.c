/*
 * conf_value.c -- scalar values of the configuration: durations, sizes, addresses,
 * integers and strings, both as public parsers (plain C strings) and as readers of
 * YAML nodes that explain what was expected when a value is wrong.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>

#include "conf_int.h"

/* A configured time beyond this is a typo, and would overflow libev's timers anyway. */
#define MG_CONF_MAX_SECONDS (365.0 * 24 * 3600)

int mg_conf_parse_duration(const char *s, double *out)
{
    if (s == NULL || !((*s >= '0' && *s <= '9') || *s == '.')) {
        return MG_ERROR;
    }
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    /* strtod also takes hex, exponents and "inf"; a duration is plain decimal */
    if (errno != 0 || end == s || !isfinite(v) || strspn(s, "0123456789.") != (size_t)(end - s)) {
        return MG_ERROR;
    }
    static const struct {
        const char *unit;
        double mult;
    } units[] = {{"", 1}, {"ms", 0.001}, {"s", 1}, {"m", 60}, {"h", 3600}};
    for (size_t i = 0; i < MG_NELEMS(units); i++) {
        if (strcmp(end, units[i].unit) == 0) {
            v *= units[i].mult;
            if (v > MG_CONF_MAX_SECONDS) {
                return MG_ERROR;
            }
            *out = v;
            return MG_OK;
        }
    }
    return MG_ERROR;
}

int mg_conf_parse_size(const char *s, size_t *out)
{
    if (s == NULL || *s < '0' || *s > '9') {
        return MG_ERROR;
    }
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0) {
        return MG_ERROR;
    }
    unsigned shift = 0;
    switch (*end) {
    case '\0':
        break;
    case 'k':
    case 'K':
        shift = 10;
        end++;
        break;
    case 'm':
    case 'M':
        shift = 20;
        end++;
        break;
    case 'g':
    case 'G':
        shift = 30;
        end++;
        break;
    default:
        return MG_ERROR;
    }
    if (*end != '\0' || v > (SIZE_MAX >> shift)) {
        return MG_ERROR;
    }
    *out = (size_t)(v << shift);
    return MG_OK;
}

/* "1..65535", digits only. */
static int parse_port(const char *s, in_port_t *out)
{
    unsigned long v = 0;
    size_t n = 0;
    for (; s[n] >= '0' && s[n] <= '9' && n < 6; n++) {
        v = v * 10 + (unsigned long)(s[n] - '0');
    }
    if (n == 0 || s[n] != '\0' || v < 1 || v > 65535) {
        return MG_ERROR;
    }
    *out = htons((in_port_t)v);
    return MG_OK;
}

static bool is_hostname(const char *h, size_t len)
{
    if (len == 0 || len > 253 || h[0] == '-' || h[0] == '.') {
        return false;
    }
    for (size_t i = 0; i < len; i++) {
        char ch = h[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_';
        if (!ok) {
            return false;
        }
    }
    return true;
}

/* Resolves a host name once, taking the first IPv4 or IPv6 answer. */
static int resolve(const char *host, in_port_t port, mg_addr_t *out, const char **why)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, NULL, &hints, &res) != 0 || res == NULL) {
        *why = "the host name does not resolve";
        return MG_ERROR;
    }
    int rc = MG_ERROR;
    *why = "the host name has no IPv4 or IPv6 address";
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        if ((ai->ai_family == AF_INET || ai->ai_family == AF_INET6) &&
            ai->ai_addrlen <= sizeof(out->sa)) {
            memcpy(&out->sa, ai->ai_addr, ai->ai_addrlen);
            out->salen = ai->ai_addrlen;
            rc = MG_OK;
            break;
        }
    }
    freeaddrinfo(res);
    if (rc == MG_OK && out->sa.ss_family == AF_INET) {
        ((struct sockaddr_in *)&out->sa)->sin_port = port;
    } else if (rc == MG_OK) {
        ((struct sockaddr_in6 *)&out->sa)->sin6_port = port;
    }
    return rc;
}

static int set_v4(const char *host, in_port_t port, mg_addr_t *out)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)&out->sa;
    if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
        return MG_ERROR;
    }
    sin->sin_family = AF_INET;
    sin->sin_port = port;
    out->salen = sizeof(*sin);
    return MG_OK;
}

static int set_v6(const char *host, in_port_t port, mg_addr_t *out)
{
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->sa;
    if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1) {
        return MG_ERROR;
    }
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = port;
    out->salen = sizeof(*sin6);
    return MG_OK;
}

static bool all_digits_and_dots(const char *h)
{
    for (; *h; h++) {
        if (!((*h >= '0' && *h <= '9') || *h == '.')) {
            return false;
        }
    }
    return true;
}

/* Splits "host:port" / "[v6]:port" into host (copied into hbuf) and port text. */
static int split_addr(const char *s, char *hbuf, size_t hlen, const char **port, bool *v6,
                      const char **why)
{
    const char *colon;
    const char *h = s;
    size_t n;
    *v6 = s[0] == '[';
    if (*v6) {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':') {
            *why = "an IPv6 address is written \"[ADDR]:PORT\"";
            return MG_ERROR;
        }
        h = s + 1;
        n = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL) {
            *why = "the port is missing";
            return MG_ERROR;
        }
        n = (size_t)(colon - s);
        if (memchr(s, ':', n) != NULL) {
            *why = "an IPv6 address is written \"[ADDR]:PORT\"";
            return MG_ERROR;
        }
    }
    if (n == 0 || n >= hlen) {
        *why = n == 0 ? "the address before the port is empty" : "the address is too long";
        return MG_ERROR;
    }
    memcpy(hbuf, h, n);
    hbuf[n] = '\0';
    *port = colon + 1;
    return MG_OK;
}

/* mg__conf_parse_addr() up to the point where a host name would be resolved: then the
 * name (in host, hlen bytes) and the port in network order, and MG_DECLINED. */
static int parse_addr(const char *s, mg_addr_t *out, char *host, size_t hlen, in_port_t *port,
                      const char **why)
{
    const char *port_s;
    bool v6;
    memset(&out->sa, 0, sizeof(out->sa));
    out->text = s;
    *why = "the port must be a number from 1 to 65535";
    if (s == NULL || s[0] == '\0') {
        *why = "the address is empty";
        return MG_ERROR;
    }
    if (s[strspn(s, "0123456789")] == '\0') {
        return parse_port(s, port) == MG_OK ? set_v4("0.0.0.0", *port, out) : MG_ERROR;
    }
    if (split_addr(s, host, hlen, &port_s, &v6, why) != MG_OK) {
        return MG_ERROR;
    }
    if (parse_port(port_s, port) != MG_OK) {
        *why = "the port must be a number from 1 to 65535";
        return MG_ERROR;
    }
    if (v6) {
        *why = "not a valid IPv6 address";
        return set_v6(host, *port, out);
    }
    if (strcmp(host, "*") == 0) {
        return set_v4("0.0.0.0", *port, out);
    }
    if (all_digits_and_dots(host)) {
        *why = "not a valid IPv4 address";
        return set_v4(host, *port, out);
    }
    if (!is_hostname(host, strlen(host))) {
        *why = "not a valid IP address or host name";
        return MG_ERROR;
    }
    return MG_DECLINED;
}

int mg__conf_parse_addr(const char *s, mg_addr_t *out, const char **why)
{
    char host[256];
    in_port_t port;
    int rc = parse_addr(s, out, host, sizeof(host), &port, why);
    return rc == MG_DECLINED ? resolve(host, port, out, why) : rc;
}

int mg__conf_parse_addr_lazy(const char *s, mg_addr_t *out, char *host, size_t hlen, uint16_t *port,
                             const char **why)
{
    in_port_t p = 0;
    int rc = parse_addr(s, out, host, hlen, &p, why);
    *port = ntohs(p);
    return rc;
}

bool mg__conf_is_hostname(const char *h)
{
    return is_hostname(h, strlen(h)) && !all_digits_and_dots(h);
}

int mg_conf_parse_addr(const char *s, mg_addr_t *out)
{
    const char *why;
    return mg__conf_parse_addr(s, out, &why);
}

bool mg__conf_addr_eq(const mg_addr_t *a, const mg_addr_t *b)
{
    return a->salen == b->salen && memcmp(&a->sa, &b->sa, a->salen) == 0;
}

/* Readers of YAML nodes */

bool mg__conf_is_null(const yaml_node_t *node)
{
    if (node->type != YAML_SCALAR_NODE || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
        return false;
    }
    const char *v = (const char *)node->data.scalar.value;
    return v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
           strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

/* The scalar's text, or NULL after recording "expected <what>". */
static const char *scalar(mg__conf_ctx_t *c, yaml_node_t *node, const char *expected)
{
    char what[80];
    if (node->type != YAML_SCALAR_NODE || mg__conf_is_null(node)) {
        mg__conf_fail(c, node, "expected %s, got %s", expected,
                      mg__conf_what(node, what, sizeof(what)));
        return NULL;
    }
    const char *v = (const char *)node->data.scalar.value;
    if (strlen(v) != node->data.scalar.length) {
        mg__conf_fail(c, node, "expected %s without NUL bytes", expected);
        return NULL;
    }
    return v;
}

int mg__conf_str(mg__conf_ctx_t *c, yaml_node_t *node, const char **out)
{
    const char *v = scalar(c, node, "a string");
    if (v == NULL) {
        return MG_ERROR;
    }
    if (v[0] == '\0') {
        return mg__conf_fail(c, node, "expected a non-empty string");
    }
    *out = mg_pool_strdup(c->pool, v);
    return *out ? MG_OK : mg__conf_fail(c, node, "out of memory");
}

int mg__conf_int(mg__conf_ctx_t *c, yaml_node_t *node, long min, long max, int *out)
{
    char expected[96];
    snprintf(expected, sizeof(expected), "an integer from %ld to %ld", min, max);
    const char *v = scalar(c, node, expected);
    if (v == NULL) {
        return MG_ERROR;
    }
    errno = 0;
    char *end;
    long n = strtol(v, &end, 10);
    bool digits = (v[0] >= '0' && v[0] <= '9') || (v[0] == '-' && v[1] >= '0' && v[1] <= '9');
    if (!digits || *end != '\0' || errno != 0 || n < min || n > max) {
        char what[80];
        return mg__conf_fail(c, node, "expected %s, got %s", expected,
                             mg__conf_what(node, what, sizeof(what)));
    }
    *out = (int)n;
    return MG_OK;
}

int mg__conf_bool(mg__conf_ctx_t *c, yaml_node_t *node, bool *out)
{
    const char *v = scalar(c, node, "true or false");
    if (v == NULL) {
        return MG_ERROR;
    }
    if (strcmp(v, "true") == 0 || strcmp(v, "false") == 0) {
        *out = v[0] == 't';
        return MG_OK;
    }
    char what[80];
    return mg__conf_fail(c, node, "expected true or false, got %s",
                         mg__conf_what(node, what, sizeof(what)));
}

int mg__conf_duration(mg__conf_ctx_t *c, yaml_node_t *node, bool allow_zero, double *out)
{
    const char *expected = allow_zero ? "a duration like 250ms, 2s, 1m or 1h"
                                      : "a duration above 0 like 250ms, 2s, 1m or 1h";
    const char *v = scalar(c, node, expected);
    if (v == NULL) {
        return MG_ERROR;
    }
    double d;
    if (mg_conf_parse_duration(v, &d) != MG_OK || (!allow_zero && d <= 0)) {
        char what[80];
        return mg__conf_fail(c, node, "expected %s, got %s", expected,
                             mg__conf_what(node, what, sizeof(what)));
    }
    *out = d;
    return MG_OK;
}

/* "64k"-style text for messages. */
static void size_text(size_t v, char *buf, size_t len)
{
    if (v >= (1u << 30) && v % (1u << 30) == 0) {
        snprintf(buf, len, "%zug", v >> 30);
    } else if (v >= (1u << 20) && v % (1u << 20) == 0) {
        snprintf(buf, len, "%zum", v >> 20);
    } else if (v >= 1024 && v % 1024 == 0) {
        snprintf(buf, len, "%zuk", v >> 10);
    } else {
        snprintf(buf, len, "%zu", v);
    }
}

int mg__conf_size(mg__conf_ctx_t *c, yaml_node_t *node, size_t min, size_t max, size_t *out)
{
    char lo[32], hi[32], expected[128];
    size_text(min, lo, sizeof(lo));
    size_text(max, hi, sizeof(hi));
    snprintf(expected, sizeof(expected), "a size from %s to %s like 512, 8k, 1m or 1g", lo, hi);
    const char *v = scalar(c, node, expected);
    if (v == NULL) {
        return MG_ERROR;
    }
    size_t n;
    if (mg_conf_parse_size(v, &n) != MG_OK || n < min || n > max) {
        char what[80];
        return mg__conf_fail(c, node, "expected %s, got %s", expected,
                             mg__conf_what(node, what, sizeof(what)));
    }
    *out = n;
    return MG_OK;
}

int mg__conf_addr(mg__conf_ctx_t *c, yaml_node_t *node, mg_addr_t *out)
{
    const char *text;
    if (mg__conf_str(c, node, &text) != MG_OK) {
        return MG_ERROR;
    }
    const char *why;
    if (mg__conf_parse_addr(text, out, &why) != MG_OK) {
        char what[80];
        return mg__conf_fail(c, node,
                             "expected \"ADDR:PORT\", \"[IPv6]:PORT\" or \"PORT\", "
                             "got %s: %s",
                             mg__conf_what(node, what, sizeof(what)), why);
    }
    return MG_OK;
}
