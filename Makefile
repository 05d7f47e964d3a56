# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
# portgate: `make` builds everything under build/, `make test` runs the
# Criterion suites (as root), `make demo` the lab, `make bench` the report.

.DELETE_ON_ERROR:
.SECONDARY:
.SUFFIXES:

BUILD    ?= build
CLANG    ?= clang
BPFTOOL  ?= bpftool
CC       ?= gcc
PREFIX   ?= /usr/local
ARCH     := $(shell uname -m)

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
BPF_FLAGS := -g -O2 -target bpf $(WARN) -Iinclude -Ibpf -I/usr/include/$(ARCH)-linux-gnu
LDLIBS    := -lbpf -lelf -lz

# BPF objects: bpf/*.bpf.c is the product, tools/*.bpf.c are bench anchors.
BPF_SRCS  := $(wildcard bpf/*.bpf.c tools/*.bpf.c)
BPF_OBJS  := $(patsubst %.bpf.c,$(BUILD)/%.bpf.o,$(notdir $(BPF_SRCS)))
SKELS     := $(BPF_OBJS:.bpf.o=.skel.h)

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

.PHONY: all deps test demo bench install uninstall clean format check-format

all: $(BUILD)/portgate $(TOOLS) $(TESTS)

deps:
	$(Q)tools/install-deps.sh

$(BUILD) $(BUILD)/lib $(BUILD)/loader $(BUILD)/tests:
	$(Q)mkdir -p $@

vpath %.bpf.c bpf tools

$(BUILD)/%.bpf.o: %.bpf.c $(HDRS) | $(BUILD)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_FLAGS) -c $< -o $@

$(BUILD)/%.skel.h: $(BUILD)/%.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst -,_,$*) > $@

$(BUILD)/lib/%.o: tools/lib/%.c $(HDRS) | $(BUILD)/lib
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/loader/%.o: loader/%.c $(HDRS) $(SKELS) | $(BUILD)/loader
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/portgate: $(LOADER_OBJS) $(LIB_OBJS)
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS) -lpcap

$(BUILD)/%: tools/%.c $(LIB_OBJS) $(HDRS) $(SKELS)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< $(LIB_OBJS) -o $@ $(LDLIBS) -lpcap -lm

$(TESTLIB): tests/testlib.c tests/testlib.h | $(BUILD)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/tests/%: tests/%.c $(LIB_OBJS) $(TESTLIB) $(HDRS) $(SKELS) | $(BUILD)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Itests $< $(LIB_OBJS) $(TESTLIB) -o $@ $(LDLIBS) -lpcap -lcriterion

# deps first, then the build, even under make -j: a fresh machine has no
# clang yet. Each suite is its own binary, run one job at a time because
# the suites create network namespaces and bpffs pins (unique names).
test: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tools/run-tests.sh $(TESTS)

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tools/demo.sh

bench: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tools/bench.sh

UNITDIR   ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR ?= /etc

# The unit names /usr/sbin/portgate (a package's path): rewritten for PREFIX.
# The configuration is installed only if absent: it is the operator's.
install: $(BUILD)/portgate
	install -D -m 0755 $(BUILD)/portgate $(DESTDIR)$(PREFIX)/sbin/portgate
	install -d $(DESTDIR)$(UNITDIR)
	sed 's|/usr/sbin/portgate|$(PREFIX)/sbin/portgate|g' systemd/portgate.service \
		> $(DESTDIR)$(UNITDIR)/portgate.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/portgate.service
	[ -e $(DESTDIR)$(SYSCONFDIR)/portgate/portgate.conf ] || \
		install -D -m 0644 etc/portgate/portgate.conf $(DESTDIR)$(SYSCONFDIR)/portgate/portgate.conf

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/sbin/portgate $(DESTDIR)$(UNITDIR)/portgate.service

FORMAT_SRCS := $(wildcard include/*.h bpf/*.c bpf/*.h loader/*.c loader/*.h \
		 tools/*.c tools/lib/*.c tools/lib/*.h tests/*.c tests/*.h)

format:
	clang-format -i $(FORMAT_SRCS)

check-format:
	$(Q)clang-format --dry-run --Werror $(FORMAT_SRCS)

clean:
	rm -rf $(BUILD)
