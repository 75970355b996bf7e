#!/bin/bash
# Runs inside the test VM (from guest-init.sh), for `make test` and `make stress`:
# load the module (KUnit runs at load), run the test programs, unload, scan for
# leaks, and leave every result in the results directory for collect.sh:
# steps.tap, prog-<name>.out, .rc and .seconds, dmesg.txt, kmemleak.txt, tainted.
#
#   guest-test.sh <results dir> <module.ko> [--timeout S] [--save-log] "<program> [args...]"...
#
# Each program argument is a program path and its arguments in one word, split
# at spaces. --timeout: the seconds each program may run (default 600).
# --save-log (the long runs of `make stress`): the kernel log is appended to
# dmesg.txt and cleared after insmod and after every program, so that the
# 128 KiB log buffer cannot lose KUnit's results or an early splat.
results=$1 module=$2
shift 2
timeout_s=600 save=0
while :; do
	case $1 in
	--timeout) timeout_s=$2; shift 2 ;;
	--save-log) save=1; shift ;;
	*) break ;;
	esac
done
cd "$results" || exit 1
: >steps.tap
: >dmesg.txt

step() { # step <name> <command...>: one result line for a guest step
	local name=$1
	shift
	if "$@" >>steps.log 2>&1; then echo "ok - $name" >>steps.tap; else echo "not ok - $name" >>steps.tap; fi
}
save_log() { # with --save-log: append the kernel log to dmesg.txt and clear it
	[ "$save" = 1 ] || return 0
	dmesg -c >>dmesg.txt 2>/dev/null || true
}

kmemleak=/sys/kernel/debug/kmemleak
if [ -w $kmemleak ]; then
	# Forget what boot left behind: only the module's leaks count.
	echo scan >$kmemleak
	echo clear >$kmemleak
fi
echo "sysmsg-test: insmod" >/dev/kmsg
step "insmod sysmsg.ko" insmod "$module"
step "/dev/sysmsg is a character device" test -c /dev/sysmsg
save_log

for spec in "$@"; do
	read -ra cmd <<<"$spec"
	name=$(basename "${cmd[0]}")
	echo "sysmsg-test: $spec" >/dev/kmsg
	start=$(date +%s)
	timeout -k 30 "$timeout_s" "${cmd[@]}" >"prog-$name.out" 2>&1
	echo $? >"prog-$name.rc"
	echo $(($(date +%s) - start)) >"prog-$name.seconds"
	save_log
done

echo "sysmsg-test: rmmod" >/dev/kmsg
step "rmmod sysmsg once every file is closed" rmmod sysmsg
if [ -w $kmemleak ]; then
	# kmemleak ignores objects younger than 5 s and wants two scans.
	sleep 6
	echo scan >$kmemleak
	echo scan >$kmemleak
	cat $kmemleak >kmemleak.txt
fi
cat /proc/sys/kernel/tainted >tainted
dmesg >>dmesg.txt
