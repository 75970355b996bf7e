#!/bin/bash
# Runs inside the benchmark VM (from guest-init.sh) for `make bench`: loads the
# module on the perf kernel (KUnit runs at load), runs sysmsg-bench once with
# every case in this one boot, unloads the module.
#
#   guest-bench.sh <results dir> <module.ko> <timeout s> <sysmsg-bench> [its arguments...]
#
# Leaves in the results directory, for bench.sh: env.txt (kernel, CPU), insmod.log
# and insmod.rc, kunit.txt ("<passed> <failed> <skipped>" KUnit cases), sysctl-before.txt
# and sysctl-after.txt, bench.json (the program's --out), bench.txt (its standard
# output: the table), bench.err (its standard error), bench.rc, bench.seconds,
# rmmod.rc, dmesg.txt, tainted. Exits 0 if bench.json was written.
results=$1 module=$2 timeout_s=$3 bench=$4
shift 4
cd "$results" || exit 1

{
	echo "kernel=$(uname -r)"
	echo "cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
	echo "cpus=$(nproc)"
	echo "memory=$(sed -n 's/^MemTotal:[[:space:]]*//p' /proc/meminfo)"
} >env.txt

sysctls() { # every kernel.sysmsg.* sysctl with its value
	local f
	for f in /proc/sys/kernel/sysmsg/*; do
		[ -f "$f" ] && echo "kernel.sysmsg.$(basename "$f") = $(cat "$f")"
	done
}

echo "sysmsg-bench: insmod" >/dev/kmsg
insmod "$module" >insmod.log 2>&1
echo $? >insmod.rc
# KUnit's test cases (KTAP in the kernel log), counted as collect.sh counts them.
dmesg | sed -E 's/^\[ *[0-9]+\.[0-9]+\] //' |
	awk '/^    not ok [0-9]+ /{f++; next} /^    ok [0-9]+ .*# SKIP/{s++; next} /^    ok [0-9]+ /{p++}
	     END{print p+0, f+0, s+0}' >kunit.txt
if [ "$(cat insmod.rc)" != 0 ] || [ ! -c /dev/sysmsg ]; then
	echo "insmod failed or no /dev/sysmsg: not running the benchmark"
	cat insmod.log
	dmesg >dmesg.txt
	cat /proc/sys/kernel/tainted >tainted
	exit 1
fi
sysctls >sysctl-before.txt

# The benchmark may hold tens of thousands of descriptors (pending pipe reads);
# as root it may raise its own limit, but start it with a high one.
ulimit -n 1048576 2>/dev/null || ulimit -n 65536 2>/dev/null || true
# Scratch files (the regular-file case) go to the guest's /tmp, a tmpfs, not
# to the 9p share of the results; the JSON is copied there at the end.
cd /tmp || exit 1
export TMPDIR=/tmp
rm -f /tmp/bench.json
echo "sysmsg-bench: $bench $*" >/dev/kmsg
echo "running: $bench --out /tmp/bench.json $*"
start=$(date +%s)
timeout -k 30 "$timeout_s" "$bench" --out /tmp/bench.json "$@" >"$results/bench.txt" 2>"$results/bench.err"
rc=$?
echo $rc >"$results/bench.rc"
echo $(($(date +%s) - start)) >"$results/bench.seconds"
echo "sysmsg-bench exited with status $rc after $(cat "$results/bench.seconds") s"
[ -f /tmp/bench.json ] && cp /tmp/bench.json "$results/bench.json"
cd "$results" || exit 1
sysctls >sysctl-after.txt

echo "sysmsg-bench: rmmod" >/dev/kmsg
rmmod sysmsg >rmmod.log 2>&1
echo $? >rmmod.rc
cat /proc/sys/kernel/tainted >tainted
dmesg >dmesg.txt
[ -s bench.json ]
