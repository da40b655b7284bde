/*
 * conf_access_log.c -- the `access_log` key: where lines go (a file, or syslog over a
 * unix or UDP datagram socket) and their format (combined, json, a template of
 * $variables, or a list of JSON fields). Templates and field lists are compiled here,
 * once, so that a wrong variable fails the load at its line and column, and so that
 * no request ever parses a format.
 *
 *   access_log: { path: logs/access.log, format: combined, buffer: 64k }
 *   access_log: { syslog: "udp:10.0.0.5:514", facility: local7, tag: gw, format: [...] }
 *   access_log: off
 */
#include <sys/un.h>

#include "conf_int.h"

/* The keys read, kept until the whole mapping is read: which may go together is only
 * known then. */
typedef struct {
    bool facility, severity, tag; /* syslog-only keys given */
    mg_log_syslog_conf_t sl;
} access_keys_t;

static const char *const facilities[] = {
    "kern",   "user",   "mail",     "daemon", "auth",   "syslog", "lpr",    "news",
    "uucp",   "cron",   "authpriv", "ftp",    NULL,     NULL,     NULL,     NULL,
    "local0", "local1", "local2",   "local3", "local4", "local5", "local6", "local7"};

static const char *const severities[] = {"emerg", "alert",  "crit", "error",
                                         "warn",  "notice", "info", "debug"};

static int on_path(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    const char *p;
    if (mg__conf_str(c, v, &p) != MG_OK) {
        return MG_ERROR;
    }
    if (strcmp(p, "stderr") != 0 && strcmp(p, "stdout") != 0) {
        p = mg__conf_abspath(c, p);
    }
    c->conf->access_log_path = p;
    return p ? MG_OK : mg__conf_fail(c, v, "out of memory");
}

static int on_buffer(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_size(c, v, 0, 16u << 20, &c->conf->access_log_buffer);
}

/* Characters (not bytes) of the first n bytes of UTF-8 text: libyaml counts columns in
 * characters. */
static size_t chars(const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        k += ((unsigned char)s[i] & 0xc0) != 0x80;
    }
    return k;
}

/* Moves the error's column from the scalar's start to byte `pos` of its value, when the
 * scalar sits on one line as written (plain or quoted without escapes): only then do
 * value and source line up. */
static void point_at(mg__conf_ctx_t *c, const yaml_node_t *v, size_t pos)
{
    const char *s = (const char *)v->data.scalar.value;
    size_t len = v->data.scalar.length;
    yaml_scalar_style_t st = v->data.scalar.style;
    size_t quotes = st == YAML_SINGLE_QUOTED_SCALAR_STYLE || st == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
    if (st != YAML_PLAIN_SCALAR_STYLE && quotes == 0) {
        return;
    }
    if (v->start_mark.line != v->end_mark.line || pos > len ||
        v->end_mark.column - v->start_mark.column != chars(s, len) + 2 * quotes) {
        return;
    }
    c->err->column = (int)(v->start_mark.column + 1 + quotes + chars(s, pos));
}

static int read_template(mg__conf_ctx_t *c, yaml_node_t *v, const char *s)
{
    mg_log_fmt_err_t err;
    const mg_log_fmt_t *f = mg_log_fmt_template(c->pool, s, strlen(s), &err);
    if (f == NULL) {
        mg__conf_fail(c, v, "%s", err.msg);
        point_at(c, v, err.pos);
        return MG_ERROR;
    }
    c->conf->access_log_format = MG_ACCESS_SHAPED;
    c->conf->access_log_fmt = f;
    return MG_OK;
}

