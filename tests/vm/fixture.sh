#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The vfio-user fixture devices (tests/fixture) in the guest, each bound to
# rvfio-pci, then to vfio-pci for comparison.
#
# RVFIO_FIXTURES lists "BDF=name=pasid_offset" words (offset 0: no PASID).
# RVFIO_FIXTURE_EXPECT is a directory of "rvfio-fixture --expect" files, one
# per name: the exact lines config_chain and the pasid_ats sample must print
# on rvfio-pci. RVFIO_EXPECT_PASID_IOMMU (yes|no) is what the feature must say
# of the IOMMU for a device with PASID, which follows intel-iommu's pasid-bits;
# for a device without PASID it is always no (the IOMMU allots such a device
# no PASIDs).
#
# Prints "TABLE name driver ..." lines: what each driver shows.
. /usr/lib/rvfio-tests/lib.sh
bin=/usr/lib/rvfio-tests

# expect_line FILE TAG: the expected line tagged TAG.
expect_line() {
	sed -n "s/^$2 //p" "$1"
}

# matches NAME FILE LINE: FILE has LINE, whole; shows it when not.
matches() {
	if [ -n "$3" ] && grep -qxF -- "$3" "$2"; then
		result "$1" pass
	else
		echo "expected: '$3'"
		result "$1" fail "not in $2"
	fi
}

# said WHAT FILE: the rest of FILE's line "WHAT rest", or "-".
said() {
	value=$(sed -n "s/^$1 *//p" "$2")
	echo "${value:--}"
}

check modprobe modprobe rvfio_pci
modprobe vfio_pci
for entry in $RVFIO_FIXTURES; do
	# Not "name": lib.sh's check sets it.
	bdf=${entry%%=*} rest=${entry#*=} device=${rest%%=*} pasid=${rest#*=}
	expect=$RVFIO_FIXTURE_EXPECT/$device
	for driver in rvfio-pci vfio-pci; do
		echo "FIXTURE $device $driver"
		check "${device}_${driver}_bind" bind_to "$bdf" "$driver"
		# The walk exits 1 on a next pointer out of range or a loop.
		"$bin/config_chain" "$bdf" "$pasid" >/tmp/chain.out
		check "${device}_${driver}_chain_valid" test $? -eq 0
		cat /tmp/chain.out
		check "${device}_${driver}_no_pasid_in_chain" sh -c '! grep -q " 1b@" /tmp/chain.out'
		matches "${device}_${driver}_chain" /tmp/chain.out "$(expect_line "$expect" chain)"
		"$bin/pasid_ats" "$bdf" >/tmp/feature.out 2>&1
		cat /tmp/feature.out
		if [ "$driver" = rvfio-pci ]; then
			if [ "$pasid" != 0 ]; then
				check "${device}_pasid_registers_zero" grep -qx "pasid registers: zero" /tmp/chain.out
				check "${device}_pasid_write_dropped" grep -qx "pasid write: dropped" /tmp/chain.out
			fi
			iommu=$RVFIO_EXPECT_PASID_IOMMU
			[ "$pasid" != 0 ] || iommu=no
			matches "${device}_feature_pasid" /tmp/feature.out \
				"$(expect_line "$expect" pasid); IOMMU can attach PASIDs: $iommu"
			for tag in ats pri free placement; do
				matches "${device}_feature_$tag" /tmp/feature.out "$(expect_line "$expect" $tag)"
			done
			feature=$(sed -nE -e 's/^  PASID: yes \(physical cap at ([^,]*),.*IOMMU can attach PASIDs: (.*)/pasid@\1,iommu=\2/p' \
				-e 's/^  PASID: no; IOMMU can attach PASIDs: (.*)/no-pasid,iommu=\1/p' /tmp/feature.out)
		else
			check "${device}_vfio-pci_has_no_feature" grep -q "no PASID/ATS feature" /tmp/feature.out
			feature=none
		fi
		echo "TABLE $device $driver chain=$(said chain: /tmp/chain.out | tr ' ' ',')" \
			"registers=$(said 'pasid registers:' /tmp/chain.out)" \
			"write=$(said 'pasid write:' /tmp/chain.out)" "feature=$feature"
		unbind "$bdf"
	done
done
check rmmod rmmod rvfio_pci
exit "$RVFIO_FAILED"
