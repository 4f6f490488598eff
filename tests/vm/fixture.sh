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
#
# With the IOMMU's PASIDs (RVFIO_EXPECT_PASID_IOMMU=yes), rvfio-vpci
# (Documentation/vpci.rst) derives each device's instance type on rvfio-pci,
# which must be its reference (tools/rvfio-vpci/instance-types/NAME.vpci) and
# which the device presents; the firmware-v2 device is checked against the
# pasid-first types, as each says.
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

# vpci_check NAME EXPECTED_EXIT DESCRIPTION BDF: rvfio-vpci check, shown.
vpci_check() {
	local status
	"$bin/rvfio-vpci" check "$3" "$4" >/tmp/vpci.out 2>&1
	status=$?
	cat /tmp/vpci.out
	check "$1" test "$status" -eq "$2"
}

# vpci DEVICE BDF: the instance-type checks of one device bound to rvfio-pci.
vpci() {
	local types=$bin/instance-types start
	start=$(cut -d' ' -f1 /proc/uptime)
	"$bin/rvfio-vpci" derive "$2" >"/tmp/$1.vpci"
	check "${1}_vpci_derive" test $? -eq 0
	cat "/tmp/$1.vpci"
	grep -v '^#' "/tmp/$1.vpci" >/tmp/vpci.derived
	grep -v '^#' "$types/$1.vpci" >/tmp/vpci.reference
	check "${1}_vpci_is_the_reference" cmp /tmp/vpci.derived /tmp/vpci.reference
	vpci_check "${1}_vpci_check_derived" 0 "/tmp/$1.vpci" "$2"
	case $1 in
	pasid-first)
		vpci_check pasid-first_vpci_check_fleet 0 "$types/pasid-first-fleet.vpci" "$2"
		vpci_check pasid-first_vpci_check_fleet_pasid_0x180 0 \
			"$types/pasid-first-fleet-pasid-0x180.vpci" "$2"
		;;
	pasid-first-fw2)
		# v1's own type: revision 2 is not accepted (exit 11); the fleet's lets
		# the capabilities move (yes, another layout); with the PASID at 0x180,
		# where v2 has PRI, no room (exit 17).
		vpci_check pasid-first-fw2_vpci_check_v1 11 "$types/pasid-first.vpci" "$2"
		vpci_check pasid-first-fw2_vpci_check_fleet 0 "$types/pasid-first-fleet.vpci" "$2"
		vpci_check pasid-first-fw2_vpci_check_fleet_pasid_0x180 17 \
			"$types/pasid-first-fleet-pasid-0x180.vpci" "$2"
		;;
	esac
	vpci_seconds=$(awk -v start="$start" -v sum="$vpci_seconds" \
		'{ printf "%.2f", sum + $1 - start }' /proc/uptime)
}
vpci_seconds=0

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
			[ "$RVFIO_EXPECT_PASID_IOMMU" != yes ] || vpci "$device" "$bdf"
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
[ "$RVFIO_EXPECT_PASID_IOMMU" != yes ] || echo "TIME vpci $vpci_seconds s"
check rmmod rmmod rvfio_pci
exit "$RVFIO_FAILED"
