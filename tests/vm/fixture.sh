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
		"$bin/config_chain" "$bdf" "$pasid" >/tmp/chain.out
		cat /tmp/chain.out
		check "${device}_${driver}_no_pasid_in_chain" sh -c '! grep -q " 1b@" /tmp/chain.out'
		if [ "$driver" = rvfio-pci ]; then
			"$bin/pasid_ats" "$bdf" >/tmp/feature.out
			cat /tmp/feature.out
			if [ "$pasid" = 0 ]; then
				check "${device}_reports_no_pasid" grep -q "PASID: no" /tmp/feature.out
			else
				check "${device}_pasid_registers_zero" grep -q "pasid registers: zero" /tmp/chain.out
				check "${device}_pasid_write_dropped" grep -q "pasid write: dropped" /tmp/chain.out
				check "${device}_reports_pasid_at_$pasid" \
					grep -q "physical cap at $pasid" /tmp/feature.out
			fi
			check "${device}_places_pasid" grep -q "would go at" /tmp/feature.out
		fi
		unbind "$bdf"
	done
done
check rmmod rmmod rvfio_pci
exit "$RVFIO_FAILED"
