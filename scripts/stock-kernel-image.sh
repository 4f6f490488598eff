#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Debian's stock kernel as the test VM boots it: the vmlinuz of
# linux-binary-<kver>, the modules of linux-modules-<kver> and the lists of
# linux-base-<kver>, downloaded in
# the trixie root of scripts/stock-kernel-artifacts.sh (which makes the root if
# it is missing) and unpacked, not installed, into a cache directory keyed by
# the packages' version. depmod runs there once, so the harness can ask which
# modules a module needs (modprobe --show-depends).
#
# Prints the kernel's module directory, which holds vmlinuz:
#   $RVFIO_CACHE/stock/image/<kver>_<version>/lib/modules/<kver>
#
# Environment:
#   RVFIO_CACHE   cache directory (default /var/cache/rvfio-pci)
#   STOCK_KVER    the kernel's ABI name (default 7.3.4+deb13-amd64)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${RVFIO_CACHE:-/var/cache/rvfio-pci}
kver=${STOCK_KVER:-7.3.4+deb13-amd64}
root=$cache/stock/trixie
# linux-base has modules.builtin, which modprobe reads.
pkgs=("linux-binary-$kver" "linux-modules-$kver" "linux-base-$kver")

log() { printf 'stock-kernel-image: %s\n' "$*" >&2; }
die() { printf 'stock-kernel-image: error: %s\n' "$*" >&2; exit 1; }

in_root() {
	chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"
}

main() {
	[ "$(id -u)" -eq 0 ] || die "must run as root (chroot)"
	if [ ! -f "$root/.rvfio-packages" ]; then
		bash "$here/stock-kernel-artifacts.sh" tree >/dev/null ||
			die "making the trixie root failed"
	fi
	local version out tmp dl start=$SECONDS
	version=$(in_root apt-cache policy "linux-binary-$kver" | awk '/Candidate:/ { print $2 }')
	[ -n "$version" ] && [ "$version" != "(none)" ] ||
		die "linux-binary-$kver is not in the root's package lists (trixie-backports)"
	out=$cache/stock/image/${kver}_$version
	if [ -f "$out/.rvfio-done" ]; then
		echo "$out/lib/modules/$kver"
		return
	fi

	mkdir -p "$cache/stock/image"
	tmp=$(mktemp -d "$cache/stock/image/.unpack.XXXXXX")
	dl=$(mktemp -d "$root/tmp/download.XXXXXX")
	# shellcheck disable=SC2064 # expand now: the paths are local
	trap "rm -rf '$tmp' '$dl'" EXIT
	log "downloading ${pkgs[*]} $version"
	# The download directory is root's: apt need not drop to its sandbox user.
	in_root sh -c "cd /tmp/$(basename "$dl") &&
		apt-get download -q -o APT::Sandbox::User=root ${pkgs[*]/%/=$version}" >&2 ||
		die "downloading ${pkgs[*]} $version failed"
	local deb
	for deb in "$dl"/*.deb; do
		dpkg-deb -x "$deb" "$tmp" || die "unpacking $deb failed"
	done
	# Trixie's packages are merged-/usr: the kernel is in usr/lib/modules.
	mkdir -p "$tmp/lib/modules"
	mv "$tmp/usr/lib/modules/$kver" "$tmp/lib/modules/$kver"
	rm -rf "$tmp/usr"
	[ -f "$tmp/lib/modules/$kver/vmlinuz" ] || die "no vmlinuz in linux-binary-$kver"
	depmod -b "$tmp" "$kver" || die "depmod failed"
	echo "$version" >"$tmp/.rvfio-done"
	rm -rf "$out"
	mv "$tmp" "$out"
	log "unpacked in $((SECONDS - start)) s: $(du -sh "$out" | cut -f1)"
	echo "$out/lib/modules/$kver"
}

main "$@"
