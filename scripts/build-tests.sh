#!/usr/bin/env bash
# Builds the userspace test programs that run in the VM: every C test in
# userspace-tests/c/ and the Rust integration tests of the cargo workspace.
# Prints the path of each program to run, one per line.
. "$(dirname "$0")/lib.sh"

out=$SYSMSG_TOP/build/tests
mkdir -p "$out"
for src in "$SYSMSG_TOP"/userspace-tests/c/test_*.c; do
	name=$(basename "$src" .c)
	gcc -std=gnu11 -O2 -g -Wall -Wextra -Werror -pthread \
		-I"$SYSMSG_TOP/include/uapi" -I"$SYSMSG_TOP/userspace-tests/c" \
		-o "$out/c-$name" "$src" >&2
	echo "$out/c-$name"
done

# The Rust integration tests: cargo reports each test executable it built.
json=$out/cargo-tests.json
(cd "$SYSMSG_TOP/userspace-tests" &&
	cargo test --locked --workspace --tests --no-run --message-format=json >"$json" 2>"$out/cargo-tests.log") ||
	{ cat "$out/cargo-tests.log" >&2; die "the Rust tests did not build"; }
grep '"reason":"compiler-artifact"' "$json" | grep '"test":true' | grep -v '"kind":\["lib"\]' |
	sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' |
	while read -r exe; do
		name=$(basename "$exe" | sed 's/-[0-9a-f]*$//')
		ln -sf "$exe" "$out/rust-$name"
		echo "$out/rust-$name"
	done
