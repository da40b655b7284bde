/*
 * conf_tls.c -- the TLS keys: `tls:` (what TLS listeners serve), the `{address, tls}`
 * form of a listen entry (and its `proxy_protocol`), an upstream's `tls:` and the files they name.
 *
 * Files are only named here. The master reads them whole after the walk
 * (mg_conf_read_files) and sends their bytes to the workers with the config, so that a
 * certificate and its key are read together once, and every worker builds from what
 * was validated. The checks that need the bytes (a key that does not match, a chain in
 * the wrong order, an expired certificate) are sys/tls.c's, reported at the position
 * kept in each mg_conf_file_t.
 */
#include "conf_int.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MG_CONF_FILE_MAX (16u << 20)

/* Names `f` after the scalar `v` (a path), and registers it for mg_conf_read_files. */
static int conf_file(mg__conf_ctx_t *c, yaml_node_t *v, mg_conf_file_t *f)
{
    const char *s;
    if (mg__conf_str(c, v, &s) != MG_OK) {
        return MG_ERROR;
    }
    f->path = mg__conf_abspath(c, s);
    f->line = (int)v->start_mark.line + 1;
    f->column = (int)v->start_mark.column + 1;
    f->key = mg_pool_strndup(c->pool, c->path, c->pathlen);
    mg_conf_t *conf = c->conf;
    mg_conf_file_t **files = mg_pool_alloc(c->pool, (conf->nfiles + 1) * sizeof(*files));
    if (f->path == NULL || f->key == NULL || files == NULL) {
        return mg__conf_fail(c, v, "out of memory");
    }
    if (conf->nfiles > 0) {
        memcpy(files, conf->files, conf->nfiles * sizeof(*files));
    }
    files[conf->nfiles++] = f;
    conf->files = files;
    return MG_OK;
}

/* ---- listen entries ---- */

static int on_listen_address(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_addr(c, v, &((mg_listen_conf_t *)obj)->addr);
}

static int on_listen_tls(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_bool(c, v, &((mg_listen_conf_t *)obj)->tls);
}

static int on_listen_backlog(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_int(c, v, 1, 65535, &((mg_listen_conf_t *)obj)->backlog);
}

static int on_listen_proxy_protocol(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_bool(c, v, &((mg_listen_conf_t *)obj)->proxy_protocol);
}

static const mg__conf_field_t listen_fields[] = {
    {"address", on_listen_address, NULL},
    {"tls", on_listen_tls, NULL},
    {"backlog", on_listen_backlog, NULL},
    {"proxy_protocol", on_listen_proxy_protocol, NULL},
};

int mg__conf_listen_item(mg__conf_ctx_t *c, yaml_node_t *v, mg_listen_conf_t *l)
{
    l->backlog = 511;
    if (v->type != YAML_MAPPING_NODE) {
        return mg__conf_addr(c, v, &l->addr);
    }
    uint64_t seen;
    if (mg__conf_map(c, v, listen_fields, MG_NELEMS(listen_fields), l, &seen) != MG_OK ||
        mg__conf_require(c, v, seen, listen_fields, 0) != MG_OK) {
        return MG_ERROR;
    }
    return MG_OK;
}

/* ---- tls.certificates[] ---- */

#define CERT_OBJ(obj) ((mg_tls_cert_conf_t *)(obj))

static int on_cert_cert(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return conf_file(c, v, &CERT_OBJ(obj)->cert);
}

static int on_cert_key(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return conf_file(c, v, &CERT_OBJ(obj)->key);
}

/* A server name as a client sends it: a DNS name, lowercase, or "*." and one. */
static bool sni_ok(const char *s)
{
    const char *p = strncmp(s, "*.", 2) == 0 ? s + 2 : s;
    size_t len = strlen(p);
    if (len == 0 || len > 253 || p[0] == '.' || p[len - 1] == '.' || strstr(p, "..") != NULL) {
        return false;
    }
    for (; *p != '\0'; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' ||
              *p == '_')) {
            return false;
        }
    }
    return true;
}

