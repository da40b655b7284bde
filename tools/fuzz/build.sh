#!/bin/sh
# Builds the libFuzzer targets of tools/fuzz/ with AddressSanitizer and UBSan into
# build/fuzz/ (or $OUT). Needs clang with its fuzzer runtime (Debian: clang,
# libclang-rt-dev). Run from the repository root:
#   tools/fuzz/build.sh
#   build/fuzz/fuzz_http_parse -max_total_time=60 build/fuzz/corpus tools/fuzz/seeds
# llhttp is compiled in strict mode, as the server's Makefile compiles it: the target
# must parse exactly what the server parses.
set -eu

CC=${CC:-clang}
OUT=${OUT:-build/fuzz}
LLHTTP_SRC=${LLHTTP_SRC:-/usr/share/llhttp}
LLHTTP_INC=${LLHTTP_INC:-/usr/share/include/llhttp}
FLAGS="-g -O1 -std=gnu11 -D_GNU_SOURCE -DLLHTTP_STRICT_MODE=1
       -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
       $(for d in core/*/; do printf -- '-I %s ' "$d"; done) -I $LLHTTP_INC"

mkdir -p "$OUT/corpus"
# shellcheck disable=SC2086 # FLAGS is a list of words
$CC $FLAGS -o "$OUT/fuzz_http_parse" tools/fuzz/fuzz_http_parse.c \
    core/http/http_parse.c core/base/str.c \
    "$LLHTTP_SRC/llhttp.c" "$LLHTTP_SRC/api.c" "$LLHTTP_SRC/http.c"
echo "built $OUT/fuzz_http_parse"
