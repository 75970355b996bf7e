#!/usr/bin/env bash
# Builds the userspace test programs that run in the VM: every C test in
# userspace-tests/c/ and the Rust integration tests of the cargo workspace.
# Prints the path of each program to run, one per line.
. "$(dirname "$0")/lib.sh"

out=$SYSMSG_TOP/build/tests
csrc=$SYSMSG_TOP/userspace-tests/c
mkdir -p "$out"
CFLAGS=(-std=gnu11 -O2 -g -Wall -Wextra -Werror -pthread
	-I"$SYSMSG_TOP/include/uapi" -I"$csrc")

# The C library (libsysmsg.c) is linked into every C program.
gcc "${CFLAGS[@]}" -c -o "$out/libsysmsg.o" "$csrc/libsysmsg.c" >&2
for src in "$csrc"/test_*.c; do
	name=$(basename "$src" .c)
	gcc "${CFLAGS[@]}" -o "$out/c-$name" "$src" "$out/libsysmsg.o" >&2
	echo "$out/c-$name"
done
# The README's example is built so that it keeps compiling, but it is not a
# test: its path is not printed.
gcc "${CFLAGS[@]}" -o "$out/example" "$csrc/example.c" "$out/libsysmsg.o" >&2

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
