/*
 * crypto_int.h -- what crypto.c shares with crypto_key.c and crypto_bcrypt.c.
 */
#ifndef MG_CRYPTO_INT_H
#define MG_CRYPTO_INT_H

#include <openssl/evp.h>

/* The digest md (MG_MD_*), fetched once per process; NULL for an unknown md. */
const EVP_MD *mg__crypto_md(int md);

#endif
