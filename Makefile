# handshaked — top-level build.
#
#   make              build everything (daemon, library, tests, kselftests, benches)
#   make check        install missing packages, build, run every test (host + VM)
#   make demo         the main job: real clients doing TLS 1.3 through kTLS in a VM
#   make bench        benchmarks against peers measured in the same run
#   make fuzz         run the libFuzzer targets for longer (FUZZ_SECONDS each;
#                     make check gives them FUZZ_CHECK_TOTAL=240 seconds in all)
#   make install      PREFIX=/usr/local DESTDIR= (LIBDIR=$(PREFIX)/lib, SYSTEMDUNITDIR=...)
#   make SAN=1 ...    ASan + UBSan build of everything (into build-san/)
#   make SAN=thread   ThreadSanitizer build (into build-tsan/; the daemon's
#                     loops: BUILD=build-tsan kselftest/run, see kselftest/README.md)
#   make CC=clang     clang build (objects are rebuilt when CC or flags change)

CC ?= gcc
ifeq ($(origin CC),default)
CC := gcc
endif
PKG_CONFIG ?= pkg-config
PREFIX ?= /usr/local
DESTDIR ?=
# Debian's packaging (debian/rules) sets the multiarch libdir and bookworm's /lib unit dir
LIBDIR ?= $(PREFIX)/lib
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
SAN ?=
BUILD ?= $(if $(filter thread,$(SAN)),build-tsan,$(if $(SAN),build-san,build))
FUZZ_SECONDS ?= 300

PKGS := libcrypto liburing libmnl
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
LIBCRYPTO := $(shell $(PKG_CONFIG) --libs libcrypto 2>/dev/null || echo -lcrypto)
LIBURING := $(shell $(PKG_CONFIG) --libs liburing 2>/dev/null || echo -luring)
LIBMNL := $(shell $(PKG_CONFIG) --libs libmnl 2>/dev/null || echo -lmnl)
LIBSSL := $(shell $(PKG_CONFIG) --libs libssl 2>/dev/null || echo -lssl)
LIBINIH := $(shell $(PKG_CONFIG) --libs inih 2>/dev/null || echo -linih)
# the daemon's seccomp filter (handshaked/sandbox.c): required
LIBSECCOMP := $(shell $(PKG_CONFIG) --libs libseccomp 2>/dev/null || echo -lseccomp)
# libsystemd is optional: without it the daemon has no sd_notify, watchdog
# or socket activation (handshaked/sdnotify.c), and otherwise works the same
# (`make HAVE_LIBSYSTEMD=` builds that way where libsystemd-dev is installed).
HAVE_LIBSYSTEMD := $(shell $(PKG_CONFIG) --exists libsystemd 2>/dev/null && echo 1)
LIBSYSTEMD := $(if $(HAVE_LIBSYSTEMD),$(shell $(PKG_CONFIG) --libs libsystemd))
SYSTEMD_CFLAGS := $(if $(HAVE_LIBSYSTEMD),-DHAVE_LIBSYSTEMD $(shell $(PKG_CONFIG) --cflags libsystemd))

WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	-Wformat=2 -Wno-unused-parameter
OPT := -O2 -g
ifeq ($(SAN),thread)
OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=thread
else ifneq ($(SAN),)
OPT := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
endif
CFLAGS ?=
CPPFLAGS ?=
LDFLAGS ?=
ALL_CFLAGS := -std=gnu11 $(WARN) $(OPT) -fPIC -D_GNU_SOURCE -Iinclude -Ilib -Itests/common $(PKG_CFLAGS) \
	$(SYSTEMD_CFLAGS) $(CPPFLAGS) $(CFLAGS)
ALL_LDFLAGS := $(OPT) $(LDFLAGS)
# The product exports only what the public headers mark (TLS_API); the test
# build of the library adds the engine's test hooks.
PRODUCT_CFLAGS := -fvisibility=hidden
TEST_BUILD_CFLAGS := -DTLS_TEST_HOOKS

