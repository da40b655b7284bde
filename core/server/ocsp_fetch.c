/*
 * ocsp_fetch.c -- the worker's OCSP fetcher (ocsp_fetch.h): one job per certificate of
 * `ocsp: { fetch: true }`, that POSTs the leaf's OCSPRequest to the responder its
 * authorityInfoAccess names and hands the answer to sys/tls_ocsp.c, which checks it
 * before any client sees it.
 *
 * A job belongs to its entry in the process's staple cache (tls_ocsp.h): the entry
 * lives as long as a generation serves the leaf, and frees the job through the hook
 * installed here. Jobs run on the loop like everything else: the host is resolved by
 * the worker's resolver, the exchange is the outbound client's (http_client.h) on a
 * connection of its own, bounded by one deadline, with watchers that never keep a
 * draining worker alive. OCSP is plain http by design: the response is signed.
 *
 * When: a new entry at once; after a success at half the time left until the staple's
 * nextUpdate, at most an hour later; after a failure 10 s, doubling to 5 min. A
 * failure is logged at warn, at most every WARN_EVERY per certificate; the staple
 * already held keeps serving until its nextUpdate.
 */
#include "ocsp_fetch.h"

#include "http_client.h"
#include "log.h"
#include "resolver.h"
#include "tls_ocsp.h"
#include "worker.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>

#define FETCH_TIMEOUT 10.0   /* the whole exchange, lookup included */
#define RETRY_FIRST 10.0     /* after a first failure */
#define RETRY_MAX 300.0      /* the backoff's ceiling */
#define REFRESH_MAX 3600.0   /* a staple is refreshed at least this often */
#define REFRESH_MIN 10.0     /* ... and not more often than this */
#define WARN_EVERY 300.0     /* one warning per certificate in this long */
#define MAX_RESPONSE 65536   /* OCSP responses are a few KiB */
#define RBUF_SIZE 8192       /* holds the response head */

typedef struct {
    mg_http_client_t cl;
    mg_tls_ocsp_t *e; /* borrowed: the entry owns the job */
    mg_worker_t *w;
    mg_resolver_query_t *rq; /* while the host is looked up */
    bool busy;               /* a fetch is under way */
    double next_at;          /* loop time of the next fetch */
    double backoff;          /* 0 after a success */
    double warned_at;        /* loop time of the last warning, 0: none yet */
    unsigned unlogged;       /* failures since that warning */
    uint16_t port;
    char *req; /* head and DER body */
    size_t req_len;
    unsigned char *body;
    size_t blen;
    char why[256]; /* what our own callbacks found wrong */
    char rbuf[RBUF_SIZE];
} job_t;

/* ---- a job's end ---- */

static void job_reset(job_t *j)
{
    mg_resolver_cancel(j->rq);
    j->rq = NULL;
    mg_http_client_dispose(&j->cl);
    free(j->req);
    free(j->body);
    j->req = NULL;
    j->body = NULL;
    j->req_len = j->blen = 0;
    j->why[0] = '\0';
    j->busy = false;
}

/* The hook tls_ocsp.c calls when the job's entry goes (its last generation did). */
static void on_job_free(void *arg)
{
    job_t *j = arg;
    job_reset(j);
    free(j);
}

static void job_failed(job_t *j, const char *why)
{
    double now = ev_now(j->w->loop);
    j->backoff = j->backoff > 0 ? MG_MIN(j->backoff * 2, RETRY_MAX) : RETRY_FIRST;
    j->next_at = now + j->backoff;
    if (j->warned_at == 0 || now - j->warned_at >= WARN_EVERY) {
        char more[64] = "";
        if (j->unlogged > 0) {
            snprintf(more, sizeof(more), " (%u more failure(s) since the last warning)",
                     j->unlogged);
        }
        mg_log_warn("OCSP: no fresh staple for %s from %s: %s; next try in %.0f s%s",
                    mg_tls_ocsp_name(j->e), mg_tls_ocsp_url(j->e), why, j->backoff, more);
        j->warned_at = now;
        j->unlogged = 0;
    } else {
        j->unlogged++;
    }
    job_reset(j);
}

