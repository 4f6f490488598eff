#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Binding lifecycle of rvfio-pci in the guest: modprobe, bind through
# driver_override, the VFIO cdev, unbind, rebind, rmmod, and unbind while a
# user holds the device open (the core's request path).
. /usr/lib/rvfio-tests/lib.sh
dev=$RVFIO_IGB0
other=$RVFIO_IGB1
holder=/usr/lib/rvfio-tests/vfio_holder

check modprobe modprobe rvfio_pci
check driver_registered test -d /sys/bus/pci/drivers/rvfio-pci

# Override-only IDs: a device without driver_override is never taken.
unbind "$other"
echo "$other" >/sys/bus/pci/drivers_probe
check no_match_without_override test "$(driver_of "$other")" != rvfio-pci

check bind bind_to "$dev" rvfio-pci
cdev=$(vfio_cdev "$dev")
if have_iommufd; then
	check cdev_appears test -c "$cdev"
else
	# The vfio-dev class device exists either way; its node needs iommufd.
	check no_cdev_without_iommufd sh -c '! ls /dev/vfio/devices/* 2>/dev/null'
fi
group=$(basename "$(readlink "/sys/bus/pci/devices/$dev/iommu_group")")
check group_node test -c "/dev/vfio/$group"

unbind "$dev"
check unbind test -z "$(driver_of "$dev")"
if have_iommufd; then
	check cdev_gone test ! -e "$cdev"
fi
check group_node_gone test ! -e "/dev/vfio/$group"

echo "$dev" >/sys/bus/pci/drivers_probe
check rebind test "$(driver_of "$dev")" = rvfio-pci

# Unbind while a user holds the device and listens for device requests: the
# core signals the request eventfd, the user releases, the unbind completes.
$holder "$dev" request 20 >/tmp/holder.log 2>&1 &
hpid=$!
check holder_opens wait_for 20 grep -q "holder: open" /tmp/holder.log
(unbind "$dev"; echo done >/tmp/unbind.done) &
check request_delivered wait_for 20 grep -q "request received" /tmp/holder.log
check unbind_after_release wait_for 20 test -e /tmp/unbind.done
wait "$hpid"
check holder_status test $? -eq 0
check unbound_after_request test -z "$(driver_of "$dev")"
cat /tmp/holder.log

# A user with no request channel: the unbind waits until it lets go.
rm -f /tmp/unbind.done
echo "$dev" >/sys/bus/pci/drivers_probe
$holder "$dev" hold 3 >/tmp/holder.log 2>&1 &
hpid=$!
check holder_opens_no_request wait_for 20 grep -q "holder: open" /tmp/holder.log
(unbind "$dev"; echo done >/tmp/unbind.done) &
sleep 1
check unbind_blocks_while_held test ! -e /tmp/unbind.done
check unbind_completes_on_release wait_for 20 test -e /tmp/unbind.done
wait "$hpid"
check unbound_after_hold test -z "$(driver_of "$dev")"

# rmmod with nothing bound succeeds; again with a device bound, which the
# driver core unbinds first.
check rmmod_unbound rmmod rvfio_pci
check driver_gone test ! -d /sys/bus/pci/drivers/rvfio-pci
modprobe rvfio_pci
bind_to "$dev" rvfio-pci
check rmmod_bound rmmod rvfio_pci
check unbound_by_rmmod test -z "$(driver_of "$dev")"
echo >"/sys/bus/pci/devices/$dev/driver_override"

exit "$RVFIO_FAILED"
