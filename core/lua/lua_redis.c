/*
 * lua_redis.c -- mg.redis: a plugin's Redis commands on the worker's loop, through the
 * worker's async client (sys/redis.h: hiredis on libev, reconnects with a backoff,
 * AUTH/SELECT once per connection, a deadline per command, a breaker).
 *
 * Pools. A Lua state keeps one client per (address, user, password, db), made at the
 * first mg.redis.new() that names it and closed with the state (its generation): a
 * pool of `pool_size` connections (2 unless said) that every request of the worker
 * shares. hiredis multiplexes: a connection carries the commands of many requests at
 * once, their replies coming back in order, so a small pool is enough; a command is
 * sent on the next connection that is up (round robin). At most LREDIS_MAX_POOLS pools
 * per state: addresses a plugin computes cannot open connections without end.
 *
 * A call. mg_lua_redis_send() sends one command, or a pipeline's commands back to back
 * on one connection (one write; the replies are read together), marks the task
 * MG_WAIT_REDIS and the Lua side yields. Each reply is flattened at once into a block
 * of its own (mg_lua_redis_flatten) since hiredis frees it after the callback; when the
 * last one is in (or its deadline passed), the task is resumed from the loop (a 0 s
 * timer), never from inside hiredis' callback. A task that ends meanwhile (the client
 * went away, the request was finished) cancels the commands: their replies, when they
 * come, are dropped by the client and no coroutine is resumed.
 */
#include "lua_int.h"

#include "conf.h"
#include "log.h"
#include "lua_ffi.h"
#include "lua_redis.h"
#include "redis.h"
#include "worker.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#define LREDIS_MAX_POOLS 32
#define LREDIS_MAX_POOL_SIZE 16

struct mg_lua_redis_pool_s {
    mg_redis_t *r;
    char *key;            /* "address\n user\n password\n db" (owned); "" for the `redis:` block */
    mg_redis_conf_t conf; /* an address of the plugin's: the client's settings (owned) */
    char *strings;        /* ... and the texts they point at */
};

typedef struct mg_lua_redis_pools_s {
    struct mg_lua_redis_pool_s pools[LREDIS_MAX_POOLS];
    int n;
} lpools_t;

typedef struct lredis_s lredis_t;

typedef struct {
    lredis_t *w;
    mg_redis_req_t *req; /* while the reply is awaited */
    int status;          /* MG_REDIS_OK, _ERROR, _TIMEOUT, or -1 while awaited */
    mg_lua_redis_item_t *items;
    size_t nitems;
    char why[96]; /* MG_REDIS_ERROR: what the client said */
} lslot_t;

struct lredis_s {
    mg_lua_task_t *t;
    mg_redis_t *r;
    struct ev_loop *loop;
    ev_timer wake;
    int n, left;
    lslot_t slots[];
};

/* ---- replies ---- */

static size_t flat_size(const redisReply *rep, size_t *nitems)
{
    size_t bytes = 0;
    (*nitems)++;
    switch (rep->type) {
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
    case REDIS_REPLY_STRING:
        bytes += (size_t)rep->len + 1;
        break;
    case REDIS_REPLY_ARRAY:
        for (size_t i = 0; i < rep->elements; i++) {
            bytes += flat_size(rep->element[i], nitems);
        }
        break;
    default:
        break;
    }
    return bytes;
}

