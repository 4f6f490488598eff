#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Scaling benchmark (tests/progs/vfio_mmap_scaling.c): the cost of mmap +
# first touch + munmap of one page of BAR 0 with 1, 16, 256 and 4096 live
# mappings of the device, on an igb bound to rvfio-pci (whose mapping tracker
# records every one) beside its twin bound to vfio-pci, interleaved; and, on
# rvfio-pci, of the arcs RUNNING -> PRE_COPY (which checks every live mapping
# against the trapped doorbell pages) and PRE_COPY -> RUNNING with those
# mappings live. Prints "BENCH scaling ..." lines; fails only if an operation
# fails, never on a time.
#
# Environment: RVFIO_SCALING_ROUNDS, rounds per N (default 10).
. /usr/lib/rvfio-tests/lib.sh
bin=/usr/lib/rvfio-tests

check modprobe modprobe rvfio_pci
check bind_igb bind_to "$RVFIO_IGB0" rvfio-pci
modprobe vfio_pci
check bind_twin bind_to "$RVFIO_IGB1" vfio-pci
check scaling_bench "$bin/vfio_mmap_scaling" "$RVFIO_IGB0" "$RVFIO_IGB1" \
	"${RVFIO_SCALING_ROUNDS:-10}"
unbind "$RVFIO_IGB0"
unbind "$RVFIO_IGB1"
check rmmod rmmod rvfio_pci
exit "$RVFIO_FAILED"
