# sysmsg: asynchronous system-call messages for Linux.
#
# Entry points (see README.md):
#   make / make module   build sysmsg.ko against the cached debug kernel, or KDIR=<kernel build dir>
#   make test            set everything up, then run every test layer in a VM
#   make stress          the same set-up, then the long kill storm and fuzzer in a VM (build/results/stress)
#   make bench           the perf kernel, then every benchmark in one VM: tables, JSON and plots in
#                        bench-results/ (SYSMSG_BENCH_ARGS=--quick; SYSMSG_BENCH_DOCS=1 rewrites docs/benchmarks.md)
#   make demo            set everything up, then show the module at work in a VM
#   make rust-analyzer   write rust-project.json for the module sources
#   make CLIPPY=1        build the module with clippy
#   make clean           remove build products (the kernel cache stays)

SHELL := /bin/bash
# Anything `make` is run from must not change how the kernel's build sees the module.
unexport O

.PHONY: all module test stress bench demo rust-analyzer clean setup kernel

all: module

setup:
	@scripts/setup-host.sh

module:
	@scripts/build-module.sh

test:
	@scripts/test.sh

stress:
	@scripts/stress.sh

bench:
	@scripts/bench.sh

demo:
	@scripts/demo.sh

rust-analyzer:
	@scripts/rust-analyzer.sh

clean:
	@if [ -n "$(KDIR)" ] || ls "$${XDG_CACHE_HOME:-$$HOME/.cache}"/sysmsg/kernel/*-debug-*/.built >/dev/null 2>&1; then \
		scripts/build-module.sh clean; fi
	rm -rf build rust-project.json
	cd userspace-tests && cargo clean -q 2>/dev/null || true
