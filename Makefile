# moongate -- build, test, run, benchmark.
#
#   make run     install missing packages, build, start on conf/moongate.yaml
#   make test    install missing packages, build, Check unit tests, prove -r t/
#   make check   layer check + unit tests   make asan   ASan+UBSan build + whole suite
#   make bench   wrk: moongate vs nginx, and the mg API micro-benchmarks (bench-lua)
#   make install / make clean

PREFIX    ?= /usr/local
CC        ?= cc
BUILD     ?= build
SAN       ?=
OPT       ?= -O2

PKGS      := luajit libev hiredis yaml-0.1 check
# llhttp comes as C sources from Debian's node-llhttp; compiled into moongate.
LLHTTP_SRC_DIR ?= $(or $(patsubst %/llhttp.c,%,$(firstword $(wildcard /usr/share/llhttp/llhttp.c))),/usr/share/llhttp)
LLHTTP_INC_DIR ?= $(or $(patsubst %/llhttp.h,%,$(firstword $(wildcard /usr/share/include/llhttp/llhttp.h /usr/include/llhttp.h))),/usr/share/include/llhttp)

WARN      := -Wall -Wextra -Werror -Wno-unused-parameter
CFLAGS    ?= $(OPT) -g
# core/ is built in layers, bottom to top; a file includes and calls only its own
# folder and lower ones (tools/layer-check, run by `make check`, enforces it).
LAYERS    := base conf sys http upstream ratelimit lua proxy server master
ALL_CFLAGS = $(CFLAGS) $(SAN) -std=gnu11 -D_GNU_SOURCE -fno-strict-aliasing -pthread \
             $(LAYERS:%=-I core/%) -I $(LLHTTP_INC_DIR) -I /usr/include/hiredis -I /usr/include/luajit-2.1 \
             -DMG_LUA_DIR_DEFAULT='"$(PREFIX)/share/moongate/lua"'
# -Wl,-E exports core's mg_* functions so that the Lua side reaches them through ffi.C.
LDLIBS    := -Wl,-E -lluajit-5.1 -lev -lyaml -lhiredis -lcares -lpcre2-8 -lssl -lcrypto -lcrypt -lpthread -lm -ldl
CHECK_LIBS := -lcheck_pic -lsubunit -lrt -lm -lpthread

CORE_SRC  := $(filter-out core/master/main.c,$(foreach l,$(LAYERS),$(wildcard core/$(l)/*.c)))
CORE_HDR  := $(wildcard core/*/*.h)
CORE_OBJ  := $(CORE_SRC:%.c=$(BUILD)/%.o)
LLHTTP_OBJ := $(BUILD)/llhttp/llhttp.o $(BUILD)/llhttp/api.o $(BUILD)/llhttp/http.o
UNIT_SRC  := $(wildcard t/unit/test_*.c)
UNIT_BIN  := $(UNIT_SRC:t/unit/%.c=$(BUILD)/unit/%)

.PHONY: all deps run test check layers prove asan bench clean install format

all: $(BUILD)/moongate

deps:
	@tools/install-deps

$(BUILD)/moongate: $(BUILD)/core/master/main.o $(CORE_OBJ) $(LLHTTP_OBJ)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/core/%.o: core/%.c $(CORE_HDR)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(WARN) -c -o $@ $<

# the admin status page is built into this object by .incbin (status_page.c)
$(BUILD)/core/server/status_page.o: core/server/status_page.html

# third-party sources: their own warnings are not ours to fix. llhttp.c holds two
# parsers; the strict one requires CRLF wherever a line ends (a bare CR followed by any
# byte must never end a line). The objects depend on this file so a flag change here
# rebuilds them.
$(BUILD)/llhttp/%.o: $(LLHTTP_SRC_DIR)/%.c Makefile | $(BUILD)/llhttp
	$(CC) $(ALL_CFLAGS) -DLLHTTP_STRICT_MODE=1 -w -c -o $@ $<

# A unit test names the core modules it links on a line "/* deps: router pool str */";
# "/* deps: core */" links every core module (for tests of the whole worker).
unit_deps = $(patsubst core/%.c,$(BUILD)/core/%.o,$(foreach m,$(shell sed -n 's|^/\* deps: \(.*\) \*/|\1|p' $(1)),$(if $(filter core,$(m)),$(CORE_SRC),$(filter %/$(m).c,$(CORE_SRC)))))

.SECONDEXPANSION:
$(BUILD)/unit/%: t/unit/%.c $$(call unit_deps,t/unit/%.c) $(LLHTTP_OBJ) $(wildcard t/unit/*.h) | $(BUILD)/unit
	$(CC) $(ALL_CFLAGS) $(WARN) -I t/unit -o $@ $< $(call unit_deps,$<) $(LLHTTP_OBJ) $(LDLIBS) $(CHECK_LIBS)

$(BUILD)/llhttp $(BUILD)/unit:
	@mkdir -p $@

run: deps all
	$(BUILD)/moongate -p . -c conf/moongate.yaml

# the layering rule of core/, at link level (nm over the objects) and over the includes
layers: $(BUILD)/moongate
	tools/layer-check $(BUILD) $(LAYERS)

check: layers $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; CK_FORK=yes $$t; done

prove: all
	MG_BIN=$(abspath $(BUILD)/moongate) prove -r -I t/lib t/

test: deps
	$(MAKE) all
	$(MAKE) check
	$(MAKE) prove

asan:
	$(MAKE) BUILD=build-asan OPT=-O1 SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" all check
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:handle_segv=0 UBSAN_OPTIONS=print_stacktrace=1 \
	  MG_BIN=$(abspath build-asan/moongate) prove -r -I t/lib t/

bench: deps all
	tools/bench
	tools/bench-tls
	tools/bench-ewma
	tools/bench-instr
	tools/bench-obs
	tools/bench-ws
	tools/bench-burst
	tools/bench-mem
	$(MAKE) bench-lua
	tools/bench-plugins

install: all
	install -D -m 0755 $(BUILD)/moongate $(DESTDIR)$(PREFIX)/bin/moongate
	mkdir -p $(DESTDIR)$(PREFIX)/share/moongate
	cp -R lua plugins $(DESTDIR)$(PREFIX)/share/moongate/
	install -D -m 0644 conf/moongate.yaml $(DESTDIR)$(PREFIX)/share/moongate/conf/moongate.yaml

format:
	clang-format -i core/*/*.c core/*/*.h t/unit/*.c

clean:
	rm -rf build build-asan t/servroot*

# router benchmark
.PHONY: bench-router
bench-router: $(BUILD)/bench_router
	$(BUILD)/bench_router

$(BUILD)/bench_router: tools/bench_router.c $(BUILD)/core/http/router.o $(BUILD)/core/conf/route_pattern.o $(BUILD)/core/base/regexp.o $(BUILD)/core/base/pool.o $(BUILD)/core/base/str.o
	$(CC) $(ALL_CFLAGS) $(WARN) -o $@ $^ -lpcre2-8

# micro-benchmarks of the mg API's Lua functions: tools/bench-lua.d/*.lua
.PHONY: bench-lua
bench-lua: $(BUILD)/bench-lua
	$(BUILD)/bench-lua tools/bench-lua.d/*.lua

$(BUILD)/bench-lua: tools/bench-lua.c $(CORE_OBJ) $(LLHTTP_OBJ)
	$(CC) $(ALL_CFLAGS) $(WARN) -o $@ $^ $(LDLIBS)
