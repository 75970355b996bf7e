#!/usr/bin/env bash
# Builds sysmsg.ko (or runs another kbuild target on the module: clean,
# rust-analyzer) against KDIR, by default the cached debug kernel.
#
#   scripts/build-module.sh [kbuild target]     (CLIPPY=1 is passed through)
#
# FLAVOUR=perf (or any flavour but debug) builds against that cached kernel in a
# copy of the sources under build/module-<flavour>/, so that the debug build in
# the checkout is left alone; the module is then build/module-<flavour>/sysmsg.ko.
. "$(dirname "$0")/lib.sh"

flavour=${FLAVOUR:-debug}
if [ -z "${KDIR:-}" ]; then
	"$SYSMSG_TOP/scripts/setup-host.sh"
	KDIR=$("$SYSMSG_TOP/scripts/build-kernel.sh" "$flavour")
fi
[ -f "$KDIR/Module.symvers" ] || die "KDIR=$KDIR is not a built kernel tree (no Module.symvers)"
dir=$SYSMSG_TOP
if [ "$flavour" != debug ]; then
	dir=$SYSMSG_TOP/build/module-$flavour
	mkdir -p "$dir"
	cp -r "$SYSMSG_TOP/Kbuild" "$SYSMSG_TOP/include" "$SYSMSG_TOP/rust" "$dir/"
fi
exec make -C "$KDIR" M="$dir" LLVM="$LLVM_SUFFIX" -j"$JOBS" ${CLIPPY:+CLIPPY=$CLIPPY} "$@"
