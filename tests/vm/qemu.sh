#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# An unmodified QEMU as the client of rvfio-pci, inside the test VM
# (Documentation/qemu.rst). Debian's QEMU 10 (tests/nested/bundle.sh, at
# /opt/qemu) passes the igbs through to nested guests under TCG; nested_igb
# drives each nested guest's igb through QEMU's qtest protocol and QEMU
# through QMP.
#
#   passthrough  both backends (legacy container, iommufd), BARs mapped and
#                trapped (x-no-mmap=on): an igb on rvfio-pci and its twin on
#                vfio-pci in one nested guest, config space, BAR 0, MSI-X and
#                a DMA workload on each, the same results from both
#   migration    a nested guest whose igb has receive buffers in flight moves
#                from one igb on rvfio-pci to the other, to a file and back,
#                and live over a unix socket (pre-copy, switchover-ack); the
#                workload goes on where it stopped
#   refusal      QEMU's defaults: the migration fails cleanly (EBUSY), the
#                guest and its device go on
#   layout       mmap_layout=saving: QEMU's defaults migrate, BARs mapped
#   dirty        QEMU's defaults with a container: the device's DMA log sends
#                again the receive buffers it wrote during pre-copy; blinded,
#                the destination misses them
#   cost         what trapping the doorbells costs a nested workload
#
# RESULT lines for the host; FIGURE lines for the report. QEMU_PARTS (passed
# with RVFIO_GUEST_ENV) runs only the parts it names, for a development loop.
# What starts, drives and quits a nested QEMU, the migration workload and
# dirty's migration are in qemu_lib.sh, which make run's demo uses too.
. /usr/lib/rvfio-tests/lib.sh
. /usr/lib/rvfio-tests/qemu_lib.sh

arcs() { # BDF: the driver's count of every migration arc the device took
	cat /sys/kernel/debug/rvfio-pci-"$1"/arcs
}

arc_count() { # BDF FROM TO
	local n
	n=$(arcs "$1" | sed -n "s/^$2>$3 //p")
	echo "${n:-0}"
}

doorbells() { # BDF
	cat /sys/kernel/debug/rvfio-pci-"$1"/doorbell_writes
}

# backend_args BACKEND: the QEMU objects a backend needs and the device option.
backend_object() { [ "$1" = iommufd ] && echo "-object iommufd,id=fd0"; }
backend_option() { [ "$1" = iommufd ] && echo ",iommufd=fd0"; }

