#!/usr/bin/env bash
# Reads the results of one test run and prints a line per failure, a summary
# per layer, and the final `N passed, N failed`. Exits non-zero if anything
# failed.
#
#   scripts/collect.sh <results dir>
. "$(dirname "$0")/lib.sh"
# Counting goes on through empty greps and failed steps.
set +e +o pipefail
r=$1
pass=0 fail=0 skip=0
failures=()

add() { # add <layer> <passed> <failed> [skipped]
	pass=$((pass + $2)) fail=$((fail + $3)) skip=$((skip + ${4:-0}))
	local skipped=""
	[ "${4:-0}" = 0 ] || skipped=", $4 skipped"
	printf '  %-42s %4d passed, %d failed%s\n' "$1" "$2" "$3" "$skipped"
}
check() { # check <name> <0 = ok>: a single-result check
	if [ "$2" = 0 ]; then add "$1" 1 0; else add "$1" 0 1; failures+=("$1"); fi
}
tap() { # tap <file>: "ok"/"not ok" lines -> "<passed> <failed> <skipped>"
	awk '/^ *not ok /{f++; print "    FAIL:" substr($0, index($0, "not ok") + 6) > "/dev/fd/3"; next}
	     /^ *ok .*# SKIP/{s++; next} /^ *ok /{p++}
	     END{print p+0, f+0, s+0}' "$1"
}
libtest() { # libtest <file>: cargo test summaries -> "<passed> <failed> <ignored>"
	grep -E '^test .* FAILED$' "$1" | sed 's/^/    FAIL: /' >&3
	awk '/^test result:/{for(i=1;i<=NF;i++){if($(i)~/^passed;?$/)p+=$(i-1); if($(i)~/^failed;?$/)f+=$(i-1); if($(i)~/^ignored;?$/)s+=$(i-1)}}
	     END{print p+0, f+0, s+0}' "$1"
}

exec 3>&1 # failure details, in order with the summary lines
echo "== results =="
# Host-side unit tests.
if [ -f "$r/host-cargo.txt" ]; then
	read -r p f s < <(libtest "$r/host-cargo.txt")
	[ "$(cat "$r/host-cargo.rc")" = 0 ] || [ "$f" -gt 0 ] || f=1
	add "host: cargo test" "$p" "$f" "$s"
fi

if [ -f "$r/host-checks.tap" ]; then
	read -r p f s < <(tap "$r/host-checks.tap")
	add "host: build and style checks" "$p" "$f" "$s"
fi

if [ ! -f "$r/guest.rc" ] || [ ! -f "$r/dmesg.txt" ]; then
	check "VM ran the tests and came back" 1
else
	# Guest steps (insmod, rmmod, ...).
	read -r p f s < <(tap "$r/steps.tap")
	add "guest: module load/unload" "$p" "$f" "$s"

	# KUnit: the KTAP test cases of every suite, from the kernel log.
	sed -E 's/^\[ *[0-9]+\.[0-9]+\] //' "$r/dmesg.txt" >"$r/ktap.txt"
	read -r p f s < <(awk '/^    (not )?ok [0-9]+ /' "$r/ktap.txt" > "$r/ktap-cases.txt"; tap "$r/ktap-cases.txt")
	if [ $((p + f)) = 0 ]; then f=1; echo "    FAIL: no KUnit results in the kernel log" >&3; fi
	add "guest: KUnit" "$p" "$f" "$s"

	# Test programs: TAP (C) or libtest (Rust) output; a crash counts as a failure.
	for rc in "$r"/prog-*.rc; do
		[ -f "$rc" ] || continue
		out=${rc%.rc}.out
		name=$(basename "${rc%.rc}")
		name=${name#prog-}
		if grep -q '^test result:' "$out"; then
			read -r p f s < <(libtest "$out")
			layer="guest: rust $name"
		else
			read -r p f s < <(tap "$out")
			layer="guest: C $name"
		fi
		if [ "$(cat "$rc")" != 0 ] && [ "$f" = 0 ]; then
			f=1
			echo "    FAIL: $name exited with status $(cat "$rc")" >&3
		fi
		add "$layer" "$p" "$f" "$s"
	done

	# The kernel log: no splat of any kind.
	if grep -E "$SYSMSG_SPLAT" "$r/dmesg.txt" >"$r/splats.txt"; then
		sed 's/^/    /' "$r/splats.txt" | head -n 20 >&3
		check "kernel log: no BUG/WARNING/KASAN/lockdep" 1
	else
		check "kernel log: no BUG/WARNING/KASAN/lockdep" 0
	fi
	if [ -s "$r/kmemleak.txt" ]; then
		head -n 30 "$r/kmemleak.txt" | sed 's/^/    /' >&3
		check "kmemleak: no leaks" 1
	elif [ -f "$r/kmemleak.txt" ]; then
		check "kmemleak: no leaks" 0
	fi
	# Allowed taints: O (out-of-tree module, 4096), E (unsigned, 8192), N (KUnit ran, 262144).
	t=$(cat "$r/tainted")
	if [ $((t & ~(4096 | 8192 | 262144))) = 0 ]; then
		check "taint: none but O/E/N" 0
	else
		echo "    FAIL: /proc/sys/kernel/tainted = $t" >&3
		check "taint: none but O/E/N" 1
	fi
fi

if [ "$skip" = 0 ]; then
	echo "$pass passed, $fail failed"
else
	echo "$pass passed, $fail failed, $skip skipped"
fi
[ "$fail" = 0 ]
