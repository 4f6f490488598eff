#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Live migration in the guest: the v2 state machine of an igb bound to
# rvfio-pci (tests/progs/mig_states_test.c), and no migration feature on a
# device without a personality (virtio-net-pci).
. /usr/lib/rvfio-tests/lib.sh
bin=/usr/lib/rvfio-tests

check modprobe modprobe rvfio_pci
check bind_igb bind_to "$RVFIO_IGB0" rvfio-pci
check bind_virtio bind_to "$RVFIO_VIRTIO" rvfio-pci
check personality_logged sh -c "dmesg | grep -q '$RVFIO_IGB0: migration: igb personality'"

"$bin/mig_states_test" "$RVFIO_IGB0" "$RVFIO_VIRTIO" || RVFIO_FAILED=$((RVFIO_FAILED + 1))

unbind "$RVFIO_IGB0"
unbind "$RVFIO_VIRTIO"
check rmmod rmmod rvfio_pci
exit "$RVFIO_FAILED"
