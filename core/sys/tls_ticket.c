/*
 * tls_ticket.c -- session-ticket keys in one shared page: the master writes, workers
 * read without a lock.
 *
 * The page is an anonymous MAP_SHARED mapping made by the master before it forks, so
 * every worker sees it at the same address and no file ever holds a key. It is marked
 * MADV_DONTDUMP (a core dump of a crashed worker must not carry the keys) and mlocked
 * when RLIMIT_MEMLOCK allows (a swapped-out page is a copy on disk).
 *
 * One writer, many readers, a few hundred bytes: a seqlock. The master makes the
 * sequence odd, stores the new key set, makes it even again; a reader copies the set
 * between two reads of the sequence and starts over when they differ or are odd. Every
 * shared word is accessed through __atomic builtins (relaxed for the data, a release
 * fence after the odd store, release on the even store, an acquire fence before the
 * second read), so the copy is race-free in the C11 sense and never half old, half new.
 * Readers never wait on a lock the master could hold while descheduled; a reader that
 * keeps losing the race gives up (no ticket, or a full handshake), it never blocks.
 *
 * The counters shown on the status page sit beside the set, outside the seqlock:
 * workers add to them with relaxed atomic increments.
 */
#include "tls_ticket.h"

#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <sched.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#define SPIN_YIELD 64     /* reader retries before it yields the CPU */
#define SPIN_GIVE_UP 4096 /* ... and before it does without the keys */

/* One key as OpenSSL uses it. Generated and 80-byte file keys are AES-256-CBC with a
 * 32-byte HMAC-SHA256 key; 48-byte file keys AES-128-CBC with a 16-byte one. */
typedef struct {
    unsigned char name[MG_TLS_TICKET_NAME_LEN];
    unsigned char aes[32];
    unsigned char hmac[32];
    uint32_t aes_len; /* 16 or 32 */
    uint32_t hmac_len;
} tk_key_t;

/* What the seqlock protects; a whole number of 64-bit words so it copies word by word. */
typedef struct {
    uint64_t nkeys;     /* live keys, keys[0] encrypts */
    uint64_t from_file; /* 1: ticket_key_file's keys, no timed rotation */
    tk_key_t keys[MG_TLS_TICKET_KEYS];
} tk_set_t;

#define SET_WORDS (sizeof(tk_set_t) / sizeof(uint64_t))
_Static_assert(sizeof(tk_set_t) % sizeof(uint64_t) == 0, "tk_set_t copies by words");

typedef struct {
    uint64_t seq; /* odd while the master writes `set` */
    union {
        tk_set_t set;
        uint64_t w[SET_WORDS];
    } u;
    /* counters, outside the seqlock */
    uint64_t rotations; /* written by the master, read by anyone */
    uint64_t decrypted; /* any process, atomic adds */
    uint64_t decrypted_old;
    uint64_t unknown;
    uint64_t locked; /* 1 when mlock succeeded */
    size_t size;     /* bytes mapped */
} tk_area_t;

/* Set by the master before fork; workers inherit the pointer with the mapping. */
static tk_area_t *area;

/* The seqlock */

static void set_publish(const tk_set_t *next)
{
    const uint64_t *src = (const uint64_t *)next;
    uint64_t s = area->seq; /* the master is the only writer */
    __atomic_store_n(&area->seq, s + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    for (size_t i = 0; i < SET_WORDS; i++) {
        __atomic_store_n(&area->u.w[i], src[i], __ATOMIC_RELAXED);
    }
    __atomic_store_n(&area->seq, s + 2, __ATOMIC_RELEASE);
}

/* Copies the live set into *out. MG_OK, or MG_ERROR when the area does not exist or the
 * writer kept it busy SPIN_GIVE_UP times in a row. */
static int set_snapshot(tk_set_t *out)
{
    uint64_t *dst = (uint64_t *)out;
    if (area == NULL) {
        return MG_ERROR;
    }
    for (int tries = 0; tries < SPIN_GIVE_UP; tries++) {
        if (tries >= SPIN_YIELD) {
            sched_yield();
        }
        uint64_t s1 = __atomic_load_n(&area->seq, __ATOMIC_ACQUIRE);
        if (s1 & 1) {
            continue;
        }
        for (size_t i = 0; i < SET_WORDS; i++) {
            dst[i] = __atomic_load_n(&area->u.w[i], __ATOMIC_RELAXED);
        }
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&area->seq, __ATOMIC_RELAXED) == s1) {
            return MG_OK;
        }
    }
    return MG_ERROR;
}

