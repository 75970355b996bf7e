#!/bin/bash
# PID 1 of the test VM (see vm-run.sh): mounts what a test needs on top of the
# host's read-only root, runs $SYSMSG_GUEST_SCRIPT, records its exit status
# and powers the VM off.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run
# /tmp must be writable, but a checkout under the host's /tmp (a clone made there) must stay
# visible: a tmpfs overlaid on the host's read-only /tmp; a plain tmpfs if that cannot be had.
mkdir -p /run/tmp/upper /run/tmp/work
mount -t overlay overlay -o lowerdir=/tmp,upperdir=/run/tmp/upper,workdir=/run/tmp/work /tmp ||
	mount -t tmpfs tmpfs /tmp
mount -t debugfs debugfs /sys/kernel/debug
mkdir -p /tmp/results
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 results /tmp/results
ip link set lo up 2>/dev/null || busybox ip link set lo up 2>/dev/null

rc=1
if [ -n "${SYSMSG_GUEST_SCRIPT:-}" ]; then
	eval "set -- $(cat /tmp/results/guest-args)"
	bash "$SYSMSG_GUEST_SCRIPT" /tmp/results "$@" >/tmp/results/guest.log 2>&1
	rc=$?
fi
echo "$rc" >/tmp/results/guest.rc
sync
umount /tmp/results
echo o >/proc/sysrq-trigger
sleep 10