static int on_cert_snis(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    mg_tls_cert_conf_t *cc = obj;
    yaml_node_t **items;
    size_t n;
    bool scalar;
    if (mg__conf_list(c, v, true, &items, &n, &scalar) != MG_OK) {
        return MG_ERROR;
    }
    if (n == 0) {
        return mg__conf_fail(c, v, "expected at least one server name");
    }
    cc->snis = mg_pool_calloc(c->pool, n * sizeof(*cc->snis));
    if (cc->snis == NULL) {
        return mg__conf_fail(c, v, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        size_t saved = scalar ? c->pathlen : mg__conf_push_index(c, i);
        const char *s;
        if (mg__conf_str(c, items[i], &s) != MG_OK) {
            return MG_ERROR;
        }
        char *low = mg_pool_strdup(c->pool, s);
        if (low == NULL) {
            return mg__conf_fail(c, items[i], "out of memory");
        }
        for (char *p = low; *p != '\0'; p++) {
            *p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        }
        if (!sni_ok(low)) {
            return mg__conf_fail(c, items[i],
                                 "expected a host name or \"*.\" and one (\"*.example.com\"), "
                                 "got \"%s\"",
                                 s);
        }
        cc->snis[i] = low;
        mg__conf_pop(c, saved);
    }
    cc->nsnis = n;
    return MG_OK;
}

static int on_cert_client_ca(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return conf_file(c, v, &CERT_OBJ(obj)->client_ca);
}

static int on_cert_client_verify(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    const char *s = v->type == YAML_SCALAR_NODE ? (const char *)v->data.scalar.value : "";
    mg_tls_cert_conf_t *cc = obj;
    if (strcmp(s, "required") == 0) {
        cc->client_verify = MG_TLS_VERIFY_REQUIRED;
    } else if (strcmp(s, "optional") == 0) {
        cc->client_verify = MG_TLS_VERIFY_OPTIONAL;
    } else if (strcmp(s, "off") == 0 || (v->type == YAML_SCALAR_NODE && strcmp(s, "false") == 0)) {
        cc->client_verify = MG_TLS_VERIFY_OFF;
    } else {
        char what[80];
        return mg__conf_fail(c, v, "expected required, optional or off, got %s",
                             mg__conf_what(v, what, sizeof(what)));
    }
    return MG_OK;
}

static int on_cert_verify_depth(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_int(c, v, 1, 16, &CERT_OBJ(obj)->verify_depth);
}

static int on_cert_crl(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return conf_file(c, v, &CERT_OBJ(obj)->crl);
}

static int on_ocsp_file(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return conf_file(c, v, &CERT_OBJ(obj)->ocsp_file);
}

static int on_ocsp_fetch(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_bool(c, v, &CERT_OBJ(obj)->ocsp_fetch);
}

static const mg__conf_field_t ocsp_fields[] = {
    {"file", on_ocsp_file, NULL},
    {"fetch", on_ocsp_fetch, NULL},
};

static int on_cert_ocsp(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    uint64_t seen;
    if (mg__conf_map(c, v, ocsp_fields, MG_NELEMS(ocsp_fields), obj, &seen) != MG_OK) {
        return MG_ERROR;
    }
    if (CERT_OBJ(obj)->ocsp_file.path != NULL && CERT_OBJ(obj)->ocsp_fetch) {
        return mg__conf_fail(c, v, "file and fetch exclude each other: staple one source");
    }
    return MG_OK;
}

enum { CF_CERT = 0, CF_KEY };

static const mg__conf_field_t cert_fields[] = {
    [CF_CERT] = {"cert", on_cert_cert, NULL},
    [CF_KEY] = {"key", on_cert_key, NULL},
    {"snis", on_cert_snis, NULL},
    {"client_ca", on_cert_client_ca, NULL},
    {"client_verify", on_cert_client_verify, NULL},
    {"verify_depth", on_cert_verify_depth, NULL},
    {"crl", on_cert_crl, NULL},
    {"ocsp", on_cert_ocsp, NULL},
};

static int on_tls_certificates(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    yaml_node_t **items;
    size_t n;
    bool scalar;
    if (mg__conf_list(c, v, false, &items, &n, &scalar) != MG_OK) {
        return MG_ERROR;
    }
    if (n == 0) {
        return mg__conf_fail(c, v, "expected at least one {cert, key}");
    }
    mg_tls_conf_t *t = &c->conf->tls;
    t->certs = mg_pool_calloc(c->pool, n * sizeof(*t->certs));
    if (t->certs == NULL) {
        return mg__conf_fail(c, v, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        size_t saved = mg__conf_push_index(c, i);
        mg_tls_cert_conf_t *cc = &t->certs[i];
        cc->verify_depth = 2;
        cc->line = (int)items[i]->start_mark.line + 1;
        cc->column = (int)items[i]->start_mark.column + 1;
        uint64_t seen;
        if (mg__conf_map(c, items[i], cert_fields, MG_NELEMS(cert_fields), cc, &seen) != MG_OK ||
            mg__conf_require(c, items[i], seen, cert_fields, CF_CERT) != MG_OK ||
            mg__conf_require(c, items[i], seen, cert_fields, CF_KEY) != MG_OK) {
            return MG_ERROR;
        }
        if (cc->client_verify != MG_TLS_VERIFY_OFF && cc->client_ca.path == NULL) {
            mg__conf_push_key(c, "client_verify"); /* the key named in the message */
            return mg__conf_fail(c, mg__conf_find_key(c, items[i], "client_verify", true),
                                 "client_verify needs client_ca: the CAs client "
                                 "certificates are checked against");
        }
        if (cc->client_verify == MG_TLS_VERIFY_OFF && cc->crl.path != NULL) {
            mg__conf_push_key(c, "crl");
            return mg__conf_fail(c, mg__conf_find_key(c, items[i], "crl", true),
                                 "a crl applies to client certificates: set client_verify");
        }
        mg__conf_pop(c, saved);
    }
    t->ncerts = n;
    return MG_OK;
}

/* ---- the rest of tls: ---- */

static int on_tls_strict_sni(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_bool(c, v, &c->conf->tls.strict_sni);
}

static int protocol(const char *s)
{
    if (strcmp(s, "TLSv1.2") == 0) {
        return TLS1_2_VERSION;
    }
    if (strcmp(s, "TLSv1.3") == 0) {
        return TLS1_3_VERSION;
    }
    return 0;
}

static int on_tls_protocols(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    yaml_node_t **items;
    size_t n;
    bool scalar;
    if (mg__conf_list(c, v, true, &items, &n, &scalar) != MG_OK) {
        return MG_ERROR;
    }
    if (n == 0) {
        return mg__conf_fail(c, v, "expected TLSv1.2, TLSv1.3 or both");
    }
    int lo = 0, hi = 0;
    for (size_t i = 0; i < n; i++) {
        const char *s = items[i]->type == YAML_SCALAR_NODE
                            ? (const char *)items[i]->data.scalar.value
                            : "";
        int p = protocol(s);
        if (p == 0) {
            char what[80];
            size_t saved = scalar ? c->pathlen : mg__conf_push_index(c, i);
            (void)saved;
            return mg__conf_fail(c, items[i],
                                 "expected TLSv1.2 or TLSv1.3 (older versions are insecure and "
                                 "not offered), got %s",
                                 mg__conf_what(items[i], what, sizeof(what)));
        }
        lo = lo == 0 || p < lo ? p : lo;
        hi = p > hi ? p : hi;
    }
    c->conf->tls.min_version = lo;
    c->conf->tls.max_version = hi;
    return MG_OK;
}

static int on_tls_ciphers(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_str(c, v, &c->conf->tls.ciphers);
}

static int on_tls_ciphersuites(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_str(c, v, &c->conf->tls.ciphersuites);
}

static int on_tls_curves(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_str(c, v, &c->conf->tls.curves);
}

static int on_tls_session_tickets(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_bool(c, v, &c->conf->tls.session_tickets);
}

static int on_tls_ticket_key_file(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return conf_file(c, v, &c->conf->tls.ticket_key_file);
}

static int on_tls_ticket_key_rotation(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    if (mg__conf_duration(c, v, false, &c->conf->tls.ticket_key_rotation) != MG_OK) {
        return MG_ERROR;
    }
    if (c->conf->tls.ticket_key_rotation < 1) {
        return mg__conf_fail(c, v, "expected at least 1s");
    }
    return MG_OK;
}

static int on_tls_handshake_timeout(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_duration(c, v, false, &c->conf->tls.handshake_timeout);
}

static int on_tls_watch_certificates(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_bool(c, v, &c->conf->tls.watch_certificates);
}

static int on_tls_client_cert_headers(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_bool(c, v, &c->conf->tls.client_cert_headers);
}

static const mg__conf_field_t tls_fields[] = {
    {"certificates", on_tls_certificates, NULL},
    {"strict_sni", on_tls_strict_sni, NULL},
    {"protocols", on_tls_protocols, NULL},
    {"ciphers", on_tls_ciphers, NULL},
    {"ciphersuites", on_tls_ciphersuites, NULL},
    {"curves", on_tls_curves, NULL},
    {"session_tickets", on_tls_session_tickets, NULL},
    {"ticket_key_file", on_tls_ticket_key_file, NULL},
    {"ticket_key_rotation", on_tls_ticket_key_rotation, NULL},
    {"handshake_timeout", on_tls_handshake_timeout, NULL},
    {"watch_certificates", on_tls_watch_certificates, NULL},
    {"client_cert_headers", on_tls_client_cert_headers, NULL},
};

void mg__conf_tls_defaults(mg_tls_conf_t *t)
{
    *t = (mg_tls_conf_t){
        .min_version = TLS1_2_VERSION,
        .max_version = TLS1_3_VERSION,
        /* Mozilla's "intermediate" TLS 1.2 suites, in its order, minus the DHE ones:
         * every client that has them has ECDHE too, and a finite-field group is a
         * well-known prime that checkers (testssl.sh) flag */
        .ciphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                   "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                   "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305",
        .ciphersuites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
                        "TLS_CHACHA20_POLY1305_SHA256",
        .curves = "X25519:P-256:P-384",
        .session_tickets = true,
        .ticket_key_rotation = 3600,
        .handshake_timeout = 10,
    };
}

int mg__conf_on_tls(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    uint64_t seen;
    return mg__conf_map(c, v, tls_fields, MG_NELEMS(tls_fields), NULL, &seen);
}

/* Once every key is read: a TLS listener needs something to serve. */
int mg__conf_tls_finish(mg__conf_ctx_t *c, yaml_node_t *root)
{
    for (size_t i = 0; i < c->conf->nlisten; i++) {
        if (c->conf->listen[i].tls && c->conf->tls.ncerts == 0) {
            size_t saved = mg__conf_push_key(c, "listen");
            mg__conf_push_index(c, i);
            yaml_node_t *at = root != NULL ? mg__conf_find_key(c, root, "listen", true) : NULL;
            mg__conf_fail(c, at, "a TLS listener (\"%s\") needs tls.certificates",
                          c->conf->listen[i].addr.text);
            mg__conf_pop(c, saved);
            return MG_ERROR;
        }
    }
    return MG_OK;
}

/* ---- upstreams[].tls ---- */

#define UP_TLS(obj) ((mg_upstream_tls_conf_t *)(obj))

static int on_up_tls_verify(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_bool(c, v, &UP_TLS(obj)->verify);
}

static int on_up_tls_ca(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return conf_file(c, v, &UP_TLS(obj)->ca);
}

static int on_up_tls_sni(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    const char *s;
    if (mg__conf_str(c, v, &s) != MG_OK) {
        return MG_ERROR;
    }
    if (!sni_ok(s) || s[0] == '*') {
        return mg__conf_fail(c, v, "expected a host name, got \"%s\"", s);
    }
    UP_TLS(obj)->sni = s;
    return MG_OK;
}

static int on_up_tls_cert(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return conf_file(c, v, &UP_TLS(obj)->cert);
}

static int on_up_tls_key(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return conf_file(c, v, &UP_TLS(obj)->key);
}

static int on_up_tls_verify_depth(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    return mg__conf_int(c, v, 1, 16, &UP_TLS(obj)->verify_depth);
}

static const mg__conf_field_t up_tls_fields[] = {
    {"verify", on_up_tls_verify, NULL},
    {"ca", on_up_tls_ca, NULL},
    {"sni", on_up_tls_sni, NULL},
    {"cert", on_up_tls_cert, NULL},
    {"key", on_up_tls_key, NULL},
    {"verify_depth", on_up_tls_verify_depth, NULL},
};

int mg__conf_on_up_tls(mg__conf_ctx_t *c, yaml_node_t *v, void *obj)
{
    mg_upstream_tls_conf_t *t = &((mg_upstream_conf_t *)obj)->tls;
    *t = (mg_upstream_tls_conf_t){.verify = true, .verify_depth = 4};
    if (v->type == YAML_SCALAR_NODE) {
        return mg__conf_bool(c, v, &t->on);
    }
    t->on = true;
    uint64_t seen;
    if (mg__conf_map(c, v, up_tls_fields, MG_NELEMS(up_tls_fields), t, &seen) != MG_OK) {
        return MG_ERROR;
    }
    if ((t->cert.path == NULL) != (t->key.path == NULL)) {
        return mg__conf_fail(c, v, "cert and key come together: a client certificate needs both");
    }
    if (!t->verify && t->ca.path != NULL) {
        return mg__conf_fail(c, mg__conf_find_key(c, v, "ca", true),
                             "ca is unused with verify: false");
    }
    return MG_OK;
}

/* ---- reading the files ---- */

static int file_fail(const mg_conf_t *conf, const mg_conf_file_t *f, mg_conf_err_t *err,
                     const char *fmt, const char *arg)
{
    memset(err, 0, sizeof(*err));
    snprintf(err->file, sizeof(err->file), "%s", conf->file);
    err->line = f->line;
    err->column = f->column;
    snprintf(err->key, sizeof(err->key), "%s", f->key);
    snprintf(err->msg, sizeof(err->msg), fmt, f->path, arg);
    return MG_ERROR;
}

int mg_conf_read_files(mg_conf_t *conf, mg_conf_err_t *err)
{
    for (size_t i = 0; i < conf->nfiles; i++) {
        mg_conf_file_t *f = conf->files[i];
        int fd = open(f->path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 && errno == ENOENT && f->optional) {
            continue;
        }
        if (fd < 0 || fstat(fd, &st) != 0) {
            int e = errno;
            if (fd >= 0) {
                close(fd);
            }
            return file_fail(conf, f, err, "cannot read %s: %s", strerror(e));
        }
        if (!S_ISREG(st.st_mode) || (size_t)st.st_size > MG_CONF_FILE_MAX) {
            close(fd);
            return file_fail(conf, f, err, "cannot read %s: %s",
                             S_ISREG(st.st_mode) ? "larger than 16 MiB" : "not a regular file");
        }
        char *data = mg_pool_alloc(conf->pool, (size_t)st.st_size + 1);
        size_t got = 0;
        while (data != NULL && got < (size_t)st.st_size) {
            ssize_t n = read(fd, data + got, (size_t)st.st_size - got);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                break;
            }
            got += (size_t)n;
        }
        int e = errno;
        close(fd);
        if (data == NULL) {
            return file_fail(conf, f, err, "cannot read %s: %s", "out of memory");
        }
        if (got < (size_t)st.st_size) {
            return file_fail(conf, f, err, "cannot read %s: %s",
                             got == 0 && e != 0 ? strerror(e) : "it changed while read");
        }
        data[got] = '\0';
        f->data = data;
        f->len = got;
    }
    return MG_OK;
}
