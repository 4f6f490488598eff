#!/bin/sh
# Parity of rvfio-pci with the in-tree vfio-pci under the upstream VFIO
# selftests. Guest side (busybox sh); run it with
#
#   tests/qemu/run-guest tests/vm/parity.sh
#
# The first driver of PARITY_DRIVERS (the candidate) is bound to $RVFIO_IGB0,
# the second (the reference) to $RVFIO_IGB1; each selftest binary runs against
# each device. Per case it prints
#
#   PARITY <driver> <test-binary> <case> <pass|fail|skip>
#
# (case "-" when a binary reported no case at all), the raw TAP output, and
#   PARITY-TIME <driver> <test-binary> <seconds> (exit <status>)
#   PARITY-CASE-TIME <driver> <test-binary> <case> <seconds>
# Exit status 0 only if every case that passes on the reference also passes on
# the candidate (with one driver: if no case fails).
#
# Environment (run-guest passes PARITY_* through):
#   PARITY_DRIVERS  default "rvfio-pci vfio-pci"; "vfio-pci vfio-pci" checks
#                   the harness itself without the module
#   PARITY_BINS     selftest binaries (default: vfio_pci_device_test
#                   vfio_pci_driver_test)
#   PARITY_QUICK=1  vfio_pci_driver_test in two IOMMU modes (iommufd: cdev;
#                   vfio_type1v2_iommu: group/container) and without
#                   memcpy_storm: 12 cases of 35. On the debug kernel every
#                   case costs about 20 s (its fixture pins and maps 1 GiB),
#                   so leaving out memcpy_storm alone would save little.
#   PARITY_MODES    the IOMMU modes (variants) of vfio_pci_driver_test to run,
#                   e.g. "iommufd vfio_type1v2_iommu"; default all five
#   PARITY_PARALLEL default 1: run the two drivers' suites at the same time
#                   (one vCPU each, 273 s against 455 to 512 s one after the
#                   other); 0 runs them one after the other
#                   (Documentation/testing.rst).
#   PARITY_ARGS     extra kselftest harness arguments, e.g. "-r FIXTURE.VARIANT.TEST"

drivers=${PARITY_DRIVERS:-rvfio-pci vfio-pci}
bins=${PARITY_BINS:-vfio_pci_device_test vfio_pci_driver_test}
selftests=/usr/lib/vfio-selftests
work=/tmp/parity

say() { echo "parity: $*"; }
fail() { say "error: $*"; exit 1; }

now() { cut -d' ' -f1 /proc/uptime; }

# bind BDF DRIVER: hand the device to DRIVER through driver_override, which
# also keeps any other driver from grabbing it.
bind() {
	dev=/sys/bus/pci/devices/$1
	[ -d "$dev" ] || fail "no PCI device $1"
	if [ -e "$dev/driver" ]; then
		echo "$1" >"$dev/driver/unbind" || fail "unbinding $1"
	fi
	echo "$2" >"$dev/driver_override" || fail "driver_override of $1"
	echo "$1" >/sys/bus/pci/drivers_probe
	bound=$(basename "$(readlink "$dev/driver" 2>/dev/null)")
	[ "$bound" = "$2" ] || fail "$1 is bound to '${bound:-nothing}', not $2"
	say "$1 bound to $2"
}

# stamp DRIVER BIN FILE: copy stdin to stdout and FILE, and say how long each
# case took (from the previous result line, or from the start) right away, so
# the figures survive a run that is cut short.
stamp() {
	last=$(now)
	while IFS= read -r line; do
		printf '%s\n' "$line"
		printf '%s\n' "$line" >>"$3"
		case $line in
		"ok "* | "not ok "*)
			t=$(now)
			# "[not ]ok N NAME[ # directive]" -> NAME
			name=${line#not } name=${name#ok } name=${name#* } name=${name%% *}
			echo "PARITY-CASE-TIME $1 $2 $name $(awk -v a="$last" -v b="$t" 'BEGIN { printf "%.1f", b - a }')"
			last=$t
			;;
		esac
	done
}

