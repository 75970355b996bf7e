#!/bin/bash
# Runs inside the demo VM: each step says what it shows, then shows it.
#   guest-demo.sh <results dir> <module.ko> <demo program> [example program]
module=$2 demo=$3 example=${4:-}
set -e
say() { printf '\n### %s\n' "$*"; }
sysctls() { # every kernel.sysmsg.* sysctl with its value
	local f
	for f in /proc/sys/kernel/sysmsg/*; do
		echo "kernel.sysmsg.$(basename "$f") = $(cat "$f")"
	done
}

say "Kernel $(uname -r); loading sysmsg.ko"
insmod "$module"
grep '^sysmsg ' /proc/modules
say "KUnit ran the module's own tests at load time:"
dmesg | sed -nE 's/^\[ *[0-9.]+\] //; /^# (Subtest|[a-z_]+: pass)|^ok [0-9]+ sysmsg|^not ok [0-9]+ sysmsg/p'
say "The device node and the sysctls (/proc/sys/kernel/sysmsg/)"
ls -l /dev/sysmsg
sysctls
say "A program using the device (userspace-tests/c/demo.c, through libsysmsg)"
"$demo"
if [ -n "$example" ]; then
	say "The README's example (userspace-tests/c/example.c): two sleeps of 200 and 100 ms and a pipe read"
	"$example"
fi
say "The sysctls after the demo"
sysctls
say "With every file closed the module unloads"
rmmod sysmsg && echo "rmmod sysmsg: done"
test ! -e /dev/sysmsg && echo "/dev/sysmsg is gone"
