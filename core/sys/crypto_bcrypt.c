/*
 * crypto_bcrypt.c -- bcrypt password hashes ($2a$, $2b$, $2y$: what `htpasswd -B`
 * writes) checked and made through libxcrypt (crypt_rn, crypt_gensalt_rn).
 *
 * bcrypt costs tens of milliseconds by design and runs on the calling worker's thread,
 * stopping its loop meanwhile. So that a client sending the same Basic credentials on
 * every request pays it once, each successful check is remembered for
 * MG_BCRYPT_CACHE_TTL seconds: the table holds HMAC-SHA256(process key, hash || NUL ||
 * password), never the password, under a key drawn from the CSPRNG on first use. A
 * failed check is never remembered (nothing an attacker tries gets cheaper), and the
 * oldest entry makes room for a new one.
 */
#include "clock.h"
#include "crypto.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <stdlib.h>

typedef struct {
    unsigned char mac[32];
    double expires; /* mg_mono_now(); 0: free */
} bcrypt_seen_t;

static bcrypt_seen_t seen[MG_BCRYPT_CACHE_SIZE];
static unsigned char seen_key[32];
static bool seen_key_set;
static struct crypt_data *cdata; /* 32 KiB: allocated once, not on the stack */

static bool is_bcrypt(const char *h, size_t n)
{
    /* "$2b$10$" + 22 characters of salt + 31 of hash */
    return n == 60 && h[0] == '$' && h[1] == '2' && (h[2] == 'a' || h[2] == 'b' || h[2] == 'y') &&
           h[3] == '$' && h[4] >= '0' && h[4] <= '3' && h[5] >= '0' && h[5] <= '9' && h[6] == '$';
}

/* The MAC that stands for (hash, password) in the table: MG_OK or MG_ERROR. */
static int seen_mac(const char *pw, size_t pwlen, const char *hash, size_t hlen,
                    unsigned char mac[32])
{
    if (!seen_key_set) {
        if (mg_crypto_random(seen_key, sizeof(seen_key)) != MG_OK) {
            return MG_ERROR;
        }
        seen_key_set = true;
    }
    unsigned char msg[60 + 1 + 72];
    if (pwlen > 72) {
        return MG_ERROR; /* not cached: bcrypt itself reads only 72 bytes */
    }
    memcpy(msg, hash, hlen);
    msg[hlen] = 0;
    memcpy(msg + hlen + 1, pw, pwlen);
    int n = mg_crypto_hmac(MG_MD_SHA256, seen_key, sizeof(seen_key), msg, hlen + 1 + pwlen, mac);
    OPENSSL_cleanse(msg, sizeof(msg));
    return n == 32 ? MG_OK : MG_ERROR;
}

static bool seen_find(const unsigned char mac[32], double now)
{
    for (size_t i = 0; i < MG_BCRYPT_CACHE_SIZE; i++) {
        if (seen[i].expires > now && memcmp(seen[i].mac, mac, 32) == 0) {
            return true;
        }
    }
    return false;
}

static void seen_add(const unsigned char mac[32], double now)
{
    size_t slot = 0;
    for (size_t i = 0; i < MG_BCRYPT_CACHE_SIZE; i++) {
        if (seen[i].expires <= now) {
            slot = i;
            break;
        }
        if (seen[i].expires < seen[slot].expires) {
            slot = i;
        }
    }
    memcpy(seen[slot].mac, mac, 32);
    seen[slot].expires = now + MG_BCRYPT_CACHE_TTL;
}

static struct crypt_data *crypt_area(void)
{
    if (cdata == NULL) {
        cdata = calloc(1, sizeof(*cdata));
    }
    return cdata;
}

/* crypt_rn wants C strings: a password with a NUL byte in it is refused. */
static bool pw_ok(const char *pw, size_t pwlen, char *z, size_t cap)
{
    if (pwlen >= cap || memchr(pw, 0, pwlen) != NULL) {
        return false;
    }
    memcpy(z, pw, pwlen);
    z[pwlen] = 0;
    return true;
}

int mg_crypto_bcrypt_verify(const char *pw, size_t pwlen, const char *hash, size_t hlen,
                            const char **err)
{
    if (!is_bcrypt(hash, hlen)) {
        *err = "not a bcrypt hash ($2a$, $2b$ or $2y$)";
        return MG_ERROR;
    }
    if ((hash[4] - '0') * 10 + (hash[5] - '0') > MG_BCRYPT_MAX_COST) {
        *err = "bcrypt cost over 14 (it would block the worker for seconds)";
        return MG_ERROR;
    }
    char zpw[1024], zhash[61];
    if (!pw_ok(pw, pwlen, zpw, sizeof(zpw))) {
        return MG_DECLINED; /* no such password can have been hashed */
    }
    unsigned char mac[32];
    double now = mg_mono_now();
    bool cacheable = seen_mac(pw, pwlen, hash, hlen, mac) == MG_OK;
    if (cacheable && seen_find(mac, now)) {
        OPENSSL_cleanse(zpw, pwlen);
        return MG_OK;
    }
    memcpy(zhash, hash, hlen);
    zhash[hlen] = 0;
    struct crypt_data *cd = crypt_area();
    if (cd == NULL) {
        *err = "out of memory";
        return MG_ERROR;
    }
    const char *out = crypt_rn(zpw, zhash, cd, sizeof(*cd));
    OPENSSL_cleanse(zpw, pwlen);
    bool ok = out != NULL && out[0] != '*' && strlen(out) == hlen &&
              CRYPTO_memcmp(out, hash, hlen) == 0;
    OPENSSL_cleanse(cd, sizeof(*cd));
    if (out == NULL || out[0] == '*') {
        if (!ok && out != NULL && out[0] == '*') {
            *err = "invalid bcrypt hash";
            return MG_ERROR;
        }
    }
    if (ok && cacheable) {
        seen_add(mac, now);
    }
    return ok ? MG_OK : MG_DECLINED;
}

int mg_crypto_bcrypt_hash(const char *pw, size_t pwlen, int cost, char *out, size_t cap,
                          const char **err)
{
    if (cost < 4 || cost > MG_BCRYPT_MAX_COST) {
        *err = "the cost must be 4 to 14";
        return MG_ERROR;
    }
    char zpw[1024], salt[64];
    if (!pw_ok(pw, pwlen, zpw, sizeof(zpw))) {
        *err = "the password holds a NUL byte or is over 1023 bytes";
        return MG_ERROR;
    }
    struct crypt_data *cd = crypt_area();
    if (cd == NULL || crypt_gensalt_rn("$2b$", (unsigned long)cost, NULL, 0, salt,
                                       sizeof(salt)) == NULL) {
        OPENSSL_cleanse(zpw, pwlen);
        *err = "bcrypt is not available";
        return MG_ERROR;
    }
    const char *h = crypt_rn(zpw, salt, cd, sizeof(*cd));
    OPENSSL_cleanse(zpw, pwlen);
    size_t n = h != NULL && h[0] != '*' ? strlen(h) : 0;
    if (n == 0 || n >= cap) {
        *err = "bcrypt failed";
        return MG_ERROR;
    }
    memcpy(out, h, n + 1);
    OPENSSL_cleanse(cd, sizeof(*cd));
    return (int)n;
}
