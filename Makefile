# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# portgate: `make` builds everything under build/, `make test` runs the
# Criterion suites (as root), `make demo` the lab, `make bench` the report.

.DELETE_ON_ERROR:
.SECONDARY:
.SUFFIXES:

# SANITIZE=1: the CLI and the tests with ASan+UBSan, in their own build
# directory so the normal build stays as it is.
ifeq ($(SANITIZE),1)
BUILD    ?= build-san
else
BUILD    ?= build
endif
CLANG    ?= clang
BPFTOOL  ?= bpftool
CC       ?= gcc
PREFIX   ?= /usr/local
ARCH     := $(shell uname -m)
# The one place the version is written: --version, metrics, debian/changelog.
VERSION  := $(shell cat VERSION)

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

WARN      := -Wall -Wextra -Werror
CFLAGS    ?= -O2 -g
CFLAGS    += $(WARN) -std=gnu11 -D_GNU_SOURCE -Iinclude -Ibpf -Itools/lib -I$(BUILD)
CFLAGS    += $(CPPFLAGS) -DPG_VERSION='"$(VERSION)"'
BPF_FLAGS := -g -O2 -target bpf $(WARN) -Iinclude -Ibpf -I/usr/include/$(ARCH)-linux-gnu
LDLIBS    := -lbpf -lelf -lz
ifeq ($(SANITIZE),1)
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
CFLAGS    += $(SAN_FLAGS)
LDFLAGS   += $(SAN_FLAGS)
endif
# The suites run the CLI of their own build directory.
CFLAGS    += -DPG_BUILD_DIR='"$(BUILD)"'

