#!/bin/bash
# The main job (`make run`): build everything, boot the VM, load and bind the
# driver, and show it working (tests/vm/demo.sh runs in the guest).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)

KDIR=${KDIR:-$(bash "$repo/scripts/build-kernel.sh")}
export KDIR
make -C "$repo" modules
bash "$repo/tests/build-progs.sh" >/dev/null
# run-guest builds (or finds cached) the upstream selftests itself.
exec "$repo/tests/qemu/run-guest" "$repo/tests/vm/demo.sh"
