#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Load rvfio_pci, whose KUnit suites run at load, and print each suite's KTAP
# results from debugfs between markers for the host to parse with kunit.py.
modprobe rvfio_pci || exit 1
found=0
for suite in /sys/kernel/debug/kunit/rvfio_pci_*; do
	[ -r "$suite/results" ] || continue
	found=1
	echo "RVFIO-KTAP-BEGIN $(basename "$suite")"
	cat "$suite/results"
	echo "RVFIO-KTAP-END"
done
rmmod rvfio_pci || exit 1
[ "$found" = 1 ]