static void flat_fill(const redisReply *rep, mg_lua_redis_item_t *items, size_t *at, char **str)
{
    mg_lua_redis_item_t *it = &items[(*at)++];
    memset(it, 0, sizeof(*it));
    switch (rep->type) {
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
    case REDIS_REPLY_STRING:
        it->type = rep->type == REDIS_REPLY_STATUS  ? MG_LUA_REDIS_STATUS
                   : rep->type == REDIS_REPLY_ERROR ? MG_LUA_REDIS_ERROR
                                                    : MG_LUA_REDIS_STRING;
        if (rep->len > 0) {
            memcpy(*str, rep->str, (size_t)rep->len);
        }
        (*str)[rep->len] = '\0';
        it->str = *str;
        it->len = (size_t)rep->len;
        *str += rep->len + 1;
        break;
    case REDIS_REPLY_INTEGER:
        it->type = MG_LUA_REDIS_INTEGER;
        it->integer = rep->integer;
        break;
    case REDIS_REPLY_ARRAY:
        it->type = MG_LUA_REDIS_ARRAY;
        it->n = (int32_t)rep->elements;
        for (size_t i = 0; i < rep->elements; i++) {
            flat_fill(rep->element[i], items, at, str);
        }
        break;
    default: /* REDIS_REPLY_NIL */
        it->type = MG_LUA_REDIS_NIL;
        break;
    }
}

int mg__lua_redis_flatten(const redisReply *rep, mg_lua_redis_item_t **items, size_t *nitems)
{
    size_t n = 0;
    size_t bytes = flat_size(rep, &n);
    mg_lua_redis_item_t *out = malloc(n * sizeof(*out) + bytes + 1);
    if (out == NULL) {
        return MG_ERROR;
    }
    char *str = (char *)(out + n);
    size_t at = 0;
    flat_fill(rep, out, &at, &str);
    *items = out;
    *nitems = n;
    return MG_OK;
}

/* ---- pools ---- */

const char *mg__lua_redis_parse_addr(const char *text, mg_addr_t *out)
{
    memset(out, 0, sizeof(*out));
    out->text = text;
    if (strncmp(text, "unix:", 5) == 0) {
        struct sockaddr_un *un = (struct sockaddr_un *)&out->sa;
        size_t n = strlen(text + 5);
        if (n == 0 || n >= sizeof(un->sun_path)) {
            return "bad unix socket path";
        }
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, text + 5, n + 1);
        out->salen = (socklen_t)sizeof(*un);
        return NULL;
    }
    char host[64];
    const char *port = NULL;
    size_t hlen;
    if (text[0] == '[') {
        const char *end = strchr(text, ']');
        if (end == NULL || (end[1] != '\0' && end[1] != ':')) {
            return "bad address";
        }
        hlen = (size_t)(end - text - 1);
        memcpy(host, text + 1, hlen < sizeof(host) ? hlen : 0);
        port = end[1] == ':' ? end + 2 : NULL;
    } else {
        const char *colon = strrchr(text, ':');
        hlen = colon != NULL ? (size_t)(colon - text) : strlen(text);
        if (colon != NULL && memchr(text, ':', hlen) != NULL) {
            return "bad address (write an IPv6 address in brackets)";
        }
        memcpy(host, text, hlen < sizeof(host) ? hlen : 0);
        port = colon != NULL ? colon + 1 : NULL;
    }
    if (hlen == 0 || hlen >= sizeof(host)) {
        return "bad address";
    }
    host[hlen] = '\0';
    long p = 6379;
    if (port != NULL) {
        char *end;
        p = strtol(port, &end, 10);
        if (*port == '\0' || *end != '\0' || p < 1 || p > 65535) {
            return "bad address port";
        }
    }
    struct sockaddr_in *in4 = (struct sockaddr_in *)&out->sa;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&out->sa;
    if (strcmp(host, "localhost") == 0) {
        snprintf(host, sizeof(host), "127.0.0.1");
    }
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)p);
        out->salen = sizeof(*in4);
    } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)p);
        out->salen = sizeof(*in6);
    } else {
        return "bad address (an IP address, localhost or unix:/path; names are not resolved)";
    }
    return NULL;
}

static char *pool_key(const char *address, const char *user, const char *pass, int db)
{
    if (address == NULL) {
        return strdup("");
    }
    size_t n = strlen(address) + (user ? strlen(user) : 0) + (pass ? strlen(pass) : 0) + 32;
    char *k = malloc(n);
    if (k != NULL) {
        snprintf(k, n, "%s\n%s%s\n%s%s\n%d", address, user ? "u" : "-", user ? user : "",
                 pass ? "p" : "-", pass ? pass : "", db);
    }
    return k;
}

