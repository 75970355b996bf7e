# shellcheck shell=bash
# Common settings for sysmsg's scripts. Sourced, never run.
#
# Everything expensive (packages' lists, the kernel source, kernel builds,
# bindgen) lives in the cache directory outside the checkout, keyed so that a
# second run reuses it.

set -euo pipefail

SYSMSG_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SYSMSG_CACHE=${SYSMSG_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sysmsg}
export SYSMSG_TOP SYSMSG_CACHE

# Kernel log lines that are a splat of some kind (KASAN and lockdep reports start with BUG: or
# WARNING:, or name the lock problem): collect.sh fails a run on any, stress.sh and bench.sh
# count them.
SYSMSG_SPLAT='BUG:|WARNING:|Oops|general protection|Kernel panic|kernel BUG|UBSAN:|INFO: task .* blocked|detected stalls?|possible (recursive|circular|irq)|inconsistent lock state|DEBUG_LOCKS_WARN|ODEBUG:|suspected memory leaks'

# The LLVM toolchain the kernel's Rust support is built with (libclang >= 17).
LLVM_SUFFIX=-19
export LLVM=$LLVM_SUFFIX
if command -v llvm-config$LLVM_SUFFIX >/dev/null 2>&1; then
	LIBCLANG_PATH=$(llvm-config$LLVM_SUFFIX --libdir)
	export LIBCLANG_PATH
fi
export PATH="$HOME/.cargo/bin:$PATH"

# The pinned bindgen-cli (the kernel needs >= 0.71.1).
BINDGEN_VERSION=0.73.2

log() { printf '[sysmsg] %s\n' "$*" >&2; }
die() { printf '[sysmsg] error: %s\n' "$*" >&2; exit 1; }

# Number of parallel build jobs.
JOBS=${JOBS:-$(($(nproc) + 1))}
