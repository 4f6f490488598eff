#!/bin/bash
# make stall-soak: how often the platform stalls the test VM (Documentation/
# testing.rst, "Stalled vCPUs"). Boots the stock-kernel VM (tests/vm/stock.sh),
# which met the lost end of interrupt on every boot under Debian's QEMU 10.0,
# SOAK_RUNS times, and counts per boot what run-guest saw: a timer that stayed
# silent, a lost end of interrupt, a kernel report before /init. Prints one
# line per run and a total; exits 1 if any run failed for another reason.
#
# Environment:
#   SOAK_RUNS    VM runs (default 10; each boots up to three times)
#   RVFIO_QEMU   the QEMU to measure (default run-guest's, QEMU 11); e.g.
#                qemu-system-x86_64 for Debian's QEMU 10.0 to see the stall
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
logs=$repo/build/logs/stall-soak
runs=${SOAK_RUNS:-10}
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "SOAK_RUNS=$runs is not a count" >&2; exit 2; }
mkdir -p "$logs"

kdir=$(bash "$repo/scripts/build-kernel.sh" fast)
KDIR=$kdir bash "$repo/tests/build-progs.sh" >/dev/null
stock_kernel=$(bash "$repo/scripts/stock-kernel-image.sh")
ko=$repo/build/module-stock/rvfio_pci.ko
bash "$repo/tests/stock-dkms.sh" "$ko" >"$logs/stock-dkms.out" 2>&1 ||
	{ tail -20 "$logs/stock-dkms.out"; exit 1; }

boots=0 silent=0 lost=0 early=0 failed=0
for run in $(seq "$runs"); do
	status=0
	KDIR=$kdir RVFIO_KO=$ko RVFIO_STOCK_KERNEL=$stock_kernel RVFIO_VM_TIMEOUT=900 \
		RVFIO_VM_LOG="$logs/$run.console" "$repo/tests/qemu/run-guest" \
		--add "$repo/tests/vm:/usr/lib/rvfio-tests/vm" "$repo/tests/vm/stock.sh" \
		>"$logs/$run.out" 2>&1 || status=$?
	out=$logs/$run.out
	b=$(grep -c '^run-guest: booting ' "$out") || true
	s=$(grep -c "is halted and its timer stopped firing" "$out") || true
	l=$(grep -c '^run-guest: an end of interrupt was lost' "$out") || true
	e=$(grep -c '^run-guest: a kernel report before /init' "$out") || true
	boots=$((boots + b)) silent=$((silent + s)) lost=$((lost + l)) early=$((early + e))
	[ "$status" -eq 0 ] || failed=$((failed + 1))
	echo "SOAK run $run: exit $status, $b boot(s): $s silent timer(s), $l lost end(s) of interrupt, $e early report(s)"
done
echo "SOAK $runs runs on $("${RVFIO_QEMU:-$(bash "$repo/scripts/qemu11.sh")}" --version | head -n1):" \
	"$boots boots, $silent silent timers, $lost lost ends of interrupt," \
	"$early reports before /init; $failed runs failed"
[ "$failed" -eq 0 ]
