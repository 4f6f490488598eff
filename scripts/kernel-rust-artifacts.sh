#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Regenerates the Rust build artifacts a distribution's kernel headers package
# leaves out (rust/*.rmeta, rust/*.so, scripts/target.json,
# include/generated/rustc_cfg), from the kernel's own source package, and
# assembles a build tree an out-of-tree Rust module builds against.
#
# It runs on the machine whose packages it uses, as root: on a user's host it
# is the step dkms.conf's MAKE command (scripts/dkms.sh build) runs before the
# module's build; scripts/stock-kernel-artifacts.sh runs the same file inside
# its cached trixie root. Nothing under /usr/src is written: the source is
# extracted, configured and prepared under OUT, and deleted afterwards.
#
# Debian's packages are assumed (dpkg, linux-headers-KVER, linux-source-X.Y).
# It refuses, before any work, when
#   - linux-source-X.Y is missing or is not the headers' version: other sources
#     give other crate hashes;
#   - rustc --version is not the kernel's CONFIG_RUSTC_VERSION_TEXT, or bindgen
#     --version not its CONFIG_BINDGEN_VERSION_TEXT: any other compiler gives
#     other crate hashes and modpost cannot resolve the Rust symbols;
#   - the kernel's C compiler or the Rust standard library's source is missing.
#
# The tree is OUT/KVER-KEY/tree, where KEY hashes the .config and the versions
# of everything the artifacts depend on: a finished one is reused (a second
# run costs the checks only), a new kernel or toolchain makes a new one, and the
# trees of superseded toolchains and of removed kernels are deleted.
#
# Usage: kernel-rust-artifacts.sh KVER OUT [HEADERS]   prints the tree's path
#   HEADERS defaults to /lib/modules/KVER/build.
# Environment: RVFIO_JOBS   make -j of the regeneration (default: the cores)
set -euo pipefail

log() { printf 'kernel-rust-artifacts: %s\n' "$*" >&2; }
die() { printf 'kernel-rust-artifacts: error: %s\n' "$*" >&2; exit 1; }

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
	die "usage: $0 KVER OUT [HEADERS]"
fi
kver=$1
out=$2
hdr=$(readlink -f "${3:-/lib/modules/$kver/build}") ||
	die "no headers for $kver: install linux-headers-$kver"
[ -f "$hdr/.config" ] || die "no headers for $kver in $hdr: install linux-headers-$kver"
series=$(echo "$kver" | cut -d. -f1-2)
jobs=${RVFIO_JOBS:-$(nproc)}
tarball=/usr/src/linux-source-$series.tar.xz

pkg_version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || true; }
# The value of a string option of the kernel's .config.
config_string() { sed -n "s/^$1=\"\(.*\)\"$/\1/p" "$hdr/.config"; }

command -v dpkg-query >/dev/null ||
	die "no dpkg: this step regenerates a Debian kernel's artifacts (see Documentation/distribution-kernels.rst for other distributions)"

# --- refusals ------------------------------------------------------------------
hver=$(pkg_version "linux-headers-$kver")
[ -n "$hver" ] || die "linux-headers-$kver is not installed (apt install linux-headers-$kver)"
sver=$(pkg_version "linux-source-$series")
[ -n "$sver" ] ||
	die "linux-source-$series is not installed: the kernel's Rust artifacts are regenerated from its source (apt install linux-source-$series=$hver)"
[ "$sver" = "$hver" ] ||
	die "linux-source-$series is $sver, not $hver (the version of linux-headers-$kver): the Rust artifacts must come from the same source (apt install linux-source-$series=$hver)"
[ -f "$tarball" ] || die "linux-source-$series is installed but $tarball is missing (apt install --reinstall linux-source-$series)"

want=$(config_string CONFIG_RUSTC_VERSION_TEXT)
[ -n "$want" ] || die "the kernel $kver was not built with Rust (no CONFIG_RUSTC_VERSION_TEXT in $hdr/.config)"
command -v rustc >/dev/null || die "no rustc: $kver was built with '$want'"
have=$(rustc --version) || die "rustc --version failed"
[ "$have" = "$want" ] ||
	die "rustc is '$have' ($(command -v rustc)) but $kver was built with '$want': any other rustc gives other crate hashes and the module would not load; install that rustc (on Debian trixie: apt install rustc from trixie main) and put it first in PATH"
want=$(config_string CONFIG_BINDGEN_VERSION_TEXT)
if [ -n "$want" ]; then
	have=$(bindgen --version 2>/dev/null) || die "no bindgen: $kver was built with '$want' (apt install bindgen)"
	[ "$have" = "$want" ] || die "bindgen is '$have' but $kver was built with '$want'"
