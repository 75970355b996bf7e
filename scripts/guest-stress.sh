#!/bin/bash
# Runs inside the VM (from guest-init.sh) for `make stress`: the variant of
# guest-test.sh that runs the stress programs with arguments and a long
# timeout. Loads the module (KUnit runs at load), runs each program, unloads,
# scans for leaks, and leaves the same result files as guest-test.sh for
# collect.sh: steps.tap, prog-<name>.out and .rc, dmesg.txt, kmemleak.txt,
# tainted (plus prog-<name>.seconds, the wall time of each program).
#
#   guest-stress.sh <results dir> <module.ko> <timeout s> "<program> [args...]"...
#
# Each program argument is a program path and its arguments in one word,
# split at spaces. The kernel log is appended to dmesg.txt and cleared after
# insmod and after every program, so that the 128 KiB log buffer cannot lose
# KUnit's results or an early splat during a long run (if `dmesg -c` fails,
# the whole log is saved at the end instead).
results=$1 module=$2 timeout_s=$3
shift 3
cd "$results" || exit 1
: >steps.tap
: >dmesg.txt

step() { # step <name> <command...>: one result line for a guest step
	local name=$1
	shift
	if "$@" >>steps.log 2>&1; then echo "ok - $name" >>steps.tap; else echo "not ok - $name" >>steps.tap; fi
}
save_log() { # append the kernel log to dmesg.txt and clear it
	dmesg -c >>dmesg.txt 2>/dev/null || true
}

kmemleak=/sys/kernel/debug/kmemleak
if [ -w $kmemleak ]; then
	# Forget what boot left behind: only the module's leaks count.
	echo scan >$kmemleak
	echo clear >$kmemleak
fi
echo "sysmsg-stress: insmod" >/dev/kmsg
step "insmod sysmsg.ko" insmod "$module"
step "/dev/sysmsg is a character device" test -c /dev/sysmsg
save_log

for spec in "$@"; do
	read -ra cmd <<<"$spec"
	name=$(basename "${cmd[0]}")
	echo "sysmsg-stress: $spec" >/dev/kmsg
	start=$(date +%s)
	timeout -k 30 "$timeout_s" "${cmd[@]}" >"prog-$name.out" 2>&1
	echo $? >"prog-$name.rc"
	echo $(($(date +%s) - start)) >"prog-$name.seconds"
	save_log
done

echo "sysmsg-stress: rmmod" >/dev/kmsg
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