static void count(uint64_t *counter)
{
    __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
}

/* Keys */

static int key_generate(tk_key_t *k)
{
    k->aes_len = 32;
    k->hmac_len = 32;
    if (RAND_bytes(k->name, sizeof(k->name)) != 1 || RAND_priv_bytes(k->aes, sizeof(k->aes)) != 1 ||
        RAND_priv_bytes(k->hmac, sizeof(k->hmac)) != 1) {
        OPENSSL_cleanse(k, sizeof(*k));
        return MG_ERROR;
    }
    return MG_OK;
}

/* One key of a ticket_key_file, at the offsets nginx uses for each size. */
static void key_from_file(tk_key_t *k, const unsigned char *p, size_t size)
{
    memset(k, 0, sizeof(*k));
    memcpy(k->name, p, MG_TLS_TICKET_NAME_LEN);
    if (size == MG_TLS_TICKET_FILE_KEY) {
        k->hmac_len = 32;
        k->aes_len = 32;
        memcpy(k->hmac, p + 16, 32);
        memcpy(k->aes, p + 48, 32);
    } else {
        k->aes_len = 16;
        k->hmac_len = 16;
        memcpy(k->aes, p + 16, 16);
        memcpy(k->hmac, p + 32, 16);
    }
}

/* The key size the file is made of: 80-byte keys when the length allows, else 48. 0 when
 * neither fits 1 to MG_TLS_TICKET_KEYS keys. (The two sets of lengths do not overlap.) */
static size_t file_key_size(size_t len)
{
    const size_t sizes[] = {MG_TLS_TICKET_FILE_KEY, MG_TLS_TICKET_FILE_KEY128};
    for (size_t i = 0; i < MG_NELEMS(sizes); i++) {
        if (len > 0 && len % sizes[i] == 0 && len / sizes[i] <= MG_TLS_TICKET_KEYS) {
            return sizes[i];
        }
    }
    return 0;
}

/* Parses a ticket_key_file into *out. MG_OK, or MG_ERROR with err. */
static int file_parse(const char *data, size_t len, tk_set_t *out, char *err, size_t errlen)
{
    size_t size = file_key_size(len);
    if (size == 0) {
        snprintf(err, errlen,
                 "a ticket key file holds 1 to %d keys of %d bytes (or of %d bytes), "
                 "concatenated; this one has %zu bytes (make one with `openssl rand 80`)",
                 MG_TLS_TICKET_KEYS, MG_TLS_TICKET_FILE_KEY, MG_TLS_TICKET_FILE_KEY128, len);
        return MG_ERROR;
    }
    memset(out, 0, sizeof(*out));
    out->nkeys = len / size;
    out->from_file = 1;
    for (size_t i = 0; i < out->nkeys; i++) {
        key_from_file(&out->keys[i], (const unsigned char *)data + i * size, size);
        for (size_t j = 0; j < i; j++) {
            if (memcmp(out->keys[i].name, out->keys[j].name, MG_TLS_TICKET_NAME_LEN) == 0) {
                snprintf(err, errlen,
                         "ticket keys %zu and %zu have the same name (their first %d bytes)", j + 1,
                         i + 1, MG_TLS_TICKET_NAME_LEN);
                OPENSSL_cleanse(out, sizeof(*out));
                return MG_ERROR;
            }
        }
    }
    return MG_OK;
}

