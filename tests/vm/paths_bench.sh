#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Paths benchmark (tests/progs/vfio_paths_bench.c): every path a VMM uses on
# an igb bound to rvfio-pci, beside the same path on its twin bound to
# vfio-pci, interleaved in the same run: config space, BAR 0 through the
# device fd, mmap, region info, device features, open and close through the
# cdev and through the group, reset. Prints "BENCH ..." lines (medians, p10,
# p90, the ratio rvfio-pci / vfio-pci); fails only if an operation fails,
# never on a time.
#
# Environment: RVFIO_PATHS_ROUNDS, rounds per path (default 20).
. /usr/lib/rvfio-tests/lib.sh
bin=/usr/lib/rvfio-tests

check modprobe modprobe rvfio_pci
check bind_igb bind_to "$RVFIO_IGB0" rvfio-pci
modprobe vfio_pci
check bind_twin bind_to "$RVFIO_IGB1" vfio-pci
check paths_bench "$bin/vfio_paths_bench" "$RVFIO_IGB0" "$RVFIO_IGB1" \
	"${RVFIO_PATHS_ROUNDS:-20}"
unbind "$RVFIO_IGB0"
unbind "$RVFIO_IGB1"
check rmmod rmmod rvfio_pci
exit "$RVFIO_FAILED"