static int read_fields(mg__conf_ctx_t *c, yaml_node_t *v)
{
    yaml_node_t **items;
    size_t n;
    bool scalar;
    if (mg__conf_list(c, v, false, &items, &n, &scalar) != MG_OK) {
        return MG_ERROR;
    }
    const char **names = mg_pool_calloc(c->pool, (n ? n : 1) * sizeof(*names));
    if (names == NULL) {
        return mg__conf_fail(c, v, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        size_t saved = mg__conf_push_index(c, i);
        if (mg__conf_str(c, items[i], &names[i]) != MG_OK) {
            return MG_ERROR;
        }
        mg__conf_pop(c, saved);
    }
    mg_log_fmt_err_t err;
    const mg_log_fmt_t *f = mg_log_fmt_fields(c->pool, names, n, &err);
    if (f == NULL) {
        if (n == 0) {
            return mg__conf_fail(c, v, "%s", err.msg);
        }
        size_t saved = mg__conf_push_index(c, err.pos);
        mg__conf_fail(c, items[MG_MIN(err.pos, n - 1)], "%s", err.msg);
        mg__conf_pop(c, saved);
        return MG_ERROR;
    }
    c->conf->access_log_format = MG_ACCESS_SHAPED;
    c->conf->access_log_fmt = f;
    return MG_OK;
}

static int on_format(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    if (v->type == YAML_SEQUENCE_NODE) {
        return read_fields(c, v);
    }
    const char *s;
    if (mg__conf_str(c, v, &s) != MG_OK) {
        return MG_ERROR;
    }
    if (strcmp(s, "combined") == 0 || strcmp(s, "json") == 0) {
        c->conf->access_log_format = s[0] == 'c' ? MG_ACCESS_COMBINED : MG_ACCESS_JSON;
        c->conf->access_log_fmt = NULL;
        return MG_OK;
    }
    if (strchr(s, '$') != NULL) {
        return read_template(c, v, s);
    }
    char what[80];
    return mg__conf_fail(c, v,
                         "expected combined, json, a template of $variables or a list of "
                         "field names, got %s",
                         mg__conf_what(v, what, sizeof(what)));
}

/* "udp:HOST[:PORT]" (514 by default) or "unix:PATH". */
static int on_syslog(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    access_keys_t *k = obj;
    const char *s;
    if (mg__conf_str(c, v, &s) != MG_OK) {
        return MG_ERROR;
    }
    k->sl.target = s;
    if (strncmp(s, "unix:", 5) == 0) {
        const char *path = s[5] == '/' ? s + 5 : mg__conf_abspath(c, s + 5);
        struct sockaddr_un *un = (struct sockaddr_un *)&k->sl.addr;
        if (path == NULL || s[5] == '\0' || strlen(path) >= sizeof(un->sun_path)) {
            return mg__conf_fail(c, v, "expected \"unix:PATH\" with a path of 1 to %zu bytes",
                                 sizeof(un->sun_path) - 1);
        }
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, path, strlen(path) + 1);
        k->sl.addrlen = (socklen_t)sizeof(*un);
        return MG_OK;
    }
    if (strncmp(s, "udp:", 4) == 0 && s[4] != '\0') {
        const char *host = s + 4;
        size_t n = strlen(host);
        bool port = host[0] == '[' ? strstr(host, "]:") != NULL : strchr(host, ':') != NULL;
        char buf[300];
        snprintf(buf, sizeof(buf), "%s%s", host, port ? "" : ":514");
        mg_addr_t a;
        const char *why;
        if (n < 256 && mg__conf_parse_addr(buf, &a, &why) == MG_OK) {
            memcpy(&k->sl.addr, &a.sa, a.salen);
            k->sl.addrlen = a.salen;
            return MG_OK;
        }
        return mg__conf_fail(c, v, "expected \"udp:HOST:PORT\": %s", n < 256 ? why : "too long");
    }
    char what[80];
    return mg__conf_fail(c, v, "expected \"unix:/path\" or \"udp:host:port\", got %s",
                         mg__conf_what(v, what, sizeof(what)));
}

/* One of `names` (NULL holes skipped); its index in *out. */
static int read_name(mg__conf_ctx_t *c, yaml_node_t *v, const char *const *names, size_t n,
                     const char *list, int *out)
{
    const char *s;
    if (mg__conf_str(c, v, &s) != MG_OK) {
        return MG_ERROR;
    }
    for (size_t i = 0; i < n; i++) {
        if (names[i] != NULL && strcmp(s, names[i]) == 0) {
            *out = (int)i;
            return MG_OK;
        }
    }
    return mg__conf_fail(c, v, "expected one of %s, got \"%s\"", list, s);
}

