#!/usr/bin/env bash
# `make test`: set everything up (idempotent, cached), run the host-side unit
# tests, build the module and the C and Rust test programs, run them all in a
# VM on the debug kernel, and print `N passed, N failed` over every layer.
. "$(dirname "$0")/lib.sh"
start=$(date +%s)

"$SYSMSG_TOP/scripts/setup-host.sh"
KDIR=$("$SYSMSG_TOP/scripts/build-kernel.sh" debug)
export KDIR

results=$SYSMSG_TOP/build/results/test
rm -rf "$results"
mkdir -p "$results"

log "host-side unit tests"
rc=0
(cd "$SYSMSG_TOP/userspace-tests" && cargo test --locked --workspace --lib 2>&1) >"$results/host-cargo.txt" || rc=$?
echo $rc >"$results/host-cargo.rc"

log "building the module (with clippy) and checking style"
touch "$SYSMSG_TOP/rust/sysmsg_main.rs" # so that clippy sees the whole crate again
CLIPPY=1 "$SYSMSG_TOP/scripts/build-module.sh" >"$results/module-build.log" 2>&1 ||
	{ tail -n 40 "$results/module-build.log" >&2; die "the module did not build"; }
checks=$results/host-checks.tap
: >"$checks"
check() { # check <name> <command...>
	local name=$1
	shift
	if "$@" >>"$results/host-checks.log" 2>&1; then echo "ok - $name" >>"$checks"; else echo "not ok - $name" >>"$checks"; fi
}
check "module: no compiler or clippy warnings" bash -c "! grep -E '^(warning|error)|: (warning|error):' '$results/module-build.log'"
check "module: rustfmt (kernel .rustfmt.toml)" rustfmt --check --edition 2021 \
	--config-path "$(readlink -f "$KDIR/source")/.rustfmt.toml" \
	"$SYSMSG_TOP"/rust/*.rs "$SYSMSG_TOP"/rust/ops/*.rs
check "userspace: cargo fmt" bash -c "cd '$SYSMSG_TOP/userspace-tests' && cargo fmt --check"
check "userspace: cargo clippy -D warnings" bash -c \
	"cd '$SYSMSG_TOP/userspace-tests' && cargo clippy --locked --workspace --all-targets -- -D warnings"

log "building the test programs"
"$SYSMSG_TOP/scripts/build-tests.sh" >"$results/programs.txt" || die "the test programs did not build"
mapfile -t progs <"$results/programs.txt"

log "running the tests in the VM"
"$SYSMSG_TOP/scripts/vm-run.sh" "$KDIR" "$results" "$SYSMSG_TOP/scripts/guest-test.sh" \
	"$SYSMSG_TOP/sysmsg.ko" "${progs[@]}" || true

log "done in $(($(date +%s) - start)) s; results in $results"
exec "$SYSMSG_TOP/scripts/collect.sh" "$results"
