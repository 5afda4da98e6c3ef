# thinsnap build: libthinsnap (shared + static), the thinsnap command, thinsnapd, tests,
# benchmarks. Builds: build/release (optimised: the product, benchmarks, test tools),
# build/check (ASan + UBSan + fault points: the unit tests and fuzz replays), build/fault
# (release plus fault points: the integration test programs), build/fuzz (clang, libFuzzer).
# Sources are picked up per folder, so a new file in a module folder needs no Makefile edit.
# Each target is defined once; the per-test link flags sit together below the unit test rule.

PREFIX  ?= /usr/local
LIBDIR  ?= $(PREFIX)/lib
INCDIR  ?= $(PREFIX)/include
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
DESTDIR ?=
VERSION := 0.1.0
SOVER   := 0

CC      ?= cc
# What the library links (also thinsnap.pc's Requires.private): libdevmapper in dm/, libblkid,
# libext2fs and libcom_err in mkfs/, jansson (image manifests) in unpack/.
PKGS    := devmapper blkid ext2fs com_err jansson
# What unpack/ opens with dlopen() when it first runs (unpack/libs.c): libarchive and libcrypto
# (sha256), with libxml2, ICU and libstdc++ behind them, are not loaded at every start of every
# program that links the library. Their headers are needed, their sonames are compiled in.
LAZY_PKGS := libarchive libcrypto
soname = $(shell objdump -p $$($(CC) -print-file-name=lib$(1).so) 2>/dev/null | \
	   awk '$$1 == "SONAME" { print $$2 }')
ARCHIVE_SONAME ?= $(call soname,archive)
CRYPTO_SONAME  ?= $(call soname,crypto)
LAZY_CFLAGS := -DTHINSNAP_ARCHIVE_SONAME='"$(ARCHIVE_SONAME)"' \
               -DTHINSNAP_CRYPTO_SONAME='"$(CRYPTO_SONAME)"'
