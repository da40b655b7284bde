/*
 * status_page.c -- embeds status_page.html into the binary with the assembler's
 * .incbin, so the page needs no build tool of its own and no file at run time.
 *
 * The path is relative to the repository root, where make runs the compiler; the
 * Makefile makes this object depend on the HTML file so an edit to the page rebuilds it.
 */
#include "status_page.h"

__asm__(".pushsection .rodata\n"
        ".balign 16\n"
        "mg__status_page_start:\n"
        ".incbin \"core/server/status_page.html\"\n"
        "mg__status_page_end:\n"
        ".popsection\n");

/* Local symbols of the block above: hidden, so the access stays PC-relative. */
extern const char mg__status_page_start[] __attribute__((visibility("hidden")));
extern const char mg__status_page_end[] __attribute__((visibility("hidden")));

const char *mg_status_page(size_t *len)
{
    *len = (size_t)(mg__status_page_end - mg__status_page_start);
    return mg__status_page_start;
}
