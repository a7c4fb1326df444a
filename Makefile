# Viridian build. Plain `make` builds build/viridian; see README.md for the rest.
#
# Layout: every src/<layer>/*.c except src/cli/main.c goes into a static library that
# the command, the unit tests and the fuzz targets all link, so nothing is listed by hand.
# Three flavours are built from the same sources:
#   build/       gcc, -O2, the shipped binary
#   build-asan/  gcc, ASan+UBSan, the unit tests run here
#   build-fuzz/  clang, libFuzzer+ASan+UBSan, one binary per fuzz/fuzz_*.c

CC       ?= gcc
FUZZCC   ?= clang
CSTD      = -std=c17 -D_GNU_SOURCE
WARN      = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wno-unused-parameter -Wvla -Wformat=2 -Wno-format-truncation
INCLUDES  = -Isrc
LIBS      = -ljson-c -llz4 -llzma -lzstd -lz -luring -lpthread
OPT       = -O2 -g
SAN       = -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer

LIB_SRCS  := $(sort $(filter-out src/cli/main.c,$(wildcard src/*/*.c src/*/*/*.c)))
CLI_MAIN  := src/cli/main.c
UNIT_SRCS := $(sort $(wildcard tests/unit/*.c))
FUZZ_SRCS := $(sort $(wildcard fuzz/fuzz_*.c))
TOOL_SRCS := $(sort $(wildcard tests/tools/*.c))
TOOLS     := $(TOOL_SRCS:tests/tools/%.c=build-asan/%)
HDRS      := $(wildcard src/*/*.h src/*/*/*.h tests/unit/*.h)

# `make V=1` shows the full commands
Q = $(if $(V),,@)

.PHONY: all viridian asan fuzz unit run check test deps guest clean
all: build/viridian build/diskio

# --- shipped build -------------------------------------------------------------------
build/obj/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(CSTD) $(WARN) $(OPT) $(INCLUDES) -c $< -o $@

build/libviridian.a: $(LIB_SRCS:%.c=build/obj/%.o)
	@rm -f $@
	ar rcs $@ $^

build/viridian: build/obj/$(CLI_MAIN:.c=.o) build/libviridian.a
	$(CC) $(OPT) -o $@ $^ $(LIBS)

# diskio: drives the disk library directly (tests/integration/disk_*.sh, bench/disk)
build/diskio: bench/disk/diskio.c build/libviridian.a
	$(CC) $(CSTD) $(WARN) $(OPT) $(INCLUDES) -o $@ $< build/libviridian.a $(LIBS)

# --- sanitizer build and unit tests ----------------------------------------------------
build-asan/obj/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	@echo "  CC-SAN  $<"
	$(Q)$(CC) $(CSTD) $(WARN) -O1 -g $(SAN) $(INCLUDES) -Itests/unit -c $< -o $@

build-asan/libviridian.a: $(LIB_SRCS:%.c=build-asan/obj/%.o)
	@rm -f $@
	ar rcs $@ $^

build-asan/viridian: build-asan/obj/$(CLI_MAIN:.c=.o) build-asan/libviridian.a
	$(CC) $(SAN) -o $@ $^ $(LIBS)

build-asan/unit-tests: $(UNIT_SRCS:%.c=build-asan/obj/%.o) build-asan/libviridian.a
	$(CC) $(SAN) -o $@ $^ $(LIBS)

# netvsp_tap_loop drives netvsp with the unit tests' fake netvsc guest
HARNESS_TOOLS := build-asan/netvsp_tap_loop
HARNESS_OBJS  := build-asan/obj/tests/unit/netvsp_guest.o \
                 build-asan/obj/tests/unit/vmbus_guest.o build-asan/obj/tests/unit/hv_fake.o
# test-only programs the shell tests drive (tests/tools/*.c -> build-asan/<name>)
$(filter-out $(HARNESS_TOOLS),$(TOOLS)): build-asan/%: build-asan/obj/tests/tools/%.o build-asan/libviridian.a
	$(CC) $(SAN) -o $@ $^ $(LIBS)

$(HARNESS_TOOLS): build-asan/%: build-asan/obj/tests/tools/%.o $(HARNESS_OBJS) build-asan/libviridian.a
	$(CC) $(SAN) -o $@ $^ $(LIBS)

asan: build-asan/viridian build-asan/unit-tests $(TOOLS)
unit: build-asan/unit-tests
	build-asan/unit-tests

# --- fuzz targets (clang libFuzzer) ---------------------------------------------------
FUZZFLAGS = $(CSTD) -O1 -g -fsanitize=fuzzer-no-link,address,undefined \
            -fno-sanitize-recover=undefined -Wall -Werror -Wno-unused-parameter $(INCLUDES)
build-fuzz/obj/%.o: %.c $(HDRS)
	@mkdir -p $(dir $@)
	@echo "  CC-FUZZ $<"
	$(Q)$(FUZZCC) $(FUZZFLAGS) -c $< -o $@

build-fuzz/libviridian.a: $(LIB_SRCS:%.c=build-fuzz/obj/%.o)
	@rm -f $@
	ar rcs $@ $^

build-fuzz/%: build-fuzz/obj/fuzz/%.o build-fuzz/libviridian.a
	$(FUZZCC) -fsanitize=fuzzer,address,undefined -o $@ $^ $(LIBS)

fuzz: $(FUZZ_SRCS:fuzz/%.c=build-fuzz/%)

# --- the README's two commands -------------------------------------------------------
deps:
	tools/install-deps

guest: build/viridian
	tools/guest build

# The main job: boot the embedded default guest and show its console.
run: deps
	$(MAKE) all
	tools/guest build
	tools/run-default-guest

# The whole test suite: unit tests under ASan+UBSan, fuzz smoke runs, host integration
# tests and the lab tests; one summary line at the end.
check: deps
	$(MAKE) test

test: all asan fuzz
	tests/run

clean:
	rm -rf build build-asan build-fuzz
