#!/usr/bin/env bash
# `make bench`: set everything up (idempotent, cached), build the `perf` kernel
# (from the cache when it was built before), the module for it and the
# benchmark program (userspace-tests/sysmsg-bench, release), run every case in
# one VM boot, and render the results on the host:
#
#   bench-results/<date-time>/   bench.json (the program's), bench.txt (its own
#                                table), one PNG per case, summary.md, run.json
#                                (how the run went), gnuplot/ (data and scripts)
#   bench-results/latest         a symbolic link to the newest run
#
# It prints a table per case and the targets, and ends with the line
# `targets: N met, M missed`. It exits non-zero only if the run itself failed
# (a build failed, the VM did not come back, no JSON): a missed target is a
# result, not a failure. The guest's files are in build/results/bench/.
#
# Environment:
#   SYSMSG_BENCH_ARGS     arguments of sysmsg-bench, e.g. "--quick", "--reps 3",
#                         "--case nop_throughput"
#   SYSMSG_BENCH_DOCS=1   also regenerate docs/benchmarks.md from this run
#                         (otherwise the checkout is left as it was)
#   SYSMSG_BENCH_TIMEOUT  seconds sysmsg-bench may run in the VM (default 3000)
#   SYSMSG_VM_TIMEOUT     bound of the whole VM run (default: the above + 600)
#   SYSMSG_ACCEL          kvm|tcg, as for every VM run
. "$(dirname "$0")/lib.sh"
start=$(date +%s)

"$SYSMSG_TOP/scripts/setup-host.sh" bench
KDIR=$("$SYSMSG_TOP/scripts/build-kernel.sh" perf)
export KDIR

results=$SYSMSG_TOP/build/results/bench
rm -rf "$results"
mkdir -p "$results"

log "building the module for the perf kernel"
FLAVOUR=perf "$SYSMSG_TOP/scripts/build-module.sh" >"$results/module-build.log" 2>&1 ||
	{ tail -n 40 "$results/module-build.log" >&2; die "the module did not build"; }
module=$SYSMSG_TOP/build/module-perf/sysmsg.ko
[ -f "$module" ] || die "no $module after the build"

log "building sysmsg-bench (release)"
(cd "$SYSMSG_TOP/userspace-tests" && cargo build --release --locked -p sysmsg-bench) \
	>"$results/bench-build.log" 2>&1 ||
	{ tail -n 40 "$results/bench-build.log" >&2; die "sysmsg-bench did not build"; }
bench=$SYSMSG_TOP/userspace-tests/target/release/sysmsg-bench
[ -x "$bench" ] || die "no $bench after the build"

read -ra bench_args <<<"${SYSMSG_BENCH_ARGS:-}"
per_run=${SYSMSG_BENCH_TIMEOUT:-3000}
export SYSMSG_VM_TIMEOUT=${SYSMSG_VM_TIMEOUT:-$((per_run + 600))}
log "running sysmsg-bench${SYSMSG_BENCH_ARGS:+ $SYSMSG_BENCH_ARGS} in the VM (the program at most $per_run s, the VM at most $SYSMSG_VM_TIMEOUT s)"
"$SYSMSG_TOP/scripts/vm-run.sh" "$KDIR" "$results" "$SYSMSG_TOP/scripts/guest-bench.sh" \
	"$module" "$per_run" "$bench" "${bench_args[@]}" || true

# Did the run itself work? The guest's status and the JSON say.
[ -f "$results/guest.rc" ] ||
	die "the VM did not come back; see $results/console.log"
if [ ! -s "$results/bench.json" ]; then
	for f in guest.log insmod.log bench.err; do
		[ -s "$results/$f" ] && { log "last lines of $f:"; tail -n 20 "$results/$f" >&2; }
	done
	die "sysmsg-bench wrote no JSON; see $results/"
fi
python3 -c 'import json, sys; assert isinstance(json.load(open(sys.argv[1]))["cases"], list)' \
	"$results/bench.json" 2>/dev/null || die "$results/bench.json is not a sysmsg-bench JSON file"

