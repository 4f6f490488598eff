#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Teardown under load: an igb bound to rvfio-pci is unbound, its module's
# removal attempted, reset through sysfs and removed from the bus while a user
# is in the middle of migrating it (tests/progs/teardown_load.c: a data fd
# open most of the time, BAR 0 mapped, threads inside ioctls). Another igb
# under the same load keeps working throughout. Each user must end; the
# harness fails the run on any kernel report. The kernel must run kmemleak
# (kmemleak=on): what the scenarios allocate and never free is a leak the
# scan at the end reports.
. /usr/lib/rvfio-tests/lib.sh
dev=$RVFIO_IGB0
other=$RVFIO_IGB1
load=/usr/lib/rvfio-tests/teardown_load

start_load() { # BDF SECONDS LOG: the load in the background; LOG ends with its exit status
	rm -f "$3"
	("$load" "$1" "$2" >"$3" 2>&1; echo "exit $?" >>"$3") &
	wait_for 20 grep -q "teardown_load: running" "$3"
}

ended() { # LOG: the load ended with status 0
	wait_for 60 grep -q "^exit" "$1" && grep -q "^exit 0" "$1"
}

cycles() { # LOG: migration cycles the load completed
	sed -n 's/.*migration.*operations, \([0-9]*\) migration cycles.*/\1/p' "$1"
}

in_background() { # MARKER command...: run it, then create MARKER with its status
	rm -f "$1"
	local marker=$1
	shift
	("$@"; echo $? >"$marker") &
}

kmemleak=/sys/kernel/debug/kmemleak
# What boot left unreferenced is not the scenarios' doing: forget it.
check kmemleak.on sh -c "echo clear >$kmemleak"
check modprobe modprobe rvfio_pci
check bind bind_to "$dev" rvfio-pci
check bind_other bind_to "$other" rvfio-pci

# The other igb's user runs until the end, where its unbind asks it to stop.
check other_load_starts start_load "$other" 600 /tmp/other.log

# 1. Unbind: the core asks the user for the device, the user lets go, the
# unbind completes.
check unbind.load_starts start_load "$dev" 120 /tmp/unbind.log
sleep 1
in_background /tmp/unbind.done unbind "$dev"
check unbind.request_delivered wait_for 60 grep -q "request received" /tmp/unbind.log
check unbind.load_ends ended /tmp/unbind.log
check unbind.completes wait_for 60 test -e /tmp/unbind.done
check unbind.unbound test -z "$(driver_of "$dev")"
cat /tmp/unbind.log

# 2. rmmod while the device is open: refused, the module is in use; the user
# goes on undisturbed.
check rmmod.bind bind_to "$dev" rvfio-pci
check rmmod.load_starts start_load "$dev" 4 /tmp/rmmod.log
sleep 1
check rmmod.refused_in_use sh -c '! rmmod rvfio_pci 2>/tmp/rmmod.err'
cat /tmp/rmmod.err
check rmmod.still_bound test "$(driver_of "$dev")" = rvfio-pci
check rmmod.load_ends ended /tmp/rmmod.log
check rmmod.no_request sh -c '! grep -q "request received" /tmp/rmmod.log'
check rmmod.load_migrated test "$(cycles /tmp/rmmod.log)" -gt 0
cat /tmp/rmmod.log

# 3. FLR through sysfs: the driver's reset_done puts the migration state back
# to RUNNING under the user, who goes on; the device still migrates after.
check flr.load_starts start_load "$dev" 5 /tmp/flr.log
sleep 1
check flr.sysfs_reset sh -c "echo 1 >/sys/bus/pci/devices/$dev/reset"
check flr.load_ends ended /tmp/flr.log
cat /tmp/flr.log
check flr.after_load_starts start_load "$dev" 3 /tmp/flr-after.log
check flr.after_load_ends ended /tmp/flr-after.log
check flr.after_migrates test "$(cycles /tmp/flr-after.log)" -gt 0

# 4. Removal from the bus: the request again, then the device is gone; a
# rescan brings it back and it is bound and migrates again.
check remove.load_starts start_load "$dev" 120 /tmp/remove.log
sleep 1
in_background /tmp/remove.done sh -c "echo 1 >/sys/bus/pci/devices/$dev/remove"
check remove.request_delivered wait_for 60 grep -q "request received" /tmp/remove.log
check remove.load_ends ended /tmp/remove.log
check remove.completes wait_for 60 test -e /tmp/remove.done
check remove.device_gone test ! -e "/sys/bus/pci/devices/$dev"
cat /tmp/remove.log
echo 1 >/sys/bus/pci/rescan
check remove.rescan_finds_it wait_for 20 test -e "/sys/bus/pci/devices/$dev"
check remove.rebind bind_to "$dev" rvfio-pci
check remove.after_load_starts start_load "$dev" 3 /tmp/remove-after.log
check remove.after_load_ends ended /tmp/remove-after.log
check remove.after_migrates test "$(cycles /tmp/remove-after.log)" -gt 0

# The other igb's user saw none of it: it was never asked for its device
# and migrated all along.
check other.no_request sh -c '! grep -q "request received" /tmp/other.log'
unbind "$other"
check other.load_ends ended /tmp/other.log
check other.migrated test "$(cycles /tmp/other.log)" -gt 0
cat /tmp/other.log

unbind "$dev"
check rmmod rmmod rvfio_pci

# kmemleak reports only objects older than 5 s.
sleep 6
echo scan >"$kmemleak"
check kmemleak.no_leaks test ! -s "$kmemleak"
head -n 60 "$kmemleak"
exit "$RVFIO_FAILED"
