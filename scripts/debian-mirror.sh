#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Prints the machine's own Debian mirror: the first archive URI (not the
# security one) in its apt sources, deb822 (*.sources) first, then one-line
# (sources.list, *.list). Never a host typed here. Exits 1 if there is none.
set -uo pipefail

uri=$(grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null |
	awk '{print $2}' | grep -v security | head -n 1)
if [ -z "$uri" ]; then
	uri=$(grep -hE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
		awk '{print $2}' | grep -v security | head -n 1)
fi
[ -n "$uri" ] || exit 1
echo "$uri"
