#!/bin/bash
# Build the upstream VFIO selftests (tools/testing/selftests/vfio of the test
# kernel's source) as static binaries, so they run in the busybox guest with
# no libc. The output lives in a cache outside the clone, keyed by kernel
# release, so a fresh clone reuses it. Prints the output directory on stdout;
# logs go to stderr.
#
# The kselftest harness kills a case after 30 s (TEST_TIMEOUT_DEFAULT, fixed
# at compile time). On the debug kernel under TCG a vfio_pci_driver_test case
# takes about 20 s (pinning and mapping its 1 GiB buffer), so a loaded host
# pushes cases over 30 s, and a killed case leaves the device busy for the
# next ones. The build therefore sees a copy of kselftest_harness.h with a
# longer default, put ahead of the original with -iquote; the sources are not
# touched, and cases with their own timeout (memcpy_storm: 60 s) keep it.
#
# Environment:
#   KDIR                    kernel build directory (default: scripts/build-kernel.sh)
#   RVFIO_CACHE             cache root (default /var/cache/rvfio-pci)
#   RVFIO_SELFTEST_TIMEOUT  harness default per-case timeout in s (default 120)
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

# harness_shim DIR SECONDS: a kselftest_harness.h with the new default timeout.
harness_shim() {
	local orig=$src/../kselftest_harness.h
	mkdir -p "$1"
	sed "s/^#define TEST_TIMEOUT_DEFAULT [0-9]*$/#define TEST_TIMEOUT_DEFAULT $2/" \
		"$orig" >"$1/kselftest_harness.h"
	grep -qx "#define TEST_TIMEOUT_DEFAULT $2" "$1/kselftest_harness.h" ||
		die "no TEST_TIMEOUT_DEFAULT line in $orig to change"
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

	timeout=${RVFIO_SELFTEST_TIMEOUT:-120}
	[[ $timeout =~ ^[1-9][0-9]*$ ]] || die "RVFIO_SELFTEST_TIMEOUT=$timeout is not a number of seconds"
	out=$cache/selftests/$release
	stamp="harness-timeout=$timeout"
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
	harness_shim "$tmp/.harness" "$timeout"
	if ! make -s -C "$src" KHDR_INCLUDES="-isystem $hdrs -iquote $tmp/.harness" \
		LDFLAGS=-static OUTPUT="$tmp" >&2; then
		rm -rf "$tmp"
		die "make in $src failed"
	fi
	grep -q "$tmp/.harness/kselftest_harness.h" "$tmp/vfio_pci_driver_test.d" ||
		die "the build did not pick up $tmp/.harness/kselftest_harness.h"
	echo "$stamp" >"$tmp/.rvfio-built"
	# Swap directories so that a reader never sees a half-built one.
	old=$cache/selftests/.old.$$
	[ ! -e "$out" ] || mv "$out" "$old"
	mv "$tmp" "$out"
	rm -rf "$old"
	echo "$out"
}

main "$@"
