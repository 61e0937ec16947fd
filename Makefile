# dobroker - one GNU Makefile for the native (Linux) and MinGW-w64 (Windows)
# builds. Every output goes under build/<target>/.
#
#   make                              native build (Unix socket, sim backend)
#   make CROSS=x86_64-w64-mingw32-    Windows build: static .exe files
#   make check                        installs what is missing, runs every test
#   make demo                         installs what is missing, runs the demo
#   make SAN=address,undefined check  every Criterion suite under ASan/UBSan (only those)
#   make SAN=thread check             the TSan programs and the integration tests
#                                     against a TSan dobrokerd (only those)
#   make valgrind                     the integration tests under valgrind (slow)
#   make crashloop LIVES=N            the crash-and-race checker for N lives
#   make fuzz FUZZ_SECONDS=N          runs every fuzz target for N seconds
#   make bench                        benchmarks (table + JSON under build/)
#   make bench-wine                   the same under Wine (named pipes, COM callback)
#   make clean
#
# CFLAGS/LDFLAGS belong to the user; the project's flags are in DOB_CFLAGS.

.DEFAULT_GOAL := all
V ?= 0
ifeq ($(V),0)
Q := @
else
Q :=
endif

CROSS ?=
SAN ?=
CC := $(CROSS)gcc
AR := $(CROSS)ar
PROTOC_C ?= protoc-c
PROTOC ?= protoc
PY ?= /usr/bin/python3
WINE ?= /usr/lib/wine/wine64

ifneq ($(CROSS),)
TARGET := mingw
EXE := .exe
PLAT := win32
else
TARGET := native
EXE :=
PLAT := posix
endif
comma := ,
ifneq ($(SAN),)
BUILD := build/$(TARGET)-san-$(subst $(comma),-,$(SAN))
else
BUILD := build/$(TARGET)
endif

GEN := $(BUILD)/gen
OBJ := $(BUILD)/obj
BIN := $(BUILD)/bin
LIB := $(BUILD)/lib

DOB_CFLAGS := -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes -Werror \
	-Wno-unused-parameter -O2 -g -MMD -MP \
	-Iproto/include -I$(GEN) -Ibroker -Ibroker/base -Ibroker/backend \
	-Iclient/include -Iclient/src -Itests/support -Itests/fakes
DOB_LDFLAGS :=
DOB_LIBS :=

# protobuf-c runtime. Native: Debian's libprotobuf-c. MinGW (and fuzzing):
# compiled from Debian's protobuf-c source package at the same version, since
# Debian ships no MinGW build of it (scripts/fetch-protobuf-c.sh), with our
# patches (scripts/patches/protobuf-c/). Sanitized native builds compile it
# from that source too, so the sanitizers see into it.
PBC_VERSION := $(shell dpkg-query -W -f='$${Version}' libprotobuf-c-dev 2>/dev/null | sed 's/-[^-]*$$//')
PBC_SRC_DIR := build/src/protobuf-c-$(PBC_VERSION)
PBC_STAMP := $(PBC_SRC_DIR)/.fetched

ifeq ($(TARGET),mingw)
DOB_CFLAGS += -D_WIN32_WINNT=0x0A00 -DWIN32_LEAN_AND_MEAN -DCOBJMACROS -DUNICODE -D_UNICODE \
	-I$(PBC_SRC_DIR)
DOB_LDFLAGS += -static
DOB_LIBS += -lbits -lole32 -loleaut32 -luuid -ladvapi32 -lws2_32 -lshell32
PBC_OBJ := $(OBJ)/pbc/protobuf-c.o
else
DOB_CFLAGS += -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -pthread
DOB_LDFLAGS += -pthread
ifneq ($(SAN),)
DOB_CFLAGS += -I$(PBC_SRC_DIR)
PBC_OBJ := $(OBJ)/pbc/protobuf-c.o
else
DOB_LIBS += -lprotobuf-c
PBC_OBJ :=
endif
endif
ifneq ($(SAN),)
DOB_CFLAGS += -fsanitize=$(SAN) -fno-omit-frame-pointer -fno-sanitize-recover=all -O1
DOB_LDFLAGS += -fsanitize=$(SAN)
endif

