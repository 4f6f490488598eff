#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Migration benchmark (tests/selftests/vfio_pci_migration_bench.c): the time of
# each migration arc of an igb bound to rvfio-pci as a ratio to one reset of
# the same device, beside the reset of its twin bound to vfio-pci, and what DMA
# logging costs a workload. Prints
# "BENCH ..." lines; fails only if an operation fails, never on a time.
. /usr/lib/rvfio-tests/lib.sh
bin=/usr/lib/rvfio-tests

check modprobe modprobe rvfio_pci
check bind_igb bind_to "$RVFIO_IGB0" rvfio-pci
modprobe vfio_pci
check bind_twin bind_to "$RVFIO_IGB1" vfio-pci
check bench "$bin/vfio_pci_migration_bench" "$RVFIO_IGB0" "$RVFIO_IGB1" 10
# What DMA logging costs a workload: 1 KiB copies through the igb with its
# doorbells trapped, without and with logging (tests/selftests/
# vfio_pci_dma_log_test.c, logging_cost).
"$bin/vfio_pci_dma_log_test" -f dma_log -t logging_cost "$RVFIO_IGB0" >/tmp/dma_log_cost.tap 2>&1
check dma_log_cost test $? -eq 0
sed -n 's/^# dma log cost: /BENCH dma log cost: /p' /tmp/dma_log_cost.tap
unbind "$RVFIO_IGB0"
unbind "$RVFIO_IGB1"
check rmmod rmmod rvfio_pci
exit "$RVFIO_FAILED"