static const char *CONSEQUENCE = "mg.redis calls fail until it is back";

mg_lua_redis_pool_t *mg_lua_redis_pool(mg_lua_task_t *t, const char *address, const char *username,
                                       const char *password, int db, int pool_size,
                                       const char **err)
{
    mg_lua_t *lua = t->lua;
    if (lua->w == NULL) {
        *err = "no event loop";
        return NULL;
    }
    if (address == NULL && lua->conf->redis == NULL) {
        *err = "no address given and no redis: block in the configuration";
        return NULL;
    }
    if (lua->redis == NULL && (lua->redis = calloc(1, sizeof(*lua->redis))) == NULL) {
        *err = "out of memory";
        return NULL;
    }
    lpools_t *ps = lua->redis;
    const mg_redis_conf_t *conf = lua->conf->redis;
    bool custom =
        address != NULL || username != NULL || password != NULL || db >= 0 || pool_size > 0;
    if (custom && address == NULL) {
        /* the block's server with other settings */
        address = conf->addr.text;
        username = username != NULL ? username : conf->username;
        password = password != NULL ? password : conf->password;
        db = db >= 0 ? db : conf->db;
    }
    char *key = pool_key(custom ? address : NULL, username, password, db < 0 ? 0 : db);
    if (key == NULL) {
        *err = "out of memory";
        return NULL;
    }
    for (int i = 0; i < ps->n; i++) {
        if (strcmp(ps->pools[i].key, key) == 0) {
            free(key);
            return &ps->pools[i];
        }
    }
    if (ps->n == LREDIS_MAX_POOLS) {
        free(key);
        *err = "too many redis pools (32 addresses per worker)";
        return NULL;
    }
    mg_lua_redis_pool_t *p = &ps->pools[ps->n];
    memset(p, 0, sizeof(*p));
    if (custom) {
        size_t la = strlen(address) + 1, lu = username ? strlen(username) + 1 : 0,
               lp = password ? strlen(password) + 1 : 0;
        if ((p->strings = malloc(la + lu + lp)) == NULL) {
            free(key);
            *err = "out of memory";
            return NULL;
        }
        char *s = p->strings;
        memcpy(s, address, la);
        p->conf.username = username ? memcpy(s + la, username, lu) : NULL;
        p->conf.password = password ? memcpy(s + la + lu, password, lp) : NULL;
        if (conf != NULL && address == conf->addr.text) {
            p->conf.addr = conf->addr; /* resolved at load */
            p->conf.addr.text = s;
        } else if ((*err = mg__lua_redis_parse_addr(s, &p->conf.addr)) != NULL) {
            free(p->strings);
            free(key);
            return NULL;
        }
        p->conf.db = db < 0 ? 0 : db;
        p->conf.timeout = conf != NULL ? conf->timeout : 1.0;
        p->conf.pool_size = pool_size > 0 ? MG_MIN(pool_size, LREDIS_MAX_POOL_SIZE) : 2;
        conf = &p->conf;
    }
    p->r = mg_redis_create(lua->w->loop, conf, NULL, 0, CONSEQUENCE);
    if (p->r == NULL) {
        free(p->strings);
        free(key);
        *err = "cannot create the redis client";
        return NULL;
    }
    p->key = key;
    ps->n++;
    return p;
}

void mg__lua_redis_destroy(mg_lua_t *lua)
{
    lpools_t *ps = lua->redis;
    if (ps == NULL) {
        return;
    }
    for (int i = 0; i < ps->n; i++) {
        mg_redis_destroy(ps->pools[i].r);
        free(ps->pools[i].key);
        free(ps->pools[i].strings);
    }
    free(ps);
    lua->redis = NULL;
}

/* ---- a call ---- */

static void on_wake(struct ev_loop *loop, ev_timer *tm, int revents)
{
    lredis_t *w = tm->data;
    mg_lua_task_t *t = w->t;
    if (t->wait == MG_WAIT_REDIS) {
        t->wait = MG_WAIT_NONE;
        mg__lua_task_resume(t);
    }
}