# ---------------------------------------------------------------- sources
GEN_C := $(GEN)/dobroker.pb-c.c
GEN_H := $(GEN)/dobroker.pb-c.h

PROTO_SRCS := $(wildcard proto/*.c)
CORE_SRCS := $(wildcard broker/base/*.c) $(wildcard broker/core/*.c) $(wildcard broker/backend/*.c)
# Layers: broker/base (log, timers) is below everything; the backends and the
# platform layers see base, backend.h and platform.h, never a core header.
# Only the core itself, dobrokerd's main, the tests and the benchmarks get
# broker/core on their include path.
CORE_INC_OBJS := $(OBJ)/broker/core/%.o $(OBJ)/broker/dobrokerd.o $(OBJ)/tests/%.o $(OBJ)/bench/%.o
$(CORE_INC_OBJS): DOB_CFLAGS += -Ibroker/core
BPLAT_SRCS := $(wildcard broker/$(PLAT)/*.c)
# dobctl's helpers (client/src/dobctl_*.c: argument parsing, rendering, the
# top view; jsonw.c, its JSON writer; spawn_cmd.c and client/<plat>/spawn_*.c,
# its --exec commands) are dobctl's, linked into dobctl and the client tests,
# not into libdobclient: the library's users need none of them.
DOBCTL_HELPER_SRCS := $(wildcard client/src/dobctl_*.c) $(wildcard client/src/jsonw.c) \
	$(wildcard client/src/spawn_cmd.c) $(wildcard client/$(PLAT)/spawn_*.c)
CLIENT_SRCS := $(filter-out $(DOBCTL_HELPER_SRCS),$(wildcard client/src/*.c) $(wildcard client/$(PLAT)/*.c))
# dobctl itself: main (client/dobctl.c) and its commands (client/dobctl_*.c).
DOBCTL_SRCS := $(wildcard client/dobctl*.c)

objs = $(patsubst %.c,$(OBJ)/%.o,$(1))

PROTO_OBJS := $(call objs,$(PROTO_SRCS)) $(OBJ)/gen/dobroker.pb-c.o $(PBC_OBJ)
CORE_OBJS := $(call objs,$(CORE_SRCS))
BPLAT_OBJS := $(call objs,$(BPLAT_SRCS))
CLIENT_OBJS := $(call objs,$(CLIENT_SRCS))
DOBCTL_HELPER_OBJS := $(call objs,$(DOBCTL_HELPER_SRCS))
DOBCTL_OBJS := $(call objs,$(DOBCTL_SRCS))

LIBPROTO := $(LIB)/libdobproto.a
LIBCORE := $(LIB)/libdobcore.a
LIBBPLAT := $(LIB)/libdobplat.a
LIBCLIENT := $(LIB)/libdobclient.a
# Test support (tests/support/: deep message comparison, sample messages,
# hand-made wire bytes), linked into the unit tests, the tools and fuzzing.
SUPPORT_SRCS := $(wildcard tests/support/*.c)
LIBSUPPORT := $(LIB)/libdobtestsupport.a

# Programs: dobrokerd and dobctl exist once their main files do.
PROGRAMS :=
ifneq ($(wildcard broker/dobrokerd.c),)
PROGRAMS += $(BIN)/dobrokerd$(EXE)
endif
ifneq ($(wildcard client/dobctl.c),)
PROGRAMS += $(BIN)/dobctl$(EXE)
endif

# Test helpers: tests/tools/*.c are small programs (native and Windows) used
# by the test scripts; tests/wine/*.c are Windows-only test programs.
TOOL_SRCS := $(wildcard tests/tools/*.c)
TOOLS := $(patsubst tests/tools/%.c,$(BIN)/%$(EXE),$(TOOL_SRCS))
ifeq ($(TARGET),mingw)
WINTEST_SRCS := $(wildcard tests/wine/*.c)
TOOLS += $(patsubst tests/wine/%.c,$(BIN)/%$(EXE),$(WINTEST_SRCS))
# tests/windows/: the real-Windows acceptance program (docs/security.md),
# also run under Wine, where it reports what it cannot check as SKIPPED.
WINACC_SRCS := $(wildcard tests/windows/*.c)
TOOLS += $(patsubst tests/windows/%.c,$(BIN)/%$(EXE),$(WINACC_SRCS))
endif

all: $(LIBPROTO) $(LIBCLIENT) $(PROGRAMS) $(TOOLS)
	@echo "built $(TARGET) into $(BUILD)/"

# ---------------------------------------------------------------- generation
$(GEN_C) $(GEN_H) &: proto/dobroker.proto
	@mkdir -p $(GEN)
	@echo "  PROTOC-C $<"
	$(Q)$(PROTOC_C) --proto_path=proto --c_out=$(GEN) $<

# Every object may include the generated header: order-only dependency.
$(OBJ)/%.o: %.c | $(GEN_H)
	@mkdir -p $(dir $@)
	@echo "  CC  $<"
	$(Q)$(CC) $(DOB_CFLAGS) $(CFLAGS) -c -o $@ $<

$(OBJ)/gen/dobroker.pb-c.o: $(GEN_C) $(GEN_H)
	@mkdir -p $(dir $@)
	@echo "  CC  $<"
	$(Q)$(CC) $(DOB_CFLAGS) -Wno-error $(CFLAGS) -c -o $@ $<

# protobuf-c runtime from Debian's source package (MinGW and sanitized
# builds); fetched again when a patch changes.
$(PBC_STAMP): $(wildcard scripts/patches/protobuf-c/*.patch)
	$(Q)scripts/fetch-protobuf-c.sh "$(PBC_VERSION)" build/src

$(OBJ)/pbc/protobuf-c.o: $(PBC_STAMP)
	@mkdir -p $(dir $@)
	@echo "  CC  protobuf-c $(PBC_VERSION) runtime (from source)"
	$(Q)$(CC) -O2 -g -I$(PBC_SRC_DIR) $(if $(SAN),-fsanitize=$(SAN) -fno-sanitize-recover=all) \
		-c -o $@ $(PBC_SRC_DIR)/protobuf-c/protobuf-c.c

ifneq ($(PBC_OBJ),)
$(GEN_H): | $(PBC_STAMP)
endif

$(LIBPROTO): $(PROTO_OBJS)
$(LIBCORE): $(CORE_OBJS)
$(LIBBPLAT): $(BPLAT_OBJS)
$(LIBCLIENT): $(CLIENT_OBJS)
$(LIBSUPPORT): $(call objs,$(SUPPORT_SRCS))
$(LIB)/%.a:
	@mkdir -p $(dir $@)
	@echo "  AR  $@"
	$(Q)rm -f $@ && $(AR) rcs $@ $^

# The project's archives go in one group: libdobcore calls plat_* of
# libdobplat, and libdobplat logs through libdobcore's dob_log.
LINK = @mkdir -p $(dir $@); echo "  LD  $@"; $(CC) $(DOB_LDFLAGS) $(LDFLAGS) -o $@ \
	$(filter-out %.a,$^) -Wl,--start-group $(filter %.a,$^) -Wl,--end-group $(DOB_LIBS)

# Windows: the Event Log message table (windmc: broker/win32/dobrokerd_msg.mc
# -> gen/msg/dobrokerd_msg.{h,rc} + MSG00409.bin) and the version resource,
# compiled by windres from broker/win32/dobrokerd.rc into dobrokerd.exe.
DOBROKERD_RES :=
ifeq ($(TARGET),mingw)
MSG_GEN := $(GEN)/msg
$(MSG_GEN)/dobrokerd_msg.h $(MSG_GEN)/dobrokerd_msg.rc &: broker/win32/dobrokerd_msg.mc
	@mkdir -p $(MSG_GEN)
	@echo "  WINDMC $<"
	$(Q)$(CROSS)windmc -h $(MSG_GEN) -r $(MSG_GEN) $<
$(OBJ)/broker/win32/dobrokerd_res.o: broker/win32/dobrokerd.rc $(MSG_GEN)/dobrokerd_msg.rc
	@mkdir -p $(dir $@)
	@echo "  WINDRES $<"
	$(Q)$(CROSS)windres -I$(MSG_GEN) -i $< -o $@
$(OBJ)/broker/win32/eventlog_win32.o $(OBJ)/tests/wine/eventlog_test.o: $(MSG_GEN)/dobrokerd_msg.h
$(OBJ)/broker/win32/eventlog_win32.o $(OBJ)/tests/wine/eventlog_test.o: DOB_CFLAGS += -I$(MSG_GEN)
DOBROKERD_RES := $(OBJ)/broker/win32/dobrokerd_res.o
endif
$(BIN)/dobrokerd$(EXE): $(OBJ)/broker/dobrokerd.o $(DOBROKERD_RES) $(LIBCORE) $(LIBBPLAT) $(LIBPROTO)
	$(Q)$(LINK)
$(BIN)/dobctl$(EXE): $(DOBCTL_OBJS) $(DOBCTL_HELPER_OBJS) $(LIBCLIENT) $(LIBPROTO)
	$(Q)$(LINK)
$(BIN)/%$(EXE): $(OBJ)/tests/tools/%.o $(LIBSUPPORT) $(LIBCLIENT) $(LIBCORE) $(LIBPROTO)
	$(Q)$(LINK)
$(BIN)/%$(EXE): $(OBJ)/tests/wine/%.o $(LIBCORE) $(LIBBPLAT) $(LIBPROTO)
	$(Q)$(LINK)
# callback_bench.exe runs the real broker in-process with libdobclient
# subscribers: both libraries.
$(BIN)/callback_bench$(EXE): $(OBJ)/tests/wine/callback_bench.o $(LIBCLIENT) $(LIBCORE) $(LIBBPLAT) $(LIBPROTO)
	$(Q)$(LINK)
# The acceptance program is a client of the installed broker.
$(BIN)/%$(EXE): $(OBJ)/tests/windows/%.o $(LIBCLIENT) $(LIBPROTO)
	$(Q)$(LINK)
.PRECIOUS: $(OBJ)/tests/windows/%.o
# client_test.exe tests libdobclient and dobctl.exe: it links the client's
# library, not the broker's.
$(BIN)/client_test$(EXE): $(OBJ)/tests/wine/client_test.o $(LIBCLIENT) $(LIBPROTO)
	$(Q)$(LINK)

# ---------------------------------------------------------------- DO emulator
# doemu/ (Windows only): doemu.exe, a COM local server serving DO's API on
# the sim model, and doemuprx.dll, the proxy/stub of the DO-specific
# interface, generated from doemu/doemu.idl by widl (mingw-w64-tools).
ifeq ($(TARGET),mingw)
WIDL ?= $(CROSS)widl
DOEMU_SRCS := $(wildcard doemu/*.c)
DOEMU_OBJS := $(call objs,$(DOEMU_SRCS))
DOEMU_IDL_GEN := $(GEN)/doemu_idl.h $(GEN)/doemu_p.c $(GEN)/doemu_i.c $(GEN)/doemu_dlldata.c
$(DOEMU_IDL_GEN) &: doemu/doemu.idl $(wildcard doemu/idl/*.idl)
	@mkdir -p $(GEN)
	@echo "  WIDL $<"
	$(Q)cd $(GEN) && $(WIDL) -I$(CURDIR)/doemu/idl --win64 -Oicf -h -H doemu_idl.h \
		-p -P doemu_p.c -u -U doemu_i.c $(CURDIR)/$< && \
		$(WIDL) --dlldata-only -o doemu_dlldata.c $(CURDIR)/$<
$(DOEMU_OBJS): DOB_CFLAGS += -Idoemu -DCONST_VTABLE
$(DOEMU_OBJS): | $(GEN)/doemu_idl.h
$(BIN)/doemu.exe: DOB_LDFLAGS += -municode
$(BIN)/doemu.exe: $(DOEMU_OBJS) $(LIBCORE) $(LIBBPLAT) $(LIBPROTO)
	$(Q)$(LINK)
# The generated proxy code is widl's: its own flags, no -Werror.
DOEMU_PRX_OBJS := $(OBJ)/gen/doemu_p.o $(OBJ)/gen/doemu_i.o $(OBJ)/gen/doemu_dlldata.o
$(DOEMU_PRX_OBJS): $(OBJ)/gen/%.o: $(GEN)/%.c
	@mkdir -p $(dir $@)
	@echo "  CC  $<"
	$(Q)$(CC) -O2 -DWIN32_LEAN_AND_MEAN -DCOBJMACROS -D_WIN32_WINNT=0x0A00 \
		-DPROXY_CLSID_IS='{0x60c0e9bd,0x0b31,0x4f32,{0x94,0x29,0x92,0xd6,0x5d,0xc1,0xb0,0x2b}}' \
		-include doemu/prx_prelude.h -I$(GEN) -c -o $@ $<
$(BIN)/doemuprx.dll: $(DOEMU_PRX_OBJS) doemu/doemuprx.def
	@mkdir -p $(dir $@)
	@echo "  LD  $@"
	$(Q)$(CC) -shared -static -o $@ $(DOEMU_PRX_OBJS) doemu/doemuprx.def -lrpcrt4 -lole32 -luuid -lbits
DOEMU := $(BIN)/doemu.exe $(BIN)/doemuprx.dll
all: $(DOEMU)
endif

# ---------------------------------------------------------------- tests
# Unit tests: one Criterion binary from tests/unit/*.c plus the link-time
# fakes in tests/fakes/ (fake clock/platform, fake backend), against the
# portable libraries only.
# Every Criterion binary links CRIT_LSAN (tests/san/criterion_lsan.c): the
# LeakSanitizer suppression for Criterion's own runner process.
CRIT_LSAN := $(OBJ)/tests/san/criterion_lsan.o
UNIT_SRCS := $(wildcard tests/unit/*.c) $(wildcard tests/fakes/*.c)
UNIT_BIN := $(BUILD)/tests/unit
$(UNIT_BIN): $(call objs,$(UNIT_SRCS)) $(CRIT_LSAN) $(LIBSUPPORT) $(LIBCORE) $(LIBPROTO)
	$(Q)mkdir -p $(dir $@); echo "  LD  $@"; $(CC) $(DOB_LDFLAGS) $(LDFLAGS) -o $@ $^ -lcriterion $(DOB_LIBS)

# Integration tests: Criterion tests that start real brokers and clients.
INTEG_SRCS := $(wildcard tests/integration/*.c)
INTEG_BIN := $(BUILD)/tests/integration
$(INTEG_BIN): $(call objs,$(INTEG_SRCS)) $(CRIT_LSAN) $(LIBSUPPORT) $(LIBCLIENT) $(LIBPROTO)
	$(Q)mkdir -p $(dir $@); echo "  LD  $@"; $(CC) $(DOB_LDFLAGS) $(LDFLAGS) -o $@ $^ -lcriterion $(DOB_LIBS)

# Platform tests (native only): a Criterion binary that drives the real
# broker/posix/ library through broker/platform.h (real sockets, files and
# processes). It links the core's log.c, or a stub while there is none.
ifeq ($(TARGET),native)
PLATTEST_SRCS := $(wildcard tests/platform/*.c)
PLATTEST_BIN := $(BUILD)/tests/platform
PLATTEST_LOG := $(if $(wildcard broker/base/log.c),$(OBJ)/broker/base/log.o,$(OBJ)/tests/platform/stub/log_stub.o)
$(PLATTEST_BIN): $(call objs,$(PLATTEST_SRCS)) $(CRIT_LSAN) $(PLATTEST_LOG) $(LIBBPLAT) $(LIBPROTO)
	$(Q)mkdir -p $(dir $@); echo "  LD  $@"; $(CC) $(DOB_LDFLAGS) $(LDFLAGS) -o $@ $^ -lcriterion $(DOB_LIBS)
tests: $(if $(PLATTEST_SRCS),$(PLATTEST_BIN))
endif

# Client tests (native only): libdobclient and dobctl against a scripted fake
# broker (a thread speaking frames over a Unix socket in a temporary
# directory), plus dobctl's pure helpers (linked from dobctl's helper
# objects). Runs build/<target>/bin/dobctl.
ifeq ($(TARGET),native)
CLIENTTEST_SRCS := $(wildcard tests/client/*.c)
CLIENTTEST_BIN := $(BUILD)/tests/client
$(CLIENTTEST_BIN): $(call objs,$(CLIENTTEST_SRCS)) $(CRIT_LSAN) $(DOBCTL_HELPER_OBJS) $(LIBCLIENT) $(LIBPROTO) | $(BIN)/dobctl
	$(Q)mkdir -p $(dir $@); echo "  LD  $@"; $(CC) $(DOB_LDFLAGS) $(LDFLAGS) -o $@ $^ -lcriterion $(DOB_LIBS)
tests: $(if $(CLIENTTEST_SRCS),$(CLIENTTEST_BIN))
endif

tests: all $(UNIT_BIN) $(if $(INTEG_SRCS),$(INTEG_BIN))

# ThreadSanitizer programs (native): tests/tsan/*.c, standalone (Criterion
# cannot run under TSan), against the real POSIX loop, the core and
# libdobclient; each prints "N passed, N failed". `make SAN=thread
# tsan-build` builds them into build/native-san-thread/tests/tsan/, and
# `make check SAN=thread` runs them (scripts/check.sh).
ifeq ($(TARGET),native)
TSAN_BINS := $(patsubst tests/tsan/%.c,$(BUILD)/tests/tsan/%,$(wildcard tests/tsan/*.c))
$(BUILD)/tests/tsan/%: $(OBJ)/tests/tsan/%.o $(LIBCLIENT) $(LIBCORE) $(LIBBPLAT) $(LIBPROTO)
	$(Q)$(LINK)
.SECONDARY: $(patsubst tests/tsan/%.c,$(OBJ)/tests/tsan/%.o,$(wildcard tests/tsan/*.c))
endif
tsan-build: $(TSAN_BINS)

# Python code generated from the same .proto for interop tests and examples.
PYGEN := build/py
$(PYGEN)/dobroker_pb2.py: proto/dobroker.proto
	@mkdir -p $(PYGEN)
	$(Q)$(PROTOC) --proto_path=proto --python_out=$(PYGEN) $<
pygen: $(PYGEN)/dobroker_pb2.py

# The sample messages of the interop and Windows codec tests are defined once,
# in tests/interop/samples.json; C gets them as a generated header.
SAMPLES_H := $(GEN)/interop_samples.h
$(SAMPLES_H): tests/interop/samples.json tests/interop/samples.py \
		tests/interop/gen_samples.py tests/interop/samples_prelude.h $(PYGEN)/dobroker_pb2.py
	@mkdir -p $(GEN)
	@echo "  GEN $@"
	$(Q)$(PY) tests/interop/gen_samples.py >$@.tmp && mv $@.tmp $@
$(call objs,$(TOOL_SRCS) $(WINTEST_SRCS)): $(SAMPLES_H)

# ---------------------------------------------------------------- fuzzing
FUZZ_SECONDS ?= 60
FUZZ := build/fuzz
FUZZ_CC := clang
FUZZ_CFLAGS := -std=c11 -g -O1 -MMD -MP -fsanitize=fuzzer-no-link,address,undefined \
	-Iproto/include -I$(FUZZ)/gen -Ibroker -Ibroker/base -Ibroker/core -Ibroker/backend -I$(PBC_SRC_DIR) -Itests/support \
	-Itests/fakes -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS := $(patsubst tests/fuzz/%.c,$(FUZZ)/%,$(FUZZ_SRCS))
# fuzz_broker drives the core on the unit tests' fake loop/clock/conns
# (tests/fakes/fake_plat.c); files are tests/fuzz/support/mem_files.c.
FUZZ_LIB_SRCS := $(PROTO_SRCS) $(CORE_SRCS) $(SUPPORT_SRCS) $(wildcard tests/fuzz/support/*.c) \
	tests/fakes/fake_plat.c

$(FUZZ)/gen/dobroker.pb-c.c $(FUZZ)/gen/dobroker.pb-c.h &: proto/dobroker.proto
	@mkdir -p $(FUZZ)/gen
	$(Q)$(PROTOC_C) --proto_path=proto --c_out=$(FUZZ)/gen $<
$(FUZZ)/obj/%.o: %.c $(FUZZ)/gen/dobroker.pb-c.h $(PBC_STAMP)
	@mkdir -p $(dir $@)
	@echo "  CC (fuzz) $<"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<
$(FUZZ)/obj/gen.o: $(FUZZ)/gen/dobroker.pb-c.c $(PBC_STAMP)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<
$(FUZZ)/obj/pbc.o: $(PBC_STAMP)
	@mkdir -p $(dir $@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $(PBC_SRC_DIR)/protobuf-c/protobuf-c.c
$(FUZZ)/libfuzzsupport.a: $(patsubst %.c,$(FUZZ)/obj/%.o,$(FUZZ_LIB_SRCS)) $(FUZZ)/obj/gen.o $(FUZZ)/obj/pbc.o
	$(Q)rm -f $@ && ar rcs $@ $^
$(FUZZ)/fuzz_%: $(FUZZ)/obj/tests/fuzz/fuzz_%.o $(FUZZ)/libfuzzsupport.a
	@echo "  LD (fuzz) $@"
	$(Q)$(FUZZ_CC) -fsanitize=fuzzer,address,undefined -o $@ $^ -pthread

# Keep the targets' objects (make would delete them as intermediates).
.SECONDARY: $(patsubst %.c,$(FUZZ)/obj/%.o,$(FUZZ_SRCS))
fuzz-build: $(FUZZ_BINS)
fuzz: fuzz-build
	$(Q)tests/fuzz/run.sh fuzz $(FUZZ_SECONDS) $(FUZZ_BINS)
fuzz-replay: fuzz-build
	$(Q)tests/fuzz/run.sh replay 0 $(FUZZ_BINS)
# protobuf-c's unknown_fields (upstream #690/#703, fixed in 1.5.1): our decode
# path under MSan and ASan, everything instrumented (docs/reliability.md).
fuzz-pbc-check: $(FUZZ)/gen/dobroker.pb-c.h $(PBC_STAMP)
	$(Q)tests/fuzz/pbc-sanitize.sh $(PBC_SRC_DIR) $(FUZZ)/gen

# Seed corpus of fuzz_frame: one valid frame per message type and a few bad
# ones, written by a native tool; the files are committed.
$(BIN)/gen_corpus$(EXE): $(OBJ)/tests/fuzz/gen_corpus.o $(LIBSUPPORT) $(LIBPROTO)
	$(Q)$(LINK)
# ... and of fuzz_journal, fuzz_scenario and fuzz_broker (gen_seeds; scenario
# seeds include every example of docs/sim-scenarios.md).
$(BIN)/gen_seeds$(EXE): $(OBJ)/tests/fuzz/gen_seeds.o $(LIBSUPPORT) $(LIBPROTO)
	$(Q)$(LINK)
fuzz-corpus: $(BIN)/gen_corpus$(EXE) $(BIN)/gen_seeds$(EXE)
	$(Q)$(BIN)/gen_corpus tests/fuzz/corpus/frame
	$(Q)mkdir -p tests/fuzz/corpus/journal tests/fuzz/corpus/scenario tests/fuzz/corpus/broker
	$(Q)$(BIN)/gen_seeds tests/fuzz/corpus/journal tests/fuzz/corpus/scenario docs/sim-scenarios.md \
		tests/fuzz/corpus/broker

# ---------------------------------------------------------------- benchmarks
# bench/*.c (issue 6): native programs into $(BUILD)/bench/, run by
# scripts/bench.sh; bench/win/*.c: Windows programs into build/mingw/bench/,
# run under Wine by scripts/bench-wine.sh. bench_util.c is shared.
BENCH_DIR := $(BUILD)/bench
BENCH_UTIL_OBJ := $(OBJ)/bench/bench_util.o
ifeq ($(TARGET),native)
BENCH_BINS := $(patsubst bench/%.c,$(BENCH_DIR)/%,$(filter-out bench/bench_util.c,$(wildcard bench/*.c)))
$(BENCH_DIR)/%: $(OBJ)/bench/%.o $(BENCH_UTIL_OBJ) $(LIBCLIENT) $(LIBPROTO)
	$(Q)$(LINK)
# native_bench's parts (bench/native/: running the broker, the raw transport).
NATIVE_BENCH_OBJS := $(patsubst %.c,$(OBJ)/%.o,$(wildcard bench/native/*.c))
$(BENCH_DIR)/native_bench: $(NATIVE_BENCH_OBJS)
$(OBJ)/bench/%.o: DOB_CFLAGS += -Ibench
else
BENCH_BINS := $(patsubst bench/win/%.c,$(BENCH_DIR)/%.exe,$(wildcard bench/win/*.c))
$(BENCH_DIR)/%.exe: $(OBJ)/bench/win/%.o $(BENCH_UTIL_OBJ) $(LIBCLIENT) $(LIBPROTO)
	$(Q)$(LINK)
# The DO callback baseline: a COM client of the emulator (DO's GUIDs).
$(BENCH_DIR)/do_noop_client.exe: $(OBJ)/bench/win/do_noop_client.o $(LIBBPLAT) $(LIBCORE) $(LIBPROTO)
	$(Q)$(LINK)
endif
# Keep the objects (make would delete them as intermediates and relink).
.SECONDARY: $(BENCH_UTIL_OBJ) $(patsubst bench/%.c,$(OBJ)/bench/%.o,$(wildcard bench/*.c bench/win/*.c bench/native/*.c))
bench-build: all $(BENCH_BINS)

# ---------------------------------------------------------------- entry points
bootstrap:
	$(Q)sh scripts/bootstrap.sh

# make check SAN=LIST runs only that sanitizer variant (scripts/check.sh).
check: bootstrap
	$(Q)env -u SAN -u MAKEFLAGS -u MFLAGS CHECK_SAN='$(SAN)' scripts/check.sh

# The integration tests with every process under valgrind (slow; not part
# of make check): scripts/check.sh's valgrind variant.
valgrind: bootstrap
	$(Q)env -u SAN -u MAKEFLAGS -u MFLAGS CHECK_SAN=valgrind scripts/check.sh

demo: bootstrap
	$(Q)scripts/demo.sh

# The crash-and-race checker (tests/integration/test_ledger.c) for LIVES
# lives (make check runs 100); SEED=N replays a run.
LIVES ?= 1000
crashloop: all tests
	$(Q)DOB_LEDGER_LIVES=$(LIVES) $(if $(SEED),DOB_LEDGER_SEED=$(SEED)) \
		$(INTEG_BIN) --filter 'ledger/*'

bench: bootstrap
	$(Q)scripts/bench.sh

bench-wine: bootstrap
	$(Q)scripts/bench-wine.sh

clean:
	rm -rf build

.PHONY: valgrind crashloop tsan-build all tests check demo bench bench-wine bench-build clean bootstrap fuzz fuzz-build fuzz-replay fuzz-corpus pygen
.DELETE_ON_ERROR:

-include $(shell find $(BUILD) build/fuzz -name '*.d' 2>/dev/null)
