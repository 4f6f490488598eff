#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The main job's guest side (make run): what rvfio-pci is for, step by step,
# each with a heading and a line on what it shows, then a summary with the
# figures the steps measured. A step that fails says so, and the script
# exits non-zero: the harness, and make run, fail with it.
. /usr/lib/rvfio-tests/lib.sh
. /usr/lib/rvfio-tests/qemu_lib.sh
bin=/usr/lib/rvfio-tests
summary=/tmp/summary
: >"$summary"
steps=0

# step TITLE EXPLANATION COMMAND...: runs COMMAND under a heading. It fails
# if COMMAND fails or prints a failed RESULT line (the checks of qemu_lib.sh).
# Its FIGURE lines go to the summary. The output is shown as it comes: a
# nested QEMU's migration takes a while.
step() {
	local title=$1 status
	steps=$((steps + 1))
	printf '\n=== %s. %s\n    %s\n\n' "$steps" "$1" "$2"
	shift 2
	# The status through a file: a pipeline's is tee's.
	{
		"$@"
		echo $? >/tmp/step.status
	} 2>&1 | tee /tmp/step.out
	status=$(cat /tmp/step.status)
	if [ "$status" = 0 ] && ! grep -q '^RESULT .* FAIL' /tmp/step.out; then
		echo "PASS  $title" >>"$summary"
	else
		echo "=== step $steps FAILED: $title"
		echo "FAIL  $title" >>"$summary"
		RVFIO_FAILED=$((RVFIO_FAILED + 1))
	fi
	sed -n 's/^FIGURE /        /p' /tmp/step.out >>"$summary"
}

bind_all() {
	local dev
	modprobe rvfio_pci || return 1
	for dev in "$A" "$B" "$RVFIO_VIRTIO"; do
		bind_to "$dev" rvfio-pci || return 1
		echo "$dev ($(cat /sys/bus/pci/devices/"$dev"/vendor):$(cat /sys/bus/pci/devices/"$dev"/device))" \
			"driver $(driver_of "$dev"), VFIO cdev $(vfio_cdev "$dev")," \
			"IOMMU group /dev/vfio/$(basename "$(readlink /sys/bus/pci/devices/"$dev"/iommu_group)")"
	done
}

pasid_ats() {
	"$bin/pasid_ats" "$A" && "$bin/pasid_ats" "$RVFIO_VIRTIO"
}

# The nested guest migrates live with QEMU's defaults (qemu_lib.sh's
# dirty_precopy): its igb's frames land in buffers QEMU had sent already, and
# only the driver's DMA log makes QEMU send them again.
nested_qemu() {
	local bdf failed=$RVFIO_FAILED
	for bdf in "$A" "$B"; do
		echo saving >/sys/bus/pci/devices/"$bdf"/rvfio/mmap_layout || return 1
		echo "$bdf: mmap_layout $(cat /sys/bus/pci/devices/"$bdf"/rvfio/mmap_layout)"
	done
	dirty_precopy qemu_live_migration false
	for bdf in "$A" "$B"; do
		echo full >/sys/bus/pci/devices/"$bdf"/rvfio/mmap_layout
	done
	[ "$RVFIO_FAILED" = "$failed" ] &&
		echo "FIGURE the 24 frames the igb wrote during pre-copy were on the destination"
}

step "rvfio-pci binds like vfio-pci" \
	"modprobe (the KUnit suites run as it loads), then two igbs and a virtio-net with ATS bound through driver_override." \
	bind_all
step "Upstream's VFIO selftest on rvfio-pci" \
	"vfio_pci_device_test: config space, BARs, IRQs and reset, as against vfio-pci." \
	/usr/lib/vfio-selftests/vfio_pci_device_test "$A"
step "PASID, ATS and PRI through RVFIO_DEVICE_FEATURE_PCI_PASID_ATS" \
	"samples/rvfio/pasid_ats.c asks each device what a VMM needs to build its PASID capability." \
	pasid_ats
step "An igb's DMA and MSI workload migrates to its twin" \
	"Live, through PRE_COPY with the DMA log on; the twin goes on with the same driver state, every copy checked." \
	"$bin/vfio_pci_migration_demo" migrate "$A" "$B"
step "No saving while a doorbell page is mapped" \
	"The driver refuses PRE_COPY with EBUSY while BAR 0 is mapped whole, and accepts it after munmap of the doorbell pages." \
	"$bin/vfio_pci_migration_demo" busy "$A"
step "Debian's QEMU 10, unmodified, migrates a nested guest through rvfio-pci" \
	"QEMU's defaults (-device vfio-pci,host=BDF) under mmap_layout=saving: live, the device's DMA log sent again." \
	nested_qemu

for dev in "$A" "$B" "$RVFIO_VIRTIO"; do
	unbind "$dev"
	echo >/sys/bus/pci/devices/"$dev"/driver_override
done
rmmod rvfio_pci || { echo "rmmod rvfio_pci failed"; RVFIO_FAILED=$((RVFIO_FAILED + 1)); }

printf '\n=== Summary\n'
cat "$summary"
if [ "$RVFIO_FAILED" = 0 ]; then
	echo "rvfio-pci demo: all $steps steps passed"
else
	echo "rvfio-pci demo: $RVFIO_FAILED of $steps steps FAILED"
fi
exit "$RVFIO_FAILED"
