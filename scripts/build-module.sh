#!/usr/bin/env bash
# Builds sysmsg.ko (or runs another kbuild target on the module: clean,
# rust-analyzer) against KDIR, by default the cached debug kernel.
#
#   scripts/build-module.sh [kbuild target]     (CLIPPY=1 is passed through)
. "$(dirname "$0")/lib.sh"

if [ -z "${KDIR:-}" ]; then
	"$SYSMSG_TOP/scripts/setup-host.sh"
	KDIR=$("$SYSMSG_TOP/scripts/build-kernel.sh" "${FLAVOUR:-debug}")
fi
[ -f "$KDIR/Module.symvers" ] || die "KDIR=$KDIR is not a built kernel tree (no Module.symvers)"
exec make -C "$KDIR" M="$SYSMSG_TOP" LLVM="$LLVM_SUFFIX" -j"$JOBS" ${CLIPPY:+CLIPPY=$CLIPPY} "$@"
