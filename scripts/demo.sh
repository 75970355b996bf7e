#!/usr/bin/env bash
# `make demo`: the same set-up as `make test`, then a VM that loads the module
# and shows what exists so far.
. "$(dirname "$0")/lib.sh"

"$SYSMSG_TOP/scripts/setup-host.sh"
KDIR=$("$SYSMSG_TOP/scripts/build-kernel.sh" debug)
export KDIR
results=$SYSMSG_TOP/build/results/demo
rm -rf "$results"
mkdir -p "$results" "$SYSMSG_TOP/build/tests"

"$SYSMSG_TOP/scripts/build-module.sh" >"$results/module-build.log" 2>&1 ||
	{ tail -n 40 "$results/module-build.log" >&2; die "the module did not build"; }
# The demo and the README's example, with the flags of build-tests.sh and the C library.
csrc=$SYSMSG_TOP/userspace-tests/c
CFLAGS=(-std=gnu11 -O2 -g -Wall -Wextra -Werror -pthread
	-I"$SYSMSG_TOP/include/uapi" -I"$csrc")
for prog in demo example; do
	gcc "${CFLAGS[@]}" -o "$SYSMSG_TOP/build/tests/$prog" "$csrc/$prog.c" "$csrc/libsysmsg.c"
done

log "booting the VM (debug kernel under emulation: about a minute)"
rc=0
"$SYSMSG_TOP/scripts/vm-run.sh" "$KDIR" "$results" "$SYSMSG_TOP/scripts/guest-demo.sh" \
	"$SYSMSG_TOP/sysmsg.ko" "$SYSMSG_TOP/build/tests/demo" "$SYSMSG_TOP/build/tests/example" || rc=$?
cat "$results/guest.log" 2>/dev/null
exit $rc
