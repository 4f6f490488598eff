#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# RVFIO_DEVICE_FEATURE_PCI_PASID_ATS in the guest: virtio-net-pci with ATS and
# an igb bound to rvfio-pci, the igb's twin bound to vfio-pci for comparison;
# the request rules, the reported abilities and the free ranges (see
# tests/progs/pasid_ats_test.c), and the sample a VMM author reads first.
. /usr/lib/rvfio-tests/lib.sh
bin=/usr/lib/rvfio-tests

check modprobe modprobe rvfio_pci
check bind_virtio bind_to "$RVFIO_VIRTIO" rvfio-pci
check bind_igb bind_to "$RVFIO_IGB0" rvfio-pci
modprobe vfio_pci
check bind_twin bind_to "$RVFIO_IGB1" vfio-pci

"$bin/pasid_ats_test" "$RVFIO_VIRTIO" ats || RVFIO_FAILED=$((RVFIO_FAILED + 1))
"$bin/pasid_ats_test" "$RVFIO_IGB0" none "$RVFIO_IGB1" ||
	RVFIO_FAILED=$((RVFIO_FAILED + 1))

for named in "virtio=$RVFIO_VIRTIO" "igb=$RVFIO_IGB0"; do
	"$bin/pasid_ats" "${named#*=}" >/tmp/sample.out 2>&1
	status=$?
	cat /tmp/sample.out
	check "sample_${named%%=*}" test "$status" -eq 0
	check "sample_places_${named%%=*}" grep -q "synthetic PASID capability would go at" /tmp/sample.out
done

# On a device bound to vfio-pci the feature does not exist.
"$bin/pasid_ats" "$RVFIO_IGB1" >/tmp/sample.out 2>&1
cat /tmp/sample.out
check sample_vfio_pci_enotty grep -q "no PASID/ATS feature" /tmp/sample.out

unbind "$RVFIO_VIRTIO"
unbind "$RVFIO_IGB0"
unbind "$RVFIO_IGB1"
check rmmod rmmod rvfio_pci
exit "$RVFIO_FAILED"
