#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# A build tree for rvfio-pci against Debian's stock kernel (a GCC-built kernel
# with CONFIG_RUST=y whose headers package ships no Rust artifacts).
#
# In a minimal trixie root made with debootstrap (as scripts/qemu11.sh does,
# from the machine's own mirror, scripts/debian-mirror.sh), cached beside the
# QEMU 11 root under $RVFIO_CACHE/stock/, this script:
#   1. installs the kernel's toolchain from trixie main (rustc, rust-src,
#      bindgen, libclang, gcc-14, ...) and the kernel's headers and source
#      packages from trixie-backports;
#   2. refuses unless the installed rustc is the one the kernel was built with
#      (CONFIG_RUSTC_VERSION_TEXT of the headers' .config) and the source
#      package has the headers' version: with any other rustc or source the
#      crate hashes differ and modpost cannot resolve the Rust symbols;
#   3. regenerates the Rust artifacts (make olddefconfig prepare with the
#      headers' .config, into an O= directory of its own, never under /usr/src);
#   4. assembles a build tree: a copy of the headers tree with the kbuild
#      scripts copied in and the Rust artifacts added.
# The root is keyed by the package list, the tree by the versions of every
# package it depends on and the .config, so a new kernel or compiler makes a
# new tree and a finished one is reused (idempotent).
#
# Usage: stock-kernel-artifacts.sh [tree]   print the build tree (inside the root)
#        stock-kernel-artifacts.sh module   also build rvfio_pci.ko from this
#                                           clone in the root; print its path
#
# Environment:
#   RVFIO_CACHE   cache directory (default /var/cache/rvfio-pci)
#   STOCK_KVER    the kernel's ABI name (default 7.3.4+deb13-amd64)
#   STOCK_JOBS    make -j for the regeneration (default 2)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
cache=${RVFIO_CACHE:-/var/cache/rvfio-pci}
kver=${STOCK_KVER:-7.3.4+deb13-amd64}
jobs=${STOCK_JOBS:-2}
series=${kver%%.*}.$(echo "$kver" | cut -d. -f2)

# What the kernel's Rust is built with (trixie main), and what regenerating it
# needs; the headers and the source come from trixie-backports.
main_pkgs=(rustc rust-src bindgen libclang-19-dev gcc-14 openssl make bc flex
	bison libelf-dev libssl-dev xz-utils python3)
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

pkg_version() { in_root dpkg-query -W -f='${Version}' "$1" 2>/dev/null || true; }

# The value of a string option of the headers' .config.
config_string() {
	sed -n "s/^$1=\"\(.*\)\"$/\1/p" "$root/usr/src/linux-headers-$kver/.config"
}

check_toolchain() {
	local hver sver want have
	hver=$(pkg_version "linux-headers-$kver")
	[ -n "$hver" ] || die "linux-headers-$kver is not installed in $root"
	sver=$(pkg_version "linux-source-$series")
	[ -n "$sver" ] ||
		die "linux-source-$series is not installed in $root: the Rust artifacts are regenerated from the source of the headers' version, $hver"
	[ "$sver" = "$hver" ] ||
		die "linux-source-$series is $sver, not $hver (the headers' version): the Rust artifacts must come from the same source"
	[ -f "$root/usr/src/linux-source-$series.tar.xz" ] ||
		die "linux-source-$series is installed but /usr/src/linux-source-$series.tar.xz is missing"
	want=$(config_string CONFIG_RUSTC_VERSION_TEXT)
	[ -n "$want" ] || die "the kernel $kver was not built with Rust (no CONFIG_RUSTC_VERSION_TEXT)"
	have=$(in_root rustc --version) || die "rustc does not run in $root"
	[ "$have" = "$want" ] ||
		die "rustc is '$have' but $kver was built with '$want': the crate hashes would differ; install that rustc in $root"
}

# The artifacts' key: everything the regenerated files depend on.
tree_key() {
	{
		cat "$root/usr/src/linux-headers-$kver/.config"
		for p in "linux-headers-$kver" "linux-source-$series" rustc rust-src bindgen gcc-14 libclang-19-dev; do
			echo "$p $(pkg_version "$p")"
		done
	} | key
}

