/*
 * encode.h -- base64 (RFC 4648 section 4, with padding), base64url (section 5, without
 * padding) and lower-case hex, both ways, over caller-owned buffers.
 *
 * The decoders are strict: a byte outside the alphabet, padding anywhere but at the end,
 * a length no encoder produces or non-zero bits left over in the last character are
 * refused, so one text decodes to one value and garbage never becomes bytes. base64
 * requires its padding; base64url takes its text with or without it. Whitespace is not
 * skipped (JWS and HTTP headers carry none).
 */
#ifndef MG_ENCODE_H
#define MG_ENCODE_H

#include <stddef.h>

/* Bytes the encoders write for n input bytes (no terminating NUL). */
#define MG_BASE64_LEN(n) ((((n) + 2) / 3) * 4)
#define MG_BASE64URL_LEN(n) (((n) / 3) * 4 + ((n) % 3 ? (n) % 3 + 1 : 0))
#define MG_HEX_LEN(n) ((n) * 2)
/* An upper bound of the bytes the decoders write for a text of n characters. */
#define MG_BASE64_DECODED_MAX(n) (((n) + 3) / 4 * 3)
#define MG_HEX_DECODED_MAX(n) ((n) / 2)

/* Encodes n bytes at src into dst (MG_BASE64_LEN(n) / MG_BASE64URL_LEN(n) /
 * MG_HEX_LEN(n) bytes); returns the length written. */
size_t mg_base64_encode(const void *src, size_t n, char *dst);
size_t mg_base64url_encode(const void *src, size_t n, char *dst);
size_t mg_hex_encode(const void *src, size_t n, char *dst);

/* Decodes the n characters at src into dst (room for MG_BASE64_DECODED_MAX(n) /
 * MG_HEX_DECODED_MAX(n) bytes): the length written, or -1 for a text that is not
 * strictly in the encoding (dst then holds nothing meaningful). */
long mg_base64_decode(const char *src, size_t n, void *dst);
long mg_base64url_decode(const char *src, size_t n, void *dst);
long mg_hex_decode(const char *src, size_t n, void *dst);

#endif
