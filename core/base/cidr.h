/*
 * cidr.h -- IP addresses and sets of CIDR ranges: strict parsing of an address as
 * text, and a matcher that tells whether an address falls in any of thousands of
 * ranges with one binary search (trusted_proxies, http/realip.h).
 *
 * IPv4 and IPv6 ranges are kept apart: "::/0" does not cover IPv4 clients. An
 * IPv4-mapped IPv6 address (::ffff:a.b.c.d) is an IPv4 client that reached an IPv6
 * socket, so it matches the IPv4 ranges (and the IPv6 ranges that cover it).
 */
#ifndef MG_CIDR_H
#define MG_CIDR_H

#include "mg_core.h"

/* An address: b[0..3] for IPv4, b[0..15] for IPv6. */
typedef struct {
    bool v6;
    uint8_t b[16];
} mg_ip_t;

/* Longest text of an address (IPv6 with an IPv4 tail), with its NUL. */
#define MG_IP_TEXT_MAX 46

/* Parses exactly `len` bytes as a dotted-quad IPv4 or an RFC 4291 IPv6 address: no
 * port, brackets, zone ("%eth0"), spaces or leading zeros in IPv4 octets. MG_OK or
 * MG_ERROR. */
int mg_ip_parse(const char *s, size_t len, mg_ip_t *out);

/* The address as canonical text (RFC 5952 for IPv6) into buf (at least MG_IP_TEXT_MAX
 * bytes). Returns the length. */
size_t mg_ip_format(const mg_ip_t *ip, char *buf);

/* One range: the network address and the prefix length (0..32 or 0..128). */
typedef struct {
    mg_ip_t net;
    int bits;
} mg_cidr_t;

/* Parses "ADDR/BITS" or a bare "ADDR" (/32 or /128). A range whose address has bits
 * set after the prefix ("10.0.0.1/8") is refused: it is either a typo for the network
 * or for one host, and guessing would trust the wrong clients. MG_OK, or MG_ERROR with
 * the reason in *why (a static string). */
int mg_cidr_parse(const char *s, size_t len, mg_cidr_t *out, const char **why);

typedef struct mg_cidr_set_s mg_cidr_set_t;

/* Builds a matcher of n ranges (borrowed) in `pool`: sorted, overlapping and adjacent
 * ranges merged. NULL when out of memory. */
mg_cidr_set_t *mg_cidr_set_build(mg_pool_t *pool, const mg_cidr_t *ranges, size_t n);

/* True when `ip` is in a range of `set` (a NULL set holds nothing). O(log n). */
bool mg_cidr_set_match(const mg_cidr_set_t *set, const mg_ip_t *ip);

/* Ranges left after merging, IPv4 and IPv6 (for tests and the status page). */
size_t mg_cidr_set_count(const mg_cidr_set_t *set);

#endif
