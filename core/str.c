/*
 * str.c -- small string-view helpers shared by every module.
 */
#include "mg_core.h"

static inline unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 0x20) : c;
}

bool mg_str_caseeq(mg_str_t a, mg_str_t b)
{
    if (a.len != b.len) {
        return false;
    }
    for (size_t i = 0; i < a.len; i++) {
        if (lower((unsigned char)a.p[i]) != lower((unsigned char)b.p[i])) {
            return false;
        }
    }
    return true;
}

mg_str_t mg_str_trim(mg_str_t s)
{
    while (s.len > 0 && (s.p[0] == ' ' || s.p[0] == '\t')) {
        s.p++;
        s.len--;
    }
    while (s.len > 0 && (s.p[s.len - 1] == ' ' || s.p[s.len - 1] == '\t')) {
        s.len--;
    }
    return s;
}
