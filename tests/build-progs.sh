#!/bin/bash
# Build the project's guest test programs (tests/progs/*.c), the samples
# (samples/rvfio/*.c) and the selftests on upstream's libvfio
# (tests/selftests/*.c, linked with the libvfio that tests/build-selftests.sh
# built), the nested guest's igb driver (tests/nested/*.c) and rvfio-vpci
# (tools/rvfio-vpci, with its reference instance types) as static binaries
# against the test kernel's uAPI headers and our own (include/uapi), and
# gather them with the guest shell libraries (lib.sh, qemu_lib.sh) into
# build/rvfio-tests/, which tests/qemu/run-guest installs in the guest as
# /usr/lib/rvfio-tests/. Prints that directory.
#
# Environment:
#   KDIR   kernel build directory (default: output of scripts/build-kernel.sh)
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
out=$repo/build/rvfio-tests

die() { printf 'build-progs: error: %s\n' "$*" >&2; exit 1; }

kdir=${KDIR:-$(bash "$repo/scripts/build-kernel.sh")}
hdrs=$kdir/usr-headers/include
[ -d "$hdrs" ] || die "$hdrs missing: run 'make -C $kdir headers_install INSTALL_HDR_PATH=$kdir/usr-headers'"

mkdir -p "$out"
for src in "$repo"/tests/progs/*.c "$repo"/samples/rvfio/*.c; do
	bin=$out/$(basename "$src" .c)
	# Rebuilt every time: cheap, and no stale binary survives a header change.
	gcc -O2 -Wall -Wextra -Werror -static -I "$repo/include/uapi" \
		-isystem "$hdrs" -o "$bin" "$src" || die "compiling $src failed"
done

selftests=$(KDIR=$kdir bash "$repo/tests/build-selftests.sh") || die "building the VFIO selftests failed"
ksrc=$(readlink -f "$kdir/source")
vfio=$ksrc/tools/testing/selftests/vfio
mapfile -t libvfio < <(find "$selftests/libvfio" -name '*.o' | sort)
[ ${#libvfio[@]} -gt 0 ] || die "no libvfio objects in $selftests/libvfio"
for src in "$repo"/tests/selftests/*.c; do
	# The flags upstream's tools/testing/selftests/vfio/Makefile uses, and
	# its igb driver's register headers.
	gcc -D_GNU_SOURCE= -Wall -Werror -static -I "$repo/include/uapi" -isystem "$hdrs" \
		-I "$ksrc/tools/testing/selftests" -I "$vfio/lib/include" \
		-I "$ksrc/tools/include" -I "$vfio/lib/drivers/igb" \
		-o "$out/$(basename "$src" .c)" "$src" "${libvfio[@]}" -luuid -pthread ||
		die "compiling $src failed"
done
# The nested guest's igb driver, on the same register headers.
for src in "$repo"/tests/nested/*.c; do
	gcc -O2 -Wall -Wextra -Werror -static -isystem "$hdrs" -I "$ksrc/tools/include" \
		-I "$vfio/lib/drivers/igb" -o "$out/$(basename "$src" .c)" "$src" ||
		die "compiling $src failed"
done
# rvfio-vpci (tools/rvfio-vpci), static for the guest, and its reference instance types.
RUSTFLAGS="-C target-feature=+crt-static" cargo build -q --release --target x86_64-unknown-linux-gnu \
	--manifest-path "$repo/tools/rvfio-vpci/Cargo.toml" \
	--target-dir "${RVFIO_CACHE:-/var/cache/rvfio-pci}/vpci-target" || die "building rvfio-vpci failed"
cp "${RVFIO_CACHE:-/var/cache/rvfio-pci}/vpci-target/x86_64-unknown-linux-gnu/release/rvfio-vpci" "$out/"
rm -rf "$out/instance-types"
cp -r "$repo/tools/rvfio-vpci/instance-types" "$out/instance-types"
cp "$repo/tests/vm/lib.sh" "$repo/tests/vm/qemu_lib.sh" "$out/"
echo "$out"