static void on_reply(void *arg, int status, const redisReply *reply)
{
    lslot_t *s = arg;
    lredis_t *w = s->w;
    s->req = NULL;
    s->status = status;
    if (status == MG_REDIS_OK && mg__lua_redis_flatten(reply, &s->items, &s->nitems) != MG_OK) {
        s->status = MG_REDIS_ERROR;
        snprintf(s->why, sizeof(s->why), "out of memory");
    } else if (status == MG_REDIS_ERROR) {
        snprintf(s->why, sizeof(s->why), "%s", mg_redis_unavailable_reason(w->r));
    }
    if (--w->left == 0) {
        ev_timer_start(w->loop, &w->wake);
    }
}

void mg__lua_redis_cancel(mg_lua_task_t *t)
{
    lredis_t *w = t->redis;
    if (w == NULL) {
        return;
    }
    t->redis = NULL;
    ev_timer_stop(w->loop, &w->wake);
    for (int i = 0; i < w->n; i++) {
        mg_redis_cancel(w->slots[i].req);
        free(w->slots[i].items);
    }
    free(w);
}

int mg_lua_redis_send(mg_lua_task_t *t, mg_lua_redis_pool_t *p, int ncmds, const int *argcs,
                      const char **argv, const size_t *lens, double timeout, const char **err)
{
    static char why[200];
    mg__lua_redis_cancel(t);
    if (t->lua->w == NULL || ncmds <= 0) {
        *err = "no event loop";
        return MG_ERROR;
    }
    lredis_t *w = calloc(1, sizeof(*w) + (size_t)ncmds * sizeof(lslot_t));
    if (w == NULL) {
        *err = "out of memory";
        return MG_ERROR;
    }
    w->t = t;
    w->r = p->r;
    w->loop = t->lua->w->loop;
    w->n = ncmds;
    ev_timer_init(&w->wake, on_wake, 0, 0);
    w->wake.data = w;
    ev_now_update(w->loop); /* deadlines count from now, not from before the plugin ran */
    size_t off = 0;
    for (int i = 0; i < ncmds; i++) {
        lslot_t *s = &w->slots[i];
        s->w = w;
        s->status = -1;
        unsigned flags = MG_REDIS_WAIT | (i > 0 ? MG_REDIS_SAME : 0);
        int rc = mg_redis_command(p->r, argcs[i], argv + off, lens + off, timeout, flags, on_reply,
                                  s, &s->req);
        off += (size_t)argcs[i];
        if (rc == MG_OK) {
            w->left++;
            continue;
        }
        s->req = NULL;
        if (i == 0) {
            snprintf(why, sizeof(why), "%s", mg_redis_unavailable_reason(p->r));
            *err = why;
            free(w);
            return MG_ERROR;
        }
        s->status = MG_REDIS_ERROR; /* the rest of a pipeline could not follow */
        snprintf(s->why, sizeof(s->why), "%s", mg_redis_unavailable_reason(p->r));
    }
    t->redis = w;
    t->wait = MG_WAIT_REDIS;
    return MG_AGAIN;
}

int mg_lua_redis_result(mg_lua_task_t *t, int i, const mg_lua_redis_item_t **items, size_t *nitems,
                        const char **err)
{
    lredis_t *w = t->redis;
    if (w == NULL || i < 0 || i >= w->n) {
        *err = "no call";
        return MG_ERROR;
    }
    lslot_t *s = &w->slots[i];
    if (s->status != MG_REDIS_OK) {
        *err = s->status == MG_REDIS_TIMEOUT ? "timeout" : s->why[0] ? s->why : "closed";
        return MG_ERROR;
    }
    *items = s->items;
    *nitems = s->nitems;
    return MG_OK;
}

void mg_lua_redis_done(mg_lua_task_t *t)
{
    mg__lua_redis_cancel(t);
}
