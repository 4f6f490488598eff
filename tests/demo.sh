#!/bin/bash
# The main job (`make run`): build everything, boot the VM, and show what
# rvfio-pci is for (tests/vm/demo.sh runs in the guest: binding, PASID/ATS,
# an igb's migration, the mmap rule, an unmodified QEMU migrating a nested
# guest; then a summary). Fails if any step fails.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)

KDIR=${KDIR:-$(bash "$repo/scripts/build-kernel.sh")}
export KDIR
make -C "$repo" modules
bash "$repo/tests/build-progs.sh" >/dev/null
# Debian's QEMU 10 with its libraries, the nested guests' QEMU in the VM.
bash "$repo/tests/nested/bundle.sh" "$repo/build/nested-qemu" >/dev/null
# run-guest builds (or finds cached) the upstream selftests itself.
exec "$repo/tests/qemu/run-guest" --add "$repo/build/nested-qemu:/opt/qemu" "$repo/tests/vm/demo.sh"
