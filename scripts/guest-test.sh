#!/bin/bash
# Runs inside the test VM (from guest-init.sh): load the module, let KUnit run,
# run the C and Rust test programs, unload, scan for leaks, and leave every
# result in the results directory for collect.sh.
#
#   guest-test.sh <results dir> <module.ko> <test program>...
results=$1 module=$2
shift 2
cd "$results" || exit 1
: >steps.tap

step() { # step <name> <command...>: one result line for a guest step
	local name=$1
	shift
	if "$@" >>steps.log 2>&1; then echo "ok - $name" >>steps.tap; else echo "not ok - $name" >>steps.tap; fi
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

for prog in "$@"; do
	name=$(basename "$prog")
	echo "sysmsg-test: $name" >/dev/kmsg
	timeout 600 "$prog" >"prog-$name.out" 2>&1
	echo $? >"prog-$name.rc"
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
dmesg >dmesg.txt