/* The area */

static size_t area_size(void)
{
    long pg = sysconf(_SC_PAGESIZE);
    size_t page = pg > 0 ? (size_t)pg : 4096;
    return (sizeof(tk_area_t) + page - 1) / page * page;
}

int mg_tls_tickets_init(void)
{
    if (area != NULL) {
        return MG_OK;
    }
    size_t size = area_size();
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        return MG_ERROR;
    }
    /* best effort: an old kernel without DONTDUMP, a low memlock limit, still serve */
    (void)madvise(p, size, MADV_DONTDUMP);
    tk_area_t *a = p; /* zero-filled */
    a->locked = mlock(p, size) == 0;
    a->size = size;
    tk_set_t first = {.nkeys = 1};
    if (key_generate(&first.keys[0]) != MG_OK) {
        munmap(p, size);
        errno = EIO;
        return MG_ERROR;
    }
    area = a;
    set_publish(&first);
    OPENSSL_cleanse(&first, sizeof(first));
    return MG_OK;
}

void mg_tls_tickets_dispose(void)
{
    if (area == NULL) {
        return;
    }
    size_t size = area->size;
    bool locked = area->locked != 0;
    OPENSSL_cleanse(area, size);
    if (locked) {
        munlock(area, size);
    }
    munmap(area, size);
    area = NULL;
}

/* Master side */

/* The set after one rotation: a fresh key first, then the others, the oldest dropped. */
static int set_rotated(const tk_set_t *cur, tk_set_t *next)
{
    memset(next, 0, sizeof(*next));
    if (key_generate(&next->keys[0]) != MG_OK) {
        return MG_ERROR;
    }
    size_t keep = MG_MIN((size_t)cur->nkeys, (size_t)MG_TLS_TICKET_KEYS - 1);
    memcpy(&next->keys[1], &cur->keys[0], keep * sizeof(tk_key_t));
    next->nkeys = keep + 1;
    return MG_OK;
}

int mg_tls_tickets_rotate(void)
{
    tk_set_t cur, next;
    if (set_snapshot(&cur) != MG_OK) {
        return MG_ERROR;
    }
    int rc = cur.from_file ? MG_DECLINED : set_rotated(&cur, &next);
    if (rc == MG_OK) {
        set_publish(&next);
        count(&area->rotations);
    }
    OPENSSL_cleanse(&cur, sizeof(cur));
    OPENSSL_cleanse(&next, sizeof(next));
    return rc;
}

int mg_tls_tickets_check(const char *data, size_t len, char *err, size_t errlen)
{
    tk_set_t set;
    int rc = file_parse(data, len, &set, err, errlen);
    OPENSSL_cleanse(&set, sizeof(set));
    return rc;
}

/* Back from a file to generated keys: the file's keys still open the tickets they
 * sealed (a reload must not cost every client a full handshake), and age out with the
 * rotations that follow. */
static int set_unfile(const tk_set_t *cur, char *err, size_t errlen)
{
    tk_set_t next;
    if (set_rotated(cur, &next) != MG_OK) {
        snprintf(err, errlen, "no random bytes for a ticket key");
        return MG_ERROR;
    }
    set_publish(&next);
    OPENSSL_cleanse(&next, sizeof(next));
    return MG_OK;
}

int mg_tls_tickets_set_file(const char *data, size_t len, char *err, size_t errlen)
{
    tk_set_t cur, next;
    if (set_snapshot(&cur) != MG_OK) {
        snprintf(err, errlen, "the ticket key area does not exist");
        return MG_ERROR;
    }
    int rc = MG_OK;
    if (data == NULL) {
        rc = cur.from_file ? set_unfile(&cur, err, errlen) : MG_OK;
    } else if ((rc = file_parse(data, len, &next, err, errlen)) == MG_OK &&
               memcmp(&cur, &next, sizeof(cur)) != 0) {
        set_publish(&next);
    }
    OPENSSL_cleanse(&cur, sizeof(cur));
    OPENSSL_cleanse(&next, sizeof(next));
    return rc;
}

