#!/usr/bin/env bash
# Boots a kernel in QEMU with the host's root filesystem shared read-only
# (9p), runs one script inside as part of init, and powers off.
#
#   scripts/vm-run.sh <kernel build dir> <results dir> <guest script> [args...]
#
# The guest mounts <results dir> read-write at /tmp/results and runs
# `<guest script> /tmp/results [args...]`; the script's output goes to
# guest.log and its exit status to guest.rc there. The serial console goes to
# console.log. KVM is used when a quick probe shows it works, TCG otherwise
# (SYSMSG_ACCEL=kvm|tcg overrides; the choice is written to accel there).
# SYSMSG_VM_TIMEOUT (seconds, default 2400) bounds the whole run.
. "$(dirname "$0")/lib.sh"

kdir=$1 results=$2 script=$3
shift 3
script=$(readlink -f "$script")
kernel=$kdir/arch/x86/boot/bzImage
[ -f "$kernel" ] || die "no kernel image at $kernel"
mkdir -p "$results"
results=$(cd "$results" && pwd)

# Does KVM work here? Nested KVM on some hosts exposes /dev/kvm but hangs in
# the firmware: boot the kernel with no init for a few seconds and look for
# its banner. The answer is cached per host boot.
probe_kvm() {
	[ -w /dev/kvm ] || { echo tcg; return; }
	local cache=$SYSMSG_CACHE/kvm-probe.$(cat /proc/sys/kernel/random/boot_id)
	if [ ! -f "$cache" ]; then
		if timeout 20 qemu-system-x86_64 -accel kvm -cpu host -m 256 -nodefaults -display none \
			-serial stdio -no-reboot -kernel "$kernel" \
			-append "console=ttyS0 panic=-1 init=/sysmsg-kvm-probe" 2>/dev/null </dev/null |
			grep -q -m1 'Linux version'; then
			echo kvm >"$cache"
		else
			echo tcg >"$cache"
		fi
	fi
	cat "$cache"
}
accel=${SYSMSG_ACCEL:-$(probe_kvm)}
if [ "$accel" = kvm ]; then
	cpu=host
else
	cpu=max
fi
log "booting $(basename "$kdir") under $accel; console: $results/console.log"
echo "$accel" >"$results/accel"

# Arguments reach the guest script through a file: the kernel command line is
# short and has no quoting.
printf '%q ' "$@" >"$results/guest-args"
rm -f "$results/guest.rc"

# Parameters the kernel does not know (SYSMSG_*) end up in init's environment.
cmdline="console=ttyS0 root=/dev/root rootfstype=9p ro"
cmdline+=" rootflags=trans=virtio,version=9p2000.L,msize=262144,cache=loose"
cmdline+=" init=$SYSMSG_TOP/scripts/guest-init.sh panic=-1 acpi=noirq"
cmdline+=" SYSMSG_GUEST_SCRIPT=$script"
# kmemleak cannot see leaks of objects that came from a SLUB sheaf: the sheaf, itself a tracked
# kmalloc object, keeps a stale pointer to every object handed out of it. Debug flags on every
# cache (consistency checks, owner tracking) turn sheaves off.
if grep -q '^CONFIG_DEBUG_KMEMLEAK=y' "$kdir/.config"; then
	cmdline+=" slab_debug=FU"
fi

rc=0
timeout "${SYSMSG_VM_TIMEOUT:-2400}" qemu-system-x86_64 \
	-accel "$accel" -cpu "$cpu" -smp 2 -m 2G \
	-nodefaults -display none -no-reboot \
	-serial "file:$results/console.log" \
	-kernel "$kernel" -append "$cmdline" \
	-fsdev local,id=root,path=/,security_model=none,readonly=on,multidevs=remap \
	-device virtio-9p-pci,fsdev=root,mount_tag=/dev/root \
	-fsdev local,id=results,path="$results",security_model=none \
	-device virtio-9p-pci,fsdev=results,mount_tag=results \
	</dev/null || rc=$?
if [ $rc = 124 ]; then
	log "the VM did not finish within ${SYSMSG_VM_TIMEOUT:-2400} s"
elif [ $rc != 0 ]; then
	log "qemu exited with status $rc"
fi
if [ ! -f "$results/guest.rc" ]; then
	log "the guest script did not complete; last console lines:"
	tail -n 30 "$results/console.log" >&2 || true
	exit 1
fi
exit "$(cat "$results/guest.rc")"
