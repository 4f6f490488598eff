#!/bin/bash
# Install everything rvfio-pci needs to build the kernel, the module, the
# userspace tests and to boot the test VM, and QEMU 11 for the vfio-user
# fixture tests (scripts/qemu11.sh, a cached trixie root). Idempotent: every
# step checks before it acts, so a warm machine passes through in a few
# seconds.
#
# Environment:
#   RVFIO_SKIP_SETUP=1   trust the machine as it is (only verify)
set -euo pipefail

log() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

BINDGEN_VERSION=0.71.1
LLVM_VER=19
SRC_LIST=/etc/apt/sources.list.d/rvfio-backports.sources
PIN_FILE=/etc/apt/preferences.d/rvfio-backports

need_root() {
	[ "$(id -u)" -eq 0 ] || die "must run as root to install packages (or install them by hand: $*)"
}

setup_apt_suites() {
	if [ -f "$SRC_LIST" ] && [ -f "$PIN_FILE" ]; then
		return 0
	fi
	need_root "apt suites bookworm-backports and trixie-backports"
	local mirror
	mirror=$(bash "$(dirname "$0")/debian-mirror.sh") ||
		die "cannot find the machine's Debian mirror in its apt sources"
	log "adding bookworm-backports and trixie-backports from $mirror (low priority)"
	cat >"$SRC_LIST" <<SRC
Types: deb deb-src
URIs: $mirror
Suites: bookworm-backports trixie-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
	cat >"$PIN_FILE" <<PIN
Package: *
Pin: release n=bookworm-backports
Pin-Priority: 100

Package: *
Pin: release n=trixie-backports
Pin-Priority: 50
PIN
	rm -f /var/lib/rvfio-apt-updated
}

apt_update_once() {
	if [ ! -f /var/lib/rvfio-apt-updated ]; then
		log "apt-get update"
		apt-get update -qq || die "apt-get update failed"
		touch /var/lib/rvfio-apt-updated
	fi
}

have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

install_pkgs() {
	local suite=$1; shift
	local missing=() p
	for p in "$@"; do have_pkg "$p" || missing+=("$p"); done
	[ ${#missing[@]} -eq 0 ] && return 0
	need_root "${missing[*]}"
	apt_update_once
	log "installing ${missing[*]}${suite:+ from $suite}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		${suite:+-t "$suite"} "${missing[@]}" >/dev/null ||
		die "apt-get install ${missing[*]} failed"
}

rustc_version() { rustc --version | awk '{print $2}'; }

install_rust_src() {
	local ver pkgver
	ver=$(rustc_version)
	if [ -d "/usr/src/rustc-$ver/library/core" ]; then return 0; fi
	apt_update_once
	# Pick the rust-src whose upstream version equals rustc's.
	pkgver=$(apt-cache madison rust-src | awk -F'|' '{gsub(/ /,"",$2); print $2}' |
		while read -r v; do
			up=${v#*:}; up=${up%%+*}; up=${up%%-*}
			[ "$up" = "$ver" ] && { echo "$v"; break; }
		done)
	[ -n "$pkgver" ] || die "no Debian rust-src package matches rustc $ver (apt-cache madison rust-src); install rustc of a version Debian ships, or point RUST_LIB_SRC at a matching library/"
	need_root "rust-src=$pkgver"
	log "installing rust-src=$pkgver"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"rust-src=$pkgver" >/dev/null || die "installing rust-src=$pkgver failed"
	[ -d "/usr/src/rustc-$ver/library/core" ] ||
		die "rust-src installed but /usr/src/rustc-$ver/library is missing"
}

install_bindgen() {
	local have
	have=$(bindgen --version 2>/dev/null | awk '{print $2}' || true)
	[ "$have" = "$BINDGEN_VERSION" ] && return 0
	command -v cargo >/dev/null || die "cargo is missing: install a Rust toolchain (rustup) first"
	log "cargo install bindgen-cli $BINDGEN_VERSION"
	LIBCLANG_PATH=/usr/lib/llvm-$LLVM_VER/lib cargo install -q bindgen-cli \
		--version "$BINDGEN_VERSION" --locked ||
		die "cargo install bindgen-cli --version $BINDGEN_VERSION failed"
}

verify() {
	local missing=()
	command -v clang-$LLVM_VER >/dev/null || missing+=("clang-$LLVM_VER")
	command -v ld.lld-$LLVM_VER >/dev/null || missing+=("lld-$LLVM_VER")
	command -v qemu-system-x86_64 >/dev/null || missing+=("qemu-system-x86 (bookworm-backports)")
	[ -x /bin/busybox ] || missing+=("busybox-static")
	command -v bindgen >/dev/null || missing+=("bindgen-cli $BINDGEN_VERSION (cargo install)")
	[ -d "/usr/src/rustc-$(rustc_version)/library/core" ] || missing+=("rust-src $(rustc_version)")
	[ -f /usr/src/linux-source-7.3.tar.xz ] || missing+=("linux-source-7.3 (trixie-backports)")
	[ -f /usr/include/uuid/uuid.h ] || missing+=("uuid-dev")
	if [ ${#missing[@]} -ne 0 ]; then
		die "missing: ${missing[*]}; run scripts/setup.sh as root on a machine that reaches the Debian archive"
	fi
	local qv
	qv=$(qemu-system-x86_64 --version | awk 'NR==1 {print $4}')
	case "$qv" in
	1[0-9].*) ;;
	*) die "qemu-system-x86_64 $qv is too old: install qemu-system-x86 from bookworm-backports (>= 10)" ;;
	esac
}

main() {
	if [ "${RVFIO_SKIP_SETUP:-0}" != 1 ]; then
		setup_apt_suites
		install_pkgs "" build-essential flex bison bc libelf-dev libssl-dev dwarves cpio \
			busybox-static uuid-dev xz-utils python3 rsync kmod debootstrap \
			clang-$LLVM_VER lld-$LLVM_VER llvm-$LLVM_VER libclang-$LLVM_VER-dev
		install_pkgs bookworm-backports qemu-system-x86
		install_pkgs trixie-backports linux-source-7.3
		install_rust_src
		install_bindgen
		# QEMU 11 (vfio-user-pci) for the fixture tests, in its cached root.
		bash "$(dirname "$0")/qemu11.sh" >/dev/null || die "scripts/qemu11.sh failed"
	fi
	verify
	log "ok"
}

main "$@"
