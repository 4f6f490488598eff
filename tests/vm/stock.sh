#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# rvfio-pci on Debian's stock kernel (run-guest with RVFIO_STOCK_KERNEL): the
# module built the DKMS way, the distribution's own VFIO modules, devices
# opened through their groups in type1 containers, since that kernel has no
# iommufd. Runs the lifecycle, PASID/ATS, migration (with the mmap rule) and
# parity scripts as they run on the project's kernels, each result named after
# its script; then checks that nothing but the expected O and E taint is set.
. /usr/lib/rvfio-tests/lib.sh
# The project's scripts, added by the runner (--add tests/vm:...).
scripts=/usr/lib/rvfio-tests/vm

check kernel_is_stock test "$(uname -r)" = "$RVFIO_KERNEL_RELEASE"
check kernel_built_with_gcc grep -q 'gcc' /proc/version
check no_iommufd sh -c '! test -e /dev/iommu'
# A distribution's modprobe loads vfio_iommu_type1 through vfio's softdep;
# busybox's does not read softdeps, so a container would find no IOMMU driver.
check modprobe_type1 modprobe vfio_iommu_type1

# Each script's results get its name in front: the C programs print their own
# RESULT lines, and two scripts may name a check alike.
for script in lifecycle pasid_ats migration; do
	{
		sh "$scripts/$script.sh"
		echo $? >/tmp/status
	} 2>&1 | sed "s/^RESULT /RESULT $script./"
	check "$script.script_status" test "$(cat /tmp/status)" -eq 0
done

# Upstream's DMA mapping tests at parity with the stock vfio-pci, in the two
# container modes. vfio_pci_device_test and vfio_pci_driver_test cannot run
# on a kernel without iommufd: they open the device in libvfio's default mode,
# iommufd, whatever their variant.
PARITY_BINS="vfio_dma_mapping_test vfio_dma_mapping_mmio_test" \
	PARITY_ARGS="-v vfio_type1_iommu -v vfio_type1v2_iommu -v vfio_type1_iommu_anonymous -v vfio_type1v2_iommu_anonymous" \
	sh "$scripts/parity.sh"
check parity.script_status test $? -eq 0

# O (out-of-tree) and E (unsigned) are expected for a DKMS module; any other
# flag means a report. The harness checks the bad ones too; this names them.
tainted=$(cat /proc/sys/kernel/tainted)
check taint_only_out_of_tree_unsigned test $((tainted & ~((1 << 12) | (1 << 13)))) -eq 0
check module_out_of_tree_unsigned grep -qx OE /sys/module/rvfio_pci/taint
echo "stock: tainted=$tainted, rvfio_pci taint $(cat /sys/module/rvfio_pci/taint)"
exit "$RVFIO_FAILED"