# Tests that build tar streams themselves (tests/lib/tarbuf.h) link libarchive directly.
LAZY_LIBS  := $(shell pkg-config --libs $(LAZY_PKGS) 2>/dev/null)
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) $(LAZY_PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -ldl -lpthread
# Programs and the shared library record only the libraries they call (DT_NEEDED): a start
# loads no library that nothing uses.
AS_NEEDED  := -Wl,--as-needed
# The command alone also links jansson (its --json output).
CLI_PKGS   := jansson
CLI_CFLAGS := $(shell pkg-config --cflags $(CLI_PKGS) 2>/dev/null)
CLI_LIBS   := $(shell pkg-config --libs $(CLI_PKGS) 2>/dev/null)
COMPLETIONSDIR ?= $(PREFIX)/share/bash-completion/completions

CFLAGS_COMMON = -std=gnu17 -g -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -fno-common -fvisibility=hidden \
                -Iinclude -I. $(PKG_CFLAGS) $(CLI_CFLAGS) -DTHINSNAP_VERSION='"$(VERSION)"'
WERROR ?= -Werror
WARN    = -Wall -Wextra $(WERROR) -Wshadow -Wformat=2 -Wmissing-prototypes -Wstrict-prototypes \
          -Wold-style-definition -Wvla -Wundef -Wpointer-arith -Wjump-misses-init
RELEASE = -O2 -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIC
CHECK   = -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
          -fno-sanitize-recover=all -DTHINSNAP_FAULT_INJECTION
CHECK_LDFLAGS = -fsanitize=address,undefined

LIB_SRCS  := $(sort $(wildcard base/*.c dm/*.c pool/*.c meta/*.c mkfs/*.c snap/*.c stream/*.c unpack/*.c))
CLI_SRCS  := $(sort $(wildcard cli/*.c))
# config/ (the configuration both programs resolve) is not in the library, which never reads
# the environment: its objects are linked into thinsnap, thinsnapd, their tests and fuzz target.
CONFIG_SRCS := $(sort $(wildcard config/*.c))
# fake-snap.c implements the public snapshotter API in memory: only daemon tests link it;
# itest.c serves the integration test programs (fault build) only.
TLIB_SRCS := $(filter-out tests/lib/fake-snap.c tests/lib/itest.c,$(sort $(wildcard tests/lib/*.c)))
# The fake snapshotter and what it takes from the library: the filter language, the values'
# _free functions and base/ (thinsnapd-fake, test-daemon-grpc, fuzz-daemon-grpc).
FAKE_SNAP_SRCS := tests/lib/fake-snap.c snap/filter.c snap/value.c $(filter base/%,$(LIB_SRCS))
DAEMON_SRCS := $(sort $(wildcard daemon/*.c))
UNIT_SRCS := $(sort $(wildcard tests/unit/test-*.c))
BENCH_SRCS := $(sort $(wildcard bench/bench-*.c))
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz-*.c))

R := build/release
C := build/check
F := build/fault

FAKE_SNAP_OBJS_R := $(FAKE_SNAP_SRCS:%.c=$(R)/%.o)
FAKE_SNAP_OBJS_C := $(FAKE_SNAP_SRCS:%.c=$(C)/%.o)
LIB_OBJS_R := $(LIB_SRCS:%.c=$(R)/%.o)
LIB_OBJS_C := $(LIB_SRCS:%.c=$(C)/%.o)
CLI_OBJS_R := $(CLI_SRCS:%.c=$(R)/%.o)
CONFIG_OBJS_R := $(CONFIG_SRCS:%.c=$(R)/%.o)
CONFIG_OBJS_C := $(CONFIG_SRCS:%.c=$(C)/%.o)
TLIB_OBJS_C := $(TLIB_SRCS:%.c=$(C)/%.o)
LIB_OBJS_F := $(LIB_SRCS:%.c=$(F)/%.o)
ITEST_SRCS := $(sort $(wildcard tests/integration/*.c))
ITEST_BINS := $(ITEST_SRCS:tests/integration/%.c=$(F)/itest/%)
UNIT_BINS  := $(UNIT_SRCS:tests/unit/%.c=$(C)/tests/%)
BENCH_BINS := $(BENCH_SRCS:bench/%.c=$(R)/bench/%)
FUZZ_REPLAY_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=$(C)/fuzz/%-replay)
FUZZ_BINS  := $(FUZZ_SRCS:tests/fuzz/%.c=build/fuzz/%)

# Programs the integration tests call besides thinsnap and thinsnapd (tests/tools/).
TOOL_BINS := $(R)/tests/thinsnap-mkfs-tool $(R)/tests/thinsnap-thin-sb-tool

.PHONY: all lib cli daemon check check-unit check-integration check-headers check-format \
        check-pc check-power format bench bench-scale bench-report bench-start fuzz fuzz-smoke install \
        uninstall clean test

all: lib cli daemon $(TOOL_BINS) $(BENCH_BINS) $(ITEST_BINS)

lib: $(R)/libthinsnap.a $(R)/libthinsnap.so.$(SOVER) $(R)/thinsnap.pc
cli: $(R)/thinsnap

# The loader of unpack/'s libraries is told their sonames.
$(foreach b,$(R) $(C) $(F) build/fuzz/obj,$(b)/unpack/libs.o): CFLAGS_COMMON += $(LAZY_CFLAGS)

-include $(LIB_OBJS_R:.o=.d) $(LIB_OBJS_C:.o=.d) $(LIB_OBJS_F:.o=.d) $(CLI_OBJS_R:.o=.d) $(TLIB_OBJS_C:.o=.d)
-include $(FAKE_SNAP_OBJS_R:.o=.d) $(FAKE_SNAP_OBJS_C:.o=.d)
-include $(CONFIG_OBJS_R:.o=.d) $(CONFIG_OBJS_C:.o=.d)

$(R)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) $(WARN) $(RELEASE) $(CFLAGS) -MMD -MP -c $< -o $@

$(C)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) $(WARN) $(CHECK) $(CFLAGS) -MMD -MP -c $< -o $@

# The fault build: release code plus THINSNAP_FAULT() points, without sanitizers, for the
# integration tests that kill a process at a fault point on the real pool.
$(F)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) $(WARN) -O1 -DTHINSNAP_FAULT_INJECTION $(CFLAGS) -MMD -MP -c $< -o $@

$(F)/libthinsnap.a: $(LIB_OBJS_F)
	@rm -f $@
	ar rcs $@ $^

# Integration test programs (cmocka, run as root on the real pool by tNNNN-*.sh scripts).
$(F)/itest/%: tests/integration/%.c $(F)/tests/lib/itest.o $(F)/libthinsnap.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) $(WARN) -O1 -DTHINSNAP_FAULT_INJECTION -Itests/lib $(CFLAGS) -o $@ $< \
	    $(F)/tests/lib/itest.o $(F)/libthinsnap.a $(PKG_LIBS) -lcmocka

$(R)/libthinsnap.a: $(LIB_OBJS_R)
	@rm -f $@
	ar rcs $@ $^

# Exports what hidden visibility leaves public (THINSNAP_API), each symbol versioned by
# libthinsnap.sym; --no-undefined: every library it needs is on this line.
$(R)/libthinsnap.so.$(SOVER): $(LIB_OBJS_R) libthinsnap.sym
	$(CC) -shared -Wl,-soname,libthinsnap.so.$(SOVER) -Wl,--version-script=libthinsnap.sym \
	    -Wl,--no-undefined $(AS_NEEDED) -o $@ $(LIB_OBJS_R) $(PKG_LIBS) $(LDFLAGS)
	ln -sf libthinsnap.so.$(SOVER) $(R)/libthinsnap.so

$(C)/libthinsnap.a: $(LIB_OBJS_C)
	@rm -f $@
	ar rcs $@ $^

$(R)/thinsnap.pc: thinsnap.pc.in Makefile
	@mkdir -p $(dir $@)
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@INCDIR@|$(INCDIR)|g' \
	    -e 's|@VERSION@|$(VERSION)|g' -e 's|@REQUIRES_PRIVATE@|$(PKGS)|g' $< > $@

# The command links the static library: one process start, no loader search (dear in UML).
$(R)/thinsnap: $(CLI_OBJS_R) $(CONFIG_OBJS_R) $(R)/libthinsnap.a
	$(CC) $(AS_NEEDED) -o $@ $(CLI_OBJS_R) $(CONFIG_OBJS_R) $(R)/libthinsnap.a $(PKG_LIBS) \
	    $(CLI_LIBS) $(LDFLAGS)

# cli/ and config/ are not in the library: the tests of their pure logic take those files in.
TEST_EXTRA_test-config-parse   := $(CONFIG_OBJS_C)
TEST_EXTRA_test-config-resolve := $(CONFIG_OBJS_C)
TEST_EXTRA_test-cli-args   := cli/args.c
TEST_EXTRA_test-cli-format := cli/format.c
# daemon/metrics.c needs no generated protobuf code: its test compiles it in.
TEST_EXTRA_test-daemon-metrics := daemon/metrics.c daemon/log.c
TEST_LDFLAGS_test-cli-format := $(CLI_LIBS)
# Objects a fuzz target needs beyond the library: for its libFuzzer build and its replay.
FUZZ_EXTRA_fuzz-config   := $(CONFIG_SRCS:%.c=build/fuzz/obj/%.o)
REPLAY_EXTRA_fuzz-config := $(CONFIG_OBJS_C)

.SECONDEXPANSION:

# ---- thinsnapd: gRPC (nghttp2) + protobuf-c code generated from containerd's .proto files ----
# The .proto files come from Debian's golang-github-containerd-containerd-dev (and the
# well-known types from libprotobuf-dev), never copied into the tree; the gogoproto import
# and options are stripped (protoc-c knows nothing of them) into build/gen/proto/.
G := build/gen
CTRD_API ?= /usr/share/gocode/src/github.com/containerd/containerd/api
PROTO_INC ?= /usr/include
CTRD_PROTOS := github.com/containerd/containerd/api/services/snapshots/v1/snapshots.proto \
               github.com/containerd/containerd/api/types/mount.proto
WKT_PROTOS  := google/protobuf/empty.proto google/protobuf/field_mask.proto \
               google/protobuf/timestamp.proto
GEN_SRCS := $(CTRD_PROTOS:%.proto=$(G)/%.pb-c.c) $(WKT_PROTOS:%.proto=$(G)/%.pb-c.c)
GEN_OBJS_R := $(GEN_SRCS:$(G)/%.c=$(R)/gen/%.o)
GEN_OBJS_C := $(GEN_SRCS:$(G)/%.c=$(C)/gen/%.o)
STRIP_GOGO := -e '/^import weak "gogoproto\/gogo.proto";/d' -e '/^[[:space:]]*option (gogoproto\./d' \
              -e 's/ *\[(gogoproto\.[^]]*\]//'
DAEMON_LIBS := $(shell pkg-config --libs libnghttp2 libprotobuf-c 2>/dev/null || echo -lnghttp2 -lprotobuf-c)
DAEMON_OBJS_R := $(DAEMON_SRCS:%.c=$(R)/%.o)
DAEMON_OBJS_C := $(DAEMON_SRCS:%.c=$(C)/%.o)
DAEMON_LIB_OBJS_C := $(filter-out $(C)/daemon/main.o,$(DAEMON_OBJS_C))

$(G)/.stamp: $(CTRD_API)/services/snapshots/v1/snapshots.proto $(CTRD_API)/types/mount.proto Makefile
	@rm -rf $(G) && mkdir -p $(G)/proto
	@for p in $(CTRD_PROTOS); do mkdir -p $(G)/proto/$$(dirname $$p); \
	  sed $(STRIP_GOGO) $(CTRD_API)/$${p#github.com/containerd/containerd/api/} > $(G)/proto/$$p; \
	  if grep -n gogoproto $(G)/proto/$$p; then echo "gogoproto left in $$p" >&2; exit 1; fi; done
	protoc-c --c_out=$(G) -I$(G)/proto -I$(PROTO_INC) $(CTRD_PROTOS) $(WKT_PROTOS)
	@touch $@

$(GEN_SRCS): $(G)/.stamp

# Generated code: no project warnings (it is not ours), same optimisation and sanitizers.
$(R)/gen/%.o: $(G)/%.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu17 -g $(RELEASE) -I$(G) -c $< -o $@
$(C)/gen/%.o: $(G)/%.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu17 -g $(CHECK) -I$(G) -c $< -o $@

$(DAEMON_OBJS_R) $(DAEMON_OBJS_C) $(C)/tests/test-daemon-grpc: CFLAGS_COMMON += -I$(G)
$(DAEMON_OBJS_R) $(DAEMON_OBJS_C): | $(G)/.stamp
-include $(DAEMON_OBJS_R:.o=.d) $(DAEMON_OBJS_C:.o=.d)

# containerd's snapshotter conformance suite, built offline (GOPATH mode) from Debian's sources.
SUITE := build/conformance/thinsnap-suite.test

# The daemon, its fake for unit tests, and the Go programs that drive it in the integration
# tests: the conformance suite and the gRPC driver of t0805/t0806 (tests/snapdrive).
daemon: $(R)/thinsnapd $(C)/thinsnapd-fake $(R)/thinsnapd-fake $(SUITE) $(R)/tests/snapdrive \
	$(R)/tests/thinsnap-cri

$(SUITE): $(wildcard tests/conformance/*.go) tests/conformance/build.sh
	tests/conformance/build.sh $@

$(R)/tests/snapdrive: $(wildcard tests/snapdrive/*.go) tests/snapdrive/build.sh
	tests/snapdrive/build.sh $@

$(R)/tests/thinsnap-cri: $(wildcard tests/cri/*.go) tests/cri/build.sh
	tests/cri/build.sh $@

$(R)/thinsnapd: $(DAEMON_OBJS_R) $(CONFIG_OBJS_R) $(GEN_OBJS_R) $(R)/libthinsnap.a
	$(CC) $(AS_NEEDED) -o $@ $(DAEMON_OBJS_R) $(CONFIG_OBJS_R) $(GEN_OBJS_R) \
	    $(R)/libthinsnap.a $(DAEMON_LIBS) $(PKG_LIBS) $(LDFLAGS)

# The daemon on tests/lib/fake-snap.c (in memory, no pool), a test tool.
$(C)/thinsnapd-fake: $(DAEMON_OBJS_C) $(CONFIG_OBJS_C) $(GEN_OBJS_C) $(FAKE_SNAP_OBJS_C)
	$(CC) -o $@ $^ $(DAEMON_LIBS) -lpthread $(CHECK_LDFLAGS) $(LDFLAGS)

# The same without sanitizers, for user-mode-linux (ASan can't map its shadow memory there).
$(R)/thinsnapd-fake: $(DAEMON_OBJS_R) $(CONFIG_OBJS_R) $(GEN_OBJS_R) $(FAKE_SNAP_OBJS_R)
	$(CC) -o $@ $^ $(DAEMON_LIBS) -lpthread $(LDFLAGS)

$(C)/tests/test-daemon-grpc: tests/unit/test-daemon-grpc.c $(DAEMON_LIB_OBJS_C) $(GEN_OBJS_C) \
		$(FAKE_SNAP_OBJS_C)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) $(WARN) $(CHECK) -Itests/lib $(CFLAGS) -o $@ $< \
	    $(DAEMON_LIB_OBJS_C) $(GEN_OBJS_C) $(FAKE_SNAP_OBJS_C) \
	    $(DAEMON_LIBS) -lpthread -lcmocka $(CHECK_LDFLAGS)

# Unit tests: one binary per tests/unit/test-*.c, sanitizers on, linked with tests/lib.
$(C)/tests/%: tests/unit/%.c $$(TEST_EXTRA_$$*) $(C)/libthinsnap.a $(TLIB_OBJS_C)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) $(WARN) $(CHECK) -Itests/lib $(CFLAGS) -o $@ $< $(TEST_EXTRA_$*) \
	    $(TLIB_OBJS_C) $(C)/libthinsnap.a $(PKG_LIBS) $(LAZY_LIBS) -lcmocka $(CHECK_LDFLAGS) \
	    $(TEST_LDFLAGS_$*)

# Per-test link flags. dm/'s unit test replaces libdm's ioctl-facing calls at link time
# (STYLE.md section 7); the allocation-failure tests wrap the allocator (tests/lib/failalloc.c,
# or, for test-snap-filter-alloc, its own __wrap_ functions).
DM_WRAPPED = dm_task_create dm_task_destroy dm_task_run dm_task_get_errno dm_task_get_info \
    dm_driver_version dm_task_get_uuid dm_task_get_name dm_task_set_name dm_task_set_uuid \
    dm_task_add_target dm_task_set_ro dm_task_set_cookie dm_task_no_flush \
    dm_task_deferred_remove dm_task_set_sector dm_task_set_message \
    dm_task_get_message_response dm_udev_wait
TEST_LDFLAGS_test-dm-intents = $(foreach f,$(DM_WRAPPED),-Wl,--wrap=$(f))
TEST_LDFLAGS_test-meta-alloc = -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup
TEST_LDFLAGS_test-snap-filter-alloc = \
	-Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup,--wrap=strndup

# Fuzz targets replayed over their corpus under gcc + sanitizers (tests/fuzz/replay.c).
$(C)/fuzz/%-replay: tests/fuzz/%.c tests/fuzz/replay.c $$(REPLAY_EXTRA_$$*) $(C)/libthinsnap.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) $(WARN) $(CHECK) $(CFLAGS) -o $@ $< tests/fuzz/replay.c $(REPLAY_EXTRA_$*) \
	    $(C)/libthinsnap.a $(PKG_LIBS) $(CHECK_LDFLAGS)

# libFuzzer builds (clang), run for a bounded time by `make fuzz` (FUZZ_SECONDS each) and
# `make fuzz-smoke` (FUZZ_SMOKE_SECONDS each, a step of scripts/test.sh). The library is
# compiled once for all targets (build/fuzz/obj).
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 5
FUZZ_CFLAGS = $(CFLAGS_COMMON) -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_LIB_OBJS := $(LIB_SRCS:%.c=build/fuzz/obj/%.o)
build/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@
build/fuzz/%: tests/fuzz/%.c $(FUZZ_LIB_OBJS) $$(FUZZ_EXTRA_$$*)
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_EXTRA_$*) $(FUZZ_LIB_OBJS) $(PKG_LIBS)

# The gRPC dispatch target links daemon/service.c over the in-memory fake snapshotter (which
# defines the snapshotter API itself, on the library's filter and value code), plus the
# generated code.
FUZZ_GRPC_SRCS = daemon/service.c daemon/log.c $(GEN_SRCS)
FUZZ_FAKE_SNAP_OBJS := $(FAKE_SNAP_SRCS:%.c=build/fuzz/obj/%.o)
build/fuzz/fuzz-daemon-grpc: tests/fuzz/fuzz-daemon-grpc.c $(FUZZ_FAKE_SNAP_OBJS) | $(G)/.stamp
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -I$(G) -fsanitize=fuzzer -o $@ $< $(FUZZ_GRPC_SRCS) \
	    $(FUZZ_FAKE_SNAP_OBJS) $(DAEMON_LIBS) -lpthread
$(C)/fuzz/fuzz-daemon-grpc-replay: tests/fuzz/fuzz-daemon-grpc.c tests/fuzz/replay.c \
		$(DAEMON_LIB_OBJS_C) $(GEN_OBJS_C) $(FAKE_SNAP_OBJS_C)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) -I$(G) $(WARN) $(CHECK) $(CFLAGS) -o $@ $< tests/fuzz/replay.c \
	    $(DAEMON_LIB_OBJS_C) $(GEN_OBJS_C) $(FAKE_SNAP_OBJS_C) \
	    $(DAEMON_LIBS) -lpthread $(CHECK_LDFLAGS)

# Each target from its checked-in corpus plus what earlier runs found (build/fuzz/corpus-*);
# prints one "fuzz: NAME: N executions in S s" line per target.
fuzz-run = @for f in $(FUZZ_BINS); do n=$$(basename $$f); mkdir -p build/fuzz/corpus-$$n; \
	  $$f -max_total_time=$(1) -print_final_stats=1 -artifact_prefix=build/fuzz/$$n- \
	    build/fuzz/corpus-$$n \
	    tests/fuzz/corpus/$${n\#fuzz-} > build/fuzz/$$n.log 2>&1 || \
	    { tail -n 60 build/fuzz/$$n.log; echo "fuzz: $$n FAILED"; exit 1; }; \
	  echo "fuzz: $$n: $$(sed -n 's/^stat::number_of_executed_units: *//p' build/fuzz/$$n.log)" \
	    "executions in $(1) s, 0 crashes"; done
fuzz: $(FUZZ_BINS)
	$(call fuzz-run,$(FUZZ_SECONDS))
fuzz-smoke: $(FUZZ_BINS)
	$(call fuzz-run,$(FUZZ_SMOKE_SECONDS))

$(R)/bench/%: bench/%.c $(wildcard bench/*.h) $(R)/libthinsnap.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) $(WARN) $(RELEASE) $(CFLAGS) -o $@ $< $(R)/libthinsnap.a $(PKG_LIBS)

# thinsnapd vs containerd's devmapper through containerd's clients: bench/ctrbench/run.sh.
$(R)/bench/ctrbench: $(wildcard bench/ctrbench/*.go) bench/ctrbench/build.sh
	bench/ctrbench/build.sh $@

# Scale: 10, 1 000 and 10 000 snapshots in one pool (bench/scale/run.sh; $(R)/bench/scale.md).
$(R)/bench/scalebench: $(wildcard bench/scale/*.go) bench/ctrbench/build.sh
	bench/ctrbench/build.sh $@ bench/scale

bench: $(BENCH_BINS) $(R)/bench/ctrbench $(R)/bench/scalebench
bench-scale: $(R)/bench/bench-scale $(R)/bench/scalebench $(R)/thinsnapd $(R)/thinsnap
	scripts/dmrun --timeout 1500 -- bench/scale/run.sh

# The performance report: every contender in one boot (bench/run-all.sh: the comparisons in
# interleaved rounds), then docs/performance.md and .png from the samples (bench/report.sh).
# BENCH_OUT holds the samples, logs and the unpack image (made once, on the host: slow in the
# VM); the host's load average is sampled every 10 s while the VM runs (host-load-samples).
BENCH_OUT ?= build/bench
BENCH_VARS := BENCH_FAIR_ROUNDS BENCH_ROUNDS BENCH_API_ROUNDS BENCH_CALL_ROUNDS BENCH_START_ROUNDS \
	BENCH_RUN_ROUNDS BENCH_LAYER_ROUNDS BENCH_UNPACK_ROUNDS BENCH_SCALE
bench-report: $(R)/thinsnap $(R)/thinsnapd $(BENCH_BINS) $(R)/bench/ctrbench $(R)/bench/scalebench
	@mkdir -p $(BENCH_OUT)
	@[ -f $(BENCH_OUT)/image.tar ] || bench/unpack-bench.sh --make-image $(BENCH_OUT)/image.tar
	@cut -d' ' -f1-3 /proc/loadavg > $(BENCH_OUT)/host-load
	@while :; do cut -d' ' -f1 /proc/loadavg; sleep 10; done > $(BENCH_OUT)/host-load-samples & \
	  sampler=$$!; rc=0; scripts/dmrun --timeout 2400 -- env OUT=$(BENCH_OUT) \
	    $(foreach v,$(BENCH_VARS),$(if $($(v)),$(v)=$($(v)))) bench/run-all.sh || rc=$$?; \
	  kill $$sampler; cut -d' ' -f1-3 /proc/loadavg >> $(BENCH_OUT)/host-load; \
	  bench/report.sh $(BENCH_OUT) || rc=1; exit $$rc

# Start-up figures alone (bench-report runs the same parts): `thinsnap ls` vs `dmsetup ls`,
# `ctr run --rm` and 16-layer runs on thinsnap, overlayfs and devmapper, each interleaved in one
# boot (bench/start-bench.sh); the host's load before the boot is printed with them.
bench-start: $(R)/thinsnap $(R)/thinsnapd $(R)/bench/ctrbench
	scripts/dmrun --timeout 2400 -- env HOST_LOAD="$$(cut -d' ' -f1-3 /proc/loadavg)" \
	    $(foreach v,START_ROUNDS RUN_ROUNDS LAYER_ROUNDS START_PARTS,$(if $($(v)),$(v)="$($(v))")) \
	    bench/start-bench.sh

check-unit: $(UNIT_BINS) $(FUZZ_REPLAY_BINS)
	@scripts/run-unit.sh $(UNIT_BINS) -- $(FUZZ_REPLAY_BINS)

# The quick gate, without dm-thin (or root: what needs it skips): the unit tests, every public
# header alone, the fuzz corpus replays, the library's exports and a link through thinsnap.pc.
# scripts/test.sh runs it before the VM suite.
check: check-unit check-headers check-pc

check-integration: all
	@scripts/dmrun --timeout 3000 -- scripts/run-integration.sh

# Power cuts: boots the VM several times over one pool, killing it hard (tests/power/run.sh).
check-power: all
	@tests/power/run.sh

test:
	@scripts/test.sh

# Every public header compiles alone, as C17 -pedantic and as C++.
check-headers:
	@for h in include/thinsnap/*.h; do \
	  echo "#include <thinsnap/$$(basename $$h)>" | $(CC) -std=c17 -pedantic $(WARN) -Iinclude -x c -fsyntax-only - || exit 1; \
	  echo "#include <thinsnap/$$(basename $$h)>" | g++ -std=c++17 -pedantic -Wall -Wextra -Werror -Iinclude -x c++ -fsyntax-only - || exit 1; \
	done; echo "check-headers: ok"

# The library as its users get it. The .so exports exactly the THINSNAP_API functions of
# include/thinsnap/, each at THINSNAP_0.1, and the .a defines no global without the prefix.
# tests/pc/pc-user.c is built with the flags of the installed-style thinsnap.pc (its libdir
# and includedir pointed at this tree), linked against all of libthinsnap.a with
# `pkg-config --static` (so Requires.private must name every library the objects need) and
# against libthinsnap.so, and both are run; neither records libarchive or libcrypto (unpack/ opens
# them on first use: pc-user computes a chain ID through libcrypto).
PC_DIR := $(R)/check-pc
pc = PKG_CONFIG_PATH=$(PC_DIR) pkg-config --define-variable=includedir=$(CURDIR)/include \
	--define-variable=libdir=$(CURDIR)/$(PC_DIR)/$(1)
check-pc: $(R)/libthinsnap.a $(R)/libthinsnap.so.$(SOVER) $(R)/thinsnap.pc tests/pc/pc-user.c
	@rm -rf $(PC_DIR) && mkdir -p $(PC_DIR)/static $(PC_DIR)/shared
	@cp $(R)/thinsnap.pc $(PC_DIR)/
	@ln -s ../../libthinsnap.a $(PC_DIR)/static/libthinsnap.a
	@ln -s ../../libthinsnap.so.$(SOVER) $(PC_DIR)/shared/libthinsnap.so
	@sed -n 's/^THINSNAP_API[^(]*[ *]\(thinsnap_[a-z0-9_]*\)(.*/\1/p' include/thinsnap/*.h | \
	  sort > $(PC_DIR)/api.txt
	@nm -D --defined-only $(R)/libthinsnap.so.$(SOVER) | \
	  awk 'NF == 3 && $$2 != "A" { sub(/@.*/, "", $$3); print $$3 }' | sort > $(PC_DIR)/exported.txt
	@diff -u $(PC_DIR)/api.txt $(PC_DIR)/exported.txt || \
	  { echo "check-pc: the .so's exports differ from THINSNAP_API (-api +exported)"; exit 1; }
	@n=$$(objdump -T $(R)/libthinsnap.so.$(SOVER) | grep -c ' THINSNAP_0\.1 *thinsnap_'); \
	  [ "$$n" = "$$(wc -l < $(PC_DIR)/api.txt)" ] || \
	  { echo "check-pc: $$n of $$(wc -l < $(PC_DIR)/api.txt) exports versioned THINSNAP_0.1"; exit 1; }
	@! nm -g --defined-only $(R)/libthinsnap.a | awk 'NF == 3 && $$3 !~ /^thinsnap_/' | grep . || \
	  { echo "check-pc: unprefixed globals in libthinsnap.a"; exit 1; }
	$(CC) -std=c17 -pedantic $(WARN) $$($(call pc,static) --cflags thinsnap) -c tests/pc/pc-user.c \
	    -o $(PC_DIR)/pc-user.o
	$(CC) -o $(PC_DIR)/pc-user-static $(PC_DIR)/pc-user.o \
	    -Wl,--whole-archive $$($(call pc,static) --static --libs thinsnap) -Wl,--no-whole-archive
	$(CC) -o $(PC_DIR)/pc-user-shared $(PC_DIR)/pc-user.o $$($(call pc,shared) --libs thinsnap)
	@! readelf -d $(PC_DIR)/pc-user-static | grep -q 'NEEDED.*libthinsnap' || \
	  { echo "check-pc: the static build needs libthinsnap.so"; exit 1; }
	@! readelf -d $(PC_DIR)/pc-user-static $(R)/libthinsnap.so.$(SOVER) | \
	  grep -E 'NEEDED.*\[lib(archive|crypto)\.' || \
	  { echo "check-pc: libarchive/libcrypto linked (unpack/ opens them on first use)"; exit 1; }
	@readelf -d $(PC_DIR)/pc-user-shared | grep -q 'NEEDED.*\[libthinsnap\.so\.$(SOVER)\]' || \
	  { echo "check-pc: the shared build does not use libthinsnap.so.$(SOVER)"; exit 1; }
	$(PC_DIR)/pc-user-static $(VERSION)
	LD_LIBRARY_PATH=$(R) $(PC_DIR)/pc-user-shared $(VERSION)
	@echo "check-pc: ok ($$(wc -l < $(PC_DIR)/exported.txt) symbols exported at THINSNAP_0.1)"

FORMAT_FILES = $(shell git ls-files '*.c' '*.h' 2>/dev/null)
format:
	clang-format -i $(FORMAT_FILES)
check-format:
	clang-format --dry-run -Werror $(FORMAT_FILES)

install: lib cli $(R)/thinsnapd
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCDIR)/thinsnap $(DESTDIR)$(BINDIR) \
	    $(DESTDIR)$(MANDIR)/man1
	install -m 0644 $(R)/libthinsnap.a $(DESTDIR)$(LIBDIR)/
	install -m 0755 $(R)/libthinsnap.so.$(SOVER) $(DESTDIR)$(LIBDIR)/
	ln -sf libthinsnap.so.$(SOVER) $(DESTDIR)$(LIBDIR)/libthinsnap.so
	install -m 0644 $(R)/thinsnap.pc $(DESTDIR)$(LIBDIR)/pkgconfig/
	install -m 0644 include/thinsnap/*.h $(DESTDIR)$(INCDIR)/thinsnap/
	install -m 0755 $(R)/thinsnap $(DESTDIR)$(BINDIR)/
	install -m 0755 $(R)/thinsnapd $(DESTDIR)$(BINDIR)/
	if [ -f docs/thinsnap.1 ]; then install -m 0644 docs/thinsnap.1 $(DESTDIR)$(MANDIR)/man1/; fi
	install -d $(DESTDIR)$(COMPLETIONSDIR)
	install -m 0644 scripts/thinsnap.bash-completion $(DESTDIR)$(COMPLETIONSDIR)/thinsnap

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libthinsnap.* $(DESTDIR)$(LIBDIR)/pkgconfig/thinsnap.pc \
	    $(DESTDIR)$(BINDIR)/thinsnap $(DESTDIR)$(BINDIR)/thinsnapd \
	    $(DESTDIR)$(MANDIR)/man1/thinsnap.1 \
	    $(DESTDIR)$(COMPLETIONSDIR)/thinsnap
	rm -rf $(DESTDIR)$(INCDIR)/thinsnap

clean:
	rm -rf build

# The integration tests' tools: mkfs-tool formats a device as the library does, thin-sb-tool
# sets needs_check in an inactive pool's metadata superblock.
$(R)/tests/thinsnap-%: tests/tools/%.c $(R)/libthinsnap.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) $(WARN) $(RELEASE) $(CFLAGS) -o $@ $< $(R)/libthinsnap.a $(PKG_LIBS)

# objects only tests link are kept between runs (else each `make check` compiles them again
# and relinks every test), and so are the fuzz builds' library objects
.SECONDARY: $(TLIB_OBJS_C) $(F)/tests/lib/itest.o $(FUZZ_LIB_OBJS) $(FUZZ_EXTRA_fuzz-config) \
	$(FUZZ_FAKE_SNAP_OBJS)
