# SPDX-License-Identifier: GPL-2.0
# Shared by the guest scripts that drive Debian's QEMU 10 (tests/nested/bundle.sh,
# at /opt/qemu) as the client of rvfio-pci: tests/vm/qemu.sh, which tests it,
# and tests/vm/demo.sh, which shows one migration of it (make run). Installed
# in the guest as /usr/lib/rvfio-tests/qemu_lib.sh; needs lib.sh first.
# nested_igb drives each nested guest's igb through QEMU's qtest protocol and
# QEMU through QMP.
igb=/usr/lib/rvfio-tests/nested_igb
qemu=/opt/qemu/qemu
A=$RVFIO_IGB0
B=$RVFIO_IGB1
# The slot of each assigned igb on the nested guest's bus 0.
SA=4
SB=5

# qemu_start NAME QEMU_ARGS...: a nested guest with FIFOs /tmp/NAME.qt and
# /tmp/NAME.mon, QMP capabilities negotiated. Fails if QEMU did not come up.
qemu_start() {
	local name=$1
	shift
	rm -f /tmp/"$name".*
	mkfifo /tmp/"$name".qt.in /tmp/"$name".qt.out /tmp/"$name".mon.in /tmp/"$name".mon.out
	echo "qemu $name: $*"
	"$qemu" -M pc -global apic.vapic=off -accel tcg -m 32M -nodefaults -display none \
		-bios /opt/qemu/share/halt.rom \
		-qtest pipe:/tmp/"$name".qt -qtest-log /dev/null \
		-chardev pipe,id=mon,path=/tmp/"$name".mon -mon chardev=mon,mode=control \
		"$@" >/tmp/"$name".log 2>&1 &
	echo $! >/tmp/"$name".pid
	if ! qmp "$name" '{"execute":"qmp_capabilities"}' >/dev/null; then
		# A QEMU left holding a device would make its unbind wait for ever.
		kill -9 "$(cat /tmp/"$name".pid)" 2>/dev/null
		wait "$(cat /tmp/"$name".pid)"
		cat /tmp/"$name".log
		return 1
	fi
}

qmp() { # NAME JSON: prints the reply; fails on an error reply
	"$igb" qmp /tmp/"$1".mon "$2"
}

# qemu_quit NAME: quits QEMU and shows what it printed. A QEMU that has not gone
# 60 s after "quit" is killed and the quit fails (qemu_quit_NAME).
qemu_quit() {
	local pid n=600
	pid=$(cat /tmp/"$1".pid)
	qmp "$1" '{"execute":"quit"}' >/dev/null
	while kill -0 "$pid" 2>/dev/null && [ $n -gt 0 ]; do
		sleep 0.1
		n=$((n - 1))
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -9 "$pid"
		result "qemu_quit_$1" fail "QEMU still running 60 s after quit"
	fi
	wait "$pid"
	sed "s/^/qemu $1: /" /tmp/"$1".log
}

drive() { # NAME SLOT COMMAND [N]: one nested_igb command on that guest's igb
	"$igb" "$3" /tmp/"$1".qt "$2" ${4:+"$4"}
}

drive_to() { # FILE NAME SLOT COMMAND [N]: drive, its output in FILE and shown
	local out=$1 status
	shift
	drive "$@" >"$out"
	status=$?
	cat "$out"
	return $status
}

field() { # KEY: the first number after "KEY": in stdin's JSON
	sed -n "s/.*\"$1\": \([0-9]*\).*/\1/p" | head -n 1
}

# wait_status NAME COMMAND WANT...: polls a query until its "status" is one of
# WANT; fails at once on a migration's end that is not one of them, and after
# 300 s, a bound against a hang far above any run seen.
wait_status() {
	local vm=$1 query=$2 end reply status want
	shift 2
	end=$(($(date +%s) + 300))
	while [ "$(date +%s)" -lt $end ]; do
		reply=$(qmp "$vm" "{\"execute\":\"$query\"}")
		status=$(echo "$reply" | sed -n 's/.*"status": "\([a-z-]*\)".*/\1/p')
		for want in "$@"; do
			[ "$status" = "$want" ] && return 0
		done
		case $status in completed | failed | cancelled) break ;; esac
		sleep 0.2
	done
	echo "$vm: $query still says '$status': $reply"
	qemu_threads "$vm"
	return 1
}

# qemu_threads NAME: where each thread of that QEMU is, in the kernel and out:
# what a wait that never ended leaves to find its cause by.
qemu_threads() {
	local task
	for task in /proc/"$(cat /tmp/"$1".pid)"/task/*; do
		echo "$1: thread ${task##*/} $(cat "$task"/comm)," \
			"$(sed -n 's/^State:\t//p' "$task"/status), in $(cat "$task"/wchan)"
		sed "s/^/$1:   /" "$task"/stack
	done
	qmp "$1" '{"execute":"human-monitor-command","arguments":{"command-line":"info migrate"}}'
}


