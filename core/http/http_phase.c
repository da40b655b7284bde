/*
 * http_phase.c -- the phase engine: walks a request's handler chain (http_phase.h).
 */
#include "http_phase.h"

#include "http.h"

void mg_http_chain_set(mg_http_chain_t *ch, mg_http_phase_t phase, mg_http_handler_fn fn,
                       const void *data)
{
    ch->h[phase] = (mg_http_phase_handler_t){fn, data};
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
        const mg_http_phase_handler_t *h = &r->chain->h[r->phase];
        if (h->run == NULL) {
            r->phase++;
            continue;
        }
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
