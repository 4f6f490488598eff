#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# rvfio-pci built the DKMS way against Debian's stock kernel (a GCC-built
# kernel with CONFIG_RUST=y whose headers package ships no Rust artifacts), as
# `make dkms-install` builds it on a user's trixie host.
#
# In a minimal trixie root made with debootstrap (as scripts/qemu11.sh does,
# from the machine's own mirror, scripts/debian-mirror.sh), cached beside the
# QEMU 11 root under $RVFIO_CACHE/stock/, this script installs the kernel's
# toolchain from trixie main (rustc, rust-src, bindgen, libclang, gcc-14, ...),
# dkms, and the kernel's headers and source packages from trixie-backports;
# then, in the root, it runs the same scripts a host runs
# (scripts/kernel-rust-artifacts.sh, scripts/dkms.sh), which refuse a rustc
# other than the kernel's and a missing or other source package, regenerate
# the Rust artifacts into /var/lib/dkms/rvfio-pci/rust-artifacts (never under
# /usr/src) keyed by what they depend on, and build the module through dkms.
# The root is keyed by the package list: a longer list installs the new
# packages into the same root.
#
# Usage: stock-kernel-artifacts.sh [tree]       print the build tree (in the root)
#        stock-kernel-artifacts.sh module [OUT]  dkms add and build rvfio-pci from
#                                               this clone in the root (not
#                                               installed); copy rvfio_pci.ko,
#                                               uncompressed, to OUT; print its path
#        stock-kernel-artifacts.sh exec CMD...   run CMD in the root, with this
#                                               clone's DKMS sources in /rvfio/src
#                                               and KVER set (tests/stock-dkms.sh)
#
# Environment:
#   RVFIO_CACHE   cache directory (default /var/cache/rvfio-pci)
#   STOCK_KVER    the kernel's ABI name (default 7.3.4+deb13-amd64)
#   STOCK_JOBS    make -j for the regeneration (default 2)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${RVFIO_CACHE:-/var/cache/rvfio-pci}
kver=${STOCK_KVER:-7.3.4+deb13-amd64}
jobs=${STOCK_JOBS:-2}
series=${kver%%.*}.$(echo "$kver" | cut -d. -f2)

# What the kernel's Rust is built with (trixie main), what regenerating it
# needs, and dkms; the headers and the source come from trixie-backports.
main_pkgs=(rustc rust-src bindgen libclang-19-dev gcc-14 openssl make bc flex
	bison libelf-dev libssl-dev xz-utils python3 dkms)
bpo_pkgs=("linux-headers-$kver" "linux-source-$series")  # of the same version

log() { printf 'stock-kernel: %s\n' "$*" >&2; }
die() { printf 'stock-kernel: error: %s\n' "$*" >&2; exit 1; }

key() { sha256sum | cut -c1-12; }

root=$cache/stock/trixie
# The root's packages are keyed by their list: a longer list installs the
# new ones into the same root.
pkgs_key=$(printf '%s\n' "${main_pkgs[@]}" "${bpo_pkgs[@]}" | key)

# The root's /proc is mounted while the script runs (rustc finds its sysroot
# through /proc/self/exe); command substitutions run in subshells, so the
# unmount looks at the mount point rather than at a record of the mount.
cleanup() {
	if [ -d "$root/proc" ] && mountpoint -q "$root/proc"; then
		umount "$root/proc"
	fi
}
trap cleanup EXIT

in_root() {
	mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
	chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root \
		LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}

make_root() {
	[ "$(cat "$root/.rvfio-packages" 2>/dev/null)" = "$pkgs_key" ] && return
	local uri start
	uri=$(bash "$here/debian-mirror.sh") || die "no Debian mirror in the apt sources"
	[ -f "$root/.rvfio-root" ] || debootstrap_root "$uri"
	start=$SECONDS
	in_root apt-get update -q >&2 || die "apt-get update in the root failed"
	in_root nice -n 19 ionice -c3 apt-get install -y -q --no-install-recommends \
		"${main_pkgs[@]}" >&2 || die "installing the toolchain from trixie failed"
	in_root nice -n 19 ionice -c3 apt-get install -y -q --no-install-recommends \
		-t trixie-backports "linux-headers-$kver" >&2 ||
		die "installing linux-headers-$kver from trixie-backports failed"
	# The source must be the headers' own version, not the newest one.
	local hver
	hver=$(pkg_version "linux-headers-$kver")
	in_root nice -n 19 ionice -c3 apt-get install -y -q --no-install-recommends \
		"linux-source-$series=$hver" >&2 ||
		die "linux-source-$series $hver (the version of linux-headers-$kver) cannot be installed: without it the Rust artifacts cannot be regenerated"
	in_root apt-get clean >&2
	echo "$pkgs_key" >"$root/.rvfio-packages"
	log "packages: $((SECONDS - start)) s; root $(du -shx "$root" | cut -f1)"
}