# The workload of a nested guest that migrates from A to B: its igb has 32
# receive buffers posted, 8 frames received and checked, 24 buffers still
# waiting when it migrates; on the destination 24 more frames land in them,
# then 8 in new buffers, all checked, with an MSI-X message each time.
workload_start() { # NAME
	drive "$1" $SA init >/dev/null && drive "$1" $SA post 32 && drive "$1" $SA send 8 &&
		drive "$1" $SA check >/dev/null
}

workload_goes_on() { # NAME
	drive "$1" $SA send 24 && drive "$1" $SA check >/dev/null && drive "$1" $SA post 8 &&
		drive "$1" $SA send 8 && drive "$1" $SA check
}

# report_migration TAG NAME: QEMU's figures of the source NAME's last migration.
report_migration() {
	reply=$(qmp "$2" '{"execute":"query-migrate"}')
	echo "FIGURE $1 status $(echo "$reply" | sed -n 's/.*"status": "\([a-z-]*\)".*/\1/p')" \
		"total-time $(echo "$reply" | field total-time) ms" \
		"downtime $(echo "$reply" | field downtime) ms" \
		"ram-transferred $(echo "$reply" | sed -n 's/.*"ram": {[^}]*"transferred": \([0-9]*\).*/\1/p') bytes" \
		"vfio-transferred $(echo "$reply" | sed -n 's/.*"vfio": {[^}]*"transferred": \([0-9]*\).*/\1/p') bytes"
}


# DMA logging under QEMU's defaults.
# dirty_precopy TAG true|false: a running nested guest migrates live with
# QEMU's defaults (a container, enable-migration=auto: QEMU finds the
# device's DMA logging; BAR 0 mapped but its doorbell pages, mmap_layout=
# saving). nested_igb precopy-send holds the pre-copy back (a page kept dirty,
# with a 1 ms downtime limit and 64 KiB/s) until QEMU's first pass over memory
# is over, then 24 frames land in receive buffers whose pages went already:
# only the device's DMA log tells QEMU to send them again. The destination
# must hold them, checked without waiting (they landed on the source before
# the switchover). With the driver's reports blinded (debugfs
# dma_log_blind), the same check must fail: the test can fail.
dirty_precopy() {
	local tag=$1 blind=$2 knob=/sys/kernel/debug/rvfio-pci-$A/dma_log_blind
	echo "$blind" >"$knob"
	qemu_start src -device vfio-pci,host="$A",addr=$SA ||
		{ result "${tag}_start" fail; cat /tmp/src.log; return; }
	qemu_start dst -incoming defer -device vfio-pci,host="$B",addr=$SA ||
		{ result "${tag}_start_destination" fail; cat /tmp/dst.log; qemu_quit src; return; }
	check "${tag}_workload_before" workload_start src
	check "${tag}_hold_back" qmp src \
		'{"execute":"migrate-set-parameters","arguments":{"max-bandwidth":65536,"downtime-limit":1}}'
	check "${tag}_incoming" qmp dst '{"execute":"migrate-incoming","arguments":{"uri":"unix:/tmp/mig.sock"}}'
	check "${tag}_migrate" qmp src '{"execute":"migrate","arguments":{"uri":"unix:/tmp/mig.sock"}}'
	check "${tag}_frames_during_precopy" "$igb" precopy-send /tmp/src.qt $SA 24 /tmp/src.mon
	# Let go with the bandwidth QEMU may count on at the switchover given: its
	# own estimate is what it sent in the last 100 ms, which falls to nothing
	# once the held-back pass is over and memory is clean, and then the
	# device's stop-copy data never fits the downtime limit (seen: "active"
	# for 300 s, thousands of dirty syncs, nothing remaining).
	check "${tag}_let_go" qmp src \
		'{"execute":"migrate-set-parameters","arguments":{"max-bandwidth":1073741824,"avail-switchover-bandwidth":1073741824,"downtime-limit":300}}'
	check "${tag}_completed" wait_status src query-migrate completed
	report_migration "$tag" src
	check "${tag}_destination_runs" wait_status dst query-status running
	if [ "$blind" = false ]; then
		check "${tag}_destination_holds_frames" drive dst $SA verify
		check "${tag}_workload_goes_on" sh -c "$igb check /tmp/dst.qt $SA >/dev/null &&
			$igb post /tmp/dst.qt $SA 8 && $igb send /tmp/dst.qt $SA 8 &&
			$igb check /tmp/dst.qt $SA"
	else
		drive dst $SA verify >/tmp/verify.out 2>&1
		cat /tmp/verify.out
		check "${tag}_destination_misses_frames" grep -q -e 'not written back' -e 'differs' \
			/tmp/verify.out
	fi
	qemu_quit src
	qemu_quit dst
	echo false >"$knob"
}
