#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Hostile fixture devices (Documentation/fixture.rst, "Hostile modes") in the
# guest: each is bound to rvfio-pci, asked for the PASID/ATS feature, swept
# through the VFIO config region (every dword, some written back) and BAR 0,
# unbound, then bound and asked again, since a device may change between two
# binds. Nothing of it may crash or hang; the driver's lines about the device
# are printed as "LOG name ...", and for the modes the guest sees at bind
# (all-ones, flapping) they must say what is wrong. A config-space mode starts
# at the function's first FLR, which the first open (pasid_ats's) makes: the
# first bind meets the device as described, the rest the mode.
#
# RVFIO_FIXTURES lists "BDF=name=pasid_offset" words, as for fixture.sh; the
# name is the hostile mode's.
. /usr/lib/rvfio-tests/lib.sh
bin=/usr/lib/rvfio-tests

# ran NAME FILE COMMAND...: runs COMMAND into FILE and passes if it exited by
# itself (a status below 128: not killed by a signal), whatever it answered.
ran() {
	local name=$1 out=$2 status
	shift 2
	"$@" >"$out" 2>&1
	status=$?
	sed 's/^/  /' "$out"
	if [ "$status" -lt 128 ]; then
		result "$name" pass
	else
		result "$name" fail "status $status"
	fi
}

check modprobe modprobe rvfio_pci
for entry in $RVFIO_FIXTURES; do
	# Not "name": lib.sh's check sets it.
	bdf=${entry%%=*} rest=${entry#*=} device=${rest%%=*}
	echo "HOSTILE $device $bdf"
	start=$(cut -d. -f1 /proc/uptime)
	mark=$(dmesg | wc -l)
	check "${device}_bind" bind_to "$bdf" rvfio-pci
	ran "${device}_feature" /tmp/feature.out "$bin/pasid_ats" "$bdf"
	ran "${device}_sweep" /tmp/sweep.out "$bin/config_sweep" "$bdf"
	check "${device}_sweep_complete" grep -q "^bar0 write:" /tmp/sweep.out
	unbind "$bdf"
	check "${device}_unbind" test -z "$(driver_of "$bdf")"
	check "${device}_rebind" bind_to "$bdf" rvfio-pci
	ran "${device}_feature_again" /tmp/feature.out "$bin/pasid_ats" "$bdf"
	unbind "$bdf"
	check "${device}_unbind_again" test -z "$(driver_of "$bdf")"
	dmesg | tail -n +$((mark + 1)) | grep "rvfio-pci $bdf" >/tmp/log.out
	sed "s/^/LOG $device /" /tmp/log.out
	# What the driver must say at the second bind, when the mode is on.
	case $device in
	all-ones) said="capability chain is broken" ;;
	flapping) said="capability layout changed while it was read" ;;
	*) said= ;;
	esac
	[ -z "$said" ] || check "${device}_log_says_so" grep -q "$said" /tmp/log.out
	echo "TIME $device $(($(cut -d. -f1 /proc/uptime) - start)) s"
done
check rmmod rmmod rvfio_pci
exit "$RVFIO_FAILED"