# ---- sources, discovered by folder (see ../shared/DESIGN.md) ----
# test_hooks.c is the engine's test seam: only in its test build.
TEST_HOOKS_SRC := lib/tls/test_hooks.c
ENGINE_SRC := $(filter-out $(TEST_HOOKS_SRC),$(sort $(wildcard lib/tls/*.c)))
LIB_SRC := $(sort $(wildcard lib/*.c))
DAEMON_SRC := $(filter-out handshaked/handshakectl.c,$(sort $(wildcard handshaked/*.c)))
CTL_SRC := $(wildcard handshaked/handshakectl.c)
TEST_COMMON_SRC := $(sort $(wildcard tests/common/*.c))
TEST_UNIT_SRC := $(sort $(wildcard tests/unit/*.c))
PEER_SRC := $(sort $(wildcard tests/peer/*.c))
KSELF_SRC := $(sort $(wildcard kselftest/*.c))
BENCH_SRC := $(sort $(wildcard bench/*.c))
EXAMPLE_SRC := $(sort $(wildcard examples/*.c))
# kstatic's HTTP core (parser, paths, responses): no I/O loop, host-testable.
KSTATIC_CORE_SRC := $(sort $(wildcard examples/kstatic/http_*.c))
# kstatic itself: the core plus the server program (options, loop, connections).
KSTATIC_SRC := $(sort $(wildcard examples/kstatic/*.c))
FUZZ_SRC := $(sort $(wildcard tests/fuzz/*.c))

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
tobj = $(patsubst %.c,$(BUILD)/obj-test/%.o,$(1))

# The product: symbols hidden unless the public headers export them
# (TLS_API). The test build of the same library adds the test hooks.
LIB_OBJ := $(call obj,$(ENGINE_SRC) $(LIB_SRC))
TEST_LIB_OBJ := $(call tobj,$(ENGINE_SRC) $(LIB_SRC) $(TEST_HOOKS_SRC))
TEST_COMMON_OBJ := $(call obj,$(TEST_COMMON_SRC))

LIB_A := $(BUILD)/libhandshake.a
# The SONAME's number changes with every incompatible ABI change (Debian's
# libhandshake1 package is named after it); LIB_SO is the link-time symlink.
SOVERSION := 1
LIB_SO_REAL := $(BUILD)/libhandshake.so.$(SOVERSION).0.0
LIB_SO := $(BUILD)/libhandshake.so
TEST_LIB_A := $(BUILD)/libhandshake-test.a
DAEMON := $(if $(DAEMON_SRC),$(BUILD)/handshaked)
CTL := $(if $(CTL_SRC),$(BUILD)/handshakectl)
UNIT_BIN := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(TEST_UNIT_SRC))
PEER_BIN := $(if $(PEER_SRC),$(BUILD)/tests/peer)
KSELF_BIN := $(patsubst kselftest/%.c,$(BUILD)/kselftest/%,$(KSELF_SRC))
BENCH_BIN := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))
EXAMPLE_BIN := $(patsubst examples/%.c,$(BUILD)/examples/%,$(EXAMPLE_SRC))
KSTATIC := $(if $(KSTATIC_SRC),$(BUILD)/kstatic)
FUZZ_BIN := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRC))
SEEDS_BIN := $(BUILD)/fuzz-seeds/mkseeds

ALL_BIN := $(LIB_A) $(LIB_SO) $(TEST_LIB_A) $(DAEMON) $(CTL) $(UNIT_BIN) $(PEER_BIN) $(KSELF_BIN) \
	$(BENCH_BIN) $(EXAMPLE_BIN) $(KSTATIC) $(SEEDS_BIN)

.SECONDARY:
.PHONY: all product check check-host demo bench fuzz fuzz-build install clean deps
all: $(ALL_BIN)
# what make install installs (Debian's package build makes only this)
product: $(LIB_A) $(LIB_SO) $(DAEMON) $(CTL)

# Rebuild everything when the compiler or flags change.
FLAGS_STAMP := $(BUILD)/.flags
FLAGS_NOW := $(CC) $(ALL_CFLAGS) $(PRODUCT_CFLAGS) $(TEST_BUILD_CFLAGS) $(ALL_LDFLAGS)
$(shell mkdir -p $(BUILD); [ "$$(cat $(FLAGS_STAMP) 2>/dev/null)" = "$(FLAGS_NOW)" ] || echo "$(FLAGS_NOW)" > $(FLAGS_STAMP))

$(BUILD)/obj/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(PRODUCT_CFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/obj-test/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(TEST_BUILD_CFLAGS) -MMD -MP -c -o $@ $<

$(LIB_A): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(TEST_LIB_A): $(TEST_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# sock_diag is raw netlink (lib/ktls_diag.c): applications never link libmnl.
$(LIB_SO_REAL): $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libhandshake.so.$(SOVERSION) $(ALL_LDFLAGS) -o $@ $^ $(LIBCRYPTO)

$(LIB_SO): $(LIB_SO_REAL)
	ln -sf $(notdir $<) $(BUILD)/libhandshake.so.$(SOVERSION)
	ln -sf libhandshake.so.$(SOVERSION) $@

$(BUILD)/handshaked: $(call obj,$(DAEMON_SRC)) $(LIB_A)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBURING) $(LIBMNL) $(LIBINIH) $(LIBSECCOMP) $(LIBCRYPTO) $(LIBSYSTEMD)

$(BUILD)/handshakectl: $(call obj,$(CTL_SRC)) $(LIB_A)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBCRYPTO)

# Test programs may link OpenSSL's libssl as a peer; the product never does.
$(BUILD)/tests/unit/%: $(BUILD)/obj/tests/unit/%.o $(TEST_COMMON_OBJ) $(TEST_LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBSSL) $(LIBCRYPTO) $(LIBMNL) -lpthread

# The daemon's config parser, linked alone into its unit test.
DAEMON_CONFIG_OBJ := $(call obj,handshaked/config.c handshaked/tlshd_conf.c handshaked/log.c \
	handshaked/metrics_addr.c)
$(BUILD)/tests/unit/daemon_config: $(BUILD)/obj/tests/unit/daemon_config.o $(DAEMON_CONFIG_OBJ) \
		$(TEST_COMMON_OBJ) $(TEST_LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBINIH) $(LIBSSL) $(LIBCRYPTO) $(LIBMNL) -lpthread

# The upcall's netlink parsing and keyring calls, linked alone into their unit test.
$(BUILD)/tests/unit/upcall: $(BUILD)/obj/tests/unit/upcall.o $(call obj,handshaked/upcall_nl.c handshaked/keyring.c \
		handshaked/log.c) $(TEST_COMMON_OBJ) $(TEST_LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBSSL) $(LIBCRYPTO) $(LIBMNL) -lpthread

# The daemon's client ticket cache, linked alone into its unit test.
$(BUILD)/tests/unit/ticket_cache: $(BUILD)/obj/tests/unit/ticket_cache.o $(call obj,handshaked/tickets.c) \
		$(TEST_COMMON_OBJ) $(TEST_LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBSSL) $(LIBCRYPTO) $(LIBMNL) -lpthread

# The daemon's log lines (logfmt quoting), linked alone into their unit test.
$(BUILD)/tests/unit/daemon_log: $(BUILD)/obj/tests/unit/daemon_log.o $(call obj,handshaked/log.c) \
		$(TEST_COMMON_OBJ) $(TEST_LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBSSL) $(LIBCRYPTO) $(LIBMNL) -lpthread

# The daemon's heap gauge (it replaces malloc), linked alone into its unit test.
$(BUILD)/tests/unit/daemon_heap: $(BUILD)/obj/tests/unit/daemon_heap.o $(call obj,handshaked/heap.c) \
		$(TEST_COMMON_OBJ) $(TEST_LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBSSL) $(LIBCRYPTO) $(LIBMNL) -lpthread

# The daemon's confinement (secure heap, ring restrictions, seccomp), linked alone into its unit test.
$(BUILD)/tests/unit/daemon_sandbox: $(BUILD)/obj/tests/unit/daemon_sandbox.o $(call obj,handshaked/sandbox.c \
		handshaked/log.c) $(TEST_COMMON_OBJ) $(TEST_LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBSECCOMP) $(LIBURING) $(LIBSSL) $(LIBCRYPTO) $(LIBMNL) -lpthread

# kstatic's HTTP core and its deadline lists, linked into its unit tests.
KSTATIC_UNIT_BIN := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(wildcard tests/unit/kstatic_*.c))
$(KSTATIC_UNIT_BIN): $(BUILD)/tests/unit/%: $(BUILD)/obj/tests/unit/%.o $(call obj,$(KSTATIC_CORE_SRC) \
		examples/kstatic/timer.c) \
		$(TEST_COMMON_OBJ) $(TEST_LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBSSL) $(LIBCRYPTO) $(LIBMNL) -lpthread

# kstatic links the product statically: its HTTP core reads through
# lib/tls/wire.c, which libhandshake.so does not export.
$(BUILD)/kstatic: $(call obj,$(KSTATIC_SRC)) $(LIB_A)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBCRYPTO) -lpthread

$(BUILD)/tests/peer: $(call obj,$(PEER_SRC)) $(TEST_COMMON_OBJ) $(TEST_LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBMNL) $(LIBCRYPTO)

$(BUILD)/kselftest/%: $(BUILD)/obj/kselftest/%.o $(TEST_COMMON_OBJ) $(TEST_LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBMNL) $(LIBCRYPTO) -lpthread

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(TEST_COMMON_OBJ) $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBSSL) $(LIBCRYPTO) $(LIBMNL)

$(BUILD)/examples/%: $(BUILD)/obj/examples/%.o $(LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBCRYPTO)

# The seed generator: tests/fuzz/run checks with it that the seeds still
# reach the paths they were made for.
$(SEEDS_BIN): $(BUILD)/obj/tests/fuzz/corpus/mkseeds.o $(TEST_COMMON_OBJ) $(TEST_LIB_A)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBCRYPTO)

# libFuzzer targets: clang only, the whole library compiled in with the fuzzer.
FUZZ_CC ?= clang
FUZZ_FLAGS := -std=gnu11 -g -O1 -D_GNU_SOURCE $(TEST_BUILD_CFLAGS) -Iinclude -Ilib -Itests/common $(PKG_CFLAGS) \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
# From lib/ only the handoff parser: lib/ktls*.c would pull in libmnl.
FUZZ_LIB_SRC := $(wildcard lib/handoff.c)
$(BUILD)/fuzz/%: tests/fuzz/%.c $(ENGINE_SRC) $(TEST_HOOKS_SRC) $(FUZZ_LIB_SRC) $(TEST_COMMON_SRC) $(wildcard lib/*.h lib/tls/*.h tests/common/*.h tests/fuzz/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $< $(ENGINE_SRC) $(TEST_HOOKS_SRC) $(FUZZ_LIB_SRC) $(TEST_COMMON_SRC) $(LIBCRYPTO)
# The kstatic request parser needs only its core and the wire reader.
$(BUILD)/fuzz/kstatic_request: tests/fuzz/kstatic_request.c $(KSTATIC_CORE_SRC) lib/tls/wire.c \
		$(wildcard examples/kstatic/*.h lib/tls/wire.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $< $(KSTATIC_CORE_SRC) lib/tls/wire.c $(LIBCRYPTO)
fuzz-build: $(FUZZ_BIN)

deps:
	@./deps

# Everything: host tests, fuzzing (bounded), then the VM suites on two kernels.
# Fuzz targets need clang's libFuzzer runtime; without it tests/fuzz/run says
# SKIP with the reason instead of the build failing, and tests/run-all counts
# that skip as a failure too (./deps installs the runtime).
check: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory fuzz-build || echo "# fuzz targets not built; tests/fuzz/run will say why"
	@BUILD=$(BUILD) tests/run-all

check-host: all
	@BUILD=$(BUILD) tests/run-all --host-only

demo: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) kselftest/demo

bench: all
	@BUILD=$(BUILD) bench/run

fuzz: fuzz-build
	@BUILD=$(BUILD) tests/fuzz/run $(FUZZ_SECONDS)

install: product
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(LIBDIR)/pkgconfig \
		$(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/share/man/man8
	$(if $(DAEMON),install -m 0755 $(DAEMON) $(DESTDIR)$(PREFIX)/sbin/)
	$(if $(CTL),install -m 0755 $(CTL) $(DESTDIR)$(PREFIX)/sbin/)
	install -m 0644 $(LIB_A) $(DESTDIR)$(LIBDIR)/
	install -m 0644 $(LIB_SO_REAL) $(DESTDIR)$(LIBDIR)/
	ln -sf $(notdir $(LIB_SO_REAL)) $(DESTDIR)$(LIBDIR)/libhandshake.so.$(SOVERSION)
	ln -sf libhandshake.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libhandshake.so
	install -d $(DESTDIR)$(PREFIX)/include/handshake
	$(foreach h,$(wildcard include/*.h),install -m 0644 $(h) $(DESTDIR)$(PREFIX)/include/;)
	$(foreach h,$(wildcard include/handshake/*.h),install -m 0644 $(h) $(DESTDIR)$(PREFIX)/include/handshake/;)
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' libhandshake.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/libhandshake.pc
	$(foreach m,$(wildcard man/*.8),install -m 0644 $(m) $(DESTDIR)$(PREFIX)/share/man/man8/;)
	install -d $(DESTDIR)$(PREFIX)/share/man/man3
	$(foreach m,$(wildcard man/*.3),install -m 0644 $(m) $(DESTDIR)$(PREFIX)/share/man/man3/;)
	install -d $(DESTDIR)$(PREFIX)/share/man/man5
	$(foreach m,$(wildcard man/*.5),install -m 0644 $(m) $(DESTDIR)$(PREFIX)/share/man/man5/;)
	install -d $(DESTDIR)$(SYSTEMDUNITDIR)
	$(foreach u,$(wildcard systemd/*.service systemd/*.socket),sed -e 's|/usr/sbin/|$(PREFIX)/sbin/|g' $(u) \
		>$(DESTDIR)$(SYSTEMDUNITDIR)/$(notdir $(u)) && chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/$(notdir $(u));)
	install -d $(DESTDIR)$(PREFIX)/share/doc/handshaked/systemd
	$(foreach u,$(wildcard systemd/*.conf),install -m 0644 $(u) $(DESTDIR)$(PREFIX)/share/doc/handshaked/systemd/;)

clean:
	rm -rf build build-san

-include $(shell find $(BUILD)/obj $(BUILD)/obj-test -name '*.d' 2>/dev/null)
