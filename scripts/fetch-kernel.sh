#!/usr/bin/env bash
# Fetches and unpacks Debian's linux-source package (7.2.x from sid, falling
# back to 7.3.x from trixie-backports) into the cache, without touching the
# system's apt configuration: a private sources list and lists directory.
# Prints the path of the unpacked source tree on stdout.
. "$(dirname "$0")/lib.sh"

aptdir=$SYSMSG_CACHE/apt
mkdir -p "$aptdir/lists/partial" "$aptdir/archives/partial" "$SYSMSG_CACHE/src"

# A source tree already unpacked wins (the newest 7.2, then 7.3).
existing() {
	local series
	for series in 7.2 7.3; do
		ls -d "$SYSMSG_CACHE"/src/linux-source-"$series"/.unpacked 2>/dev/null | sed 's,/.unpacked$,,' && return 0
	done
	return 1
}
if dir=$(existing); then
	echo "$dir"
	exit 0
fi

cat > "$aptdir/sources.list" <<LIST
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian sid main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie-backports main
LIST
APT_OPTS=(
	-o Dir::Etc::SourceList="$aptdir/sources.list"
	-o Dir::Etc::SourceParts=/dev/null
	-o Dir::State::Lists="$aptdir/lists"
	-o Dir::Cache::Archives="$aptdir/archives"
	-o Dir::Cache="$aptdir"
	-o Dir::State::status=/var/lib/dpkg/status
	-o APT::Get::List-Cleanup=0
	-o APT::Sandbox::User=root
)
log "updating the private package lists (sid, trixie-backports)"
apt-get "${APT_OPTS[@]}" update -q >"$aptdir/update.log" 2>&1 ||
	die "apt-get update with the private sources list failed: see $aptdir/update.log"

pick=""
for series in 7.2 7.3; do
	ver=$(apt-cache "${APT_OPTS[@]}" madison "linux-source-$series" 2>/dev/null |
		awk '{print $3}' | sort -V | tail -n 1)
	if [ -n "$ver" ]; then
		pick="linux-source-$series=$ver"
		break
	fi
done
[ -n "$pick" ] || die "neither linux-source-7.2 nor linux-source-7.3 is listed in sid or trixie-backports"

series=${pick%%=*}
series=${series#linux-source-}
log "downloading $pick"
(cd "$aptdir/archives" && apt-get "${APT_OPTS[@]}" download -q "$pick" >/dev/null) ||
	die "apt-get download $pick failed"
deb=$(ls -t "$aptdir"/archives/linux-source-"$series"_*.deb | head -n 1)

dest=$SYSMSG_CACHE/src/linux-source-$series
rm -rf "$dest" "$dest.tmp"
mkdir -p "$dest.tmp"
log "unpacking $(basename "$deb")"
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$dest.tmp" "./usr/src/linux-source-$series.tar.xz"
tar -xJf "$dest.tmp/usr/src/linux-source-$series.tar.xz" -C "$dest.tmp"
mv "$dest.tmp/linux-source-$series" "$dest"
rm -rf "$dest.tmp"
echo "${pick#*=}" > "$dest/.debian-version"
touch "$dest/.unpacked"
echo "$dest"
