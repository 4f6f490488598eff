#!/bin/bash
# bundle.sh OUT: gathers into OUT what the test VM needs to run Debian's own
# QEMU 10 (the qemu-system-x86_64 scripts/setup.sh installs) as the client of
# rvfio-pci: the binary, every library it loads and the dynamic loader (the
# busybox guest has no libc), a wrapper that runs them, and a firmware image
# that only halts. tests/vm/qemu.sh finds it at /opt/qemu in the guest.
#
#   OUT/qemu              the wrapper: "OUT/qemu ARGS..." runs QEMU with ARGS
#   OUT/qemu-system-x86_64, OUT/lib/*
#   OUT/share/halt.rom    64 KiB: cli; hlt; jmp back at the reset vector
#
# The nested guest runs no code of its own: tests/nested/nested_igb.c drives
# it through QEMU's qtest protocol, so a ROM that halts is enough (QEMU takes
# any ROM whose size is a multiple of 64 KiB).
set -euo pipefail

out=${1:?usage: bundle.sh OUT}
guest_dir=/opt/qemu
qemu=$(command -v qemu-system-x86_64) || {
	echo "bundle.sh: qemu-system-x86_64 missing: run scripts/setup.sh" >&2
	exit 1
}

rm -rf "$out"
mkdir -p "$out/lib" "$out/share"
cp -L "$qemu" "$out/qemu-system-x86_64"
# "libfoo.so.1 => /path (0x...)" and the loader's own "/path (0x...)" line.
ldd "$qemu" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' |
	while read -r lib; do
		cp -L "$lib" "$out/lib/"
	done
loader=$(basename "$(ldd "$qemu" | awk '$1 ~ /^\// { print $1 }')")
[ -f "$out/lib/$loader" ] || { echo "bundle.sh: no dynamic loader in ldd's output" >&2; exit 1; }

python3 - "$out/share/halt.rom" <<'PY'
import sys
rom = bytearray(b"\xf4" * 0x10000)
rom[0xfff0:0xfff4] = b"\xfa\xf4\xeb\xfd"  # cli; hlt; jmp $-3 (back to hlt)
open(sys.argv[1], "wb").write(rom)
PY

cat >"$out/qemu" <<WRAP
#!/bin/sh
# Debian's QEMU with the libraries it was copied with (tests/nested/bundle.sh).
exec $guest_dir/lib/$loader --library-path $guest_dir/lib $guest_dir/qemu-system-x86_64 -L $guest_dir/share "\$@"
WRAP
chmod +x "$out/qemu"
echo "$out"
