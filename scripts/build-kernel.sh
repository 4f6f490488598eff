#!/bin/bash
# Build an rvfio-pci test kernel from Debian's linux-source-7.3 into a cache
# outside the clone, keyed by the kernel package version, the flavour and the
# hash of its config fragments. Prints the build directory (KDIR) on stdout.
#
#   build-kernel.sh [debug|fast]
#
# Flavours (both: tinyconfig + kconfig/rvfio.config, with DEBUG_ATOMIC_SLEEP
# and DEBUG_LIST):
#   debug  (default) + kconfig/debug.config: lockdep and generic KASAN
#   fast   + kconfig/fast.config: neither, for the long DMA tests whose fixed
#          timeouts lockdep under TCG would come close to
#
# Environment:
#   RVFIO_CACHE     cache root (default /var/cache/rvfio-pci)
#   RVFIO_KBUILD    use this kernel build directory as it is (no build)
#   JOBS            make -j (default: cores + 1)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
flavour=${1:-debug}
case $flavour in
debug | fast) ;;
*) echo "usage: build-kernel.sh [debug|fast]" >&2; exit 2 ;;
esac
fragments=("$here/kconfig/rvfio.config" "$here/kconfig/$flavour.config")
cache=${RVFIO_CACHE:-/var/cache/rvfio-pci}
jobs=${JOBS:-$(($(nproc) + 1))}
tarball=/usr/src/linux-source-7.3.tar.xz

log() { printf 'build-kernel: %s\n' "$*" >&2; }
die() { printf 'build-kernel: error: %s\n' "$*" >&2; exit 1; }

if [ -n "${RVFIO_KBUILD:-}" ]; then
	[ -f "$RVFIO_KBUILD/Module.symvers" ] || die "RVFIO_KBUILD=$RVFIO_KBUILD has no Module.symvers"
	echo "$RVFIO_KBUILD"
	exit 0
fi

[ -f "$tarball" ] || die "$tarball missing: run scripts/setup.sh (package linux-source-7.3)"
kver=$(dpkg-query -W -f='${Version}' linux-source-7.3)
fhash=$(cat "${fragments[@]}" | sha256sum | cut -c1-12)
src=$cache/src/$kver/linux-source-7.3
out=$cache/build/$kver-$flavour-$fhash

if [ ! -f "$src/Makefile" ]; then
	log "extracting linux-source-7.3 $kver"
	mkdir -p "$cache/src/$kver"
	tar -C "$cache/src/$kver" -xf "$tarball"
fi

rustver=$(rustc --version | awk '{print $2}')
export RUST_LIB_SRC=/usr/src/rustc-$rustver/library
mk() { make -s -C "$src" O="$out" LLVM=-19 "$@"; }

if [ ! -f "$out/.rvfio-built" ]; then
	mkdir -p "$out"
	mk rustavailable >&2 || die "Rust is not available to the kernel build (see scripts/setup.sh)"
	log "configuring $flavour kernel in $out"
	mk tinyconfig >&2
	(cd "$out" && "$src/scripts/kconfig/merge_config.sh" -m -O "$out" .config "${fragments[@]}" >/dev/null)
	mk olddefconfig >&2
	# Every option of the fragment must have survived olddefconfig.
	missing=$(
		cat "${fragments[@]}" | grep -E '^CONFIG_[A-Z0-9_]+=' | while IFS= read -r line; do
			grep -qx -- "$line" "$out/.config" || echo "$line"
		done
		cat "${fragments[@]}" | sed -n 's/^# \(CONFIG_[A-Z0-9_]*\) is not set$/\1/p' | while IFS= read -r opt; do
			if grep -q "^$opt=" "$out/.config"; then echo "$opt unset"; fi
		done
	)
	[ -z "$missing" ] || die "config options not taken: $missing"
	log "building bzImage and modules with -j$jobs (about 10 minutes from clean)"
	start=$(date +%s)
	mk -j"$jobs" bzImage modules >&2
	mk -j"$jobs" headers_install INSTALL_HDR_PATH="$out/usr-headers" >&2
	log "kernel built in $(($(date +%s) - start)) s"
	touch "$out/.rvfio-built"
fi
echo "$out"
