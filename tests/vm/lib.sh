# SPDX-License-Identifier: GPL-2.0
# Shared helpers for guest test scripts (busybox sh). Installed in the guest as
# /usr/lib/rvfio-tests/lib.sh. Results are printed as "RESULT <name> PASS|FAIL"
# lines that the host runner counts.
#
# busybox sh scopes variables dynamically: a function that assigns a variable it
# did not declare "local" changes its caller's. Every helper here declares its
# own, and so must any function a script passes to check.

RVFIO_FAILED=0

result() { # name pass|fail [detail]
	if [ "$2" = pass ]; then
		echo "RESULT $1 PASS"
	else
		echo "RESULT $1 FAIL${3:+ ($3)}"
		RVFIO_FAILED=$((RVFIO_FAILED + 1))
	fi
}

check() { # name command...
	local name=$1
	shift
	if "$@"; then result "$name" pass; else result "$name" fail "$*"; fi
}

driver_of() { # BDF -> driver name or empty
	if [ -e "/sys/bus/pci/devices/$1/driver" ]; then
		basename "$(readlink "/sys/bus/pci/devices/$1/driver")"
	fi
}

unbind() { # BDF
	local drv
	drv=$(driver_of "$1")
	[ -z "$drv" ] || echo "$1" >"/sys/bus/pci/drivers/$drv/unbind"
}

bind_to() { # BDF driver: driver_override + drivers_probe, as a user would
	unbind "$1"
	echo "$2" >"/sys/bus/pci/devices/$1/driver_override"
	echo "$1" >/sys/bus/pci/drivers_probe
	[ "$(driver_of "$1")" = "$2" ]
}

vfio_cdev() { # BDF -> /dev/vfio/devices/vfioN or empty
	local d
	for d in /sys/bus/pci/devices/"$1"/vfio-dev/vfio*; do
		[ -e "$d" ] && echo "/dev/vfio/devices/$(basename "$d")"
	done
}

# A kernel without iommufd (Debian's stock kernel) has no /dev/iommu and no
# VFIO cdevs: devices are opened through their group.
have_iommufd() { [ -e /dev/iommu ]; }

wait_for() { # seconds command...: poll until the command succeeds
	local n=$(($1 * 10))
	shift
	while [ "$n" -gt 0 ]; do
		"$@" && return 0
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}

# tap_results prefix: copy a kselftest TAP run from stdin, one RESULT per case.
# A failed case's RESULT line carries the harness's first "file.c:LINE:"
# diagnostic of that case (the failed assertion), so a summary shows why.
tap_results() {
	local line name why=
	while IFS= read -r line; do
		printf '%s\n' "$line"
		case $line in
		"#  RUN "*) why= ;;
		"# "*.c:[0-9]*:*) [ -n "$why" ] || why=${line#"# "} ;;
		"ok "* | "not ok "*)
			# "[not ]ok N NAME[ # directive]" -> NAME
			name=${line#not } name=${name#ok } name=${name#* } name=${name%% *}
			case $line in
			"ok "*" # SKIP"*) result "$1$name" fail "skipped: ${line#*# SKIP}" ;;
			"ok "*) result "$1$name" pass ;;
			*) result "$1$name" fail "$why" ;;
			esac
			why=
			;;
		esac
	done
}
