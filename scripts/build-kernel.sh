#!/usr/bin/env bash
# Builds (or reuses) the guest kernel of one flavour: tinyconfig + the
# fragments configs/base.config + configs/<flavour>.config.
#
#   scripts/build-kernel.sh debug|perf
#
# The build directory is cached under $SYSMSG_CACHE/kernel/<version>-<flavour>-<hash>,
# keyed by the kernel version and a hash of the fragments, and reused when its
# bzImage exists. Prints the build directory on stdout.
. "$(dirname "$0")/lib.sh"

flavour=${1:-debug}
frag=$SYSMSG_TOP/configs/$flavour.config
[ -f "$frag" ] || die "unknown kernel flavour '$flavour' (configs/$flavour.config missing)"

src=$("$SYSMSG_TOP/scripts/fetch-kernel.sh")
version=$(make -s -C "$src" kernelversion)
hash=$(cat "$SYSMSG_TOP/configs/base.config" "$frag" | sha256sum | cut -c1-12)
out=$SYSMSG_CACHE/kernel/$version-$flavour-$hash
if [ -f "$out/.built" ]; then
	echo "$out"
	exit 0
fi

mkdir -p "$out"
KMAKE=(make -C "$src" O="$out" LLVM="$LLVM_SUFFIX" -j"$JOBS")
log "configuring Linux $version ($flavour) in $out"
"${KMAKE[@]}" -s tinyconfig >/dev/null
"$src/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" \
	"$SYSMSG_TOP/configs/base.config" "$frag" >"$out/merge.log"
"${KMAKE[@]}" -s olddefconfig >/dev/null

# olddefconfig drops what it cannot satisfy without a word: refuse that.
bad=0
while IFS= read -r line; do
	case "$line" in
	CONFIG_*=*)
		grep -qx "$line" "$out/.config" || { log "config: wanted '$line', got '$(grep "^${line%%=*}=" "$out/.config" || echo unset)'"; bad=1; }
		;;
	"# CONFIG_"*" is not set")
		opt=${line#\# }
		opt=${opt%% *}
		if grep -q "^$opt=" "$out/.config"; then log "config: wanted $opt off, got $(grep "^$opt=" "$out/.config")"; bad=1; fi
		;;
	esac
done < <(cat "$SYSMSG_TOP/configs/base.config" "$frag")
[ $bad = 0 ] || die "the kernel configuration lost options (see above)"

"${KMAKE[@]}" rustavailable >/dev/null || die "Rust is not available for this kernel build (make rustavailable)"
log "building Linux $version ($flavour) with $JOBS jobs; this takes about 10 minutes once"
start=$(date +%s)
"${KMAKE[@]}" >"$out/build.log" 2>&1 || { tail -n 40 "$out/build.log" >&2; die "kernel build failed: $out/build.log"; }
echo $(($(date +%s) - start)) > "$out/.build-seconds"
log "built in $(cat "$out/.build-seconds") s"
touch "$out/.built"
echo "$out"
