# berth — see README.md. `make` builds build/berth; `make check` runs every test.
PREFIX ?= /usr/local
CC ?= cc
BUILD ?= build
PKGS := yaml-0.1 jansson libcurl libcrypto libgit2 libmicrohttpd
SANITIZE ?= 0

CFLAGS ?= -O2 -g
CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wno-unused-parameter -Wstrict-prototypes \
	  -Wmissing-prototypes -Wvla -fno-strict-aliasing
CPPFLAGS += -I. -Icontroller $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS += $(shell pkg-config --libs $(PKGS) 2>/dev/null || echo -lyaml) -lm -lpthread

ifeq ($(SANITIZE),1)
BUILD := build/asan
CFLAGS += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

SPEC_SRC := $(wildcard spec/*.c)
# controller/ is laid out by layer (see README "Layout"); every .c but the CLI's main is library.
CTL_SRC := $(filter-out controller/cli/main.c,$(shell find controller -name '*.c' | sort))
HEADERS := $(wildcard spec/*.h) $(shell find controller -name '*.h')
LIB_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(SPEC_SRC) $(CTL_SRC))
LIB := $(BUILD)/libberth.a
BIN := $(BUILD)/berth
TEST_SRC := $(wildcard tests/unit/test_*.c)
TEST_BIN := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(TEST_SRC))
# Small programs the integration tests drive library parts with (not cmocka tests).
TOOL_SRC := $(wildcard tests/tools/*.c)
TOOL_BIN := $(patsubst tests/tools/%.c,$(BUILD)/tests/tools/%,$(TOOL_SRC))
BENCH_BIN := $(BUILD)/bench/spec_bench $(BUILD)/bench/yaml_events $(BUILD)/bench/create_loop $(BUILD)/bench/reconcile_loop

.PHONY: all check unit docs-check asan asan-check fuzz bench demo deps image install clean
all: $(BIN)

$(BUILD)/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# Made afresh, so that an object whose source is gone does not linger in the archive.
$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@rm -f $@
	$(AR) rcs $@ $^

$(BIN): $(BUILD)/controller/cli/main.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c tests/unit/testutil.h $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS) -lcmocka

$(BUILD)/tests/tools/%: tests/tools/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

$(BUILD)/bench/%: bench/%.c bench/bench.h $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

# Dependencies come from Debian packages; the script is idempotent and quick when all is there.
deps:
	@scripts/install-deps.sh

unit: $(BIN) $(TEST_BIN) $(TOOL_BIN)
	@BERTH=$(abspath $(BIN)) tests/run-unit.sh $(TEST_BIN)

# The docs' blocks marked "<!-- output: berth ARGS -->" against the real binary.
docs-check: $(BIN)
	@BERTH=$(abspath $(BIN)) tests/docs/check_docs.sh

asan:
	$(MAKE) SANITIZE=1 all $(patsubst $(BUILD)/%,build/asan/%,$(TEST_BIN) $(TOOL_BIN))

asan-check: asan
	@BERTH=$(abspath build/asan/berth) ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  tests/run-unit.sh $(patsubst $(BUILD)/%,build/asan/%,$(TEST_BIN))

# Each target (spec loader, saved-plan reader, webhook verifier, rollout, autoscale metrics, cluster autoscaler) is fuzzed for FUZZ_TIME seconds.
FUZZ_TIME ?= 20
FUZZ_TARGETS ?= spec plan webhook rollout metrics cluster
fuzz:
	@FUZZ_TARGETS="$(FUZZ_TARGETS)" tests/fuzz/run.sh $(FUZZ_TIME)

# The whole suite: unit and spec tests, the same under ASan+UBSan, the schema check, the fuzzer.
check: deps
	@tests/check.sh

bench: deps $(BIN) $(BENCH_BIN)
	@bench/run.sh $(BUILD)

demo: deps $(BIN)
	@scripts/demo.sh $(BIN)

# berth:VERSION and berth:latest from the Dockerfile, no registry needed (docs/image.md).
image: deps
	@scripts/build-image.sh

install: $(BIN)
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/berth

clean:
	rm -rf build