/* Half the time left until nextUpdate, within [REFRESH_MIN, REFRESH_MAX]. */
static double refresh_in(job_t *j, double now)
{
    double this_update, next_update, in = REFRESH_MAX;
    if (mg_tls_ocsp_times(j->e, now, &this_update, &next_update) && next_update > 0) {
        in = (next_update - now) / 2;
    }
    return MG_MAX(REFRESH_MIN, MG_MIN(in, REFRESH_MAX));
}

static void job_succeeded(job_t *j)
{
    double now = ev_now(j->w->loop);
    double in = refresh_in(j, now);
    if (j->backoff > 0 && j->warned_at > 0) {
        mg_log_notice("OCSP: stapling %s again (from %s)", mg_tls_ocsp_name(j->e),
                      mg_tls_ocsp_url(j->e));
    } else {
        mg_log_info("OCSP: staple for %s fetched from %s, next refresh in %.0f s",
                    mg_tls_ocsp_name(j->e), mg_tls_ocsp_url(j->e), in);
    }
    j->backoff = 0;
    j->warned_at = 0;
    j->unlogged = 0;
    j->next_at = now + in;
    job_reset(j);
}

/* ---- the exchange ---- */

static int on_head(mg_http_client_t *cl, mg_http_client_head_t *h)
{
    job_t *j = cl->data;
    if (h->head.status != 200) {
        snprintf(j->why, sizeof(j->why), "the responder answered HTTP %d", h->head.status);
        return MG_ERROR;
    }
    return MG_OK;
}

static int on_body(mg_http_client_t *cl, const char *data, size_t len)
{
    job_t *j = cl->data;
    if (len == 0) {
        return MG_OK;
    }
    unsigned char *b = j->blen + len <= MAX_RESPONSE ? realloc(j->body, j->blen + len) : NULL;
    if (b == NULL) {
        snprintf(j->why, sizeof(j->why), "the response is larger than %d bytes", MAX_RESPONSE);
        return MG_ERROR;
    }
    memcpy(b + j->blen, data, len);
    j->body = b;
    j->blen += len;
    return MG_OK;
}

static void on_done(mg_http_client_t *cl)
{
    job_t *j = cl->data;
    char why[256];
    const char *bad = mg_tls_ocsp_take(j->e, j->body, j->blen, why, sizeof(why));
    if (bad != NULL) {
        job_failed(j, bad);
    } else {
        job_succeeded(j);
    }
}

static void on_error(mg_http_client_t *cl, mg_http_client_err_t err, const char *why)
{
    job_t *j = cl->data;
    char msg[300];
    if (err == MG_HTTP_CLIENT_ERR_REFUSED && j->why[0] != '\0') {
        snprintf(msg, sizeof(msg), "%s", j->why);
    } else if (err == MG_HTTP_CLIENT_ERR_TIMEOUT || err == MG_HTTP_CLIENT_ERR_CONNECT_TIMEOUT) {
        snprintf(msg, sizeof(msg), "no answer within %.0f s", FETCH_TIMEOUT);
    } else {
        snprintf(msg, sizeof(msg), "%s%s%s", mg_http_client_err_name(err), why ? ": " : "",
                 why ? why : "");
    }
    job_failed(j, msg);
}

static const mg_http_client_ops_t fetch_ops = {
    .on_head = on_head,
    .on_body = on_body,
    .on_done = on_done,
    .on_error = on_error,
};

/* "POST <path> HTTP/1.1" with the DER OCSPRequest as its body. */
static int build_request(job_t *j, const mg_http_url_t *u)
{
    size_t dlen = 0;
    unsigned char *der = mg_tls_ocsp_request(j->e, &dlen);
    if (der == NULL) {
        return MG_ERROR;
    }
    static const mg_header_t hdrs[] = {
        {MG_STR("Content-Type"), MG_STR("application/ocsp-request")},
        {MG_STR("User-Agent"), MG_STR("moongate")},
    };
    mg_http_client_req_t q = {
        .method = MG_STR("POST"),
        .path = u->target,
        .host = u->authority,
        .extra = hdrs,
        .nextra = MG_NELEMS(hdrs),
        .content_length = (int64_t)dlen,
        .close = true,
    };
    j->req = malloc(mg_http_client_head_size(&q) + dlen);
    if (j->req != NULL) {
        j->req_len = mg_http_client_head_build(&q, j->req);
        memcpy(j->req + j->req_len, der, dlen);
        j->req_len += dlen;
    }
    free(der);
    return j->req != NULL ? MG_OK : MG_ERROR;
}

