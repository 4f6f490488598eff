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

# rvfio-vpci (Documentation/vpci.rst) on the three igbs: the instance type the
# first derives (the reference igb.vpci), which its twin presents with the same
# layout and the igb without FLR cannot present (its PCI Express abilities
# differ: exit 14); igb-any-flr.vpci leaves those abilities open, so that igb
# presents it, with another layout. Where check says the layout differs, the
# driver refused the stream above with EXDEV (other_layout_is_refused); where
# it is the same, the twin resumed it.
vpci() { # name expected-exit command...: runs rvfio-vpci, shows and keeps its output
	local name=$1 want=$2 status
	shift 2
	"$bin/rvfio-vpci" "$@" >"/tmp/$name.out" 2>&1
	status=$?
	cat "/tmp/$name.out"
	check "$name" test "$status" -eq "$want"
}
mig_case() { # case: the migration test passed it
	grep -q "^ok [0-9]* migration\.$1\$" /tmp/mig.tap
}
# The tool opens a device through its cdev: not on a kernel without iommufd.
if have_iommufd; then
	vpci_start=$(cut -d' ' -f1 /proc/uptime)
	vpci vpci_derive_igb 0 derive "$RVFIO_IGB0"
	cp /tmp/vpci_derive_igb.out /tmp/igb.vpci
	grep -v '^#' /tmp/igb.vpci >/tmp/igb.derived
	grep -v '^#' "$bin/instance-types/igb.vpci" >/tmp/igb.reference
	check vpci_igb_is_the_reference cmp /tmp/igb.derived /tmp/igb.reference
	vpci vpci_check_igb_derived 0 check /tmp/igb.vpci "$RVFIO_IGB0"
	vpci vpci_check_igb_twin 0 check /tmp/igb.vpci "$RVFIO_IGB1"
	vpci vpci_check_igb_noflr 14 check /tmp/igb.vpci "$RVFIO_IGB_NOFLR"
	vpci vpci_check_igb_any_flr_noflr 0 check "$bin/instance-types/igb-any-flr.vpci" "$RVFIO_IGB_NOFLR"
	vpci vpci_diff_igb_noflr 1 diff "$RVFIO_IGB0" "$RVFIO_IGB_NOFLR"
	same_layout_resumes() {
		grep -q "layout: same" /tmp/vpci_check_igb_twin.out &&
			mig_case stop_copy_then_target_continues
	}
	other_layout_is_exdev() {
		local out
		for out in check_igb_noflr check_igb_any_flr_noflr diff_igb_noflr; do
			grep -q "layout: differs.*(EXDEV)" "/tmp/vpci_$out.out" || return 1
		done
		mig_case other_layout_is_refused
	}
	check vpci_same_layout_resumes same_layout_resumes
	check vpci_other_layout_is_exdev other_layout_is_exdev
	echo "TIME vpci $(awk -v start="$vpci_start" '{ printf "%.2f", $1 - start }' /proc/uptime) s"
fi

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
