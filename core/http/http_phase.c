/*
 * http_phase.c -- the phase engine: walks a request's handler chain (http_phase.h).
 */
#include "http_phase.h"

#include "http.h"

void mg_http_chain_set(mg_http_chain_t *ch, mg_http_phase_t phase, mg_http_handler_fn fn,
                       const void *data)
{
    ch->h[phase] = (mg_http_phase_handler_t){fn, data};
    uint8_t next = MG_HTTP_PHASE_COUNT;
    ch->next[MG_HTTP_PHASE_COUNT] = next;
    for (int i = MG_HTTP_PHASE_COUNT - 1; i >= 0; i--) {
        if (ch->h[i].run != NULL) {
            next = (uint8_t)i;
        }
        ch->next[i] = next;
    }
}

/* Acts on a handler's answer; true when the engine goes on to the next phase. */
static bool handle(mg_request_t *r, int rc)
{
    if (rc == MG_OK) {
        r->phase++;
        return true;
    }
    if (rc == MG_AGAIN || rc == MG_DONE) {
        return false;
    }
    mg_http_error(r, rc > 0 ? rc : 500);
    return false;
}

void mg_http_run_phases(mg_request_t *r)
{
    while (r->phase < MG_HTTP_PHASE_COUNT) {
        const mg_http_chain_t *ch = r->chain;
        r->phase = ch->next[r->phase]; /* empty phases cost nothing */
        if (r->phase == MG_HTTP_PHASE_COUNT) {
            break;
        }
        const mg_http_phase_handler_t *h = &ch->h[r->phase];
        if (!handle(r, h->run(r, h->data))) {
            return;
        }
    }
    /* no content handler: a chain is always built with one, so this is a bug */
    mg_http_error(r, 500);
}

void mg_http_phase_resume(mg_request_t *r, int rc)
{
    if (handle(r, rc)) {
        mg_http_run_phases(r);
    }
}

const char *mg_http_phase_name(int phase)
{
    static const char *const names[] = {"rewrite",         "limits",   "access",
                                        "consumer limits", "balancer", "content"};
    return phase >= 0 && phase < MG_HTTP_PHASE_COUNT ? names[phase] : "?";
}
