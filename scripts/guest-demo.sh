#!/bin/bash
# Runs inside the demo VM: each step says what it shows, then shows it.
#   guest-demo.sh <results dir> <module.ko> <demo program>
module=$2 demo=$3
set -e
say() { printf '\n### %s\n' "$*"; }

say "Kernel $(uname -r); loading sysmsg.ko"
insmod "$module"
grep '^sysmsg ' /proc/modules
say "KUnit ran the module's own tests at load time:"
dmesg | sed -nE 's/^\[ *[0-9.]+\] //; /^# (Subtest|[a-z_]+: pass)|^ok [0-9]+ sysmsg|^not ok [0-9]+ sysmsg/p'
say "The device node and the sysctl directory"
ls -l /dev/sysmsg
for f in /proc/sys/kernel/sysmsg/*; do echo "$f = $(cat "$f")"; done
say "A program using the device"
"$demo"
say "With every file closed the module unloads"
rmmod sysmsg && echo "rmmod sysmsg: done"
test ! -e /dev/sysmsg && echo "/dev/sysmsg is gone"
