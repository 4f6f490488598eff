#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Benchmarks, on the "fast" kernel (Documentation/performance.rst). Each prints
# "BENCH ..." lines and fails only if an operation fails, never on a time:
#  - migration (tests/selftests/vfio_pci_migration_bench.c): the time of each
#    migration arc of an igb bound to rvfio-pci as a ratio to one reset of the
#    same device, beside the reset of its twin bound to vfio-pci;
#  - DMA logging: what it costs a workload;
#  - paths (tests/progs/vfio_paths_bench.c): every path a VMM uses, on
#    rvfio-pci beside vfio-pci, ABAB. Run twice, rvfio-pci on the first igb
#    and then on the second, so that what differs between the two functions
#    (their place on the bus, their IOMMU group) cancels out of the ratio
#    both runs give together (their geometric mean). With RVFIO_PATHS_CONTROL=1
#    (make bench), once more with both igbs bound to vfio-pci (--control): the
#    ratios of two identical paths, the floor under which a ratio of the
#    drivers says nothing;
#  - scaling (tests/progs/vfio_mmap_scaling.c): mmap and munmap with 1, 16,
#    256 and 4096 live mappings, beside vfio-pci, and entering PRE_COPY with
#    them, which shows what the mapping tracker's record costs as it grows.
#
# Environment (make bench sets them higher; make check runs the defaults):
#   RVFIO_BENCH_ROUNDS   migration rounds (default 10)
#   RVFIO_PATHS_ROUNDS   paths rounds in each placement (default 3)
#   RVFIO_SCALING_ROUNDS scaling rounds for each count of mappings (default 3)
#   RVFIO_PATHS_CONTROL  1: the control run too (default 0: each reset of a
#                        device on vfio-pci prints two lines, and the fewer a
#                        short run makes the better, Documentation/testing.rst)
. /usr/lib/rvfio-tests/lib.sh
bin=/usr/lib/rvfio-tests
a=$RVFIO_IGB0 b=$RVFIO_IGB1

check modprobe modprobe rvfio_pci
modprobe vfio_pci
check bind_igb bind_to "$a" rvfio-pci
check bind_twin bind_to "$b" vfio-pci
check bench "$bin/vfio_pci_migration_bench" "$a" "$b" "${RVFIO_BENCH_ROUNDS:-10}"
# What DMA logging costs a workload: 1 KiB copies through the igb with its
# doorbells trapped, without and with logging (tests/selftests/
# vfio_pci_dma_log_test.c, logging_cost).
"$bin/vfio_pci_dma_log_test" -f dma_log -t logging_cost "$a" >/tmp/dma_log_cost.tap 2>&1
check dma_log_cost test $? -eq 0
sed -n 's/^# dma log cost: /BENCH dma log cost: /p' /tmp/dma_log_cost.tap

# paths PLACEMENT RVFIO_BDF VFIO_PCI_BDF: one run of the paths benchmark.
paths() {
	check "paths_bind_$1" bind_to "$2" rvfio-pci
	check "paths_bind_twin_$1" bind_to "$3" vfio-pci
	"$bin/vfio_paths_bench" "$2" "$3" "${RVFIO_PATHS_ROUNDS:-3}" >/tmp/paths."$1"
	check "paths_$1" test $? -eq 0
	sed "s/^BENCH /BENCH paths $1: /" /tmp/paths."$1"
}
paths first "$a" "$b"
paths second "$b" "$a"
: >/tmp/paths.control
if [ "${RVFIO_PATHS_CONTROL:-0}" = 1 ]; then
	check paths_bind_control bind_to "$a" vfio-pci
	check paths_bind_control_twin bind_to "$b" vfio-pci
	"$bin/vfio_paths_bench" --control "$a" "$b" "${RVFIO_PATHS_ROUNDS:-3}" >/tmp/paths.control
	check paths_control test $? -eq 0
	sed "s/^BENCH /BENCH paths control: /" /tmp/paths.control
fi
# Per path, the ratio of each placement, their geometric mean (a square root
# by Newton's method: the guest's awk has no math functions), and the
# control's ratio.
echo "BENCH paths ratio rvfio-pci / vfio-pci: first placement, second, both; control (vfio-pci on both)"
awk '
	function root(x,  r, i) {
		r = x > 1 ? x : 1
		for (i = 0; i < 60; i++)
			r = (r + x / r) / 2
		return r
	}
	/ ratio +[0-9.]+$/ {
		name = $0
		sub(/^BENCH /, "", name)
		sub(/ +(rvfio-pci|vfio-pci) median.*/, "", name)
		if (FILENAME ~ /first$/) { first[name] = $NF; order[n++] = name }
		else if (FILENAME ~ /second$/) second[name] = $NF
		else control[name] = $NF
	}
	END {
		for (i = 0; i < n; i++) {
			k = order[i]
			printf "BENCH paths %-26s %7.4f %7.4f %7.4f; %s\n", k, first[k], second[k],
				root(first[k] * second[k]), (k in control) ? control[k] : "-"
		}
	}' /tmp/paths.first /tmp/paths.second /tmp/paths.control

check bind_igb_scaling bind_to "$a" rvfio-pci
check bind_twin_scaling bind_to "$b" vfio-pci
check scaling "$bin/vfio_mmap_scaling" "$a" "$b" "${RVFIO_SCALING_ROUNDS:-3}"

unbind "$a"
unbind "$b"
check rmmod rmmod rvfio_pci
exit "$RVFIO_FAILED"
