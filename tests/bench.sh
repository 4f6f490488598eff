#!/bin/bash
# make bench: the long form of the benchmarks make check runs short
# (Documentation/performance.rst). Builds what is missing (the "fast" test
# kernel, the module for it, the guest programs, QEMU 11 and the fixture),
# then boots the test VM on that kernel and runs tests/vm/bench.sh with many
# rounds, and the fixture VM with tests/vm/fixture_bench.sh. Prints the BENCH
# lines; the VMs' whole output is in build/logs/bench-long.out and
# fixture-bench-long.out. Fails only if a build or an operation fails, never
# on a time.
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
export RVFIO_PATHS_CONTROL=1
export RVFIO_GUEST_ENV="RVFIO_BENCH_ROUNDS RVFIO_PATHS_ROUNDS RVFIO_SCALING_ROUNDS RVFIO_PATHS_CONTROL"
KDIR=$kdir RVFIO_KO=$repo/build/module-bench/drivers/vfio/pci/rvfio/rvfio_pci.ko \
	RVFIO_VM_TIMEOUT=3600 RVFIO_VM_LOG=$logs/bench-long.console \
	"$repo/tests/qemu/run-guest" "$repo/tests/vm/bench.sh" 2>&1 |
	tr -d '\r' >"$logs/bench-long.out" || status=$?
grep -E '^(BENCH|RESULT .* FAIL)' "$logs/bench-long.out"
grep '^run-guest: verdict' "$logs/bench-long.out"

# The paths on fixture devices (QEMU 11 and the vfio-user server, which
# vm.sh builds): a short chain with PASID, and the longest chain config space
# holds, PASID last; both drivers on each description.
devices=$repo/tests/fixture/devices
KDIR=$kdir RVFIO_KO=$repo/build/module-bench/drivers/vfio/pci/rvfio/rvfio_pci.ko \
	RVFIO_GUEST_ENV=RVFIO_PATHS_ROUNDS RVFIO_VM_TIMEOUT=3600 \
	RVFIO_VM_LOG=$logs/fixture-bench-long.console \
	"$repo/tests/fixture/vm.sh" --pasid-bits 20 --script "$repo/tests/vm/fixture_bench.sh" \
	"$devices/bench-pasid.desc" "$devices/bench-pasid.desc" \
	"$devices/bench-long-chain.desc" "$devices/bench-long-chain.desc" 2>&1 |
	tr -d '\r' >"$logs/fixture-bench-long.out" || status=$?
grep -E '^(BENCH|RESULT .* FAIL)' "$logs/fixture-bench-long.out"
grep '^run-guest: verdict' "$logs/fixture-bench-long.out"
exit "${status:-0}"
