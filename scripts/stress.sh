#!/usr/bin/env bash
# `make stress`: the same set-up and builds as `make test` (without the host
# checks), then one VM on the debug kernel (KASAN, lockdep, kmemleak) that
# loads the module and runs the long stress programs:
#   c-test_killstorm --long   1000 SIGKILLs of processes with messages in flight
#   c-test_fuzz --long        4 threads fuzzing the ABI for 120 s
# then unloads it and scans for leaks. Prints a summary (kills, messages
# submitted during kills, fuzzed calls, the longest kill-to-zero wait, splats
# in the kernel log, kmemleak leaks) and ends, like `make test`, with
# collect.sh's `N passed, N failed`. Results in build/results/stress/.
#
# Environment:
#   SYSMSG_KILLSTORM_ARGS  arguments of c-test_killstorm (default when unset: --long;
#                          e.g. "--long --seed 7", or "--kills 5000")
#   SYSMSG_FUZZ_ARGS       arguments of c-test_fuzz (default when unset: --long;
#                          e.g. "--seconds 600 --threads 8 --seed 7")
#   SYSMSG_STRESS_TIMEOUT  seconds each program may run in the VM (default: 3600)
#   SYSMSG_VM_TIMEOUT      bound of the whole VM run (default: 2 x the above + 900)
. "$(dirname "$0")/lib.sh"
start=$(date +%s)

"$SYSMSG_TOP/scripts/setup-host.sh"
KDIR=$("$SYSMSG_TOP/scripts/build-kernel.sh" debug)
export KDIR

results=$SYSMSG_TOP/build/results/stress
rm -rf "$results"
mkdir -p "$results"

log "building the module"
"$SYSMSG_TOP/scripts/build-module.sh" >"$results/module-build.log" 2>&1 ||
	{ tail -n 40 "$results/module-build.log" >&2; die "the module did not build"; }

log "building the test programs"
"$SYSMSG_TOP/scripts/build-tests.sh" >"$results/programs.txt" || die "the test programs did not build"
killstorm=$SYSMSG_TOP/build/tests/c-test_killstorm
fuzz=$SYSMSG_TOP/build/tests/c-test_fuzz
for prog in "$killstorm" "$fuzz"; do
	[ -x "$prog" ] || die "$prog was not built"
done

per_prog=${SYSMSG_STRESS_TIMEOUT:-3600}
export SYSMSG_VM_TIMEOUT=${SYSMSG_VM_TIMEOUT:-$((2 * per_prog + 900))}
log "running the stress programs in the VM (each at most $per_prog s; the VM at most $SYSMSG_VM_TIMEOUT s)"
"$SYSMSG_TOP/scripts/vm-run.sh" "$KDIR" "$results" "$SYSMSG_TOP/scripts/guest-test.sh" \
	"$SYSMSG_TOP/sysmsg.ko" --timeout "$per_prog" --save-log \
	"$killstorm ${SYSMSG_KILLSTORM_ARGS---long}" "$fuzz ${SYSMSG_FUZZ_ARGS---long}" || true
log "done in $(($(date +%s) - start)) s; results in $results"

# The summary, from the programs' key=value lines and the kernel's reports.
kv() { # kv <file> <line prefix> <key>: the value of <key>=... on the last line starting with "# <prefix>:"
	awk -v p="# $2:" -v k="$3" 'index($0, p) == 1 {
		for (i = 1; i <= NF; i++) { n = index($i, "="); if (n && substr($i, 1, n - 1) == k) v = substr($i, n + 1) }
	} END { print v }' "$1" 2>/dev/null || true
}
program() { # program <name> <line prefix>: 0 if its summary line is there, else says why not
	local out=$results/prog-$1.out rc=$results/prog-$1.rc
	if [ -f "$out" ] && grep -q "^# $2: " "$out"; then
		return 0
	fi
	if [ -f "$rc" ]; then
		printf '  %-12s no summary line (exit status %s, after %s s); see %s\n' "$2:" "$(cat "$rc")" \
			"$(cat "$results/prog-$1.seconds" 2>/dev/null || echo '?')" "$out"
	else
		printf '  %-12s did not run (the VM did not get there); see %s/console.log\n' "$2:" "$results"
	fi
	return 1
}

echo "== stress =="
out=$results/prog-c-test_killstorm.out
if program c-test_killstorm killstorm; then
	printf '  %-12s %s kills survived (%s failed iterations); %s messages submitted by the killed processes\n' \
		"kill storm:" "$(kv "$out" killstorm kills)" "$(kv "$out" killstorm failures)" \
		"$(kv "$out" killstorm submitted)"
	printf '  %-12s longest kill-to-zero wait %s ms, median %s ms (seed %s, %s s)\n' "" \
		"$(kv "$out" killstorm max_kill_to_zero_ms)" "$(kv "$out" killstorm median_ms)" \
		"$(kv "$out" killstorm seed)" "$(cat "$results/prog-c-test_killstorm.seconds" 2>/dev/null || echo '?')"
fi
out=$results/prog-c-test_fuzz.out
if program c-test_fuzz fuzz; then
	printf '  %-12s %s calls in %s s, %s messages accepted, %s replies (seed %s)\n' "fuzzer:" \
		"$(kv "$out" fuzz calls)" "$(kv "$out" fuzz seconds)" "$(kv "$out" fuzz accepted)" \
		"$(kv "$out" fuzz replies)" "$(kv "$out" fuzz seed)"
	printf '  %-12s %s undocumented errnos, %s duplicate replies, %s missing replies\n' "" \
		"$(kv "$out" fuzz errno_violations)" "$(kv "$out" fuzz duplicate_replies)" \
		"$(kv "$out" fuzz missing_replies)"
fi
if [ -f "$results/dmesg.txt" ]; then
	# The same patterns as collect.sh's kernel-log check (keep them in step).
	n=$(grep -cE "$SYSMSG_SPLAT" "$results/dmesg.txt" || true)
	printf '  %-12s %s splat lines (KASAN, lockdep, WARNING, BUG, Oops, ...)\n' "kernel log:" "${n:-0}"
else
	printf '  %-12s none (the VM did not come back)\n' "kernel log:"
fi
if [ -f "$results/kmemleak.txt" ]; then
	n=$(grep -c 'unreferenced object' "$results/kmemleak.txt" || true)
	printf '  %-12s %s leaks\n' "kmemleak:" "${n:-0}"
else
	printf '  %-12s no report\n' "kmemleak:"
fi
echo

exec "$SYSMSG_TOP/scripts/collect.sh" "$results"