# --- passthrough ---------------------------------------------------------------
# passthrough BACKEND MMAP: the igb on rvfio-pci at slot SA, its twin on vfio-pci
# at SB, in one nested guest.
passthrough() {
	backend=$1 mmap=$2
	tag=qemu_pt_${backend}_mmap_$mmap
	opts=$(backend_option "$backend")
	[ "$mmap" = off ] && opts="$opts,x-no-mmap=on"
	# shellcheck disable=SC2046 # the object's words are separate arguments
	if ! qemu_start pt $(backend_object "$backend") \
		-device vfio-pci,host="$A",addr=$SA"$opts" -device vfio-pci,host="$B",addr=$SB"$opts"; then
		result "${tag}_start" fail
		cat /tmp/pt.log
		return
	fi
	result "${tag}_start" pass
	for slot_driver in $SA:rvfio-pci $SB:vfio-pci; do
		slot=${slot_driver%:*} driver=${slot_driver#*:}
		drive pt "$slot" probe >/tmp/probe.$slot
		check "${tag}_${driver}_config_bar0" grep -q '^PROBE bar0 status 00000001 scratch 12345680' /tmp/probe.$slot
		check "${tag}_${driver}_init" drive pt "$slot" init
		# 32 frames in two batches, each checked byte for byte, with an MSI-X message.
		check "${tag}_${driver}_dma_msix" sh -c "$igb post /tmp/pt.qt $slot 32 &&
			$igb send /tmp/pt.qt $slot 16 && $igb check /tmp/pt.qt $slot &&
			$igb send /tmp/pt.qt $slot 16 && $igb check /tmp/pt.qt $slot"
		check "${tag}_${driver}_bench" drive_to /tmp/pt.bench pt "$slot" bench 50
		sed -n "s/^BENCH/FIGURE $tag $driver:/p" /tmp/pt.bench
	done
	sed "s/^/$tag rvfio-pci: /" /tmp/probe.$SA
	sed "s/^/$tag vfio-pci: /" /tmp/probe.$SB
	check "${tag}_same_config_as_vfio_pci" cmp -s /tmp/probe.$SA /tmp/probe.$SB
	qemu_quit pt
}

part_passthrough() {
	check bind_rvfio bind_to "$A" rvfio-pci
	check bind_vfio bind_to "$B" vfio-pci
	for backend in container iommufd; do
		for mmap in on off; do
			passthrough $backend $mmap
		done
	done
}

# --- migration -------------------------------------------------------------------
# Every migration here moves a nested guest from A to B with the workload of
# qemu_lib.sh (workload_start, workload_goes_on).

# migrate_file TAG BACKEND OPTS running|paused: through a file; a paused guest
# (as a save to a file pauses it) is continued on the destination, a running
# one runs on there by itself.
migrate_file() {
	tag=$1 backend=$2 opts=$(backend_option "$2")$3 run=$4
	file=/tmp/$tag.mig
	# shellcheck disable=SC2046
	qemu_start src $(backend_object "$backend") -device vfio-pci,host="$A",addr=$SA"$opts" ||
		{ result "${tag}_start" fail; cat /tmp/src.log; return; }
	check "${tag}_workload_before" workload_start src
	[ "$run" = paused ] && check "${tag}_pause" qmp src '{"execute":"stop"}'
	check "${tag}_migrate" qmp src "{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"file:$file\"}}"
	check "${tag}_completed" wait_status src query-migrate completed
	report_migration "$tag" src
	echo "FIGURE $tag stream-file $(wc -c <"$file") bytes"
	qemu_quit src
	# shellcheck disable=SC2046
	qemu_start dst $(backend_object "$backend") -incoming defer \
		-device vfio-pci,host="$B",addr=$SA"$opts" ||
		{ result "${tag}_start_destination" fail; cat /tmp/dst.log; return; }
	check "${tag}_incoming" qmp dst "{\"execute\":\"migrate-incoming\",\"arguments\":{\"uri\":\"file:$file\"}}"
	if [ "$run" = paused ]; then
		check "${tag}_loaded" wait_status dst query-status paused
		check "${tag}_continue" qmp dst '{"execute":"cont"}'
	fi
	check "${tag}_destination_runs" wait_status dst query-status running
	check "${tag}_workload_goes_on" workload_goes_on dst
	qemu_quit dst
	rm -f "$file"
}

# migrate_live TAG BACKEND OPTS: between two running QEMUs over a unix socket,
# with pre-copy and switchover-ack (which needs the return path).
migrate_live() {
	tag=$1 backend=$2 opts=$(backend_option "$2")$3
	caps='{"execute":"migrate-set-capabilities","arguments":{"capabilities":[
		{"capability":"return-path","state":true},{"capability":"switchover-ack","state":true}]}}'
	caps=$(echo "$caps" | tr -d '\n\t')
	# shellcheck disable=SC2046
	qemu_start src $(backend_object "$backend") -device vfio-pci,host="$A",addr=$SA"$opts" ||
		{ result "${tag}_start" fail; cat /tmp/src.log; return; }
	# shellcheck disable=SC2046
	qemu_start dst $(backend_object "$backend") -incoming defer \
		-device vfio-pci,host="$B",addr=$SA"$opts" ||
		{ result "${tag}_start_destination" fail; cat /tmp/dst.log; qemu_quit src; return; }
	check "${tag}_workload_before" workload_start src
	for name in src dst; do
		check "${tag}_capabilities_$name" qmp $name "$caps"
	done
	check "${tag}_incoming" qmp dst '{"execute":"migrate-incoming","arguments":{"uri":"unix:/tmp/mig.sock"}}'
	a_p2p=$(arc_count "$A" PRE_COPY PRE_COPY_P2P)
	check "${tag}_migrate" qmp src '{"execute":"migrate","arguments":{"uri":"unix:/tmp/mig.sock"}}'
	check "${tag}_completed" wait_status src query-migrate completed
	report_migration "$tag" src
	check "${tag}_through_pre_copy_p2p" test "$(arc_count "$A" PRE_COPY PRE_COPY_P2P)" -gt "$a_p2p"
	check "${tag}_destination_runs" wait_status dst query-status running
	check "${tag}_workload_goes_on" workload_goes_on dst
	qemu_quit src
	qemu_quit dst
}