debootstrap_root() {
	local uri=$1 tmp start=$SECONDS
	command -v debootstrap >/dev/null || die "debootstrap is missing (scripts/setup.sh installs it)"
	mkdir -p "$cache/stock"
	tmp=$(mktemp -d "$cache/stock/.root.XXXXXX")
	log "debootstrap trixie into $tmp"
	nice -n 19 ionice -c3 debootstrap --variant=minbase trixie "$tmp" "$uri" >&2 ||
		die "debootstrap failed"
	cat >"$tmp/etc/apt/sources.list.d/rvfio.sources" <<-EOF
	Types: deb
	URIs: $uri
	Suites: trixie trixie-backports
	Components: main
	Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
	EOF
	touch "$tmp/.rvfio-root"
	log "debootstrap: $((SECONDS - start)) s, $(du -shx "$tmp" | cut -f1)"
	cleanup
	rm -rf "$root"
	mv "$tmp" "$root"
}

# shellcheck disable=SC2016 # dpkg-query's format, not the shell's
pkg_version() { in_root dpkg-query -W -f='${Version}' "$1" 2>/dev/null || true; }

# The kernel's Rust artifacts, regenerated in the root by the same script the
# DKMS build runs on a user's host, into the directory DKMS's build uses
# there, so tree and module share one regeneration.
artifacts=/var/lib/dkms/rvfio-pci/rust-artifacts
make_tree() {
	mkdir -p "$root/rvfio/bin"
	cp "$here/kernel-rust-artifacts.sh" "$root/rvfio/bin/"
	in_root env RVFIO_JOBS="$jobs" nice -n 19 ionice -c3 \
		bash /rvfio/bin/kernel-rust-artifacts.sh "$kver" "$artifacts"
}

# Builds rvfio_pci.ko as `make dkms-install` does on a host (scripts/dkms.sh
# install), without installing it into the root's /lib/modules; copies it,
# uncompressed, to OUT if given; prints its path.
make_module() {
	local out=${1:-} ver ko start=$SECONDS
	ver=$(bash "$here/dkms.sh" version)
	bash "$here/dkms.sh" copy "$root/rvfio/src"
	in_root env KVER="$kver" RVFIO_VERSION="$ver" RVFIO_JOBS="$jobs" nice -n 19 ionice -c3 \
		bash /rvfio/src/scripts/dkms.sh install --no-install >&2 ||
		die "the DKMS build of rvfio-pci $ver against $kver failed"
	ko=$(echo "$root/var/lib/dkms/rvfio-pci/$ver/$kver"/*/module/rvfio_pci.ko*)
	[ -f "$ko" ] || die "DKMS built rvfio-pci $ver but left no rvfio_pci.ko ($ko)"
	log "module built the DKMS way in $((SECONDS - start)) s"
	if [ -n "$out" ]; then
		mkdir -p "$(dirname "$out")"
		case $ko in
		*.xz) xz -dc "$ko" >"$out" ;;
		*.zst) zstd -dcq "$ko" >"$out" ;;
		*.gz) gzip -dc "$ko" >"$out" ;;
		*) cp "$ko" "$out" ;;
		esac
		ko=$out
	fi
	echo "$ko"
}

main() {
	case ${1:-tree} in
	tree | module) ;;
	exec) [ $# -ge 2 ] || die "usage: $0 exec COMMAND..." ;;
	*) die "unknown mode '$1' (tree, module [OUT] or exec COMMAND...)" ;;
	esac
	[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap, chroot)"
	make_root
	case ${1:-tree} in
	tree) echo "$root$(make_tree)" ;;
	module) make_module "${2:-}" ;;
	exec)
		bash "$here/dkms.sh" copy "$root/rvfio/src"
		in_root env KVER="$kver" "${@:2}"
		;;
	esac
}

main "$@"