static void connect_to(job_t *j, const struct sockaddr_storage *ss)
{
    struct sockaddr_storage a = *ss;
    socklen_t sl;
    if (a.ss_family == AF_INET6) {
        ((struct sockaddr_in6 *)&a)->sin6_port = htons(j->port);
        sl = sizeof(struct sockaddr_in6);
    } else {
        ((struct sockaddr_in *)&a)->sin_port = htons(j->port);
        sl = sizeof(struct sockaddr_in);
    }
    mg_http_client_start_addr(&j->cl, (struct sockaddr *)&a, sl, j->req, j->req_len, NULL);
}

static void on_resolved(void *arg, const mg_resolver_answer_t *a)
{
    job_t *j = arg;
    j->rq = NULL;
    if (a->naddrs == 0) {
        job_failed(j, a->err != NULL ? a->err : "host not found");
        return;
    }
    connect_to(j, &a->addrs[0]);
}

/* Looks the host up, or connects at once to an IP literal or localhost. NULL, or why
 * it cannot start. */
static const char *resolve_and_connect(job_t *j, const mg_http_url_t *u)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    if (mg_http_url_addr(u, &ss, &sl) == NULL) {
        connect_to(j, &ss);
        return NULL;
    }
    char name[MG_RESOLVER_NAME_MAX + 2];
    if (j->w->resolver == NULL) {
        return "no resolver for the responder's host name";
    }
    if (u->host.len >= sizeof(name)) {
        return "the responder's host name is too long";
    }
    memcpy(name, u->host.p, u->host.len);
    name[u->host.len] = '\0';
    mg_resolver_answer_t now;
    j->rq = mg_resolver_resolve(j->w->resolver, name, AF_UNSPEC, FETCH_TIMEOUT, on_resolved, j,
                                &now);
    if (j->rq == NULL && now.naddrs == 0) {
        return now.err != NULL ? now.err : "host not found";
    }
    if (j->rq == NULL) {
        connect_to(j, &now.addrs[0]);
    }
    return NULL;
}

static void job_start(job_t *j)
{
    const char *url = mg_tls_ocsp_url(j->e);
    mg_http_url_t u;
    const char *bad = mg_http_url_parse(mg_str(url, strlen(url)), &u);
    j->busy = true;
    if (bad == NULL && build_request(j, &u) != MG_OK) {
        bad = "out of memory";
    }
    if (bad == NULL) {
        mg_http_client_dispose(&j->cl);
        mg_http_client_init(&j->cl, j->w->loop, &fetch_ops, j, j->rbuf, sizeof(j->rbuf));
        j->cl.weak = true;
        j->cl.total_timeout = FETCH_TIMEOUT;
        j->port = u.port;
        bad = resolve_and_connect(j, &u);
    }
    if (bad != NULL) {
        job_failed(j, bad);
    }
}

/* ---- the tick ---- */

static job_t *job_new(mg_worker_t *w, mg_tls_ocsp_t *e, double now)
{
    job_t *j = calloc(1, sizeof(*j));
    if (j == NULL) {
        return NULL;
    }
    j->e = e;
    j->w = w;
    j->next_at = now;
    /* the client is set up before the first start: job_reset may abort it */
    mg_http_client_init(&j->cl, w->loop, &fetch_ops, j, j->rbuf, sizeof(j->rbuf));
    mg_tls_ocsp_on_job_free(on_job_free);
    mg_tls_ocsp_set_job(e, j);
    return j;
}

void mg_ocsp_fetch_tick(mg_worker_t *w)
{
    if (w->draining) {
        return;
    }
    double now = ev_now(w->loop);
    for (mg_tls_ocsp_t *e = mg_tls_ocsp_fetch_next(NULL); e != NULL;
         e = mg_tls_ocsp_fetch_next(e)) {
        job_t *j = mg_tls_ocsp_job(e);
        if (j == NULL && (j = job_new(w, e, now)) == NULL) {
            continue;
        }
        if (!j->busy && now >= j->next_at) {
            job_start(j);
        }
    }
}