part_migration() {
	check bind_source bind_to "$A" rvfio-pci
	check bind_target bind_to "$B" rvfio-pci
	# The supported path for a stock QEMU with the default layout: migration
	# on, the BARs trapped. The container's type1 reports every pinned page
	# dirty at each pass; x-pre-copy-dirty-page-tracking=off makes QEMU skip
	# that while the device runs or pre-copies, so the pinned memory goes
	# once, at the switchover. A paused guest's device is in STOP_COPY at
	# every pass, so it would converge only when QEMU's bandwidth estimate
	# fits the whole memory in the downtime limit (seen once, missed once).
	migrate_file qemu_mig_file_container container \
		,enable-migration=on,x-no-mmap=on,x-pre-copy-dirty-page-tracking=off running
	migrate_file qemu_mig_file_iommufd iommufd ,enable-migration=on,x-no-mmap=on paused
	migrate_live qemu_mig_live_container container \
		,enable-migration=on,x-no-mmap=on,x-pre-copy-dirty-page-tracking=off
	migrate_live qemu_mig_live_iommufd iommufd ,enable-migration=on,x-no-mmap=on
	stop_and_start
}

# QEMU passes through RUNNING_P2P at every VM stop and start.
stop_and_start() {
	if ! qemu_start p2p -device vfio-pci,host="$A",addr=$SA,enable-migration=on,x-no-mmap=on; then
		result qemu_stop_cont_start fail
		return
	fi
	before=$(arcs "$A" | tr '\n' ' ')
	qmp p2p '{"execute":"stop"}' >/dev/null
	qmp p2p '{"execute":"cont"}' >/dev/null
	for arc in RUNNING:RUNNING_P2P RUNNING_P2P:STOP STOP:RUNNING_P2P RUNNING_P2P:RUNNING; do
		from=${arc%:*} to=${arc#*:}
		was=$(echo "$before" | sed -n "s/.*$from>$to \([0-9]*\).*/\1/p")
		check "qemu_stop_cont_${from}_to_${to}" \
			test "$(arc_count "$A" "$from" "$to")" = $((${was:-0} + 1))
	done
	qemu_quit p2p
	echo "arcs of $A:"
	arcs "$A" | sed 's/^/  /'
}

# --- refusal ---------------------------------------------------------------------
# QEMU's defaults map BAR 0 whole, doorbells included: the migration fails and
# changes nothing. The driver refuses with EBUSY: with iommufd the first arc
# (PRE_COPY), with the container the start of its DMA logging, which QEMU asks
# for first.
refusal() { # BACKEND
	local tag=qemu_refusal_$1 arcs_before
	# shellcheck disable=SC2046
	if ! qemu_start ref $(backend_object "$1") \
		-device vfio-pci,host="$A",addr=$SA"$(backend_option "$1")",enable-migration=on; then
		result "${tag}_start" fail
		return
	fi
	check "${tag}_workload_before" workload_start ref
	arcs_before=$(arcs "$A")
	qmp ref '{"execute":"migrate","arguments":{"uri":"file:/tmp/refused.mig"}}' >/dev/null
	check "${tag}_fails" wait_status ref query-migrate failed
	reply=$(qmp ref '{"execute":"query-migrate"}')
	echo "$tag: $reply"
	check "${tag}_says_busy" says_busy "$reply"
	check "${tag}_device_state_unchanged" test "$(arcs "$A")" = "$arcs_before"
	check "${tag}_guest_runs" wait_status ref query-status running
	check "${tag}_device_works" workload_goes_on ref
	qemu_quit ref
	rm -f /tmp/refused.mig
}

says_busy() { # REPLY: query-migrate's error names EBUSY
	printf '%s\n' "$1" | grep -q '"error-desc": "[^"]*Device or resource busy'
}

part_refusal() {
	check bind_refusal bind_to "$A" rvfio-pci
	refusal iommufd
	refusal container
}

# --- the saving layout as the runtime layout ------------------------------------
part_layout() {
	layout=/sys/bus/pci/devices/$A/rvfio/mmap_layout
	check bind_layout_source bind_to "$A" rvfio-pci
	check bind_layout_target bind_to "$B" rvfio-pci
	check layout_default sh -c "[ \"\$(cat $layout)\" = '[full] saving' ]"
	check layout_bad_value sh -c "! echo fast >$layout"
	for bdf in "$A" "$B"; do
		echo saving >/sys/bus/pci/devices/"$bdf"/rvfio/mmap_layout
	done
	check layout_saving sh -c "[ \"\$(cat $layout)\" = 'full [saving]' ]"
	# A device without a personality has no mapping rule, so no control.
	check bind_virtio bind_to "$RVFIO_VIRTIO" rvfio-pci
	check layout_only_with_personality test ! -e /sys/bus/pci/devices/"$RVFIO_VIRTIO"/rvfio
	unbind "$RVFIO_VIRTIO"
	# QEMU's defaults (BARs mapped, migration on) under the layout.
	if qemu_start lay -device vfio-pci,host="$A",addr=$SA,enable-migration=on; then
		check layout_refused_while_open sh -c "! echo full >$layout"
		qemu_quit lay
	else
		result layout_start fail
	fi
	# With iommufd: the container's type1 refuses (EINVAL) a dirty-bitmap
	# query that splits QEMU's peer-to-peer mapping of a BAR, so QEMU cannot
	# migrate a container guest with any BAR mapped (see the refusal above).
	migrate_live qemu_mig_live_layout_iommufd iommufd ,enable-migration=on
	migrate_file qemu_mig_file_layout_iommufd iommufd ,enable-migration=on paused
	for bdf in "$A" "$B"; do
		echo full >/sys/bus/pci/devices/"$bdf"/rvfio/mmap_layout
	done
}

part_dirty() {
	check bind_dirty_source bind_to "$A" rvfio-pci
	check bind_dirty_target bind_to "$B" rvfio-pci
	for bdf in "$A" "$B"; do
		echo saving >/sys/bus/pci/devices/"$bdf"/rvfio/mmap_layout
	done
	dirty_precopy qemu_dirty_precopy false
	dirty_precopy qemu_dirty_precopy_blind true
	for bdf in "$A" "$B"; do
		echo full >/sys/bus/pci/devices/"$bdf"/rvfio/mmap_layout
	done
}

# --- what trapping the doorbells costs --------------------------------------------
# The same nested workload (ROUNDS round trips of one frame) on the same igb
# under each way of mapping BAR 0, COST_ROUNDS times over in turn (1 here;
# more, through RVFIO_GUEST_ENV, to see the spread): QEMU's default mmap
# (layout full), x-no-mmap=on (every access trapped), and layout saving (the
# doorbell pages trapped). Each round trip writes two doorbells (a receive and
# a transmit tail): the driver must see none of them when BAR 0 is mapped
# whole and every one otherwise. Then the price of one trap, apart from the
# qtest protocol's own cost: 1000 writes to a register no layout traps against
# 1000 to an idle queue's doorbell.
ROUNDS=50
part_cost() {
	local mode round opts before seen want tag mapped
	check bind_cost bind_to "$A" rvfio-pci
	for round in $(seq "${COST_ROUNDS:-1}"); do
		for mode in full x-no-mmap saving; do
			opts=
			[ "$mode" = x-no-mmap ] && opts=,x-no-mmap=on
			if [ "$mode" = saving ]; then
				echo saving >/sys/bus/pci/devices/"$A"/rvfio/mmap_layout
			else
				echo full >/sys/bus/pci/devices/"$A"/rvfio/mmap_layout
			fi
			if ! qemu_start cost -object iommufd,id=fd0 \
				-device vfio-pci,host="$A",addr=$SA,iommufd=fd0$opts; then
				result "qemu_cost_${mode}_start" fail
				continue
			fi
			tag=qemu_cost_${mode}_$round
			# QEMU maps BAR 0 (whole, or but its doorbell pages) unless told not to.
			mapped=$(grep -c /dev/vfio/devices/ /proc/"$(cat /tmp/cost.pid)"/maps)
			if [ "$mode" = x-no-mmap ]; then
				check "${tag}_bar_not_mapped" test "$mapped" = 0
			else
				check "${tag}_bar_mapped" test "$mapped" -gt 0
			fi
			check "${tag}_init" drive cost $SA init
			before=$(doorbells "$A")
			check "${tag}_bench" drive_to /tmp/cost.bench cost $SA bench $ROUNDS
			sed -n "s/^BENCH/FIGURE qemu_cost $mode (round $round):/p" /tmp/cost.bench
			seen=$(($(doorbells "$A") - before))
			want=$((2 * ROUNDS))
			[ "$mode" = full ] && want=0
			check "${tag}_doorbells_seen" test "$seen" = "$want"
			check "${tag}_mmio" drive_to /tmp/cost.mmio cost $SA mmio 1000
			sed -n "s/^MMIO/FIGURE qemu_cost $mode (round $round):/p" /tmp/cost.mmio
			qemu_quit cost
		done
	done
	echo full >/sys/bus/pci/devices/"$A"/rvfio/mmap_layout
}

check modprobe modprobe rvfio_pci
for part in ${QEMU_PARTS:-passthrough migration refusal layout dirty cost}; do
	echo "--- $part"
	case $part in
	passthrough | migration | refusal | layout | dirty | cost) "part_$part" ;;
	*) result "qemu_part_$part" fail "no such part" ;;
	esac
done
for bdf in "$A" "$B"; do
	unbind "$bdf"
done
check rmmod rmmod rvfio_pci
exit "$RVFIO_FAILED"
