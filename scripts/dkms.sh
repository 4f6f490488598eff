#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# rvfio-pci through DKMS (Documentation/distribution-kernels.rst, "DKMS").
#
# Usage, as root:
#   dkms.sh install [--no-install]
#                              make dkms-install: copy the sources to
#                              /usr/src/rvfio-pci-VERSION, dkms add and build
#                              for KVER (default: the running kernel), remove
#                              the other versions, dkms install (unless
#                              --no-install: CI's build in a root)
#   dkms.sh uninstall          make dkms-uninstall: remove every version, its
#                              sources and the regenerated Rust artifacts
#   dkms.sh version            print this clone's DKMS version
#   dkms.sh copy DIR           copy the sources DKMS builds into DIR, the
#                              version left to fill in (a clone without git,
#                              for install with RVFIO_VERSION)
#   dkms.sh build KVER KDIR OUT [MAKE ARGS]
#                              dkms.conf's MAKE command, run by DKMS in its
#                              build directory: the kernel's Rust artifacts
#                              (scripts/kernel-rust-artifacts.sh into OUT)
#                              unless KDIR has them, then the module
#
# Version scheme: 0.N.gHASH, N the number of commits to HEAD and HASH its short
# hash (".dirty" added when the module's files differ from HEAD), so versions
# sort in commit order; RVFIO_VERSION overrides it (a tree without git needs it).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
name=rvfio-pci
# DKMS's default tree; dkms.conf's MAKE gets the real one from DKMS.
dkms_tree=/var/lib/dkms

log() { printf 'dkms.sh: %s\n' "$*" >&2; }
die() { printf 'dkms.sh: error: %s\n' "$*" >&2; exit 1; }

# The files DKMS builds from, relative to the clone.
sources=(Kbuild drivers include dkms.conf scripts/dkms.sh scripts/kernel-rust-artifacts.sh)

version() {
	if [ -n "${RVFIO_VERSION:-}" ]; then
		echo "$RVFIO_VERSION"
		return
	fi
	repo_git rev-parse --git-dir >/dev/null 2>&1 ||
		die "$repo is not a git clone: set RVFIO_VERSION to name the version"
	local v
	v=0.$(repo_git rev-list --count HEAD).g$(repo_git rev-parse --short=12 HEAD)
	repo_git diff --quiet HEAD -- "${sources[@]}" || v=$v.dirty
	echo "$v"
}

# git in the clone, which root reads when a user cloned it (sudo make
# dkms-install): git refuses another user's repository unless told it is safe,
# and root builds and runs this clone's code anyway.
repo_git() { git -c safe.directory='*' -C "$repo" "$@"; }

copy() {
	local dir=$1
	rm -rf "$dir"
	mkdir -p "$dir/scripts"
	local f
	for f in "${sources[@]}"; do
		cp -a "$repo/$f" "$dir/$f"
	done
	# Objects go to MO= (build/), never to the sources; a build in place
	# would have left these.
	find "$dir" \( -name '*.o' -o -name '*.ko' -o -name '*.cmd' -o -name '*.mod' \
		-o -name '*.mod.c' -o -name 'bindings_generated.rs' \) -delete
}

need_dkms() {
	[ "$(id -u)" -eq 0 ] || die "must run as root (dkms installs into /usr/src, /var/lib/dkms and /lib/modules)"
	command -v dkms >/dev/null || die "dkms is not installed (apt install dkms)"
}

# The versions DKMS has of rvfio-pci (those with a source link are added).
added_versions() {
	local link
	for link in "$dkms_tree/$name"/*/source; do
		[ -L "$link" ] && basename "$(dirname "$link")"
	done
	return 0
}

# register VER KVER: dkms add and build VER (its sources in /usr/src) for
# KVER; on a failed build, shows the end of DKMS's make.log (a refusal's
# message) and removes VER from DKMS again.
register() {
	local ver=$1 kver=$2
	if [ -d "$dkms_tree/$name/$ver" ]; then
		dkms remove "$name/$ver" --all >&2 || die "dkms remove $name/$ver failed"
	fi
	dkms add "$name/$ver" >&2 || die "dkms add $name/$ver failed"
	if ! dkms build "$name/$ver" -k "$kver" >&2; then
		local makelog=$dkms_tree/$name/$ver/build/make.log
		if [ -f "$makelog" ]; then
			log "the end of $makelog:"
			tail -n 15 "$makelog" >&2
		fi
		dkms remove "$name/$ver" --all >/dev/null 2>&1 || true
		return 1
	fi
}

cmd_install() {
	local no_install=${1:-}
	[ -z "$no_install" ] || [ "$no_install" = --no-install ] || die "unknown option '$no_install'"
	need_dkms
	local ver kver=${KVER:-$(uname -r)}
	ver=$(version)
	[ -e "/lib/modules/$kver/build" ] ||
		die "no headers for the kernel $kver: apt install linux-headers-$kver"
	copy "/usr/src/$name-$ver"
	sed -i "s/@VERSION@/$ver/" "/usr/src/$name-$ver/dkms.conf"
	if ! register "$ver" "$kver"; then
		rm -rf "/usr/src/${name:?}-$ver"
		die "dkms build $name/$ver for $kver failed (why: above); other versions were left as they were"
	fi
	# One version only, so the kernel hooks (AUTOINSTALL) build this one.
	local other
	for other in $(added_versions); do
		[ "$other" = "$ver" ] && continue
		log "removing $name/$other"
		dkms remove "$name/$other" --all >&2 || die "dkms remove $name/$other failed"
		rm -rf "/usr/src/${name:?}-$other"
	done
	if [ -n "$no_install" ]; then
		log "built $name/$ver for $kver: $(echo "$dkms_tree/$name/$ver/$kver"/*/module/rvfio_pci.ko*)"
		return
	fi
	dkms install "$name/$ver" -k "$kver" >&2 || die "dkms install $name/$ver for $kver failed"
	log "installed $name/$ver for $kver: modprobe rvfio_pci"
}

cmd_uninstall() {
	need_dkms
	local ver
	for ver in $(added_versions); do
		dkms remove "$name/$ver" --all >&2 || die "dkms remove $name/$ver failed"
		rm -rf "/usr/src/${name:?}-$ver"
	done
	rm -rf "${dkms_tree:?}/$name"
	log "removed (a loaded rvfio_pci stays loaded until modprobe -r rvfio_pci)"
}

# Whether a kernel build directory has the Rust artifacts already (Ubuntu's
# linux-lib-rust, Arch's linux-headers).
has_rust_artifacts() {
	[ -f "$1/scripts/target.json" ] && compgen -G "$1/rust/*.rmeta" >/dev/null
}

build() {
	[ $# -ge 3 ] || die "usage: $0 build KVER KDIR OUT [MAKE ARGS]"
	local kver=$1 kdir=$2 out=$3 tree
	shift 3
	if has_rust_artifacts "$kdir"; then
		tree=$kdir
	else
		tree=$(bash "$here/kernel-rust-artifacts.sh" "$kver" "$out" "$kdir")
	fi
	log "building against $tree"
	make -C "$tree" M="$PWD" -j"$(nproc)" "$@" modules
}

case ${1:-} in
install) cmd_install "${@:2}" ;;
uninstall) cmd_uninstall ;;
version) version ;;
copy) [ $# -eq 2 ] || die "usage: $0 copy DIR"; copy "$2" ;;
build) build "${@:2}" ;;
*) die "usage: $0 install [--no-install]|uninstall|version|copy DIR|build KVER KDIR OUT [MAKE ARGS]" ;;
esac