bool mg_tls_tickets_from_file(void)
{
    tk_set_t cur;
    bool yes = set_snapshot(&cur) == MG_OK && cur.from_file;
    OPENSSL_cleanse(&cur, sizeof(cur));
    return yes;
}

/* The callback */

static const EVP_CIPHER *key_cipher(const tk_key_t *k)
{
    return k->aes_len == 16 ? EVP_aes_128_cbc() : EVP_aes_256_cbc();
}

static int key_mac(EVP_MAC_CTX *hctx, const tk_key_t *k)
{
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)k->hmac, k->hmac_len),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    return EVP_MAC_CTX_set_params(hctx, params) == 1 ? MG_OK : MG_ERROR;
}

static int ticket_seal(const tk_set_t *set, unsigned char *name, unsigned char *iv,
                       EVP_CIPHER_CTX *ectx, EVP_MAC_CTX *hctx)
{
    const tk_key_t *k = &set->keys[0];
    const EVP_CIPHER *c = key_cipher(k);
    if (RAND_bytes(iv, EVP_CIPHER_get_iv_length(c)) != 1 ||
        EVP_EncryptInit_ex(ectx, c, NULL, k->aes, iv) != 1 || key_mac(hctx, k) != MG_OK) {
        return -1;
    }
    memcpy(name, k->name, MG_TLS_TICKET_NAME_LEN);
    return 1;
}

static int ticket_open(const tk_set_t *set, const unsigned char *name, const unsigned char *iv,
                       EVP_CIPHER_CTX *ectx, EVP_MAC_CTX *hctx)
{
    size_t i = 0;
    while (i < set->nkeys && memcmp(set->keys[i].name, name, MG_TLS_TICKET_NAME_LEN) != 0) {
        i++;
    }
    if (i == set->nkeys) {
        count(&area->unknown);
        return 0;
    }
    const tk_key_t *k = &set->keys[i];
    if (key_mac(hctx, k) != MG_OK ||
        EVP_DecryptInit_ex(ectx, key_cipher(k), NULL, k->aes, iv) != 1) {
        return -1;
    }
    count(&area->decrypted);
    if (i > 0) {
        count(&area->decrypted_old);
        return 2;
    }
    return 1;
}

int mg_tls_ticket_cb(SSL *s, unsigned char key_name[16], unsigned char iv[EVP_MAX_IV_LENGTH],
                     EVP_CIPHER_CTX *ectx, EVP_MAC_CTX *hctx, int enc)
{
    tk_set_t set;
    /* no keys: no ticket when sealing, a full handshake when opening */
    if (set_snapshot(&set) != MG_OK || set.nkeys == 0) {
        return 0;
    }
    int rc = enc ? ticket_seal(&set, key_name, iv, ectx, hctx)
                 : ticket_open(&set, key_name, iv, ectx, hctx);
    OPENSSL_cleanse(&set, sizeof(set));
    return rc;
}

void mg_tls_tickets_stats(mg_tls_ticket_stats_t *out)
{
    memset(out, 0, sizeof(*out));
    tk_set_t cur;
    if (set_snapshot(&cur) != MG_OK) {
        return;
    }
    out->keys = (unsigned)cur.nkeys;
    out->from_file = cur.from_file != 0;
    OPENSSL_cleanse(&cur, sizeof(cur));
    out->locked = area->locked != 0;
    out->rotations = __atomic_load_n(&area->rotations, __ATOMIC_RELAXED);
    out->decrypted = __atomic_load_n(&area->decrypted, __ATOMIC_RELAXED);
    out->decrypted_old = __atomic_load_n(&area->decrypted_old, __ATOMIC_RELAXED);
    out->unknown = __atomic_load_n(&area->unknown, __ATOMIC_RELAXED);
}