# Regenerates the kernel's Rust artifacts in /rvfio/$dir/obj of the root and
# assembles /rvfio/$dir/tree; prints the tree's path inside the root.
make_tree() {
	local dir=/rvfio/$kver-$(tree_key)
	local top=$root$dir
	if [ -f "$top/.done" ]; then
		echo "$dir/tree"
		return
	fi
	local start=$SECONDS hdr=/usr/src/linux-headers-$kver
	rm -rf "$top"
	mkdir -p "$top/obj"
	log "extracting linux-source-$series"
	in_root nice -n 19 ionice -c3 tar -C "$dir" -xJf "/usr/src/linux-source-$series.tar.xz"
	mv "$top/linux-source-$series" "$top/src"
	log "extracted in $((SECONDS - start)) s, $(du -shx "$top/src" | cut -f1)"
	cp "$root$hdr/.config" "$top/obj/.config"
	start=$SECONDS
	local kmake=(nice -n 19 ionice -c3 make -s -C "$dir/src" O="$dir/obj" -j"$jobs"
		CC=x86_64-linux-gnu-gcc-14 HOSTCC=gcc-14)
	in_root "${kmake[@]}" olddefconfig >&2 || die "make olddefconfig failed"
	# olddefconfig only drops or adds options when the toolchain differs from
	# the kernel's; then the artifacts would not match the kernel either.
	diff -q <(grep -v '^#' "$root$hdr/.config") <(grep -v '^#' "$top/obj/.config") >/dev/null ||
		die "the regenerated .config differs from $kver's (diff $root$hdr/.config $top/obj/.config)"
	log "make prepare (-j$jobs; several minutes)"
	in_root "${kmake[@]}" prepare >&2 || die "regenerating the Rust artifacts failed"
	log "prepare: $((SECONDS - start)) s, obj $(du -shx "$top/obj" | cut -f1)"

	# The build tree: the headers tree with its kbuild symlinks made copies
	# and the artifacts added; the Makefile's KBUILD_OUTPUT points at the copy.
	local tree=$top/tree src
	cp -a "$root$hdr" "$tree"
	for src in scripts tools; do
		if [ -L "$tree/$src" ]; then
			local target
			target=$(readlink "$tree/$src")
			rm "$tree/$src"
			case $target in
			/*) cp -a "$root$target" "$tree/$src" ;;
			*) cp -a "$root$hdr/$target" "$tree/$src" ;;
			esac
		fi
	done
	sed -i "s|$hdr\b|$dir/tree|g" "$tree/Makefile"
	mkdir -p "$tree/rust" "$tree/include/generated"
	cp "$top/obj/scripts/target.json" "$tree/scripts/"
	cp "$top/obj"/rust/*.rmeta "$top/obj"/rust/*.so "$tree/rust/"
	cp "$top/obj/include/generated/rustc_cfg" "$tree/include/generated/"
	rm -rf "$top/src"
	touch "$top/.done"
	log "tree $dir/tree; regeneration kept $(du -shx "$top" | cut -f1) (obj $(du -shx "$top/obj" | cut -f1), tree $(du -shx "$tree" | cut -f1))"
	echo "$dir/tree"
}

# Builds rvfio_pci.ko from a copy of this clone's module sources in the root.
make_module() {
	local tree=$1 m=/rvfio/module
	rm -rf "${root:?}$m"
	mkdir -p "$root$m"
	cp -a "$repo/Kbuild" "$repo/drivers" "$repo/include" "$root$m/"
	rm -rf "$root$m/drivers/vfio/pci/rvfio/vfio/bindings_generated.rs"
	local start=$SECONDS
	in_root nice -n 19 ionice -c3 make -C "$tree" M="$m" -j"$jobs" modules >&2 ||
		die "building rvfio_pci.ko against $tree failed"
	log "module built in $((SECONDS - start)) s"
	echo "$root$m/drivers/vfio/pci/rvfio/rvfio_pci.ko"
}

main() {
	[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap, chroot)"
	make_root
	check_toolchain
	local tree
	tree=$(make_tree)
	case ${1:-tree} in
	tree) echo "$root$tree" ;;
	module) make_module "$tree" ;;
	*) die "unknown mode '$1' (tree or module)" ;;
	esac
}

main "$@"