# What the guest saw, for run.json (summary.md and docs/benchmarks.md show it).
value() { cat "$results/$1" 2>/dev/null || echo "${2:-?}"; }
accel=$(value accel unknown)
read -r kunit_pass kunit_fail kunit_skip < <(value kunit.txt "0 0 0")
kunit="$kunit_pass passed, $kunit_fail failed"
[ "${kunit_skip:-0}" = 0 ] || kunit+=", $kunit_skip skipped"
bench_rc=$(value bench.rc '?')
rmmod_rc=$(value rmmod.rc '?')
# The same patterns as collect.sh's kernel-log check (keep them in step).
splats=$(grep -cE "$SYSMSG_SPLAT" "$results/dmesg.txt" 2>/dev/null || true)
commit=$(git -C "$SYSMSG_TOP" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ "$commit" != unknown ] &&
	[ -n "$(GIT_OPTIONAL_LOCKS=0 git -C "$SYSMSG_TOP" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
	commit+="-dirty"
fi
command="make bench"
[ -z "${SYSMSG_BENCH_ARGS:-}" ] || command="SYSMSG_BENCH_ARGS='$SYSMSG_BENCH_ARGS' $command"
[ "${SYSMSG_BENCH_DOCS:-0}" != 1 ] || command="SYSMSG_BENCH_DOCS=1 $command"
cpu_model=max
[ "$accel" != kvm ] || cpu_model=host
vm="QEMU ${accel^^}"
insmod_ok=failed
[ "$(value insmod.rc 1)" != 0 ] || insmod_ok=ok
rmmod_ok="failed (status $rmmod_rc)"
[ "$rmmod_rc" != 0 ] || rmmod_ok=ok

stamp=$(date +%Y%m%d-%H%M%S)
out=$SYSMSG_TOP/bench-results/$stamp
mkdir -p "$out"
cp "$results/bench.json" "$out/bench.json"
cp "$results/bench.txt" "$out/bench.txt" 2>/dev/null || true
report=(python3 "$SYSMSG_TOP/scripts/bench-report.py")
"${report[@]}" --out "$out" \
	--meta "accel=$accel" \
	--meta "vm=$vm (-cpu $cpu_model), 2 vCPUs, 2 GiB, the perf kernel" \
	--meta "command=$command" \
	--meta "commit=$commit" \
	--meta "module=insmod $insmod_ok" \
	--meta "kunit=$kunit" \
	--meta "bench_exit=$bench_rc" \
	--meta "bench_seconds=$(value bench.seconds '?')" \
	--meta "rmmod=$rmmod_ok" \
	--meta "kernel_log=${splats:-0} splat lines (BUG, WARNING, Oops, lockups, ...)" \
	--meta "plots=bench-results/$stamp" \
	"$out/bench.json" || die "the results could not be rendered (see above)"
if [ -L "$SYSMSG_TOP/bench-results/latest" ] || [ ! -e "$SYSMSG_TOP/bench-results/latest" ]; then
	ln -sfn "$stamp" "$SYSMSG_TOP/bench-results/latest"
else
	log "bench-results/latest is not a symbolic link: left alone"
fi
if [ "${SYSMSG_BENCH_DOCS:-0}" = 1 ]; then
	"${report[@]}" --docs "$SYSMSG_TOP/docs/benchmarks.md" "$out/bench.json" ||
		die "docs/benchmarks.md could not be rendered"
	log "docs/benchmarks.md regenerated from this run"
fi
log "done in $(($(date +%s) - start)) s; results in bench-results/$stamp (and bench-results/latest), the guest's files in build/results/bench"

echo "== run =="
printf '  %-14s %s, %s\n' "kernel:" "$(sed -n 's/^kernel=//p' "$results/env.txt" 2>/dev/null)" "$vm"
printf '  %-14s insmod %s; KUnit %s\n' "module:" "$insmod_ok" "$kunit"
printf '  %-14s exit status %s after %s s; its own output: bench-results/%s/bench.txt\n' \
	"sysmsg-bench:" "$bench_rc" "$(value bench.seconds '?')" "$stamp"
printf '  %-14s rmmod %s; %s splat lines in the kernel log (build/results/bench/dmesg.txt)\n' \
	"after:" "$rmmod_ok" "${splats:-0}"
printf '  %-14s bench-results/%s/: a PNG per case, summary.md\n' "plots:" "$stamp"
echo
exec "${report[@]}" --table "$out/bench.json"
