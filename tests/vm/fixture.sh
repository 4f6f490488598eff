#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The vfio-user fixture devices (tests/fixture) in the guest: each bound to
# rvfio-pci, then to vfio-pci; the chain through VFIO, the PASID bytes, the
# feature. RVFIO_FIXTURES lists "BDF=name=pasid_offset" words (offset 0: none).
. /usr/lib/rvfio-tests/lib.sh
bin=/usr/lib/rvfio-tests

check modprobe modprobe rvfio_pci
modprobe vfio_pci
for entry in $RVFIO_FIXTURES; do
	# Not "name": lib.sh's check sets it.
	bdf=${entry%%=*} rest=${entry#*=} device=${rest%%=*} pasid=${rest#*=}
	for driver in rvfio-pci vfio-pci; do
		echo "FIXTURE $device $driver"
		check "${device}_bind_$driver" bind_to "$bdf" "$driver"
		"$bin/config_chain" "$bdf" "$pasid"
		"$bin/pasid_ats" "$bdf"
		unbind "$bdf"
	done
done
check rmmod rmmod rvfio_pci
exit "$RVFIO_FAILED"
