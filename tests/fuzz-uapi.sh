#!/bin/bash
# make fuzz-uapi: the long campaign of the uAPI fuzzer (tests/progs/uapi_fuzz.c,
# Documentation/testing.rst "uAPI fuzzer") that make check runs bounded.
# Builds what is missing (the "debug" test kernel, the module for it, the guest
# programs), then boots the test VM and runs tests/vm/uapi_fuzz.sh with many
# operations. Prints the seed, the FUZZ tables and the failures; the VM's
# whole output is in build/logs/fuzz-uapi.out, its console in
# build/logs/fuzz-uapi.console.
#
# Environment:
#   KDIR                  run on this kernel tree instead of the cached "debug" one
#   UAPI_FUZZ_SEED        seed (default: the time; printed, so a failure reruns)
#   UAPI_FUZZ_OPS         single-thread operations (default 2000000)
#   UAPI_FUZZ_THREAD_OPS  threaded operations (default 500000)
#   UAPI_FUZZ_THREADS     threads of the threaded run (default 4)
#   UAPI_FUZZ_DIFF_OPS    differential operations (default 500000)
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
logs=$repo/build/logs
mkdir -p "$logs"

kdir=${KDIR:-$(bash "$repo/scripts/build-kernel.sh" debug)}
make -C "$repo" KDIR="$kdir" MO="$repo/build/module-debug" modules >"$logs/module-fuzz-uapi.log" 2>&1 ||
	{ tail -40 "$logs/module-fuzz-uapi.log"; exit 1; }
KDIR=$kdir bash "$repo/tests/build-progs.sh" >/dev/null

export UAPI_FUZZ_SEED=${UAPI_FUZZ_SEED:-$(date +%s)}
export UAPI_FUZZ_OPS=${UAPI_FUZZ_OPS:-2000000}
export UAPI_FUZZ_THREAD_OPS=${UAPI_FUZZ_THREAD_OPS:-500000}
export UAPI_FUZZ_THREADS=${UAPI_FUZZ_THREADS:-4}
export UAPI_FUZZ_DIFF_OPS=${UAPI_FUZZ_DIFF_OPS:-500000}
export RVFIO_GUEST_ENV="UAPI_FUZZ_SEED UAPI_FUZZ_OPS UAPI_FUZZ_THREAD_OPS UAPI_FUZZ_THREADS UAPI_FUZZ_DIFF_OPS"
echo "fuzz-uapi: seed $UAPI_FUZZ_SEED"
# About 1000 operations a second on the debug kernel under TCG; a hang, not a
# slow run, must be what hits the timeout.
ops=$((UAPI_FUZZ_OPS + UAPI_FUZZ_THREAD_OPS + 2 * UAPI_FUZZ_DIFF_OPS))
status=0
KDIR=$kdir RVFIO_KO=$repo/build/module-debug/drivers/vfio/pci/rvfio/rvfio_pci.ko \
	RVFIO_VM_TIMEOUT=$((600 + ops / 250)) RVFIO_VM_LOG=$logs/fuzz-uapi.console \
	"$repo/tests/qemu/run-guest" "$repo/tests/vm/uapi_fuzz.sh" 2>&1 |
	tr -d '\r' >"$logs/fuzz-uapi.out" || status=$?
grep -E '^(FUZZ [a-z]|FUZZ FAIL|RESULT .* FAIL|# .* (run|operations)|# uapi_fuzz)' \
	"$logs/fuzz-uapi.out" || true
grep '^run-guest: verdict' "$logs/fuzz-uapi.out"
exit "$status"
