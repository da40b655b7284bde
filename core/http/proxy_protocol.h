/*
 * proxy_protocol.h -- the PROXY protocol header (HAProxy's specification, versions 1
 * and 2) that a load balancer sends first on each connection to say whom it carries.
 * A pure parser: bytes in, the addresses or a reason out; no sockets (unit-tested).
 * The connection reads it in http_conn_proxy.c.
 *
 *   v1: "PROXY TCP4 203.0.113.7 10.0.0.1 56324 443\r\n" (TCP4 | TCP6 | UNKNOWN), at
 *       most 107 bytes with the CRLF
 *   v2: the 12-byte signature \r\n\r\n\0\r\nQUIT\n, version 2 and a command (LOCAL or
 *       PROXY), family and transport, a 16-bit length, the addresses, then TLVs
 *       (skipped)
 */
#ifndef MG_PROXY_PROTOCOL_H
#define MG_PROXY_PROTOCOL_H

#include "mg_core.h"

/* Longest v1 header, CRLF included (the specification's bound). */
#define MG_PP_V1_MAX 107
/* Longest v2 header accepted: 16 fixed bytes and at most this much after them
 * (addresses and TLVs; AWS, GCP and Azure send well under 100 bytes of TLVs). */
#define MG_PP_V2_MAX_PAYLOAD 2048
/* Longest header of either version: a reader never needs more room. */
#define MG_PP_MAX (16 + MG_PP_V2_MAX_PAYLOAD)

typedef struct {
    int version;   /* 1 or 2 */
    bool has_addr; /* false: v1 UNKNOWN, v2 LOCAL, or a v2 family other than TCP over
                    * IPv4/IPv6 (UNSPEC, UNIX, datagrams): the socket's peer stays */
    bool v6;       /* the addresses' family, when has_addr */
    uint8_t src[16], dst[16];
    uint16_t src_port, dst_port;
} mg_pp_header_t;

/* Parses the header at the start of p[0..len). Returns its length (> 0) with *out
 * filled; 0 when the bytes so far are a valid beginning but the header is not complete
 * (every one of them belongs to it then: a reader may consume them all); or MG_ERROR
 * with the reason in *why (a static string) as soon as the bytes cannot begin a valid
 * header (a plain request, a TLS ClientHello, a bad address, over the size bound). */
int mg_pp_parse(const char *p, size_t len, mg_pp_header_t *out, const char **why);

#endif
