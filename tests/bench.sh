#!/bin/bash
# make bench: the long form of the benchmarks make check runs short
# (Documentation/performance.rst). Builds what is missing (the "fast" test
# kernel, the module for it, the guest programs), then boots the test VM on
# that kernel and runs tests/vm/bench.sh with many rounds. Prints the BENCH
# lines; the VM's whole output is in build/logs/bench-long.out. Fails only if
# a build or an operation fails, never on a time.
#
# Environment:
#   KDIR           run on this kernel tree instead of the cached "fast" one
#   BENCH_ROUNDS   rounds of each benchmark (default 50)
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
logs=$repo/build/logs
mkdir -p "$logs"

kdir=${KDIR:-$(bash "$repo/scripts/build-kernel.sh" fast)}
make -C "$repo" KDIR="$kdir" MO="$repo/build/module-bench" modules >"$logs/module-bench.log" 2>&1 ||
	{ tail -40 "$logs/module-bench.log"; exit 1; }
KDIR=$kdir bash "$repo/tests/build-progs.sh" >/dev/null

rounds=${BENCH_ROUNDS:-50}
export RVFIO_BENCH_ROUNDS=$rounds RVFIO_PATHS_ROUNDS=$rounds RVFIO_SCALING_ROUNDS=$rounds
export RVFIO_GUEST_ENV="RVFIO_BENCH_ROUNDS RVFIO_PATHS_ROUNDS RVFIO_SCALING_ROUNDS"
KDIR=$kdir RVFIO_KO=$repo/build/module-bench/drivers/vfio/pci/rvfio/rvfio_pci.ko \
	RVFIO_VM_TIMEOUT=3600 RVFIO_VM_LOG=$logs/bench-long.console \
	"$repo/tests/qemu/run-guest" "$repo/tests/vm/bench.sh" 2>&1 |
	tr -d '\r' >"$logs/bench-long.out" || status=$?
grep -E '^(BENCH|RESULT .* FAIL)' "$logs/bench-long.out"
grep '^run-guest: verdict' "$logs/bench-long.out"
exit "${status:-0}"
