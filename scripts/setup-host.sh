#!/usr/bin/env bash
# Installs the host toolchain sysmsg needs: Debian packages for the kernel
# build, QEMU, the Rust source and bindgen. Idempotent: it only installs what
# is missing, so a warm machine passes through in a second.
#
#   scripts/setup-host.sh [bench]
#
# `bench` adds what `make bench` needs on the host to render its results:
# gnuplot (the plots) and python3 (scripts/bench-report.py).
. "$(dirname "$0")/lib.sh"

PACKAGES=(
	clang-19 lld-19 llvm-19 libclang-19-dev
	flex bison bc libelf-dev libssl-dev cpio kmod xz-utils make gcc
	qemu-system-x86 busybox-static
)
for extra in "$@"; do
	case "$extra" in
	bench) PACKAGES+=(gnuplot-nox python3) ;;
	*) die "setup-host.sh: unknown extra '$extra' (known: bench)" ;;
	esac
done

missing=()
for p in "${PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	[ "$(id -u)" = 0 ] || die "need root to install: ${missing[*]}"
	log "installing Debian packages: ${missing[*]}"
	apt-get update -q >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

command -v rustc >/dev/null || die "rustc not found (rustup toolchain expected)"
sysroot=$(rustc --print sysroot)
if [ ! -d "$sysroot/lib/rustlib/src/rust/library" ]; then
	log "adding rust-src"
	rustup component add rust-src >/dev/null
fi

if ! bindgen --version 2>/dev/null | grep -q "$BINDGEN_VERSION"; then
	log "installing bindgen-cli $BINDGEN_VERSION"
	cargo install --locked --quiet bindgen-cli --version "$BINDGEN_VERSION"
fi
log "host toolchain ready ($(rustc --version), $(bindgen --version), clang$LLVM_SUFFIX)"
