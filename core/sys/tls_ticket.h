/*
 * tls_ticket.h -- the keys that seal TLS session tickets, shared by every worker.
 *
 * The master owns the keys: it creates a small shared area before it forks (workers
 * inherit it), generates the first key, rotates them on a timer, or installs the keys
 * of `tls.ticket_key_file`. Workers only read, from the OpenSSL ticket callback, without
 * a lock (a sequence counter tells them to copy again when the master was writing).
 *
 * Up to MG_TLS_TICKET_KEYS keys are live: the first encrypts new tickets, the others
 * still decrypt (a ticket they open is renewed with the first). The area is kept out of
 * core dumps and, where the memory lock limit allows, out of swap; keys are never
 * written to a file.
 */
#ifndef MG_TLS_TICKET_H
#define MG_TLS_TICKET_H

#include "mg_core.h"

#include <openssl/evp.h>
#include <openssl/ssl.h>

#define MG_TLS_TICKET_KEYS 4          /* the current key and the 3 before it */
#define MG_TLS_TICKET_NAME_LEN 16     /* OpenSSL's key_name */
#define MG_TLS_TICKET_FILE_KEY 80     /* a ticket_key_file key: name, HMAC-SHA256, AES-256 */
#define MG_TLS_TICKET_FILE_KEY128 48  /* the older nginx size: name, AES-128, HMAC */
#define MG_TLS_TICKET_ROTATION 3600.0 /* default rotation period of generated keys, s */

/* What the status page shows. Counters are totals over every process since start. */
typedef struct {
    unsigned keys;          /* live keys (the first encrypts) */
    bool from_file;         /* the keys are ticket_key_file's, not generated */
    bool locked;            /* the area is locked in memory (mlock succeeded) */
    uint64_t rotations;     /* timed or forced rotations of generated keys */
    uint64_t decrypted;     /* tickets opened with a live key (resumptions offered) */
    uint64_t decrypted_old; /* ... of which with a key that no longer encrypts (renewed) */
    uint64_t unknown;       /* tickets naming no live key: a full handshake instead */
} mg_tls_ticket_stats_t;

/* Creates the shared area and generates its first key. Master, once, before any fork;
 * a second call is a no-op. MG_OK, or MG_ERROR with errno set (mmap) or EIO (no random
 * bytes). A refused mlock is not an error: stats.locked says it. */
int mg_tls_tickets_init(void);

/* Wipes the keys and unmaps the area in this process (master exit, tests). A later
 * mg_tls_tickets_init starts afresh. */
void mg_tls_tickets_dispose(void);

/* Master: a new generated key encrypts from now on; the previous ones shift down and
 * the oldest of MG_TLS_TICKET_KEYS is dropped. MG_OK; MG_DECLINED while the keys come
 * from a ticket_key_file (the operator rotates them); MG_ERROR when the area does not
 * exist or no random bytes could be had (nothing changed). */
int mg_tls_tickets_rotate(void);

/* Checks the content of a ticket_key_file (borrowed) without installing it: 1 to
 * MG_TLS_TICKET_KEYS keys of MG_TLS_TICKET_FILE_KEY bytes (or all of
 * MG_TLS_TICKET_FILE_KEY128 bytes), concatenated, names distinct. MG_OK, or MG_ERROR
 * with what is wrong in err (no file name: the caller knows where the key is). */
int mg_tls_tickets_check(const char *data, size_t len, char *err, size_t errlen);

/* Master: the keys of a ticket_key_file (data borrowed, checked as above): its first key
 * encrypts, the others decrypt, and timed rotation stops. The same bytes again change
 * nothing. data == NULL returns to generated keys: a fresh one encrypts and the file's
 * keys still decrypt until rotations push them out (no-op when keys are generated
 * already). MG_OK, or MG_ERROR with err (nothing changed). */
int mg_tls_tickets_set_file(const char *data, size_t len, char *err, size_t errlen);

/* True while the keys come from a ticket_key_file. */
bool mg_tls_tickets_from_file(void);

/* The callback for SSL_CTX_set_tlsext_ticket_key_evp_cb (any process, lock-free).
 * enc == 1: seals with the current key (random IV), returns 1, or 0 (no ticket) when no
 * key is available. enc == 0: looks key_name up among the live keys: 1 for the current
 * key, 2 for an older one (OpenSSL then issues a new ticket under the current key), 0
 * when none matches (a full handshake). -1 when OpenSSL refuses the key or no IV could
 * be drawn. */
int mg_tls_ticket_cb(SSL *s, unsigned char key_name[16], unsigned char iv[EVP_MAX_IV_LENGTH],
                     EVP_CIPHER_CTX *ectx, EVP_MAC_CTX *hctx, int enc);

/* Fills *out (zeros when the area does not exist). */
void mg_tls_tickets_stats(mg_tls_ticket_stats_t *out);

#endif