# run_bin SLOT DRIVER BDF BIN: run one selftest binary, keep its TAP output
# on the console, and append "BIN CASE STATUS" lines to $work/SLOT.
run_bin() {
	slot=$1 drv=$2 bdf=$3 bin=$4 out=$work/$1.$4.tap
	args=${PARITY_ARGS:-}
	if [ "${PARITY_QUICK:-0}" = 1 ] && [ "$bin" = vfio_pci_driver_test ]; then
		# The harness stops at the first filter that matches.
		args="$args -T memcpy_storm -v iommufd -v vfio_type1v2_iommu"
	elif [ -n "${PARITY_MODES:-}" ] && [ "$bin" = vfio_pci_driver_test ]; then
		for mode in $PARITY_MODES; do
			args="$args -v $mode"
		done
	fi
	say "running $bin $args $bdf ($drv)"
	t0=$(now)
	# shellcheck disable=SC2086 # $args is a list of harness options
	{ "$selftests/$bin" $args "$bdf"; echo $? >"$out.rc"; } 2>&1 | stamp "$drv" "$bin" "$out"
	t1=$(now)
	rc=$(cat "$out.rc")
	echo "PARITY-TIME $drv $bin $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') (exit $rc)"
	awk -v bin="$bin" -v rc="$rc" '
		/^(not )?ok [0-9]+ / {
			if ($1 == "not") { name = $4; st = "fail" } else { name = $3; st = "pass" }
			if ($0 ~ /# (SKIP|skip)/) st = "skip"
			else if ($0 ~ /# XPASS/) st = "fail"
			print bin, name, st; n++
		}
		# A binary that dies before any case (or skips as a whole) is one result.
		END { if (!n) print bin, "-", (rc == 4 ? "skip" : rc == 0 ? "pass" : "fail") }
	' "$out" >>"$work/$slot"
}

main() {
	# shellcheck disable=SC2086 # split the list
	set -- $drivers
	[ $# = 1 ] || [ $# = 2 ] || fail "PARITY_DRIVERS must name one or two drivers"
	cand=$1 ref=${2:-}
	rm -rf "$work" && mkdir -p "$work"
	: >"$work/1" && : >"$work/2"

	case " $drivers " in *" rvfio-pci "*)
		modprobe rvfio_pci || fail "modprobe rvfio_pci" ;;
	esac
	# vfio-pci is a module on a distribution's kernel, built in on ours.
	case " $drivers " in *" vfio-pci "*)
		[ -d /sys/bus/pci/drivers/vfio-pci ] || modprobe vfio_pci || fail "modprobe vfio_pci" ;;
	esac
	bind "$RVFIO_IGB0" "$cand"
	[ -z "$ref" ] || bind "$RVFIO_IGB1" "$ref"

	for bin in $bins; do
		if [ -z "$ref" ]; then
			run_bin 1 "$cand" "$RVFIO_IGB0" "$bin"
		elif [ "${PARITY_PARALLEL:-1}" != 1 ]; then
			run_bin 1 "$cand" "$RVFIO_IGB0" "$bin"
			run_bin 2 "$ref" "$RVFIO_IGB1" "$bin"
		else
			# Side by side; each console is printed whole afterwards.
			run_bin 1 "$cand" "$RVFIO_IGB0" "$bin" >"$work/1.console" 2>&1 &
			pid=$!
			run_bin 2 "$ref" "$RVFIO_IGB1" "$bin" >"$work/2.console" 2>&1
			wait "$pid"
			cat "$work/1.console" "$work/2.console"
		fi
	done

	awk -v cand="$cand" '{ print "PARITY", cand, $0 }' "$work/1"
	[ -z "$ref" ] || awk -v ref="$ref" '{ print "PARITY", ref, $0 }' "$work/2"
	for slot in 1 2; do
		[ -s "$work/$slot" ] || continue
		if [ $slot = 1 ]; then drv=$cand; else drv=$ref; fi
		awk -v drv="$drv" '{ n[$3]++ } END {
			printf "parity: %s: %d pass, %d fail, %d skip\n", drv, n["pass"], n["fail"], n["skip"] }' "$work/$slot"
	done

	if [ -n "$ref" ]; then
		# Cases passing on the reference but not on the candidate.
		awk 'NR == FNR { if ($3 == "pass") c[$1 " " $2] = 1; next }
			$3 == "pass" && !c[$1 " " $2] { print "parity: REGRESSION", $1, $2 }' \
			"$work/1" "$work/2" >"$work/regressions"
	else
		awk '$3 == "fail" { print "parity: FAILED", $1, $2 }' "$work/1" >"$work/regressions"
	fi
	cat "$work/regressions"
	if [ -s "$work/regressions" ]; then
		say "RESULT: FAIL ($(wc -l <"$work/regressions") case(s))"
		exit 1
	fi
	say "RESULT: ok"
}

main