static int on_facility(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    access_keys_t *k = obj;
    k->facility = true;
    return read_name(c, v, facilities, MG_NELEMS(facilities),
                     "kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, authpriv, "
                     "ftp, local0 ... local7",
                     &k->sl.facility);
}

static int on_severity(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    access_keys_t *k = obj;
    k->severity = true;
    return read_name(c, v, severities, MG_NELEMS(severities),
                     "emerg, alert, crit, error, warn, notice, info, debug", &k->sl.severity);
}

static int on_tag(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    access_keys_t *k = obj;
    k->tag = true;
    if (mg__conf_str(c, v, &k->sl.tag) != MG_OK) {
        return MG_ERROR;
    }
    size_t n = strlen(k->sl.tag);
    bool ok = n <= 32;
    for (size_t i = 0; ok && i < n; i++) {
        char ch = k->sl.tag[i];
        ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
             ch == '_' || ch == '-' || ch == '.';
    }
    return ok ? MG_OK
              : mg__conf_fail(c, v,
                              "expected 1 to 32 letters, digits, '_', '-' or '.', got "
                              "\"%s\"",
                              k->sl.tag);
}

static const mg__conf_field_t fields[] = {
    {"path", on_path, NULL},     {"format", on_format, NULL},     {"buffer", on_buffer, NULL},
    {"syslog", on_syslog, NULL}, {"facility", on_facility, NULL}, {"severity", on_severity, NULL},
    {"tag", on_tag, NULL},
};
enum { F_PATH, F_FORMAT, F_BUFFER, F_SYSLOG, F_FACILITY, F_SEVERITY, F_TAG };

/* The checks only the whole mapping allows: path or syslog, and the keys of each. */
static int check_target(mg__conf_ctx_t *c, yaml_node_t *v, uint64_t seen, access_keys_t *k)
{
    bool syslog = seen & (1u << F_SYSLOG);
    if (syslog && (seen & (1u << F_PATH))) {
        return mg__conf_fail(c, mg__conf_find_key(c, v, "syslog", false),
                             "path and syslog are exclusive: an access log goes to a file or "
                             "to syslog");
    }
    if (syslog && (seen & (1u << F_BUFFER))) {
        return mg__conf_fail(c, mg__conf_find_key(c, v, "buffer", false),
                             "buffer applies to a file: syslog sends each line at once");
    }
    static const char *const only_syslog[] = {"facility", "severity", "tag"};
    for (size_t i = 0; !syslog && i < MG_NELEMS(only_syslog); i++) {
        if (seen & (1u << (F_FACILITY + i))) {
            return mg__conf_fail(c, mg__conf_find_key(c, v, only_syslog[i], false),
                                 "%s applies to syslog only, and there is no syslog key",
                                 only_syslog[i]);
        }
    }
    if (!syslog) {
        return MG_OK;
    }
    mg_log_syslog_conf_t *sl = mg_pool_alloc(c->pool, sizeof(*sl));
    if (sl == NULL) {
        return mg__conf_fail(c, v, "out of memory");
    }
    *sl = k->sl;
    c->conf->access_log_syslog = sl;
    c->conf->access_log_path = NULL;
    return MG_OK;
}

int mg__conf_on_access_log(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    if (v->type == YAML_SCALAR_NODE && strcmp((const char *)v->data.scalar.value, "off") == 0) {
        c->conf->access_log_path = NULL;
        return MG_OK;
    }
    if (v->type != YAML_MAPPING_NODE) {
        char what[80];
        return mg__conf_fail(c, v,
                             "expected a mapping {path or syslog, format, ...} or off, got %s",
                             mg__conf_what(v, what, sizeof(what)));
    }
    access_keys_t k = {.sl = {.facility = 23, .severity = 6, .tag = "moongate"}};
    uint64_t seen;
    if (mg__conf_map(c, v, fields, MG_NELEMS(fields), &k, &seen) != MG_OK) {
        return MG_ERROR;
    }
    return check_target(c, v, seen, &k);
}
