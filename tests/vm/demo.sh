#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The main job's guest side: load rvfio-pci, bind an igb to it the way a user
# does on a real host, show what VFIO offers, and drive the device with the
# upstream VFIO selftest that exercises config space, BARs, IRQs and reset;
# then ask both an igb and virtio-net with ATS what they can do with PASID,
# ATS and PRI, as samples/rvfio/pasid_ats.c does for a VMM.
set -e
. /usr/lib/rvfio-tests/lib.sh
dev=$RVFIO_IGB0

echo "--- modprobe rvfio_pci"
modprobe rvfio_pci
echo "--- bind $dev ($(cat /sys/bus/pci/devices/$dev/vendor):$(cat /sys/bus/pci/devices/$dev/device)) through driver_override"
bind_to "$dev" rvfio-pci
echo "driver: $(driver_of "$dev")"
echo "VFIO cdev: $(vfio_cdev "$dev")"
echo "IOMMU group: /dev/vfio/$(basename "$(readlink /sys/bus/pci/devices/$dev/iommu_group)")"
echo "--- upstream vfio_pci_device_test against rvfio-pci"
/usr/lib/vfio-selftests/vfio_pci_device_test "$dev"
echo "--- RVFIO_DEVICE_FEATURE_PCI_PASID_ATS (samples/rvfio/pasid_ats.c)"
bind_to "$RVFIO_VIRTIO" rvfio-pci
/usr/lib/rvfio-tests/pasid_ats "$dev"
/usr/lib/rvfio-tests/pasid_ats "$RVFIO_VIRTIO"
unbind "$RVFIO_VIRTIO"
echo >"/sys/bus/pci/devices/$RVFIO_VIRTIO/driver_override"
echo "--- kernel log of rvfio-pci"
dmesg | grep -E 'rvfio' || true
echo "--- unbind and unload"
unbind "$dev"
echo >"/sys/bus/pci/devices/$dev/driver_override"
rmmod rvfio_pci
echo "rvfio-pci demo: ok"
