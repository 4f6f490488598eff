#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Live migration in the guest: the v2 state machine of an igb bound to
# rvfio-pci (tests/progs/mig_states_test.c), no migration feature on a device
# without a personality (virtio-net-pci), a bounded kernel log under a flood of
# refusals (tests/progs/log_flood_test.c), and an igb's workload migrating to
# another igb on upstream's libvfio (tests/selftests/vfio_pci_migration_test.c),
# the mmap rule, DMA logging and the runtime mmap layout.
. /usr/lib/rvfio-tests/lib.sh
bin=/usr/lib/rvfio-tests

check modprobe modprobe rvfio_pci
check bind_igb bind_to "$RVFIO_IGB0" rvfio-pci
check bind_virtio bind_to "$RVFIO_VIRTIO" rvfio-pci
check personality_logged sh -c "dmesg | grep -q '$RVFIO_IGB0: migration: igb personality'"

"$bin/mig_states_test" "$RVFIO_IGB0" "$RVFIO_VIRTIO" || RVFIO_FAILED=$((RVFIO_FAILED + 1))

# A user provoking thousands of refusals: the driver's lines in the kernel log
# stay within its rate limits (Documentation/messages.rst).
"$bin/log_flood_test" "$RVFIO_IGB0" || RVFIO_FAILED=$((RVFIO_FAILED + 1))

# An igb's workload migrates to its twin; the igb without FLR has another
# config-space layout.
check bind_target bind_to "$RVFIO_IGB1" rvfio-pci
check bind_other_layout bind_to "$RVFIO_IGB_NOFLR" rvfio-pci
"$bin/vfio_pci_migration_test" "$RVFIO_IGB0" "$RVFIO_IGB1" "$RVFIO_IGB_NOFLR" >/tmp/mig.tap 2>&1
status=$?
tap_results "" </tmp/mig.tap
check migration_test_exit test "$status" -eq 0

# The migration-time mmap rule on the first igb.
"$bin/vfio_pci_mmap_rule_test" "$RVFIO_IGB0" >/tmp/rule.tap 2>&1
status=$?
tap_results "" </tmp/rule.tap
check mmap_rule_test_exit test "$status" -eq 0

# DMA logging from the trapped doorbells (Documentation/migration.rst), on the
# first igb; virtio-net, with no personality, must not offer it. A kernel
# without iommufd (Debian's stock kernel) has no IOMMUFD_DRIVER either, so no
# iova_bitmap: there the driver offers no logging at all, which is checked.
if have_iommufd; then
	"$bin/vfio_pci_dma_log_test" -T no_logging_on_this_kernel \
		"$RVFIO_IGB0" "$RVFIO_VIRTIO" >/tmp/dma_log.tap 2>&1
else
	"$bin/vfio_pci_dma_log_test" -t no_logging_on_this_kernel \
		"$RVFIO_IGB0" "$RVFIO_VIRTIO" >/tmp/dma_log.tap 2>&1
fi
status=$?
tap_results "" </tmp/dma_log.tap
check dma_log_test_exit test "$status" -eq 0

# The runtime mmap layout an operator chooses (sysfs), on the first igb.
"$bin/mmap_layout_test" "$RVFIO_IGB0" || RVFIO_FAILED=$((RVFIO_FAILED + 1))

for bdf in "$RVFIO_IGB0" "$RVFIO_VIRTIO" "$RVFIO_IGB1" "$RVFIO_IGB_NOFLR"; do
	unbind "$bdf"
done
check rmmod rmmod rvfio_pci
exit "$RVFIO_FAILED"