fi
sysroot=$(rustc --print sysroot)
[ -d "${RUST_LIB_SRC:-$sysroot/lib/rustlib/src/rust/library}" ] ||
	die "the Rust standard library's source is missing (apt install rust-src, of rustc's version)"
# The kernel's own C compiler (Debian's: x86_64-linux-gnu-gcc-14), the first
# word of its version text; a clang-built kernel is made with LLVM=1.
if grep -q '^CONFIG_CC_IS_CLANG=y' "$hdr/.config"; then
	cc=clang
	kmake_cc=(LLVM=1)
else
	cc=$(config_string CONFIG_CC_VERSION_TEXT | cut -d' ' -f1)
	kmake_cc=(CC="$cc" HOSTCC="$cc")
fi
command -v "$cc" >/dev/null || die "$kver was built with $cc, which is not installed"
command -v openssl >/dev/null ||
	die "openssl is missing: without it olddefconfig drops an option and the configuration no longer matches $kver's"

# --- the tree ------------------------------------------------------------------
# Everything the regenerated files depend on.
key=$(
	{
		cat "$hdr/.config"
		echo "$hver $sver"
		rustc -vV
		bindgen --version 2>/dev/null || true
		"$cc" --version | head -1
		dpkg-query -W -f='${Package} ${Version}\n' rust-src 'libclang1-[0-9]*' 2>/dev/null || true
	} | sha256sum | cut -c1-12
)
top=$out/$kver-$key
mkdir -p "$out"
# One regeneration at a time per OUT (two kernels installed at once).
exec 9>"$out/.lock"
flock 9

# prune: the trees of this kernel's superseded toolchains, and of kernels whose
# headers are gone (DKMS has no hook of its own for a removed kernel).
prune() {
	local dir name
	for dir in "$out"/*-[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]; do
		if [ ! -d "$dir" ] || [ "$dir" = "$top" ]; then
			continue
		fi
		name=$(basename "$dir")
		name=${name%-*}
		if [ "$name" = "$kver" ] || [ ! -e "/lib/modules/$name/build" ]; then
			log "removing $dir (superseded)"
			rm -rf "$dir"
		fi
	done
}

if [ -f "$top/.done" ]; then
	echo "$top/tree"
	exit 0
fi
prune
rm -rf "$top"
mkdir -p "$top/obj"
start=$SECONDS
log "extracting $tarball into $top"
nice tar -C "$top" -xJf "$tarball"
mv "$top/linux-source-$series" "$top/src"
log "extracted in $((SECONDS - start)) s, $(du -shx "$top/src" | cut -f1)"
cp "$hdr/.config" "$top/obj/.config"
start=$SECONDS
kmake=(nice make -s -C "$top/src" O="$top/obj" -j"$jobs" "${kmake_cc[@]}")
"${kmake[@]}" olddefconfig >&2 || die "make olddefconfig failed"
# olddefconfig only drops or adds options when the toolchain differs from
# the kernel's; then the artifacts would not match the kernel either.
diff -q <(grep -v '^#' "$hdr/.config") <(grep -v '^#' "$top/obj/.config") >/dev/null ||
	die "the regenerated .config differs from $kver's (diff $hdr/.config $top/obj/.config)"
log "make prepare (-j$jobs; several minutes: it builds the kernel's Rust crates)"
"${kmake[@]}" prepare >&2 || die "regenerating the Rust artifacts (make prepare) failed"
log "prepare: $((SECONDS - start)) s, obj $(du -shx "$top/obj" | cut -f1)"

# The build tree: the headers tree with its kbuild symlinks made copies and
# the artifacts added; the Makefile's KBUILD_OUTPUT points at the copy.
tree=$top/tree
cp -a "$hdr" "$tree"
for link in scripts tools; do
	if [ -L "$tree/$link" ]; then
		target=$(cd "$hdr" && readlink -f "$link")
		rm "$tree/$link"
		cp -a "$target" "$tree/$link"
	fi
done
sed -i "s|$hdr\b|$tree|g" "$tree/Makefile"
mkdir -p "$tree/rust" "$tree/include/generated"
cp "$top/obj/scripts/target.json" "$tree/scripts/"
cp "$top/obj"/rust/*.rmeta "$top/obj"/rust/*.so "$tree/rust/"
cp "$top/obj/include/generated/rustc_cfg" "$tree/include/generated/"
rm -rf "$top/src" "$top/obj"
touch "$top/.done"
log "tree $tree: $(du -shx "$top" | cut -f1)"
echo "$tree"