# BPF objects: bpf/*.bpf.c is the product, tools/*.bpf.c are bench anchors.
BPF_SRCS  := $(wildcard bpf/*.bpf.c tools/*.bpf.c)
BPF_OBJS  := $(patsubst %.bpf.c,$(BUILD)/%.bpf.o,$(notdir $(BPF_SRCS)))
SKELS     := $(BPF_OBJS:.bpf.o=.skel.h)
# bench-xdp syn-cost: the program without the TCP SYN check, as an A/B.
SKELS     += $(BUILD)/portgate_nosyn.skel.h

LIB_SRCS  := $(wildcard tools/lib/*.c)
LIB_OBJS  := $(patsubst tools/lib/%.c,$(BUILD)/lib/%.o,$(LIB_SRCS))

LOADER_SRCS := $(wildcard loader/*.c)
LOADER_OBJS := $(patsubst loader/%.c,$(BUILD)/loader/%.o,$(LOADER_SRCS))

TOOL_SRCS := $(filter-out %.bpf.c,$(wildcard tools/*.c))
TOOLS     := $(patsubst tools/%.c,$(BUILD)/%,$(TOOL_SRCS))

TEST_SRCS := $(wildcard tests/test_*.c)
TESTLIB   := $(BUILD)/tests/testlib.o
TESTS     := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRCS))

HDRS      := $(wildcard include/*.h bpf/*.h tools/lib/*.h loader/*.h tests/*.h)

# Test-only second builds of portgate (tests/test_shared.c): the same sources
# with -DPG_TEST_VARIANT=N (include/portgate.h), as an operator's rebuild with
# a changed program (1) or with a changed map layout (2).
VARIANTS  := $(BUILD)/variant1/portgate $(BUILD)/variant2/portgate

.PHONY: all deps preflight test demo bench install uninstall clean format check-format man deb test-kernel verifier-budget fuzz fuzzers soak

all: $(BUILD)/portgate $(BUILD)/portgate.8 $(TOOLS) $(TESTS) $(VARIANTS)

deps:
	$(Q)tools/install-deps.sh

# Capabilities, not packages: one line per missing one (tools/preflight.sh).
preflight:
	$(Q)tools/preflight.sh

$(BUILD) $(BUILD)/lib $(BUILD)/loader $(BUILD)/tests:
	$(Q)mkdir -p $@

vpath %.bpf.c bpf tools

$(BUILD)/%.bpf.o: %.bpf.c $(HDRS) | $(BUILD)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_FLAGS) -c $< -o $@

$(BUILD)/portgate_nosyn.bpf.o: bpf/portgate.bpf.c $(HDRS) | $(BUILD)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_FLAGS) -DPG_BENCH_NO_SYN_CHECK -c $< -o $@

$(BUILD)/%.skel.h: $(BUILD)/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst -,_,$*) > $@

$(BUILD)/lib/%.o: tools/lib/%.c $(HDRS) | $(BUILD)/lib
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/loader/%.o: loader/%.c $(HDRS) $(SKELS) VERSION | $(BUILD)/loader
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/portgate: $(LOADER_OBJS) $(LIB_OBJS)
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $^ -o $@ $(LDLIBS) -lpcap

$(BUILD)/%: tools/%.c $(LIB_OBJS) $(HDRS) $(SKELS)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< $(LIB_OBJS) -o $@ $(LDLIBS) -lpcap -lm

$(BUILD)/variant%/portgate.bpf.o: bpf/portgate.bpf.c $(HDRS)
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(BPF_FLAGS) -DPG_TEST_VARIANT=$* -c $< -o $@

$(BUILD)/variant%/portgate.skel.h: $(BUILD)/variant%/portgate.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name portgate > $@

$(BUILD)/variant%/portgate: $(LOADER_SRCS) $(LIB_OBJS) $(HDRS) $(BUILD)/variant%/portgate.skel.h
	$(call msg,LD,$@)
	$(Q)$(CC) -I$(BUILD)/variant$* $(CFLAGS) -DPG_TEST_VARIANT=$* $(LOADER_SRCS) $(LIB_OBJS) \
		-o $@ $(LDLIBS) -lpcap

$(TESTLIB): tests/testlib.c tests/testlib.h | $(BUILD)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/tests/%: tests/%.c $(LIB_OBJS) $(TESTLIB) $(HDRS) $(SKELS) | $(BUILD)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Itests $< $(LIB_OBJS) $(TESTLIB) -o $@ $(LDLIBS) -lpcap -lcriterion

# SUITES="test_cli test_testcmd" runs only those suites.
TEST_RUN := $(if $(SUITES),$(addprefix $(BUILD)/tests/,$(SUITES)),$(TESTS))
# Sanitizer reports fail the process that has them (the CLI under test too).
SAN_ENV  := ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=86 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=86

# deps first, then the preflight, then the build, even under make -j: a
# fresh machine has no clang yet. Each suite is its own binary, run one job
# at a time because the suites create network namespaces and bpffs pins
# (unique names).
test: deps
	$(Q)tools/preflight.sh
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(if $(filter 1,$(SANITIZE)),$(SAN_ENV)) tools/run-tests.sh $(TEST_RUN)

# The suites again on Debian 12's own kernel (6.1), in a VM: tools/vm/run.sh.
# Not the kernel-independent ones (docs against the binary, the package).
KERNEL_SUITES ?= $(filter-out test_docs test_pkg,$(notdir $(TESTS)))
test-kernel: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tools/vm/run.sh tools/run-tests.sh $(addprefix $(BUILD)/tests/,$(KERNEL_SUITES))

# Instructions and verifier work per entry point, this kernel and Debian 12's.
VERIFIER_MD ?= docs/bench/verifier.md
verifier-budget: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tools/verifier-budget.sh $(VERIFIER_MD) $(BUILD)/verifier-budget

demo: deps
	$(Q)tools/preflight.sh
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tools/demo.sh

bench: deps
	$(Q)tools/preflight.sh
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tools/bench.sh

# Soak (not in CI): SOAK_TIME seconds (default 30 minutes) of live vector
# frames through a veth with concurrent policy churn; tools/soak.sh checks
# every frame is accounted for and the CLI's memory stays flat.
SOAK_TIME ?= 1800
soak: deps
	$(Q)$(MAKE) --no-print-directory all $(FUZZ_DIR)/fuzz_xdp
	$(Q)BUILD=$(BUILD) tools/soak.sh $(SOAK_TIME) $(BUILD)/soak

# Fuzzing (clang libFuzzer + ASan + UBSan; needs root for BPF): `make fuzz
# FUZZ_TIME=N` runs every fuzzer N seconds one after the other, corpora in
# $(BUILD)/fuzz/corpus/, findings in $(BUILD)/fuzz/findings/. fuzz_xdp is
# differential against the loaded program; the others take the loader's
# parsers (built into them with main() renamed) on hostile input.
FUZZ_TIME   ?= 60
FUZZ_DIR    := $(BUILD)/fuzz
FUZZ_SAN    := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS := -g -O1 $(WARN) -std=gnu11 -D_GNU_SOURCE -Iinclude -Ibpf -Itools/lib -Iloader \
	       -Itests -I$(BUILD) -DPG_VERSION='"$(VERSION)"' $(FUZZ_SAN)
FUZZ_SRCS   := $(wildcard tests/fuzz/fuzz_*.c)
FUZZERS     := $(patsubst tests/fuzz/%.c,$(FUZZ_DIR)/%,$(FUZZ_SRCS))
# loader objects for the fuzzers; a fuzzer that #includes one (to reach its
# static parsers) leaves that object out. check.c judges, it is not fuzzed:
# optimised, no counters or sanitizers (it reads 4 MiB after every input).
FUZZ_LOADER := $(patsubst loader/%.c,$(FUZZ_DIR)/loader/%.o,$(LOADER_SRCS))
FUZZ_LIB    := $(patsubst tools/lib/%.c,$(FUZZ_DIR)/lib/%.o,$(LIB_SRCS))

$(FUZZ_DIR)/loader $(FUZZ_DIR)/lib:
	$(Q)mkdir -p $@

$(FUZZ_DIR)/loader/%.o: loader/%.c $(HDRS) $(SKELS) VERSION | $(FUZZ_DIR)/loader
	$(call msg,FUZZCC,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) $(if $(filter check,$*),-O2 -fno-sanitize=all,-fsanitize=fuzzer-no-link) \
		-Dmain=pg_cli_main -c $< -o $@

$(FUZZ_DIR)/lib/%.o: tools/lib/%.c $(HDRS) | $(FUZZ_DIR)/lib
	$(call msg,FUZZCC,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_DIR)/fuzz_xdp: tests/fuzz/fuzz_xdp.c $(FUZZ_DIR)/lib/pkt.o $(FUZZ_DIR)/lib/exempt_maps.o $(HDRS) $(SKELS)
	$(call msg,FUZZ,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer $< $(FUZZ_DIR)/lib/pkt.o $(FUZZ_DIR)/lib/exempt_maps.o \
		-o $@ $(LDLIBS)

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LOADER) $(FUZZ_LIB) $(HDRS) $(SKELS)
	$(call msg,FUZZ,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer $< $(FUZZ_LIB) \
		$(filter-out $(patsubst %,$(FUZZ_DIR)/loader/%.o,$(shell sed -n \
		's|^#include "\.\./\.\./loader/\(.*\)\.c"|\1|p' $<)),$(FUZZ_LOADER)) \
		-o $@ $(LDLIBS) -lpcap

fuzzers: $(FUZZERS)

fuzz: deps
	$(Q)$(MAKE) --no-print-directory fuzzers
	$(Q)tools/fuzz.sh $(FUZZ_DIR) $(FUZZ_TIME) $(FUZZERS)

# Installed layout (the Debian package is `make install PREFIX=/usr`):
# units in /lib/systemd/system and the configuration in /etc for /usr,
# under PREFIX otherwise. Every unit in systemd/ is installed, its
# ExecStart pointed at $(PREFIX)/sbin/portgate.
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
UNITDIR    ?= $(if $(filter /usr,$(PREFIX)),/lib/systemd/system,$(PREFIX)/lib/systemd/system)
MANDIR     ?= $(PREFIX)/share/man
COMPDIR    ?= $(PREFIX)/share/bash-completion/completions
UNITS      := $(wildcard systemd/*.service systemd/*.timer)

man: $(BUILD)/portgate.8

$(BUILD)/portgate.8: man/portgate.8.scd | $(BUILD)
	$(call msg,SCDOC,$@)
	$(Q)scdoc < $< > $@

install: $(BUILD)/portgate $(BUILD)/portgate.8
	install -D -m 0755 $(BUILD)/portgate $(DESTDIR)$(PREFIX)/sbin/portgate
	install -D -m 0644 $(BUILD)/portgate.8 $(DESTDIR)$(MANDIR)/man8/portgate.8
	install -D -m 0644 completion/portgate $(DESTDIR)$(COMPDIR)/portgate
	install -d $(DESTDIR)$(UNITDIR)
	for u in $(UNITS); do \
		sed 's|/usr/sbin/portgate|$(PREFIX)/sbin/portgate|g' $$u > $(DESTDIR)$(UNITDIR)/$${u##*/} && \
		chmod 0644 $(DESTDIR)$(UNITDIR)/$${u##*/} || exit 1; \
	done
	test -e $(DESTDIR)$(SYSCONFDIR)/portgate/portgate.conf || \
		install -D -m 0644 contrib/portgate.conf $(DESTDIR)$(SYSCONFDIR)/portgate/portgate.conf

# The configuration stays (it may hold the operator's edits).
uninstall:
	rm -f $(DESTDIR)$(PREFIX)/sbin/portgate $(DESTDIR)$(MANDIR)/man8/portgate.8 \
		$(DESTDIR)$(COMPDIR)/portgate $(addprefix $(DESTDIR)$(UNITDIR)/,$(notdir $(UNITS)))

# Debian package: the tree is copied to $(BUILD)/deb/portgate-VERSION,
# debian/changelog is written there from VERSION, dpkg-buildpackage builds
# it (its own make inside the copy, none of our command-line variables).
DEB_ARCH   := $(shell dpkg --print-architecture 2>/dev/null)
DEB        := $(BUILD)/portgate_$(VERSION)_$(DEB_ARCH).deb
DEB_TREE   := Makefile VERSION README.md .clang-format bpf include loader tools man \
	      completion systemd contrib debian
DEB_STAGE  := $(BUILD)/deb/portgate-$(VERSION)
DEB_DATE   := $(shell git log -1 --format=%cD 2>/dev/null || date -R)

deb: $(DEB)

$(DEB): $(shell find $(DEB_TREE) -type f 2>/dev/null)
	$(call msg,DEB,$@)
	$(Q)rm -rf $(BUILD)/deb && mkdir -p $(DEB_STAGE)
	$(Q)tar -cf - $(DEB_TREE) | tar -xf - -C $(DEB_STAGE)
	$(Q)printf 'portgate (%s) unstable; urgency=medium\n\n  * Release %s (the version of the VERSION file).\n\n -- %s  %s\n' \
		'$(VERSION)' '$(VERSION)' "$$(sed -n 's/^Maintainer: //p' debian/control)" \
		'$(DEB_DATE)' > $(DEB_STAGE)/debian/changelog
	$(Q)cd $(DEB_STAGE) && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
		dpkg-buildpackage -us -uc -b > ../build.log 2>&1 || \
		{ tail -40 ../build.log; echo "make deb: dpkg-buildpackage failed, see $(BUILD)/deb/build.log"; exit 1; }
	$(Q)cp $(BUILD)/deb/portgate_$(VERSION)_$(DEB_ARCH).deb $@

FORMAT_SRCS := $(wildcard include/*.h bpf/*.c bpf/*.h loader/*.c loader/*.h \
		 tools/*.c tools/lib/*.c tools/lib/*.h tests/*.c tests/*.h tests/fuzz/*.c)

format:
	clang-format -i $(FORMAT_SRCS)

check-format:
	$(Q)clang-format --dry-run --Werror $(FORMAT_SRCS)

clean:
	rm -rf $(BUILD)
