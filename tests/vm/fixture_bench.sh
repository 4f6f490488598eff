#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Paths benchmark (tests/progs/vfio_paths_bench.c) on fixture devices
# (tests/fixture), both drivers on the same description: RVFIO_FIXTURES
# (tests/fixture/vm.sh) taken in pairs, each pair two devices from one
# description (the second named NAME-2, ...), the first bound to rvfio-pci and
# the second to vfio-pci. From the host:
#
#   tests/fixture/vm.sh --pasid-bits 20 --script tests/vm/fixture_bench.sh \
#     tests/fixture/devices/bench-pasid.desc tests/fixture/devices/bench-pasid.desc \
#     tests/fixture/devices/bench-long-chain.desc \
#     tests/fixture/devices/bench-long-chain.desc
#
# For each pair: the chain rvfio-pci shows through the VFIO config region must
# be the one "rvfio-fixture --expect" derives (PASID out of it); vfio-pci's
# must be a valid chain, and is reported, not checked: vfio_pci_core does not
# always keep PASID out (on bench-long-chain it shows it, see
# Documentation/fixture.rst). Then "BENCH [NAME] ..." lines: the pair, the
# chain lengths, and the benchmark's own lines. Fails only if an operation
# fails or rvfio-pci's chain is not the oracle's, never on a time.
#
# Environment: RVFIO_PATHS_ROUNDS, rounds per path (default 20);
# RVFIO_BENCH_BAR_READ and RVFIO_BENCH_BAR_SCRATCH, the benchmark's BAR 0
# offsets (default 0 and 0x1000: what bench-pasid and bench-long-chain have).
# Pass them through vm.sh with RVFIO_GUEST_ENV.
. /usr/lib/rvfio-tests/lib.sh
bin=/usr/lib/rvfio-tests

# chain_matches NAME BDF EXPECT: config_chain's line on BDF is EXPECT's chain.
chain_matches() {
	local want
	want=$(sed -n 's/^chain //p' "$3")
	"$bin/config_chain" "$2" >/tmp/chain.out && grep -qxF -- "$want" /tmp/chain.out && return 0
	echo "$1: expected '$want'"
	echo "$1: seen '$(cat /tmp/chain.out)'"
	return 1
}

# chain_of FILE: "N capabilities, PASID shown|not shown" of config_chain's FILE.
chain_of() {
	local links pasid=shown
	links=$(sed -n 's/^chain://p' "$1" | wc -w)
	grep -q ' 1b@' "$1" || pasid="not shown"
	echo "$links capabilities, PASID $pasid"
}

check modprobe modprobe rvfio_pci
modprobe vfio_pci
set -- $RVFIO_FIXTURES
[ $(($# % 2)) -eq 0 ] || result fixture_pairs fail "$# devices, not pairs"
while [ $# -ge 2 ]; do
	# Not "name": lib.sh's check sets it.
	bdf=${1%%=*} rest=${1#*=} device=${rest%%=*} pasid=${rest#*=}
	twin=${2%%=*} rest=${2#*=} twin_device=${rest%%=*}
	shift 2
	case $twin_device in
	"$device"-[0-9]*) ;;
	*)
		result "${device}_pair" fail "$twin_device is no copy of $device"
		continue
		;;
	esac
	expect=$RVFIO_FIXTURE_EXPECT/$device
	check "${device}_bind" bind_to "$bdf" rvfio-pci
	check "${device}_bind_twin" bind_to "$twin" vfio-pci
	check "${device}_chain" chain_matches "${device}_chain" "$bdf" "$expect"
	cp /tmp/chain.out /tmp/chain.ours
	# The walk exits 1 on a next pointer out of range or a loop.
	check "${device}_chain_twin_valid" sh -c '"$0" "$1" >/tmp/chain.twin' \
		"$bin/config_chain" "$twin"
	# The physical chain: what the user sees, a placeholder out, PASID in.
	links=$(sed -n 's/^chain chain://p' "$expect" | wc -w)
	grep -q '^chain chain: 0@0x100' "$expect" && links=$((links - 1))
	[ "$pasid" = 0 ] || links=$((links + 1))
	echo "BENCH [$device] rvfio-pci $bdf, vfio-pci $twin ($twin_device);" \
		"extended chain of $links capabilities, PASID at $pasid"
	echo "BENCH [$device] chain through VFIO: rvfio-pci $(chain_of /tmp/chain.ours)," \
		"vfio-pci $(chain_of /tmp/chain.twin)"
	check "${device}_paths_bench" sh -c '"$0" --bar-read "$1" --bar-scratch "$2" \
		"$3" "$4" "$5" >/tmp/bench.out' "$bin/vfio_paths_bench" \
		"${RVFIO_BENCH_BAR_READ:-0}" "${RVFIO_BENCH_BAR_SCRATCH:-0x1000}" \
		"$bdf" "$twin" "${RVFIO_PATHS_ROUNDS:-20}"
	sed "s/^BENCH /BENCH [$device] /" /tmp/bench.out
	unbind "$bdf"
	unbind "$twin"
done
check rmmod rmmod rvfio_pci
exit "$RVFIO_FAILED"
