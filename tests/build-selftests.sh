#!/bin/bash
# Build the upstream VFIO selftests (tools/testing/selftests/vfio of the test
# kernel's source) as static binaries, so they run in the busybox guest with
# no libc. The output lives in a cache outside the clone, keyed by kernel
# release, so a fresh clone reuses it. Prints the output directory on stdout;
# logs go to stderr.
#
# They are built unchanged, the kselftest harness's fixed per-case timeouts
# included; the long DMA cases therefore run on the "fast" test kernel (see
# Documentation/testing.rst).
#
# Environment:
#   KDIR                    kernel build directory (default: scripts/build-kernel.sh)
#   RVFIO_CACHE             cache root (default /var/cache/rvfio-pci)
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${RVFIO_CACHE:-/var/cache/rvfio-pci}

log() { printf 'build-selftests: %s\n' "$*" >&2; }
die() { printf 'build-selftests: error: %s\n' "$*" >&2; exit 1; }

find_kdir() {
	if [ -n "${KDIR:-}" ]; then
		echo "$KDIR"
	else
		bash "$repo/scripts/build-kernel.sh" || die "scripts/build-kernel.sh failed"
	fi
}

main() {
	local kdir release hdrs out tmp stamp old
	kdir=$(find_kdir)
	release=$(cat "$kdir/include/config/kernel.release" 2>/dev/null) ||
		die "$kdir/include/config/kernel.release missing: is the kernel built?"
	src=$(readlink -f "$kdir/source")/tools/testing/selftests/vfio
	hdrs=$kdir/usr-headers/include
	[ -f "$src/Makefile" ] || die "$src/Makefile missing"
	[ -d "$hdrs/linux" ] || die "$hdrs missing: the kernel build must run headers_install"
	[ -f /usr/lib/x86_64-linux-gnu/libuuid.a ] || die "static libuuid missing: install uuid-dev"

	out=$cache/selftests/$release
	# The tests are built exactly as upstream ships them, timeouts included.
	stamp=upstream
	if [ "$(cat "$out/.rvfio-built" 2>/dev/null)" = "$stamp" ]; then
		echo "$out"
		return
	fi

	# Build into a scratch directory and rename it into place, so an
	# interrupted build never looks finished.
	mkdir -p "$cache/selftests"
	tmp=$(mktemp -d "$cache/selftests/.build.XXXXXX")
	chmod 755 "$tmp"
	log "building VFIO selftests for $release ($stamp) into $out"
	if ! make -s -C "$src" KHDR_INCLUDES="-isystem $hdrs" \
		LDFLAGS=-static OUTPUT="$tmp" >&2; then
		rm -rf "$tmp"
		die "make in $src failed"
	fi
	echo "$stamp" >"$tmp/.rvfio-built"
	# Swap directories so that a reader never sees a half-built one.
	old=$cache/selftests/.old.$$
	[ ! -e "$out" ] || mv "$out" "$old"
	mv "$tmp" "$out"
	rm -rf "$old"
	echo "$out"
}

main "$@"
